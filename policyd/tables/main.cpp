// main.cpp — postern-tables: Postfix lookup tables from Redis and LDAP over socketmap
// (socketmap_table(5)). Options → configuration → backends and maps → socketmap server.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "common/config_error.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/metrics_server.hpp"
#include "common/options.hpp"
#include "common/process.hpp"
#include "common/socketmap.hpp"
#include "policyd/tables/backends.hpp"
#include "policyd/tables/maps.hpp"
#include "policyd/tables/tables_config.hpp"

using namespace postern;
using namespace postern::tables;

namespace {

int run(int argc, const char* const argv[]) {
  DaemonOptions options("tables", "postern-tables", "inet:10041@127.0.0.1");
  add_tables_options(options.options());
  if (auto status = options.parse(argc, argv, environ)) return *status;
  const CommonOptions& common = options.common();
  log::init("postern-tables", common.log_target, common.log_level);
  TablesConfig config = build_tables_config(options);

  metrics::Registry registry;
  metrics::Health health;
  Backends backends(config, health);
  if (common.check_config) {
    backends.check();
    std::printf("postern-tables: configuration OK\n");
    return 0;
  }
  std::unique_ptr<ReplyCache> cache;
  if (config.cache_ttl_seconds > 0) {
    cache = std::make_unique<ReplyCache>(
        std::chrono::milliseconds(static_cast<int64_t>(config.cache_ttl_seconds * 1000)),
        config.cache_size, [] { return std::chrono::steady_clock::now(); });
  }
  Tables tables(&registry, cache.get());
  for (const MapSpec& spec : config.maps) tables.add(spec.name, backends.make_map(spec));
  auto metrics_server = metrics::start_metrics_server(common.metrics_listen, registry, health);

  SocketmapServerConfig server;
  server.name = "tables";
  server.socket = common.socket;
  server.socket_mode = common.socket_mode;
  server.socket_owner = common.user;
  server.worker_threads = config.worker_threads;
  server.request_deadline_seconds = config.request_deadline_seconds;
  server.limits = config.limits;
  server.metrics = &registry;
  server.on_listening = [&common, &health] {
    drop_privileges(common.user);
    notify_ready(common.ready_fd);
    health.set_ready(true);
  };
  SocketmapServer socketmap(server, [&tables](const std::string& name, const std::string& key) {
    return tables.lookup(name, key);
  });
  return socketmap.run(true);
}

}  // namespace

int main(int argc, char* argv[]) {
  try {
    return run(argc, argv);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "postern-tables: configuration error: %s\n", e.what());
    return 78;  // EX_CONFIG
  } catch (const std::exception& e) {
    std::fprintf(stderr, "postern-tables: fatal: %s\n", e.what());
    return 1;
  }
}
