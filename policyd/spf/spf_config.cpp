// spf_config.cpp — option table → SpfConfig.
#include "policyd/spf/spf_config.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>

#include "common/config_error.hpp"

namespace postern::spf {
namespace {

// --<result>-action options in SpfResult order, with their defaults (README).
struct ResultOption {
  SpfResult result;
  const char* name;
  const char* fallback;
};
constexpr std::array<ResultOption, 7> result_options = {{
    {SpfResult::None, "none-action", "prepend"},
    {SpfResult::Neutral, "neutral-action", "prepend"},
    {SpfResult::Pass, "pass-action", "prepend"},
    {SpfResult::Fail, "fail-action", "reject"},
    {SpfResult::Softfail, "softfail-action", "prepend"},
    {SpfResult::Temperror, "temperror-action", "defer"},
    {SpfResult::Permerror, "permerror-action", "prepend"},
}};

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "unknown";
  return buf;
}

Action action_option(const DaemonOptions& options, const std::string& name) {
  std::string text = options.values()[name].as<std::string>();
  auto action = parse_action(text);
  if (!action) {
    throw ConfigError(options.where(name) + ": '" + text +
                      "' is not one of reject, defer, prepend, dunno");
  }
  return *action;
}

// 20 → "20", 2.5 → "2.5".
std::string seconds_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", seconds);
  return buf;
}

}  // namespace

void add_spf_options(po::options_description& options) {
  auto text = [](const char* fallback) {
    return po::value<std::string>()->default_value(fallback);
  };
  options.add_options()  //
      ("dns-server", text("")->value_name("HOST[@PORT]"),
       "forward DNS queries there (default: the servers of /etc/resolv.conf)")  //
      ("dns-timeout", po::value<double>()->default_value(5)->value_name("SECONDS"),
       "limit for one DNS query; past it the query is a temperror")  //
      ("receiver", text("")->value_name("NAME"),
       "receiver= of Received-SPF and %{r} (default: this host's name)");
  for (const ResultOption& r : result_options) {
    std::string help = std::string("action for MAIL FROM ") + std::string(result_name(r.result)) +
                       ": reject, defer, prepend (Received-SPF) or dunno";
    options.add_options()(r.name, text(r.fallback)->value_name("ACTION"), help.c_str());
  }
  options.add_options()  //
      ("helo-fail-action", text("prepend")->value_name("reject|prepend"),
       "reject: check HELO first and reject its fail; prepend: HELO decides nothing")  //
      ("skip-networks", text("127.0.0.0/8 ::1")->value_name("CIDRS"),
       "clients answered DUNNO without a check (mynetworks-like)")  //
      ("skip-hostnames", text("")->value_name("NAMES"),
       "clients whose verified name (client_name) is one of these, or below a .domain entry, "
       "are answered DUNNO without a check (forwarders, backup MXs)")  //
      ("skip-sasl", po::value<bool>()->default_value(true)->implicit_value(true),
       "answer DUNNO for SASL-authenticated sessions")  //
      ("engine", text("ours")->value_name("ours|libspf2"),
       "SPF engine: ours (RFC 7208) or libspf2 1.2.10 (for comparison; known RFC 7208 faults)")  //
      ("workers", po::value<size_t>()->default_value(8)->value_name("N"),
       "threads evaluating requests (each waits on DNS)")  //
      ("request-deadline", po::value<double>()->default_value(20)->value_name("SECONDS"),
       "past it a request gets the fault answer DEFER_IF_PERMIT 4.3.0")  //
      ("check-timeout", po::value<double>()->default_value(10)->value_name("SECONDS"),
       "time budget of one SPF check; past it no more DNS queries and the result is temperror "
       "(0: none; below --request-deadline)")  //
      ("cache-ttl", po::value<double>()->default_value(300)->value_name("SECONDS"),
       "keep SPF results (except temperror) this long for repeat checks; 0 disables")  //
      ("cache-size", po::value<size_t>()->default_value(100000)->value_name("N"),
       "most cached SPF results (least recently used go first)");
}

SpfConfig build_spf_config(const DaemonOptions& options) {
  const po::variables_map& values = options.values();
  SpfConfig config;
  config.resolver.dns_server = values["dns-server"].as<std::string>();
  config.resolver.timeout_seconds = values["dns-timeout"].as<double>();
  if (!(config.resolver.timeout_seconds > 0)) {
    throw ConfigError(options.where("dns-timeout") + ": must be more than 0 seconds");
  }
  std::string receiver = values["receiver"].as<std::string>();
  config.policy.receiver = receiver.empty() ? host_name() : receiver;
  for (const ResultOption& r : result_options) {
    config.policy.mail_from_actions[static_cast<size_t>(r.result)] = action_option(options, r.name);
  }
  config.policy.helo_fail = action_option(options, "helo-fail-action");
  try {
    config.policy.skip_networks = CidrList::parse(values["skip-networks"].as<std::string>());
  } catch (const ConfigError& e) {
    throw ConfigError(options.where("skip-networks") + ": " + e.what());
  }
  try {
    config.policy.skip_hostnames = parse_hostname_list(values["skip-hostnames"].as<std::string>());
  } catch (const ConfigError& e) {
    throw ConfigError(options.where("skip-hostnames") + ": " + e.what());
  }
  config.policy.skip_sasl = values["skip-sasl"].as<bool>();
  std::string engine = values["engine"].as<std::string>();
  if (engine == "ours") {
    config.engine = EngineKind::Ours;
  } else if (engine == "libspf2") {
    config.engine = EngineKind::Libspf2;
  } else {
    throw ConfigError(options.where("engine") + ": '" + engine + "' is not one of ours, libspf2");
  }
  config.worker_threads = values["workers"].as<size_t>();
  if (config.worker_threads == 0) throw ConfigError(options.where("workers") + ": must be > 0");
  config.request_deadline_seconds = values["request-deadline"].as<double>();
  config.limits.check_seconds = values["check-timeout"].as<double>();
  if (!(config.limits.check_seconds >= 0)) {
    throw ConfigError(options.where("check-timeout") + ": must be 0 (none) or more seconds");
  }
  if (values["check-timeout"].defaulted() &&
      config.limits.check_seconds >= config.request_deadline_seconds) {
    config.limits.check_seconds = config.request_deadline_seconds / 2;  // a short deadline
  }
  if (config.limits.check_seconds > 0 &&
      config.limits.check_seconds >= config.request_deadline_seconds) {
    throw ConfigError(options.where("check-timeout") + ": must be below --request-deadline (" +
                      seconds_text(config.request_deadline_seconds) + " s)");
  }
  config.cache.ttl_seconds = values["cache-ttl"].as<double>();
  if (!(config.cache.ttl_seconds >= 0)) {
    throw ConfigError(options.where("cache-ttl") + ": must be 0 (off) or more seconds");
  }
  config.cache.max_entries = values["cache-size"].as<size_t>();
  return config;
}

}  // namespace postern::spf
