// greylist_config.cpp — option table → GreylistConfig.
#include "policyd/greylist/greylist_config.hpp"

#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstdio>

#include "common/config_error.hpp"
#include "common/option_list.hpp"

namespace postern::greylist {
namespace {

using Strings = std::vector<std::string>;

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "unknown";
  return buf;
}

std::string seconds_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", seconds);
  return buf;
}

bool has_line_break(const std::string& s) {
  return s.find_first_of("\r\n") != std::string::npos;
}

}  // namespace

int64_t parse_retry_window(const std::string& text) {
  bool hours = !text.empty() && (text.back() == 'h' || text.back() == 'H');
  std::string_view digits(text.data(), text.size() - (hours ? 1 : 0));
  int64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || n <= 0 ||
      n > 10000) {
    throw ConfigError("'" + text + "' is not a number of days or a number followed by 'h' (hours)");
  }
  return n * (hours ? 3600 : 86400);
}

void add_greylist_options(po::options_description& options) {
  auto text = [](const char* fallback) {
    return po::value<std::string>()->default_value(fallback);
  };
  options.add_options()  //
      ("store", text("lmdb:/var/lib/postern/greylist")->value_name("URL"),
       "lmdb:PATH (embedded; a file, or a directory), redis://[:password@]host:port/db, "
       "unix:/path.sock, or redis-sentinel://host:port[,host:port]/mastername[/db]")  //
      ("store-map-size", po::value<size_t>()->default_value(1024)->value_name("MIB"),
       "LMDB: largest size the database may grow to")  //
      ("store-sync-interval", po::value<double>()->default_value(1)->value_name("SECONDS"),
       "LMDB: flush to disk this often (0: fsync every commit)")  //
      ("sweep-interval", po::value<double>()->default_value(300)->value_name("SECONDS"),
       "LMDB: delete expired records this often, in small batches")  //
      ("store-timeout", po::value<double>()->default_value(0.5)->value_name("SECONDS"),
       "Redis: connect and command timeout; past it the request gets --fault-action")         //
      ("redis-prefix", text("postern:greylist:")->value_name("PREFIX"), "Redis: key prefix")  //
      ("fault-action", text("DUNNO")->value_name("ACTION"),
       "answer when the store is down or slow: DUNNO (fail open) or e.g. "
       "\"DEFER_IF_PERMIT 4.3.0 Greylisting store unavailable\"")  //
      ("delay", po::value<int64_t>()->default_value(300)->value_name("SECONDS"),
       "how long a new triplet is greylisted")  //
      ("max-age", po::value<int64_t>()->default_value(35)->value_name("DAYS"),
       "forget a triplet that passed, and an auto-whitelisted client, after this many days "
       "unseen")  //
      ("retry-window", text("2")->value_name("DAYS|Nh"),
       "a first retry later than this after the first attempt starts greylisting again")  //
      ("auto-whitelist-clients", po::value<unsigned>()->default_value(5)->value_name("N"),
       "whitelist a client address after N successful retries (0: off)")  //
      ("auto-whitelist-interval", po::value<int64_t>()->default_value(3600)->value_name("SECONDS"),
       "successful retries of one client closer together than this count once (postgrey: 1 h)")  //
      ("ipv4cidr", po::value<unsigned>()->default_value(24)->value_name("BITS"),
       "IPv4 clients in one network of this size count as one")  //
      ("ipv6cidr", po::value<unsigned>()->default_value(64)->value_name("BITS"),
       "IPv6 clients in one network of this size count as one")  //
      ("lookup-by-host", po::bool_switch(),
       "greylist the exact client address, not its network")  //
      ("replace-sender-digits", po::value<bool>()->default_value(true)->implicit_value(true),
       "replace numbers in the sender's local part by '#' (postgrey does, for VERP senders)")  //
      ("whitelist-clients", po::value<Strings>()->value_name("FILE"),
       "postgrey-format client whitelist file(s), e.g. /etc/postgrey/whitelist_clients")  //
      ("whitelist-recipients", po::value<Strings>()->value_name("FILE"),
       "postgrey-format recipient whitelist file(s), e.g. /etc/postgrey/whitelist_recipients")  //
      ("greylist-action", text("DEFER_IF_PERMIT")->value_name("ACTION"),
       "action word for a greylisted request (DEFER_IF_PERMIT, DEFER, 450...)")  //
      ("greylist-text", text("4.7.1 Greylisted, try again in %s seconds")->value_name("TEXT"),
       "reply text; %s: seconds left, %r: recipient domain")  //
      ("x-greylist-header",
       text("X-Greylist: delayed %t seconds by postern-greylist-%v at %h; %d")->value_name("TEXT"),
       "header prepended on a triplet's first pass (\"\": none); %t delay, %v version, %h host, "
       "%d date")                                                                                 //
      ("hostname", text("")->value_name("NAME"), "%h of the header (default: this host's name)")  //
      ("skip-sasl", po::value<bool>()->default_value(true)->implicit_value(true),
       "do not greylist SASL-authenticated clients")  //
      ("skip-networks", text("127.0.0.0/8 ::1")->value_name("CIDRS"),
       "clients never greylisted (mynetworks-like)")  //
      ("skip-clients", po::value<Strings>()->value_name("FILE"),
       "big senders never greylisted, by verified client name (postgrey client-whitelist "
       "format)")  //
      ("skip-spf-pass", po::bool_switch(),
       "do not greylist when the SPF result (RFC 7208) of the MAIL FROM identity is pass "
       "(null sender: postmaster@HELO); checked here with postern-spf's evaluator. Any other "
       "result or a DNS fault greylists as usual")  //
      ("dns-server", text("")->value_name("HOST[@PORT]"),
       "--skip-spf-pass: forward DNS queries there (default: the servers of "
       "/etc/resolv.conf)")  //
      ("dns-timeout", po::value<double>()->default_value(1)->value_name("SECONDS"),
       "--skip-spf-pass: limit for one DNS query; past it the SPF result is temperror")  //
      ("spf-check-timeout", po::value<double>()->default_value(2)->value_name("SECONDS"),
       "--skip-spf-pass: time budget of one SPF check; past it no more DNS queries and the "
       "result is temperror (greylist). With --dns-timeout, below --request-deadline")  //
      ("spf-cache-ttl", po::value<double>()->default_value(300)->value_name("SECONDS"),
       "--skip-spf-pass: keep SPF results (except temperror) this long; 0 disables")  //
      ("spf-cache-size", po::value<size_t>()->default_value(100000)->value_name("N"),
       "--skip-spf-pass: most cached SPF results (least recently used go first)")       //
      ("dry-run", po::bool_switch(), "decide, log and count, but always answer DUNNO")  //
      ("trust-test-time", po::bool_switch(),
       "testing only: decide at the request's policy_test_time (as postgrey does) to replay "
       "traces")  //
      ("workers", po::value<size_t>()->default_value(4)->value_name("N"),
       "threads deciding requests (8 when --skip-spf-pass: each waits on DNS); unused with "
       "LMDB, --store-sync-interval > 0 and no --skip-spf-pass: requests are then decided on "
       "the I/O thread and --request-deadline only turns a late answer into --fault-action")  //
      ("io-threads", po::value<size_t>()->default_value(0)->value_name("N"),
       "threads serving connections (each connection on one of them); 0: one per CPU this "
       "process may use (its affinity/cpuset), at most 4, when requests are decided on them "
       "(see --workers), else 1")  //
      ("request-deadline", po::value<double>()->default_value(5)->value_name("SECONDS"),
       "past it a request gets --fault-action");
}

