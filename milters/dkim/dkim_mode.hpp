// dkim_mode.hpp — what postern-dkim does with one message: sign it, verify it, both or
// neither, from --mode, --verify-internal and SigningPolicy's verdict. Mail from internal
// clients (--internal-hosts, SASL-authenticated, local submission) is the outbound stream:
// signed, and verified only with --verify-internal. All other mail is the inbound stream:
// verified. Pure logic; nothing here throws except parse_mode (ConfigError).
#pragma once

#include <string_view>

#include "milters/dkim/signing_policy.hpp"

namespace postern::dkim {

/// --mode: sign only, verify only, or both (OpenDKIM's "sv").
enum class Mode { Sign, Verify, Both };

/// "sign", "verify" or "both" (also OpenDKIM's "s", "v", "sv"). Throws ConfigError otherwise.
Mode parse_mode(std::string_view text);

/// The work for one message, decided at end of header.
struct MessageWork {
  bool sign = false;    // add DKIM-Signature fields (with the decision's keys)
  bool verify = false;  // check the message's DKIM-Signature fields, add Authentication-Results
  bool any() const { return sign || verify; }
};

/// Sign when the mode signs and the policy said sign; verify when the mode verifies and the
/// client is external (SkipReason::ExternalClient), or internal with `verify_internal`.
MessageWork plan_message(Mode mode, bool verify_internal, const SigningPolicy::Decision& decision);

}  // namespace postern::dkim
