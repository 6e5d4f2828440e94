// main.cpp — postern-rcpt: recipient verification for Postfix check_policy_service (is this
// RCPT TO recipient real?). Options → configuration → table, cache, sources, policy → policy
// server. SIGHUP re-reads --access-table (a table with errors is logged and the old one kept).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <memory>
#include <thread>

#include "common/config_error.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/metrics_server.hpp"
#include "common/options.hpp"
#include "common/policy.hpp"
#include "common/process.hpp"
#include "common/redis.hpp"
#include "policyd/rcpt/access_table.hpp"
#include "policyd/rcpt/ldap_source.hpp"
#include "policyd/rcpt/memory_cache.hpp"
#include "policyd/rcpt/rcpt_config.hpp"
#include "policyd/rcpt/rcpt_policy.hpp"
#include "policyd/rcpt/redis_source.hpp"

using namespace postern;
using namespace postern::rcpt;

namespace {

std::shared_ptr<const AccessTable> load_table(const std::string& path) {
  if (path.empty()) return nullptr;
  auto table = std::make_shared<const AccessTable>(AccessTable::load(path));
  log::info("rcpt-table-loaded").kv("file", path).kv("entries", table->size());
  return table;
}

// Waits for SIGHUP (blocked in every thread) and reloads the table, until `stop`.
void reload_on_sighup(RcptPolicy& policy, const std::string& path, std::atomic<bool>& stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  while (!stop.load()) {
    timespec wait{0, 200'000'000};
    if (sigtimedwait(&set, nullptr, &wait) != SIGHUP || path.empty()) continue;
    try {
      policy.set_table(load_table(path));
    } catch (const ConfigError& e) {
      log::error("rcpt-table-error").kv("file", path).kv("error", e.what()).kv("kept", "old");
    }
  }
}

int run(int argc, const char* const argv[]) {
  DaemonOptions options("rcpt", "postern-rcpt", "inet:10033@127.0.0.1");
  add_rcpt_options(options.options());
  if (auto status = options.parse(argc, argv, environ)) return *status;
  const CommonOptions& common = options.common();
  log::init("postern-rcpt", common.log_target, common.log_level);

  RcptConfig config = build_rcpt_config(options);
  DomainList domains = DomainList::parse(config.relay_domains);
  auto table = load_table(config.access_table);
  metrics::Registry registry;
  std::unique_ptr<LdapSource> ldap_source;
  std::vector<RecipientSource*> sources;
  if (config.ldap) {
    config.ldap->client.metrics = &registry;
    ldap_source = std::make_unique<LdapSource>(*config.ldap);
    sources.push_back(ldap_source.get());
  }
  std::unique_ptr<redis::OutageTracker> redis_tracker;
  std::unique_ptr<redis::Client> redis_client;
  std::unique_ptr<RedisSource> redis_source;
  if (config.redis) {
    redis_tracker = std::make_unique<redis::OutageTracker>(
        "rcpt-redis",
        &registry.gauge("postern_rcpt_redis_up", "1 while Redis answers, 0 in an outage"),
        &registry.counter("postern_rcpt_redis_outages_total", "Redis outages begun"));
    redis::Options redis_options;
    redis_options.connect_timeout_seconds = config.redis->timeout_seconds;
    redis_options.command_timeout_seconds = config.redis->timeout_seconds;
    redis_options.pool_size = config.redis->pool_size;
    redis_options.name = "rcpt-redis";
    redis_client = std::make_unique<redis::Client>(redis::parse_url(config.redis->url),
                                                   redis_options, redis_tracker.get());
    if (!config.redis->recipient_key.empty()) {
      redis_source = std::make_unique<RedisSource>(*redis_client, config.redis->recipient_key);
      sources.push_back(redis_source.get());
    }
  }
  if (sources.empty() && !table) {
    throw ConfigError(
        "no recipient source: give --ldap-servers, --redis-url and/or --access-table");
  }
  if (common.check_config) {
    if (ldap_source) ldap_source->client().check();     // reachable, bind accepted (LdapError)
    if (redis_client) redis_client->command({"PING"});  // RedisError
    std::printf("postern-rcpt: configuration OK\n");
    return 0;
  }
  ::signal(SIGPIPE, SIG_IGN);  // libldap may write to a connection the server closed
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hup, nullptr);  // before any thread: the reload thread takes it

  // /healthz is the daemon's own health: 200 once it serves, also while LDAP or Redis is down
  // (it still answers, DEFER_IF_PERMIT 4.4.3 or from its cache; a restart would fix nothing and
  // empty the cache). Outages show in postern_rcpt_{ldap,redis}_up and the backend-down log
  // line. See policyd/rcpt/README.md, "/healthz".
  metrics::Health health;
  auto metrics_server = metrics::start_metrics_server(common.metrics_listen, registry, health);
  std::unique_ptr<RecipientCache> cache;
  if (config.redis && config.redis->shared_cache) {
    cache = std::make_unique<RedisCache>(*redis_client, config.cache, config.redis->cache_prefix);
  } else if (config.cache.max_entries > 0) {
    cache = std::make_unique<MemoryCache>(config.cache);
  }
  std::unique_ptr<RedisDomains> redis_domains;
  RelayDomains* relay = &domains;
  if (config.redis && !config.redis->domain_key.empty()) {
    redis_domains =
        std::make_unique<RedisDomains>(domains, *redis_client, config.redis->domain_key);
    relay = redis_domains.get();
  }
  RcptPolicy policy(config.policy, *relay, table, cache.get(), sources, &registry);

  std::atomic<bool> stop{false};
  std::thread reloader(reload_on_sighup, std::ref(policy), config.access_table, std::ref(stop));
  PolicyServerConfig server;
  server.name = "rcpt";
  server.socket = common.socket;
  server.socket_mode = common.socket_mode;
  server.socket_owner = common.user;
  server.worker_threads = config.worker_threads;
  server.request_deadline_seconds = config.request_deadline_seconds;
  server.fault_action = fault_action;
  server.metrics = &registry;
  server.on_listening = [&common, &health] {
    drop_privileges(common.user);
    notify_ready(common.ready_fd);
    health.set_ready(true);
  };
  int status = 1;
  try {
    status = run_policy_server(
        server, [&policy](const PolicyRequest& request) { return policy.decide(request); });
  } catch (...) {
    stop = true;
    reloader.join();
    throw;
  }
  stop = true;
  reloader.join();
  return status;
}

}  // namespace

int main(int argc, char* argv[]) {
  try {
    return run(argc, argv);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "postern-rcpt: configuration error: %s\n", e.what());
    return 78;  // EX_CONFIG
  } catch (const ldap::LdapError& e) {
    std::fprintf(stderr, "postern-rcpt: LDAP check failed: %s\n", e.what());
    return 69;  // EX_UNAVAILABLE
  } catch (const redis::RedisError& e) {
    std::fprintf(stderr, "postern-rcpt: Redis check failed: %s\n", e.what());
    return 69;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "postern-rcpt: fatal: %s\n", e.what());
    return 1;
  }
}
