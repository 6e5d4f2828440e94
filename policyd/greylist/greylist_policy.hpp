// greylist_policy.hpp — policy request → action for postern-greylist: the skips users turn
// greylisting off for (SASL-authenticated clients, --skip-networks, --skip-clients by verified
// name, and with --skip-spf-pass a MAIL FROM whose SPF result is pass: spf_skip.hpp), the
// Greylister's verdict, the reply text, --dry-run, logs and metrics. Store faults
// become the configured fault action (default DUNNO, fail-open) with one log line per outage.
// Reply (postgrey-compatible): "DEFER_IF_PERMIT 4.7.1 Greylisted, try again in N seconds",
// "PREPEND X-Greylist: delayed N seconds by postern-greylist-V at HOST; DATE" on a first pass,
// else "DUNNO". Postfix: SMTPD_POLICY_README, access(5) for the action words.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/cidr.hpp"
#include "common/policy.hpp"
#include "common/redis.hpp"
#include "policyd/greylist/greylister.hpp"

namespace postern::metrics {
class Registry;
class Counter;
}  // namespace postern::metrics

namespace postern::greylist {

class SpfPassCheck;

struct PolicySettings {
  std::string greylist_action = "DEFER_IF_PERMIT";  // --greylist-action
  /// --greylist-text: %s → seconds left, %r → recipient domain (postgrey's placeholders).
  std::string greylist_text = "4.7.1 Greylisted, try again in %s seconds";
  /// --x-greylist-header ("" = none): %t → seconds delayed, %v → version, %h → host name,
  /// %d → date (RFC 5322 form, local time).
  std::string x_greylist_header = "X-Greylist: delayed %t seconds by postern-greylist-%v at %h; %d";
  std::string hostname;
  std::string version = "0";
  bool skip_sasl = true;                                // --skip-sasl: sasl_username set → DUNNO
  CidrList skip_networks;                               // --skip-networks
  std::shared_ptr<const ClientWhitelist> skip_clients;  // --skip-clients (client_name list)
  /// --skip-spf-pass (null = off): checked after the skips above, before the store; only
  /// an SPF pass skips, any other result or fault greylists as usual.
  std::shared_ptr<const SpfPassCheck> skip_spf_pass;
  bool dry_run = false;                // --dry-run: always DUNNO
  std::string fault_action = "DUNNO";  // --fault-action on store faults
  /// --trust-test-time: take the time from the request's policy_test_time attribute (Unix
  /// seconds), as postgrey always does, for replaying traces. Off in production: a client of
  /// the policy socket could move the clock.
  bool trust_test_time = false;
};

class GreylistPolicy {
 public:
  /// `metrics` may be null. `tracker` (may be null) logs store outages once.
  GreylistPolicy(PolicySettings settings, Greylister& greylister, metrics::Registry* metrics,
                 redis::OutageTracker* tracker = nullptr);
  /// The action for one request. Thread-safe. Never throws a store fault (→ fault action).
  std::string decide(const PolicyRequest& request);
  const PolicySettings& settings() const { return settings_; }

 private:
  std::string greylist_reply(int64_t seconds_left, std::string_view recipient) const;
  std::string header_reply(int64_t delayed_seconds) const;
  void count(std::string_view outcome);

  PolicySettings settings_;
  Greylister& greylister_;
  metrics::Registry* metrics_;
  redis::OutageTracker* tracker_;
  metrics::Counter* store_errors_ = nullptr;
  std::map<std::string, metrics::Counter*, std::less<>> decisions_;    // by outcome name
  std::map<std::string, metrics::Counter*, std::less<>> spf_results_;  // by SPF result name
};

/// Replaces the first "%X" in `text` by `value` for each (X, value) — postgrey's s/\%X/.../.
std::string substitute(std::string text, char placeholder, std::string_view value);

}  // namespace postern::greylist
