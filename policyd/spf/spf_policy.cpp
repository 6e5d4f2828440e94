// spf_policy.cpp — policy request → SPF checks → action text.
#include "policyd/spf/spf_policy.hpp"

#include <cctype>

#include "common/config_error.hpp"
#include "common/log.hpp"

namespace postern::spf {
namespace {

bool equal_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

// RFC 5322 atext plus '.', as a dot-atom needs (no leading/trailing/double dots).
bool is_dot_atom(std::string_view text) {
  static constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
  if (text.empty() || text.front() == '.' || text.back() == '.') return false;
  if (text.find("..") != std::string_view::npos) return false;
  for (char c : text) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && c != '.' && specials.find(c) == std::string_view::npos) return false;
  }
  return true;
}

// key=value for Received-SPF: a dot-atom as is, anything else as a quoted-string.
std::string key_value(std::string_view key, std::string_view value) {
  std::string safe = header_safe(value);
  if (is_dot_atom(safe)) return std::string(key) + "=" + safe + ";";
  std::string out = std::string(key) + "=\"";
  for (char c : safe) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\";";
}

// Text inside a header comment: no parentheses or backslashes.
std::string comment_safe(std::string_view text) {
  std::string out;
  for (char c : header_safe(text)) {
    if (c != '(' && c != ')' && c != '\\') out += c;
  }
  return out;
}

// The §9.1 comment: "receiver: domain of sender designates ip as permitted sender".
std::string comment(const ReceivedSpf& f) {
  std::string who = "domain of " + comment_safe(f.sender);
  std::string ip = comment_safe(f.client_ip);
  std::string text;
  switch (f.outcome.result) {
    case SpfResult::Pass:
      text = who + " designates " + ip + " as permitted sender";
      break;
    case SpfResult::Fail:
      text = who + " does not designate " + ip + " as permitted sender";
      break;
    case SpfResult::Softfail:
      text = "transitioning " + who + " does not designate " + ip + " as permitted sender";
      break;
    case SpfResult::Neutral:
      text = ip + " is neither permitted nor denied by " + who;
      break;
    case SpfResult::None:
      text = who + " does not publish an SPF record";
      break;
    case SpfResult::Temperror:
      text = "temporary error checking " + who;
      break;
    case SpfResult::Permerror:
      text = "permanent error in the SPF record of " + who;
      break;
  }
  return comment_safe(f.receiver) + ": " + text;
}

struct Check {
  SpfOutcome outcome;
  std::string identity;  // "helo" | "mailfrom"
  std::string sender;
};

std::string action_text(Action action, const Check& check, const ReceivedSpf& header) {
  const SpfOutcome& o = check.outcome;
  switch (action) {
    case Action::Dunno:
      return "DUNNO";
    case Action::Prepend:
      return "PREPEND " + format_received_spf(header);
    case Action::Defer:
      return "DEFER_IF_PERMIT 4.7.24 SPF " + std::string(result_name(o.result)) + " for " +
             header_safe(check.sender, 200) + (o.problem.empty() ? "" : ": ") +
             header_safe(o.problem, 200);
    case Action::Reject:
      break;
  }
  if (o.result == SpfResult::Fail) {
    std::string why = o.explanation.empty()
                          ? "SPF fail - not authorized: " + header_safe(check.sender, 200) +
                                " does not designate " + header.client_ip
                          : header_safe(o.explanation, 300);
    return "550 5.7.23 " + why;
  }
  std::string code = o.result == SpfResult::Temperror ? "450 4.7.24 " : "550 5.7.24 ";
  if (o.result != SpfResult::Temperror && o.result != SpfResult::Permerror) {
    code = "550 5.7.23 ";
  }
  return code + "SPF " + std::string(result_name(o.result)) + " for " +
         header_safe(check.sender, 200) + (o.problem.empty() ? "" : ": ") +
         header_safe(o.problem, 200);
}

void log_check(const PolicyRequest& request, const Check& check, const std::string& action) {
  log::info("spf-check")
      .kv("queue_id", request.get("queue_id"))
      .kv("identity", check.identity)
      .kv("client", request.get("client_address"))
      .kv("helo", request.get("helo_name"))
      .kv("sender", check.sender)
      .kv("result", result_name(check.outcome.result))
      .kv("mechanism", check.outcome.mechanism)
      .kv("problem", check.outcome.problem)
      .kv("action", action.substr(0, action.find(' ')));
}

}  // namespace

std::optional<Action> parse_action(std::string_view text) {
  if (equal_nocase(text, "reject")) return Action::Reject;
  if (equal_nocase(text, "defer")) return Action::Defer;
  if (equal_nocase(text, "prepend")) return Action::Prepend;
  if (equal_nocase(text, "dunno")) return Action::Dunno;
  return std::nullopt;
}

