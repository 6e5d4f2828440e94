// greylister.hpp — the greylisting decision for one (client, sender, recipient), postgrey 1.37
// compatible (smtpd_access_policy): whitelists, client auto-whitelist, the triplet state
// machine, and the retry window. Time comes from an injected clock (Unix seconds), state from
// a Store; no sockets. Outcomes are values; store faults throw StoreError.
//
// State machine of a triplet (first, last), at time now, with delay D, retry window W:
//   unknown                        → first = now: greylisted (D seconds left)
//   last - first >= D (passed once) → pass, no header
//   else, now - first > W           → first = now: greylisted as new
//   else                            → pass once now - first >= D (first pass: X-Greylist
//                                     header, auto-whitelist count +1 at most once an hour
//                                     (--auto-whitelist-interval)),
//                                     else greylisted (D - (now - first) left, early retry)
//   then last = now; the record expires max-age after last once passed, W after last before.
// A client whose count reached the auto-whitelist threshold passes without a triplet lookup.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "policyd/greylist/normalize.hpp"
#include "policyd/greylist/store.hpp"
#include "policyd/greylist/whitelist.hpp"

namespace postern::greylist {

/// Settings with postgrey's defaults.
struct GreylistSettings {
  int64_t delay_seconds = 300;                     // --delay
  int64_t max_age_seconds = 35 * 86400;            // --max-age (days in options)
  int64_t retry_window_seconds = 2 * 86400;        // --retry-window
  unsigned auto_whitelist_clients = 5;             // --auto-whitelist-clients (0 = off)
  int64_t auto_whitelist_interval_seconds = 3600;  // passes closer than this count once
  NetworkOptions network;                          // --ipv4cidr, --ipv6cidr, --lookup-by-host
  bool replace_sender_digits = true;               // postgrey's \b\d+\b → #
};

/// The whitelists in force; replaced as a whole on reload.
struct Whitelists {
  ClientWhitelist clients;
  RecipientWhitelist recipients;
};

/// The parts of a policy request the decision uses (Postfix attribute names).
struct TripletRequest {
  std::string_view client_address;
  std::string_view client_name;  // "unknown" when no verified name
  std::string_view sender;       // "" for the null sender
  std::string_view recipient;
  std::string_view instance;  // one per message; "" when absent
  int64_t now = 0;            // Unix seconds to decide at instead of the clock (0: the clock)
};

enum class Outcome {
  Greylisted,            // new or early retry: defer
  Passed,                // triplet known and old enough
  ClientWhitelisted,     // whitelist file (name or address)
  RecipientWhitelisted,  // whitelist file
  AutoWhitelisted,       // client passed greylisting often enough
  BadClientAddress,      // client_address is not an IP address: not greylisted (postgrey: DUNNO)
};

/// "greylisted", "passed", "client-whitelist", "recipient-whitelist", "client-awl",
/// "bad-client-address" — log and metric label values.
std::string_view outcome_name(Outcome outcome);

struct Verdict {
  Outcome outcome = Outcome::Passed;
  int64_t seconds_left = 0;     // Greylisted: delay still to wait (> 0)
  bool early_retry = false;     // Greylisted: a retry before the delay was over
  bool first_pass = false;      // Passed: first pass of this triplet and a new message: header
  int64_t delayed_seconds = 0;  // Passed: now - first seen
  bool newly_auto_whitelisted = false;  // this pass made the client reach the threshold
  std::string triplet_key;              // when looked up
};

class Greylister {
 public:
  using Clock = std::function<int64_t()>;  // Unix seconds
  Greylister(GreylistSettings settings, Store& store, Clock clock,
             std::shared_ptr<const Whitelists> whitelists);

  /// Decides for `request`; reads and writes the store. Thread-safe. Throws StoreError.
  Verdict decide(const TripletRequest& request);
  /// Replaces the whitelists (SIGHUP). Thread-safe; requests in progress keep the old ones.
  void set_whitelists(std::shared_ptr<const Whitelists> whitelists);
  const GreylistSettings& settings() const { return settings_; }

 private:
  std::shared_ptr<const Whitelists> whitelists() const;
  bool is_new_instance(std::string_view instance);

  GreylistSettings settings_;
  Store& store_;
  Clock clock_;
  mutable std::mutex mutex_;  // whitelists_, instances_
  std::shared_ptr<const Whitelists> whitelists_;
  std::deque<std::string> instances_;  // the last 10 message instances that got a header
};

}  // namespace postern::greylist
