// main.cpp — postern-greylist: greylisting policy service for Postfix check_policy_service
// (postgrey-compatible). Options → configuration → store → greylister → policy server.
// SIGHUP reloads the whitelist files (a bad file keeps the old lists and logs why).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>
#include <thread>

#include "common/config_error.hpp"
#include "common/dns.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/metrics_server.hpp"
#include "common/options.hpp"
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

// Waits for SIGHUP (blocked in every thread) and reloads the whitelists; SIGUSR2 ends it.
void reload_loop(const GreylistConfig& config, Greylister& greylister) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR2);
  while (true) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0 || sig == SIGUSR2) return;
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
}

int run(int argc, const char* const argv[]) {
  // SIGHUP and SIGUSR2 go to reload_loop's sigwait: blocked before any thread starts (the
  // store and metrics threads inherit the mask), and not left ignored by our parent.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGHUP, SIG_DFL);
  DaemonOptions options("greylist", "postern-greylist", "inet:10023@127.0.0.1");
  add_greylist_options(options.options());
  if (auto status = options.parse(argc, argv, environ)) return *status;
  const CommonOptions& common = options.common();
  log::init("postern-greylist", common.log_target, common.log_level);

  GreylistConfig config = build_greylist_config(options);
  config.policy.version = POSTERN_VERSION;
  auto whitelists = load_whitelists(config);
  if (!config.skip_clients_files.empty()) {
    auto skip = std::make_shared<ClientWhitelist>();
    for (const auto& f : config.skip_clients_files) skip->add_file(f);
    config.policy.skip_clients = skip;
  }

  metrics::Registry registry;
  metrics::Health health;
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
      throw ConfigError(options.where("store") + ": " + e.what());
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
  if (common.check_config) {
    if (redis_client) {
      try {
        redis_client->command({"PING"});
      } catch (const redis::RedisError& e) {
        throw ConfigError(options.where("store") + ": " + e.what());
      }
    }
    std::printf("postern-greylist: configuration OK\n");
    return 0;
  }
  health.add_check("store", [&tracker] {
    return metrics::Health::CheckResult{!tracker.down(), tracker.down() ? "store down" : ""};
  });
  auto metrics_server = metrics::start_metrics_server(common.metrics_listen, registry, health);
  log::info("greylist-start")
      .kv("store", store->describe())
      .kv("delay", config.greylist.delay_seconds)
      .kv("dry_run", config.policy.dry_run)
      .kv("skip_spf_pass", config.skip_spf_pass);

  Greylister greylister(config.greylist, *store, unix_now, whitelists);
  GreylistPolicy policy(config.policy, greylister, &registry, redis_client ? nullptr : &tracker);

  std::thread reloader([&] { reload_loop(config, greylister); });

  PolicyServerConfig server;
  server.name = "greylist";
  server.socket = common.socket;
  server.socket_mode = common.socket_mode;
  server.socket_owner = common.user;
  server.worker_threads = config.worker_threads;
  server.request_deadline_seconds = config.request_deadline_seconds;
  server.fault_action = config.policy.fault_action;
  server.metrics = &registry;
  // LMDB without fsync per commit never blocks for long in a request (memory-mapped reads,
  // writes wait at most one sweep batch): run the policy on the io thread, saving two thread
  // hand-offs per request. Redis (network), fsync per commit and the SPF check (DNS) stay on
  // the workers, where the deadline can answer for them.
  server.inline_requests = config.store_kind == GreylistConfig::StoreKind::Lmdb &&
                           config.lmdb.sync_interval_seconds > 0 && !config.skip_spf_pass;
  // Inline, the io threads do the work: one per core (at most 4) lets requests use them all.
  server.io_threads = config.io_threads;
  if (server.io_threads == 0) {
    server.io_threads =
        server.inline_requests ? std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4) : 1;
  }
  server.on_listening = [&common, &health] {
    drop_privileges(common.user);
    notify_ready(common.ready_fd);
    health.set_ready(true);
  };
  int status = 0;
  try {
    status = run_policy_server(
        server, [&policy](const PolicyRequest& request) { return policy.decide(request); });
  } catch (...) {
    pthread_kill(reloader.native_handle(), SIGUSR2);
    reloader.join();
    throw;
  }
  pthread_kill(reloader.native_handle(), SIGUSR2);
  reloader.join();
  return status;
}

}  // namespace

int main(int argc, char* argv[]) {
  try {
    return run(argc, argv);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "postern-greylist: configuration error: %s\n", e.what());
    return 78;  // EX_CONFIG
  } catch (const std::exception& e) {
    std::fprintf(stderr, "postern-greylist: fatal: %s\n", e.what());
    return 1;
  }
}
