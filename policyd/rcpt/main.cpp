// main.cpp — postern-rcpt: recipient verification for Postfix check_policy_service (is this
// RCPT TO recipient real?). Options → configuration → table, cache, sources, policy → policy
// server (common/daemon.hpp wires the rest: logging, metrics, readiness, exit statuses).
// SIGHUP re-reads --access-table (a table with errors is logged and the old one kept).
#include <signal.h>

#include <memory>
#include <vector>

#include "common/config_error.hpp"
#include "common/daemon.hpp"
#include "common/log.hpp"
#include "common/policy.hpp"
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

// SIGHUP: --access-table again; a table with errors keeps the one in use.
void reload_table(RcptPolicy& policy, const std::string& path) {
  if (path.empty()) return;
  try {
    policy.set_table(load_table(path));
  } catch (const ConfigError& e) {
    log::error("rcpt-table-error").kv("file", path).kv("error", e.what()).kv("kept", "old");
  }
}

// --check-config: the backends answer (LDAP bind accepted, Redis PING); else exit 69.
int check_backends(const Daemon& daemon, LdapSource* ldap_source, redis::Client* redis_client) {
  try {
    if (ldap_source) ldap_source->client().check();
  } catch (const ldap::LdapError& e) {
    throw DaemonExit(69, std::string("LDAP check failed: ") + e.what());  // EX_UNAVAILABLE
  }
  try {
    if (redis_client) redis_client->command({"PING"});
  } catch (const redis::RedisError& e) {
    throw DaemonExit(69, std::string("Redis check failed: ") + e.what());
  }
  return daemon.configuration_ok();
}

int run(int argc, const char* const argv[]) {
  Daemon daemon({.daemon = "rcpt",
                 .program = "postern-rcpt",
                 .default_socket = "inet:10033@127.0.0.1",
                 .reloads_on_sighup = true});
  add_rcpt_options(daemon.options());
  if (auto status = daemon.parse(argc, argv)) return *status;

  RcptConfig config = build_rcpt_config(daemon.parsed());
  DomainList domains = DomainList::parse(config.relay_domains);
  auto table = load_table(config.access_table);
  metrics::Registry& registry = daemon.registry();
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
  if (daemon.common().check_config) {
    return check_backends(daemon, ldap_source.get(), redis_client.get());
  }
  ::signal(SIGPIPE, SIG_IGN);  // libldap may write to a connection the server closed

  // /healthz is the daemon's own health: 200 once it serves, also while LDAP or Redis is down
  // (it still answers, DEFER_IF_PERMIT 4.4.3 or from its cache; a restart would fix nothing and
  // empty the cache). Outages show in postern_rcpt_{ldap,redis}_up and the backend-down log
  // line. See policyd/rcpt/README.md, "/healthz".
  auto metrics_server = daemon.serve_metrics();
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
  auto reloader = daemon.reload_on_sighup([&] { reload_table(policy, config.access_table); });

  PolicyServerConfig server;
  daemon.fill_stream_server(server);
  server.name = "rcpt";
  server.worker_threads = config.worker_threads;
  server.request_deadline_seconds = config.request_deadline_seconds;
  server.fault_action = fault_action;
  return run_policy_server(
      server, [&policy](const PolicyRequest& request) { return policy.decide(request); });
}

}  // namespace

int main(int argc, char* argv[]) {
  return daemon_main("postern-rcpt", [&] { return run(argc, argv); });
}