std::vector<std::string> parse_hostname_list(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find_first_of(" \t,", i);
    if (end == std::string_view::npos) end = text.size();
    std::string entry(text.substr(i, end - i));
    i = end + 1;
    if (entry.empty()) continue;
    for (char& c : entry) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (entry.size() > 1 && entry.back() == '.') entry.pop_back();
    std::string_view labels(entry);
    if (labels.front() == '.') labels.remove_prefix(1);
    bool ok = !labels.empty() && labels.size() <= 253 && labels.front() != '.' &&
              labels.back() != '.' && labels.find("..") == std::string_view::npos;
    for (char c : labels) {
      ok = ok &&
           ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.');
    }
    if (!ok) throw ConfigError("'" + entry + "' is not a host name or .domain");
    out.push_back(std::move(entry));
  }
  return out;
}

bool hostname_listed(const std::vector<std::string>& list, std::string_view client_name) {
  if (!client_name.empty() && client_name.back() == '.') client_name.remove_suffix(1);
  if (client_name.empty() || equal_nocase(client_name, "unknown")) return false;
  for (const std::string& entry : list) {
    if (entry.front() == '.') {
      if (client_name.size() > entry.size() &&
          equal_nocase(client_name.substr(client_name.size() - entry.size()), entry)) {
        return true;
      }
    } else if (equal_nocase(client_name, entry)) {
      return true;
    }
  }
  return false;
}

std::string header_safe(std::string_view text, size_t max_bytes) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max_bytes) break;
    if (c >= 0x20 && c <= 0x7e) out += c;
  }
  return out;
}

std::string format_received_spf(const ReceivedSpf& f) {
  std::string out =
      "Received-SPF: " + std::string(result_name(f.outcome.result)) + " (" + comment(f) + ")";
  out += " client-ip=" + header_safe(f.client_ip) + ";";
  out += " " + key_value("envelope-from", f.envelope_from);
  out += " " + key_value("helo", f.helo);
  out += " " + key_value("receiver", f.receiver);
  out += " identity=" + f.identity + ";";
  if (!f.outcome.mechanism.empty()) out += " " + key_value("mechanism", f.outcome.mechanism);
  if (!f.outcome.problem.empty()) out += " " + key_value("problem", f.outcome.problem);
  return out;
}

SpfPolicy::SpfPolicy(SpfPolicyConfig config, SpfEngine& engine, std::function<int64_t()> now)
    : config_(std::move(config)), engine_(engine), now_(std::move(now)) {}

std::string SpfPolicy::decide(const PolicyRequest& request) {
  if (!equal_nocase(request.get("protocol_state"), "RCPT")) return "DUNNO";
  if (config_.skip_sasl && !request.get("sasl_username").empty()) return "DUNNO";
  auto client = IpAddress::parse(request.get("client_address"));
  if (!client || config_.skip_networks.contains(*client)) return "DUNNO";
  if (hostname_listed(config_.skip_hostnames, request.get("client_name"))) {
    log::info("spf-skip")
        .kv("queue_id", request.get("queue_id"))
        .kv("client", request.get("client_address"))
        .kv("client_name", request.get("client_name"))
        .kv("reason", "skip-hostnames");
    return "DUNNO";
  }
  std::string instance(request.get("instance"));
  if (!instance.empty()) {
    std::string previous = cached(instance);
    if (!previous.empty()) return previous.rfind("PREPEND ", 0) == 0 ? "DUNNO" : previous;
  }
  std::string action = evaluate(request, *client);
  if (!instance.empty()) remember(instance, action);
  return action;
}

std::string SpfPolicy::evaluate(const PolicyRequest& request, const IpAddress& client) {
  std::string_view helo = request.get("helo_name");
  std::string_view sender = request.get("sender");
  auto run = [&](CheckHostRequest r, const char* identity) {
    r.receiver = config_.receiver;
    r.timestamp = now_ ? now_() : 0;
    Check c{engine_.check_host(r), identity, r.sender};
    return c;
  };
  std::optional<Check> helo_check;
  if (config_.helo_fail == Action::Reject || sender.empty()) {
    helo_check = run(helo_identity(client, helo), "helo");
  }
  Check check;
  Action action;
  if (helo_check && helo_check->outcome.result == SpfResult::Fail &&
      config_.helo_fail == Action::Reject) {
    check = *helo_check;
    action = Action::Reject;
  } else {
    check =
        sender.empty() ? *helo_check : run(mail_from_identity(client, sender, helo), "mailfrom");
    action = config_.mail_from_actions[static_cast<size_t>(check.outcome.result)];
  }
  ReceivedSpf header{check.outcome,     check.identity, client.to_string(), std::string(sender),
                     std::string(helo), check.sender,   config_.receiver};
  std::string text = action_text(action, check, header);
  log_check(request, check, text);
  return text;
}

std::string SpfPolicy::cached(const std::string& instance) {
  std::lock_guard lock(mutex_);
  auto it = instances_.find(instance);
  return it == instances_.end() ? std::string() : it->second;
}

void SpfPolicy::remember(const std::string& instance, const std::string& action) {
  std::lock_guard lock(mutex_);
  if (config_.instance_cache == 0) return;
  if (instances_.emplace(instance, action).second) order_.push_back(instance);
  while (order_.size() > config_.instance_cache) {
    instances_.erase(order_.front());
    order_.pop_front();
  }
}

}  // namespace postern::spf
