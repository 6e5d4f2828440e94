// rcpt_config.cpp — option table → RcptConfig.
#include "policyd/rcpt/rcpt_config.hpp"

#include "common/config_error.hpp"
#include "common/redis.hpp"
#include "policyd/rcpt/redis_source.hpp"

namespace postern::rcpt {
namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find_first_of(" ,\t", i);
    if (end == std::string::npos) end = text.size();
    if (end > i) out.push_back(text.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

double seconds_option(const DaemonOptions& options, const std::string& name, bool zero_ok) {
  double v = options.values()[name].as<double>();
  if (zero_ok ? !(v >= 0) : !(v > 0)) {
    throw ConfigError(options.where(name) +
                      (zero_ok ? ": must be 0 or more seconds" : ": must be more than 0 seconds"));
  }
  return v;
}

LdapSourceConfig build_ldap(const DaemonOptions& options, const std::string& servers) {
  const po::variables_map& v = options.values();
  LdapSourceConfig c;
  c.client.uris = split_list(servers);
  c.client.start_tls = v["ldap-start-tls"].as<bool>();
  c.client.ca_file = v["ldap-ca-file"].as<std::string>();
  c.client.bind_dn = v["ldap-bind-dn"].as<std::string>();
  std::string password = v["ldap-bind-password"].as<std::string>();
  std::string password_file = v["ldap-bind-password-file"].as<std::string>();
  if (!password.empty() && !password_file.empty()) {
    throw ConfigError(options.where("ldap-bind-password") +
                      ": give the password or --ldap-bind-password-file, not both");
  }
  c.client.bind_password =
      password_file.empty() ? password : ldap::read_password_file(password_file);
  c.client.network_timeout_seconds = seconds_option(options, "ldap-network-timeout", false);
  c.client.operation_timeout_seconds = seconds_option(options, "ldap-timeout", false);
  c.client.pool_size = v["ldap-pool-size"].as<size_t>();
  c.client.name = "ldap";  // "backend-down backend=ldap" (the Redis client logs backend=rcpt-redis)
  c.client.metric_prefix = "rcpt";
  c.search_base = v["ldap-search-base"].as<std::string>();
  if (c.search_base.empty()) {
    throw ConfigError(options.where("ldap-search-base") + ": needed with --ldap-servers");
  }
  try {
    c.scope = ldap::parse_scope(v["ldap-scope"].as<std::string>());
  } catch (const ConfigError& e) {
    throw ConfigError(options.where("ldap-scope") + ": " + e.what());
  }
  c.query_filter = v["ldap-query-filter"].as<std::string>();
  try {
    ldap::check_filter_pattern(c.query_filter);
  } catch (const ConfigError& e) {
    throw ConfigError(options.where("ldap-query-filter") + ": " + e.what());
  }
  return c;
}

}  // namespace

void add_rcpt_options(po::options_description& options) {
  auto text = [](const char* fallback) {
    return po::value<std::string>()->default_value(fallback);
  };
  auto seconds = [](double fallback) {
    return po::value<double>()->default_value(fallback)->value_name("SECONDS");
  };
  options.add_options()  //
      ("relay-domains", text("")->value_name("DOMAINS"),
       "recipients in these domains are checked (space- or comma-separated; .domain for its "
       "subdomains); others get DUNNO")  //
      ("access-table", text("")->value_name("FILE"),
       "override table in Postfix access(5) syntax (user@domain, domain, @domain, .domain, "
       "user@ → OK, DUNNO, REJECT, DEFER or a full action); read at start and on SIGHUP")  //
      ("final-action", text("defer")->value_name("defer|reject|dry-run"),
       "answer for a recipient no source knows: defer (450 4.1.1), reject (550 5.1.1), dry-run "
       "(log rcpt-unknown, DUNNO)")  //
      ("recipient-delimiter", text("")->value_name("CHARS"),
       "as Postfix's recipient_delimiter: user+ext@domain unknown → look up user@domain")  //
      ("ldap-servers", text("")->value_name("URIS"),
       "LDAP servers in order of preference: ldap://host[:port], ldaps://host[:port] "
       "(space-separated); empty: no LDAP")  //
      ("ldap-start-tls", po::value<bool>()->default_value(false)->implicit_value(true),
       "StartTLS on ldap:// before the bind")  //
      ("ldap-ca-file", text("")->value_name("FILE"),
       "CA certificates (PEM) for ldaps:// and StartTLS (default: the system's)")  //
      ("ldap-bind-dn", text("")->value_name("DN"), "bind DN (empty: anonymous)")   //
      ("ldap-bind-password", text("")->value_name("PASSWORD"),
       "bind password; prefer --ldap-bind-password-file (never on a command line)")  //
      ("ldap-bind-password-file", text("")->value_name("FILE"),
       "file holding the bind password (one line)")                            //
      ("ldap-search-base", text("")->value_name("DN"), "search base")          //
      ("ldap-scope", text("sub")->value_name("base|one|sub"), "search scope")  //
      ("ldap-query-filter", text(default_ad_filter)->value_name("FILTER"),
       "filter as Postfix ldap_table(5) query_filter: %s address, %u local part, %d domain, %% "
       "(values escaped per RFC 4515); default: Active Directory proxyAddresses")         //
      ("ldap-timeout", seconds(5), "limit of one bind or search")                         //
      ("ldap-network-timeout", seconds(3), "limit of one connection attempt per server")  //
      ("ldap-pool-size", po::value<size_t>()->default_value(8)->value_name("N"),
       "LDAP connections at most")  //
      ("redis-url", text("")->value_name("URL"),
       "Redis (redis://[:password@]host[:port][/db], unix:/path, redis-sentinel://host:port/"
       "master): a recipient source after LDAP, relay domains, and with --redis-cache the "
       "shared cache; empty: no Redis")  //
      ("redis-recipient-key", text("VALI:%s")->value_name("TEMPLATE"),
       "key that exists for a valid recipient (%s address, %u local part, %d domain; empty: "
       "Redis is not a recipient source)")  //
      ("redis-domain-key", text("VDOM:%d")->value_name("TEMPLATE"),
       "key that exists for a domain we answer for, besides --relay-domains (empty: none)")  //
      ("redis-cache", po::value<bool>()->default_value(false)->implicit_value(true),
       "keep the positive and negative caches in Redis, shared by every gateway")  //
      ("redis-cache-prefix", text("postern:rcpt:")->value_name("PREFIX"),
       "key prefix of the cache entries in Redis")                            //
      ("redis-timeout", seconds(1), "limit of one Redis connect or command")  //
      ("redis-pool-size", po::value<size_t>()->default_value(8)->value_name("N"),
       "Redis connections at most")                                                      //
      ("positive-ttl", seconds(3600), "cache an existing recipient this long (0: not)")  //
      ("negative-ttl", seconds(300), "cache an unknown recipient this long (0: not)")    //
      ("cache-size", po::value<size_t>()->default_value(100000)->value_name("N"),
       "most cached recipients (least recently used go first; 0: no cache)")  //
      ("workers", po::value<size_t>()->default_value(16)->value_name("N"),
       "threads deciding requests (each may wait on LDAP)")  //
      ("request-deadline", seconds(15),
       "past it a request gets DEFER_IF_PERMIT 4.4.3 (above --ldap-timeout)");
}

RcptConfig build_rcpt_config(const DaemonOptions& options) {
  const po::variables_map& v = options.values();
  RcptConfig config;
  config.relay_domains = v["relay-domains"].as<std::string>();
  DomainList domains;
  try {
    domains = DomainList::parse(config.relay_domains);
  } catch (const ConfigError& e) {
    throw ConfigError(options.where("relay-domains") + ": " + e.what());
  }
  std::string redis_url = v["redis-url"].as<std::string>();
  if (!redis_url.empty()) {
    RcptConfig::Redis r;
    r.url = redis_url;
    (void)redis::parse_url(redis_url);  // ConfigError naming the bad part
    r.recipient_key = v["redis-recipient-key"].as<std::string>();
    r.domain_key = v["redis-domain-key"].as<std::string>();
    for (const char* name : {"redis-recipient-key", "redis-domain-key"}) {
      try {
        check_key_template(v[name].as<std::string>());
      } catch (const ConfigError& e) {
        throw ConfigError(options.where(name) + ": " + e.what());
      }
    }
    r.shared_cache = v["redis-cache"].as<bool>();
    r.cache_prefix = v["redis-cache-prefix"].as<std::string>();
    r.timeout_seconds = seconds_option(options, "redis-timeout", false);
    r.pool_size = v["redis-pool-size"].as<size_t>();
    if (r.pool_size == 0) throw ConfigError(options.where("redis-pool-size") + ": must be > 0");
    config.redis = r;
  }
  if (domains.empty() && !(config.redis && !config.redis->domain_key.empty())) {
    throw ConfigError(options.where("relay-domains") + ": no domain to check recipients for");
  }
  config.access_table = v["access-table"].as<std::string>();
  std::string final_action = v["final-action"].as<std::string>();
  auto action = parse_final_action(final_action);
  if (!action) {
    throw ConfigError(options.where("final-action") + ": '" + final_action +
                      "' is not one of defer, reject, dry-run");
  }
  config.policy.final_action = *action;
  config.policy.recipient_delimiter = v["recipient-delimiter"].as<std::string>();
  for (char c : config.policy.recipient_delimiter) {
    if (c == '@' || c <= ' ' || c > '~') {
      throw ConfigError(options.where("recipient-delimiter") + ": '" + std::string(1, c) +
                        "' cannot be a delimiter");
    }
  }
  std::string servers = v["ldap-servers"].as<std::string>();
  if (!servers.empty()) config.ldap = build_ldap(options, servers);
  config.cache.positive_ttl_seconds = seconds_option(options, "positive-ttl", true);
  config.cache.negative_ttl_seconds = seconds_option(options, "negative-ttl", true);
  config.cache.max_entries = v["cache-size"].as<size_t>();
  config.worker_threads = v["workers"].as<size_t>();
  if (config.worker_threads == 0) throw ConfigError(options.where("workers") + ": must be > 0");
  config.request_deadline_seconds = seconds_option(options, "request-deadline", false);
  if (config.ldap &&
      config.ldap->client.operation_timeout_seconds >= config.request_deadline_seconds) {
    throw ConfigError(options.where("request-deadline") + ": must be above --ldap-timeout");
  }
  return config;
}

}  // namespace postern::rcpt
