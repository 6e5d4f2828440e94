// spf_policy.hpp — postern-spf's decision: a Postfix policy request in, an action out.
// At RCPT, once per message (the `instance` attribute): the HELO identity (RFC 7208 §2.3) when
// its fail is set to reject, then MAIL FROM (§2.4; the null sender is postmaster@HELO). The
// result becomes an action per SpfPolicyConfig — fail → "550 5.7.23" (RFC 7372), temperror →
// "DEFER_IF_PERMIT 4.7.24", the others "PREPEND Received-SPF: ..." (§9.1) — with untrusted
// values made safe for a header. No sockets, no clock of its own; the engine may throw (a
// fault: the server answers its fault action).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/cidr.hpp"
#include "common/policy.hpp"
#include "policyd/spf/evaluator.hpp"

namespace postern::spf {

/// What to answer for a result: reject (5xx), defer (DEFER_IF_PERMIT 4xx), prepend the
/// Received-SPF header, or nothing (DUNNO).
enum class Action { Reject, Defer, Prepend, Dunno };

/// "reject|defer|prepend|dunno" → Action; nullopt otherwise.
std::optional<Action> parse_action(std::string_view text);

struct SpfPolicyConfig {
  std::string receiver = "unknown";  // Received-SPF receiver= and %{r} (our host name)
  /// Per MAIL FROM result, indexed by SpfResult.
  std::array<Action, 7> mail_from_actions = {
      Action::Prepend,  // None
      Action::Prepend,  // Neutral
      Action::Prepend,  // Pass
      Action::Reject,   // Fail
      Action::Prepend,  // Softfail
      Action::Defer,    // Temperror
      Action::Prepend,  // Permerror
  };
  /// HELO fail: Reject checks HELO first and rejects on fail; Prepend (default) leaves the
  /// decision to MAIL FROM (HELO is then checked only for the null sender).
  Action helo_fail = Action::Prepend;
  CidrList skip_networks;  // DUNNO without a check (mynetworks-like)
  /// DUNNO without a check for clients whose verified name (Postfix client_name) matches:
  /// lower-case, no trailing dot; "host.example" exactly, ".example" any name below it.
  std::vector<std::string> skip_hostnames;
  bool skip_sasl = true;          // DUNNO for SASL-authenticated sessions
  size_t instance_cache = 10000;  // messages remembered for their next recipients
};

/// The decision logic. Thread-safe: decide() may run on many workers at once.
class SpfPolicy {
 public:
  /// `engine` must outlive the policy. `now` gives seconds since the epoch (%{t}).
  SpfPolicy(SpfPolicyConfig config, SpfEngine& engine, std::function<int64_t()> now);

  /// The action text for one request ("DUNNO", "PREPEND Received-SPF: pass ...",
  /// "550 5.7.23 ...", "DEFER_IF_PERMIT 4.7.24 ..."). Requests other than RCPT get DUNNO; a
  /// recipient after the first of the same instance gets the same reject/defer or DUNNO
  /// (the header is prepended once).
  std::string decide(const PolicyRequest& request);

 private:
  std::string evaluate(const PolicyRequest& request, const IpAddress& client);
  std::string cached(const std::string& instance);
  void remember(const std::string& instance, const std::string& action);

  SpfPolicyConfig config_;
  SpfEngine& engine_;
  std::function<int64_t()> now_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> instances_;
  std::deque<std::string> order_;
};

/// Parses a --skip-hostnames list (space- or comma-separated names, ".domain" for any name
/// below it) into lower-case entries without trailing dots. Throws ConfigError naming the
/// first entry that is not a host name (letters, digits, '-', '_', non-empty labels).
std::vector<std::string> parse_hostname_list(std::string_view text);

/// True when `client_name` (Postfix's client_name: the name whose reverse and forward lookups
/// agree, "unknown" otherwise) matches an entry of `list` (parse_hostname_list), ignoring
/// case and a trailing dot. "unknown" and "" never match.
bool hostname_listed(const std::vector<std::string>& list, std::string_view client_name);

/// The fields of one Received-SPF header (RFC 7208 §9.1).
struct ReceivedSpf {
  SpfOutcome outcome;
  std::string identity;  // "mailfrom" or "helo"
  std::string client_ip;
  std::string envelope_from;  // as sent ("" for the null sender)
  std::string helo;
  std::string sender;  // the <sender> checked (postmaster@HELO for the null sender)
  std::string receiver;
};

/// "Received-SPF: pass (comment) client-ip=...; envelope-from=...; helo=...; receiver=...;
/// identity=...; mechanism=...;" — one line, untrusted values quoted and stripped of control
/// and non-ASCII bytes, each at most 255 bytes.
std::string format_received_spf(const ReceivedSpf& fields);

/// `text` made safe for a header or reply: printable ASCII only (others dropped), at most
/// `max_bytes`.
std::string header_safe(std::string_view text, size_t max_bytes = 255);

}  // namespace postern::spf
