// rcpt_policy.hpp — postern-rcpt's decision: is the RCPT TO recipient real? A Postfix policy
// request in, an action out. Only recipients in the relay domains are checked (others DUNNO).
// Order: the access table (override; OK = exists, DUNNO = ask on, anything else is answered as
// written), then the cache, then each source in turn (the first that knows the recipient wins).
// With --recipient-delimiter, user+ext@domain that is not known is looked up as user@domain.
//   exists        → DUNNO (the other restrictions still apply)
//   unknown       → the final action: defer "450 4.1.1 User unknown" (default), reject
//                   "550 5.1.1 User unknown", or dry-run (log rcpt-unknown, DUNNO)
//   source fault  → "DEFER_IF_PERMIT 4.4.3 Recipient verification temporarily unavailable"
// Postfix puts "<address>: Recipient address rejected: " before a text, so no reply here names
// a host, server or error. No sockets, no clock of its own.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/policy.hpp"
#include "policyd/rcpt/access_table.hpp"
#include "policyd/rcpt/recipient_source.hpp"

namespace postern::metrics {
class Registry;
class Counter;
}  // namespace postern::metrics

namespace postern::rcpt {

/// What to answer for a recipient no source knows.
enum class FinalAction { Defer, Reject, DryRun };

/// "defer|reject|dry-run" → FinalAction; nullopt otherwise.
std::optional<FinalAction> parse_final_action(std::string_view text);

inline constexpr const char* defer_action = "450 4.1.1 User unknown";
inline constexpr const char* reject_action = "550 5.1.1 User unknown";
inline constexpr const char* fault_action =
    "DEFER_IF_PERMIT 4.4.3 Recipient verification temporarily unavailable";

/// Decides whether `domain` (lower-case) is one we answer for. May throw SourceFault (a
/// domain list held in Redis).
class RelayDomains {
 public:
  virtual ~RelayDomains() = default;
  virtual bool contains(const std::string& domain) = 0;
};

/// A fixed list: "example.org" matches that domain, ".example.org" any subdomain of it
/// (as Postfix's relay_domains with parent_domain_matches_subdomains off). Case-insensitive.
class DomainList : public RelayDomains {
 public:
  /// Parses a space- or comma-separated list. Throws ConfigError naming a bad entry.
  static DomainList parse(std::string_view text);
  bool contains(const std::string& domain) override;
  bool empty() const { return domains_.empty(); }

 private:
  std::vector<std::string> domains_;
};

struct RcptPolicyConfig {
  FinalAction final_action = FinalAction::Defer;
  std::string recipient_delimiter;  // characters, as Postfix's recipient_delimiter ("" = off)
};

/// The decision logic. Thread-safe: decide() runs on many workers at once; set_table() may
/// run at any time (SIGHUP).
class RcptPolicy {
 public:
  /// `domains`, `cache` (may be null) and `sources` must outlive the policy. `metrics` (may be
  /// null): postern_rcpt_answers_total{result}, postern_rcpt_lookups_total{source,result},
  /// postern_rcpt_faults_total{source}.
  RcptPolicy(RcptPolicyConfig config, RelayDomains& domains,
             std::shared_ptr<const AccessTable> table, RecipientCache* cache,
             std::vector<RecipientSource*> sources, metrics::Registry* metrics = nullptr);
  ~RcptPolicy();

  /// The action for one request (see above). Requests other than RCPT get DUNNO.
  std::string decide(const PolicyRequest& request);

  /// Replaces the access table (null = none).
  void set_table(std::shared_ptr<const AccessTable> table);

 private:
  struct Metrics;
  enum class Known { Yes, No };
  std::shared_ptr<const AccessTable> table() const;
  Known lookup(const std::string& address);  // cache, then sources; throws SourceFault
  std::string answer(const PolicyRequest& request, const std::string& address);
  std::string unknown(const PolicyRequest& request, const std::string& address);

  RcptPolicyConfig config_;
  RelayDomains& domains_;
  mutable std::mutex table_mutex_;
  std::shared_ptr<const AccessTable> table_;
  RecipientCache* cache_;
  std::vector<RecipientSource*> sources_;
  std::unique_ptr<Metrics> metrics_;
};

/// `address` without its extension: "user+ext@domain" → "user@domain" for delimiter "+"
/// (the local part is cut at the first of the delimiter characters, as Postfix does);
/// nullopt when there is none to strip or `delimiters` is empty.
std::optional<std::string> strip_extension(std::string_view address, std::string_view delimiters);

}  // namespace postern::rcpt
