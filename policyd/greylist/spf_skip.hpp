// spf_skip.hpp — postern-greylist --skip-spf-pass: do not greylist a message whose MAIL FROM
// identity has the SPF result pass (RFC 7208 §2.4; the null sender is checked as
// postmaster@HELO). A Postfix policy request carries no message headers, so the Received-SPF
// that postern-spf makes Postfix prepend is not visible here: the check is made again with
// postern-spf's own evaluator (policyd/spf/evaluator.hpp) over the shared resolver, behind
// its result cache. Only `pass` skips; every other result, a DNS fault, a spent check budget,
// a bad client address or an engine exception means "greylist as usual" and never fails the
// request.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "policyd/spf/evaluator.hpp"

namespace postern::greylist {

/// What the SPF check found for one request.
struct SpfSkipVerdict {
  bool skip = false;      // true only for SpfResult::Pass
  std::string result;     // "pass", "softfail", "temperror"...; "error" when not checked
  std::string mechanism;  // the deciding term ("ip4:192.0.2.0/24"), may be empty
  std::string problem;    // why, for none/temperror/permerror/error
};

/// Decides the SPF-pass skip with any SpfEngine (postern-spf's Evaluator behind a
/// CachingEngine in the daemon; a fake or the evaluator on a canned zone in tests).
class SpfPassCheck {
 public:
  /// `engine` must outlive this object. `receiver` is %{r} (RFC 7208 §7.2), `now` gives %{t}
  /// in Unix seconds.
  SpfPassCheck(spf::SpfEngine& engine, std::string receiver, std::function<int64_t()> now);

  /// check_host() for the MAIL FROM identity of (client_address, sender, helo_name).
  /// Blocking (DNS, at most the engine's check budget plus one query timeout); thread-safe
  /// when the engine is. Never throws.
  SpfSkipVerdict check(std::string_view client_address, std::string_view sender,
                       std::string_view helo_name) const;

 private:
  spf::SpfEngine& engine_;
  std::string receiver_;
  std::function<int64_t()> now_;
};

}  // namespace postern::greylist
