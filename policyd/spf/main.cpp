// main.cpp — postern-spf: the SPF policy service (RFC 7208) for Postfix check_policy_service.
// Options → configuration → resolver and policy → policy server.
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <memory>

#include "common/config_error.hpp"
#include "common/dns.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/metrics_server.hpp"
#include "common/options.hpp"
#include "common/policy.hpp"
#include "common/process.hpp"
#include "policyd/spf/evaluator.hpp"
#include "policyd/spf/libspf2_engine.hpp"
#include "policyd/spf/result_cache.hpp"
#include "policyd/spf/spf_config.hpp"
#include "policyd/spf/spf_policy.hpp"

using namespace postern;

namespace {

int run(int argc, const char* const argv[]) {
  DaemonOptions options("spf", "postern-spf", "inet:10031@127.0.0.1");
  spf::add_spf_options(options.options());
  if (auto status = options.parse(argc, argv, environ)) return *status;
  const CommonOptions& common = options.common();
  log::init("postern-spf", common.log_target, common.log_level);

  spf::SpfConfig config = spf::build_spf_config(options);
  std::unique_ptr<dns::Resolver> resolver = dns::make_resolver(config.resolver);
  if (common.check_config) {
    std::printf("postern-spf: configuration OK\n");
    return 0;
  }
  metrics::Registry registry;
  metrics::Health health;
  auto metrics_server = metrics::start_metrics_server(common.metrics_listen, registry, health);
  std::unique_ptr<spf::SpfEngine> engine;
  if (config.engine == spf::EngineKind::Libspf2) {
    engine = std::make_unique<spf::Libspf2Engine>(*resolver);
  } else {
    engine = std::make_unique<spf::Evaluator>(*resolver, config.limits);
  }
  spf::CachingEngine cached(*engine, config.cache);
  cached.register_metrics(registry);
  spf::SpfPolicy policy(config.policy, cached,
                        [] { return static_cast<int64_t>(std::time(nullptr)); });

  PolicyServerConfig server;
  server.name = "spf";
  server.socket = common.socket;
  server.socket_mode = common.socket_mode;
  server.socket_owner = common.user;
  server.worker_threads = config.worker_threads;
  server.request_deadline_seconds = config.request_deadline_seconds;
  server.metrics = &registry;
  server.on_listening = [&common, &health] {
    drop_privileges(common.user);
    notify_ready(common.ready_fd);
    health.set_ready(true);
  };
  return run_policy_server(
      server, [&policy](const PolicyRequest& request) { return policy.decide(request); });
}

}  // namespace

int main(int argc, char* argv[]) {
  try {
    return run(argc, argv);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "postern-spf: configuration error: %s\n", e.what());
    return 78;  // EX_CONFIG
  } catch (const std::exception& e) {
    std::fprintf(stderr, "postern-spf: fatal: %s\n", e.what());
    return 1;
  }
}
