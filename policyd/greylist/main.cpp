// main.cpp — postern-greylist: greylisting policy service for Postfix check_policy_service
// (postgrey-compatible). Options → configuration → store → greylister → policy server
// (common/daemon.hpp wires the rest: logging, metrics, readiness, exit statuses).
// SIGHUP reloads the whitelist files (a bad file keeps the old lists and logs why).
#include <algorithm>
#include <ctime>
#include <memory>
#include <thread>

#include "common/config_error.hpp"
#include "common/daemon.hpp"
#include "common/dns.hpp"
#include "common/log.hpp"
#include "common/policy.hpp"
#include "common/process.hpp"
#include "common/redis.hpp"
#include "policyd/greylist/greylist_config.hpp"
#include "policyd/greylist/greylist_policy.hpp"
#include "policyd/greylist/greylister.hpp"
#include "policyd/greylist/lmdb_store.hpp"
#include "policyd/greylist/redis_store.hpp"
#include "policyd/greylist/spf_skip.hpp"
#include "policyd/spf/evaluator.hpp"
#include "policyd/spf/result_cache.hpp"

using namespace postern;
using namespace postern::greylist;

namespace {

int64_t unix_now() {
  return static_cast<int64_t>(std::time(nullptr));
}

// SIGHUP: the whitelist files again; a bad file keeps the lists in use.
void reload_whitelists(const GreylistConfig& config, Greylister& greylister) {
  try {
    auto lists = load_whitelists(config);
    greylister.set_whitelists(lists);
    log::info("greylist-reload")
        .kv("client_entries", static_cast<uint64_t>(lists->clients.size()))
        .kv("recipient_entries", static_cast<uint64_t>(lists->recipients.size()));
  } catch (const ConfigError& e) {
    log::error("greylist-reload").kv("error", e.what()).kv("kept", "previous whitelists");
  }
}

int run(int argc, const char* const argv[]) {
  // SIGHUP is blocked here, before the store and metrics threads start (they inherit the mask).
  Daemon daemon({.daemon = "greylist",
                 .program = "postern-greylist",
                 .default_socket = "inet:10023@127.0.0.1",
                 .reloads_on_sighup = true});
  add_greylist_options(daemon.options());
  if (auto status = daemon.parse(argc, argv)) return *status;

  GreylistConfig config = build_greylist_config(daemon.parsed());
  config.policy.version = POSTERN_VERSION;
  auto whitelists = load_whitelists(config);
  if (!config.skip_clients_files.empty()) {
    auto skip = std::make_shared<ClientWhitelist>();
    for (const auto& f : config.skip_clients_files) skip->add_file(f);
    config.policy.skip_clients = skip;
  }

  metrics::Registry& registry = daemon.registry();
  redis::OutageTracker tracker(
      "greylist-store",
      &registry.gauge("postern_greylist_store_up", "1 while the store answers, 0 during an outage"),
      &registry.counter("postern_greylist_store_outages_total", "times the store went down"));
  std::unique_ptr<redis::Client> redis_client;
  std::unique_ptr<Store> store;
  if (config.store_kind == GreylistConfig::StoreKind::Lmdb) {
    try {
      store = std::make_unique<LmdbStore>(config.lmdb, unix_now);
    } catch (const StoreError& e) {
      throw ConfigError(daemon.parsed().where("store") + ": " + e.what());
    }
  } else {
    redis_client = std::make_unique<redis::Client>(config.redis, config.redis_options, &tracker);
    store = std::make_unique<RedisStore>(*redis_client, config.redis_prefix);
  }
  // --skip-spf-pass: postern-spf's resolver, evaluator and result cache (policyd/spf), with
  // this daemon's own budget; the check runs on the policy workers (it blocks on DNS).
  std::unique_ptr<dns::Resolver> resolver;
  std::unique_ptr<spf::Evaluator> evaluator;
  std::unique_ptr<spf::CachingEngine> spf_engine;
  if (config.skip_spf_pass) {
    resolver = dns::make_resolver(config.resolver);
    evaluator = std::make_unique<spf::Evaluator>(*resolver, config.spf_limits);
    spf_engine = std::make_unique<spf::CachingEngine>(*evaluator, config.spf_cache);
    config.policy.skip_spf_pass =
        std::make_shared<SpfPassCheck>(*spf_engine, config.policy.hostname, unix_now);
  }
  if (daemon.common().check_config) {
    if (redis_client) {
      try {
        redis_client->command({"PING"});
      } catch (const redis::RedisError& e) {
        throw ConfigError(daemon.parsed().where("store") + ": " + e.what());
      }
    }
    return daemon.configuration_ok();
  }
  daemon.health().add_check("store", [&tracker] {
    return metrics::Health::CheckResult{!tracker.down(), tracker.down() ? "store down" : ""};
  });
  auto metrics_server = daemon.serve_metrics();
  log::info("greylist-start")
      .kv("store", store->describe())
      .kv("delay", config.greylist.delay_seconds)
      .kv("dry_run", config.policy.dry_run)
      .kv("skip_spf_pass", config.skip_spf_pass);

  Greylister greylister(config.greylist, *store, unix_now, whitelists);
  GreylistPolicy policy(config.policy, greylister, &registry, redis_client ? nullptr : &tracker);
  auto reloader = daemon.reload_on_sighup([&] { reload_whitelists(config, greylister); });

  PolicyServerConfig server;
  daemon.fill_stream_server(server);
  server.name = "greylist";
  server.worker_threads = config.worker_threads;
  server.request_deadline_seconds = config.request_deadline_seconds;
  server.fault_action = config.policy.fault_action;
  // LMDB without fsync per commit never blocks for long in a request (memory-mapped reads,
  // writes wait at most one sweep batch): run the policy on the io thread, saving two thread
  // hand-offs per request. Redis (network), fsync per commit and the SPF check (DNS) stay on
  // the workers, where the deadline can answer for them.
  server.inline_requests = config.store_kind == GreylistConfig::StoreKind::Lmdb &&
                           config.lmdb.sync_interval_seconds > 0 && !config.skip_spf_pass;
  // Inline, the io threads do the work: one per usable CPU (at most 4) lets requests use them.
  // Not more: two on one CPU take turns by the scheduler's time slice (p99 4.4 ms, bench).
  server.io_threads = config.io_threads;
  if (server.io_threads == 0) {
    server.io_threads = server.inline_requests ? std::clamp<size_t>(usable_cpus(), 1, 4) : 1;
  }
  return run_policy_server(
      server, [&policy](const PolicyRequest& request) { return policy.decide(request); });
}

}  // namespace

int main(int argc, char* argv[]) {
  return daemon_main("postern-greylist", [&] { return run(argc, argv); });
}
