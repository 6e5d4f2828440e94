// dmarc_action.hpp — what postern-dkim does with a DMARC verdict (RFC 7489 §6.6, §7): the
// evaluation input gathered from one message (From: values, DKIM results, our trusted spf=
// clause), the disposition the configured enforcement takes, and the SMTP reply text of a
// reject. The policy itself comes from dmarc.hpp; this module only maps it onto milter actions.
// Pure logic: any text is accepted, nothing here throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "milters/dkim/dmarc.hpp"

namespace postern::dkim {

/// The SPF facts DMARC aligns with (RFC 7489 §4.2): the result word and the domain SPF checked.
struct SpfIdentity {
  std::string result;  // lower-case RFC 7208 §2.6 word ("pass", "softfail", ...)
  std::string domain;  // the MAIL FROM domain, or the HELO name for a null sender
};

/// Reads the clause spf_clause() (auth_results_field.hpp) makes from our trusted Received-SPF:
/// "spf=RESULT smtp.mailfrom=LOCAL@DOMAIN" → {RESULT, DOMAIN}; "spf=RESULT smtp.helo=NAME" →
/// {RESULT, NAME}. Quoted values are unquoted. nullopt when `clause` is not an spf= clause or
/// names no identity (then DMARC sees SPF as unknown and uses DKIM alone).
std::optional<SpfIdentity> spf_identity(std::string_view clause);

/// DmarcInput for one message: `from_values` (every From: field value, as received), the
/// verifier's `dkim` results and the SPF identity when known (nullopt: SPF unknown).
DmarcInput dmarc_input(const std::vector<std::string>& from_values,
                       const std::vector<SignatureResult>& dkim,
                       const std::optional<SpfIdentity>& spf);

/// What the operator lets postern-dkim enforce (--dmarc-reject, --dmarc-quarantine).
struct DmarcEnforcement {
  bool reject = false;      // p=reject (after pct=) → 550 5.7.1 at end of message
  bool quarantine = false;  // p=quarantine (after pct=) → Postfix hold queue
};

/// The disposition taken (RFC 7489 §11.2 dis=): only a DmarcResult::Fail is acted on, and only
/// as far as enforcement allows. applied_policy Reject → Reject with `reject`, else Quarantine
/// with `quarantine` (the strongest action allowed), else None; applied_policy Quarantine →
/// Quarantine with `quarantine`, else None. Temperror, permerror, none and pass → None.
DmarcPolicy dmarc_disposition(const DmarcVerdict& verdict, const DmarcEnforcement& enforcement);

/// What a temperror does to the message (--temperror).
enum class TemperrorAction {
  Accept,   // record it in Authentication-Results and deliver (the default)
  Tempfail  // 451 4.7.5 at end of message: the client tries again later
};

/// Whether verification ends the message with a tempfail: only with TemperrorAction::Tempfail,
/// and only when some checked signature in `dkim` is a DkimResult::Temperror or `dmarc` (the
/// DMARC result; nullopt when DMARC was not evaluated) is DmarcResult::Temperror.
bool temperror_tempfails(TemperrorAction action, const std::vector<SignatureResult>& dkim,
                         std::optional<DmarcResult> dmarc);

/// The text of the 451 4.7.5 reply of a tempfailed message.
inline constexpr std::string_view kTemperrorReplyText =
    "Temporary DKIM/DMARC verification failure, try again later";

/// The text of the 550 5.7.1 reply for a rejected message: "Rejected by DMARC policy for
/// <from domain>", the domain reduced to printable ASCII without spaces or '%' (it goes into
/// an SMTP reply line).
std::string dmarc_reject_text(const DmarcVerdict& verdict);

}  // namespace postern::dkim
