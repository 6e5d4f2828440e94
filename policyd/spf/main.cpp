// main.cpp — postern-spf: the SPF policy service (RFC 7208) for Postfix check_policy_service.
// Options → configuration → resolver and policy → policy server (common/daemon.hpp wires the
// rest: logging, metrics, readiness, exit statuses).
#include <ctime>
#include <memory>

#include "common/daemon.hpp"
#include "common/dns.hpp"
#include "common/policy.hpp"
#include "policyd/spf/evaluator.hpp"
#include "policyd/spf/libspf2_engine.hpp"
#include "policyd/spf/result_cache.hpp"
#include "policyd/spf/spf_config.hpp"
#include "policyd/spf/spf_policy.hpp"

using namespace postern;

namespace {

int run(int argc, const char* const argv[]) {
  Daemon daemon(
      {.daemon = "spf", .program = "postern-spf", .default_socket = "inet:10031@127.0.0.1"});
  spf::add_spf_options(daemon.options());
  if (auto status = daemon.parse(argc, argv)) return *status;

  spf::SpfConfig config = spf::build_spf_config(daemon.parsed());
  std::unique_ptr<dns::Resolver> resolver = dns::make_resolver(config.resolver);
  if (daemon.common().check_config) return daemon.configuration_ok();
  auto metrics_server = daemon.serve_metrics();
  std::unique_ptr<spf::SpfEngine> engine;
  if (config.engine == spf::EngineKind::Libspf2) {
    engine = std::make_unique<spf::Libspf2Engine>(*resolver);
  } else {
    engine = std::make_unique<spf::Evaluator>(*resolver, config.limits);
  }
  spf::CachingEngine cached(*engine, config.cache);
  cached.register_metrics(daemon.registry());
  spf::SpfPolicy policy(config.policy, cached,
                        [] { return static_cast<int64_t>(std::time(nullptr)); });

  PolicyServerConfig server;
  daemon.fill_stream_server(server);
  server.name = "spf";
  server.worker_threads = config.worker_threads;
  server.request_deadline_seconds = config.request_deadline_seconds;
  return run_policy_server(
      server, [&policy](const PolicyRequest& request) { return policy.decide(request); });
}

}  // namespace

int main(int argc, char* argv[]) {
  return daemon_main("postern-spf", [&] { return run(argc, argv); });
}