GreylistConfig build_greylist_config(const DaemonOptions& options) {
  const po::variables_map& v = options.values();
  GreylistConfig c;
  auto positive = [&](const char* name, double value) {
    if (!(value > 0)) throw ConfigError(options.where(name) + ": must be more than 0");
  };
  std::string store = v["store"].as<std::string>();
  if (store.rfind("lmdb:", 0) == 0) {
    c.store_kind = GreylistConfig::StoreKind::Lmdb;
    c.lmdb.path = store.substr(5);
    if (c.lmdb.path.empty()) throw ConfigError(options.where("store") + ": lmdb: needs a path");
  } else {
    c.store_kind = GreylistConfig::StoreKind::Redis;
    try {
      c.redis = redis::parse_url(store);
    } catch (const ConfigError& e) {
      throw ConfigError(options.where("store") + ": " + e.what() + " (or lmdb:PATH)");
    }
  }
  size_t mib = v["store-map-size"].as<size_t>();
  if (mib == 0 || mib > (size_t{1} << 24)) {
    throw ConfigError(options.where("store-map-size") + ": must be 1..16777216 MiB");
  }
  c.lmdb.map_size_bytes = mib << 20;
  c.lmdb.sync_interval_seconds = v["store-sync-interval"].as<double>();
  if (!(c.lmdb.sync_interval_seconds >= 0)) {
    throw ConfigError(options.where("store-sync-interval") + ": must be 0 or more seconds");
  }
  c.lmdb.sweep_interval_seconds = v["sweep-interval"].as<double>();
  if (!(c.lmdb.sweep_interval_seconds >= 0)) {
    throw ConfigError(options.where("sweep-interval") + ": must be 0 or more seconds");
  }
  double timeout = v["store-timeout"].as<double>();
  positive("store-timeout", timeout);
  c.redis_options.connect_timeout_seconds = timeout;
  c.redis_options.command_timeout_seconds = timeout;
  c.redis_options.name = "greylist-store";
  c.redis_prefix = v["redis-prefix"].as<std::string>();

  c.policy.fault_action = v["fault-action"].as<std::string>();
  if (c.policy.fault_action.empty() || has_line_break(c.policy.fault_action) ||
      c.policy.fault_action[0] == '5' || c.policy.fault_action.rfind("REJECT", 0) == 0) {
    throw ConfigError(options.where("fault-action") +
                      ": must be a non-empty one-line action and not a 5xx or REJECT");
  }
  c.greylist.delay_seconds = v["delay"].as<int64_t>();
  if (c.greylist.delay_seconds < 0 || c.greylist.delay_seconds > 86400 * 30) {
    throw ConfigError(options.where("delay") + ": must be 0..2592000 seconds");
  }
  int64_t days = v["max-age"].as<int64_t>();
  if (days <= 0 || days > 3650)
    throw ConfigError(options.where("max-age") + ": must be 1..3650 days");
  c.greylist.max_age_seconds = days * 86400;
  try {
    c.greylist.retry_window_seconds = parse_retry_window(v["retry-window"].as<std::string>());
  } catch (const ConfigError& e) {
    throw ConfigError(options.where("retry-window") + ": " + e.what());
  }
  c.greylist.auto_whitelist_clients = v["auto-whitelist-clients"].as<unsigned>();
  c.greylist.auto_whitelist_interval_seconds = v["auto-whitelist-interval"].as<int64_t>();
  if (c.greylist.auto_whitelist_interval_seconds < 0) {
    throw ConfigError(options.where("auto-whitelist-interval") + ": must be 0 or more seconds");
  }
  c.greylist.network.ipv4_prefix = v["ipv4cidr"].as<unsigned>();
  if (c.greylist.network.ipv4_prefix > 32)
    throw ConfigError(options.where("ipv4cidr") + ": must be 0..32");
  c.greylist.network.ipv6_prefix = v["ipv6cidr"].as<unsigned>();
  if (c.greylist.network.ipv6_prefix > 128)
    throw ConfigError(options.where("ipv6cidr") + ": must be 0..128");
  c.greylist.network.by_host = v["lookup-by-host"].as<bool>();
  c.greylist.replace_sender_digits = v["replace-sender-digits"].as<bool>();
  c.whitelist_clients_files = list_option(v, "whitelist-clients");
  c.whitelist_recipients_files = list_option(v, "whitelist-recipients");
  c.skip_clients_files = list_option(v, "skip-clients");

  c.policy.greylist_action = v["greylist-action"].as<std::string>();
  c.policy.greylist_text = v["greylist-text"].as<std::string>();
  c.policy.x_greylist_header = v["x-greylist-header"].as<std::string>();
  for (const char* name : {"greylist-action", "greylist-text", "x-greylist-header"}) {
    if (has_line_break(v[name].as<std::string>())) {
      throw ConfigError(options.where(name) + ": must be one line");
    }
  }
  if (c.policy.greylist_action.empty() || c.policy.greylist_action[0] == '5' ||
      c.policy.greylist_action.rfind("REJECT", 0) == 0) {
    throw ConfigError(options.where("greylist-action") +
                      ": must be a temporary action, not 5xx/REJECT");
  }
  std::string host = v["hostname"].as<std::string>();
  c.policy.hostname = host.empty() ? host_name() : host;
  c.policy.skip_sasl = v["skip-sasl"].as<bool>();
  try {
    c.policy.skip_networks = CidrList::parse(v["skip-networks"].as<std::string>());
  } catch (const ConfigError& e) {
    throw ConfigError(options.where("skip-networks") + ": " + e.what());
  }
  c.policy.dry_run = v["dry-run"].as<bool>();
  c.policy.trust_test_time = v["trust-test-time"].as<bool>();
  c.skip_spf_pass = v["skip-spf-pass"].as<bool>();
  c.worker_threads = v["workers"].as<size_t>();
  if (c.worker_threads == 0 || c.worker_threads > 256) {
    throw ConfigError(options.where("workers") + ": must be 1..256");
  }
  if (c.skip_spf_pass && v["workers"].defaulted()) c.worker_threads = 8;  // as postern-spf
  c.redis_options.pool_size = c.worker_threads;
  c.io_threads = v["io-threads"].as<size_t>();
  if (c.io_threads > 64) throw ConfigError(options.where("io-threads") + ": must be 0..64");
  c.request_deadline_seconds = v["request-deadline"].as<double>();
  positive("request-deadline", c.request_deadline_seconds);

  c.resolver.dns_server = v["dns-server"].as<std::string>();
  c.resolver.timeout_seconds = v["dns-timeout"].as<double>();
  positive("dns-timeout", c.resolver.timeout_seconds);
  c.spf_limits.check_seconds = v["spf-check-timeout"].as<double>();
  positive("spf-check-timeout", c.spf_limits.check_seconds);
  // A request past its deadline gets --fault-action (DUNNO by default: not greylisted), so a
  // slow SPF check must end, as temperror, well before it: the budget, plus one query
  // started just before the budget ends (evaluator.hpp), plus time for the store.
  if (c.skip_spf_pass &&
      c.spf_limits.check_seconds + c.resolver.timeout_seconds >= c.request_deadline_seconds) {
    throw ConfigError(
        options.where("spf-check-timeout") + " (" + seconds_text(c.spf_limits.check_seconds) +
        ") + " + options.where("dns-timeout") + " (" + seconds_text(c.resolver.timeout_seconds) +
        "): must be below --request-deadline (" + seconds_text(c.request_deadline_seconds) +
        "), or a slow SPF check ends in --fault-action instead of greylisting");
  }
  c.spf_cache.ttl_seconds = v["spf-cache-ttl"].as<double>();
  if (!(c.spf_cache.ttl_seconds >= 0)) {
    throw ConfigError(options.where("spf-cache-ttl") + ": must be 0 (off) or more seconds");
  }
  c.spf_cache.max_entries = v["spf-cache-size"].as<size_t>();
  return c;
}

std::shared_ptr<const Whitelists> load_whitelists(const GreylistConfig& config) {
  auto lists = std::make_shared<Whitelists>();
  for (const auto& f : config.whitelist_clients_files) lists->clients.add_file(f);
  for (const auto& f : config.whitelist_recipients_files) lists->recipients.add_file(f);
  return lists;
}

}  // namespace postern::greylist
