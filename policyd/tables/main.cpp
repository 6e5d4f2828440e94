// main.cpp — postern-tables: Postfix lookup tables from Redis and LDAP over socketmap
// (socketmap_table(5)). Options → configuration → backends and maps → socketmap server
// (common/daemon.hpp wires the rest: logging, metrics, readiness, exit statuses).
#include <chrono>
#include <memory>

#include "common/daemon.hpp"
#include "common/socketmap.hpp"
#include "policyd/tables/backends.hpp"
#include "policyd/tables/maps.hpp"
#include "policyd/tables/tables_config.hpp"

using namespace postern;
using namespace postern::tables;

namespace {

int run(int argc, const char* const argv[]) {
  Daemon daemon(
      {.daemon = "tables", .program = "postern-tables", .default_socket = "inet:10041@127.0.0.1"});
  add_tables_options(daemon.options());
  if (auto status = daemon.parse(argc, argv)) return *status;
  TablesConfig config = build_tables_config(daemon.parsed());

  Backends backends(config, daemon.health());
  if (daemon.common().check_config) {
    backends.check();
    return daemon.configuration_ok();
  }
  std::unique_ptr<ReplyCache> cache;
  if (config.cache_ttl_seconds > 0) {
    cache = std::make_unique<ReplyCache>(
        std::chrono::milliseconds(static_cast<int64_t>(config.cache_ttl_seconds * 1000)),
        config.cache_size, [] { return std::chrono::steady_clock::now(); });
  }
  Tables tables(&daemon.registry(), cache.get());
  for (const MapSpec& spec : config.maps) tables.add(spec.name, backends.make_map(spec));
  auto metrics_server = daemon.serve_metrics();

  SocketmapServerConfig server;
  daemon.fill_stream_server(server);
  server.name = "tables";
  server.worker_threads = config.worker_threads;
  server.request_deadline_seconds = config.request_deadline_seconds;
  server.limits = config.limits;
  SocketmapServer socketmap(server, [&tables](const std::string& name, const std::string& key) {
    return tables.lookup(name, key);
  });
  return socketmap.run(true);
}

}  // namespace

int main(int argc, char* argv[]) {
  return daemon_main("postern-tables", [&] { return run(argc, argv); });
}
