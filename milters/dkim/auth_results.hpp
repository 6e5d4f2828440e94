// auth_results.hpp — Authentication-Results building blocks (RFC 8601): the dkim= clause for
// one verified signature (§2.7.1, with RFC 6008 header.b). The whole field (authserv-id,
// other methods, removal of forged fields, §5) is assembled by the milter.
// Untrusted text (d=, i=, reasons) is quoted or cleaned here; nothing throws.
#pragma once

#include <string>
#include <string_view>

#include "milters/dkim/verifier.hpp"

namespace postern::dkim {

/// RFC 8601 §2.2 `value` (RFC 2045 token or quoted-string): `text` as is when every octet is a
/// token character, else a quoted-string with '"' and '\' escaped; CR, LF and other controls
/// become spaces, and text over 256 octets is cut.
std::string ar_value(std::string_view text);

/// `pvalue` (§2.2): a domain-name or [local-part] "@" domain-name unquoted when it is one
/// (dot-atom local part, letters/digits/'-'/'_' labels), else ar_value(text).
std::string ar_pvalue(std::string_view text);

/// One resinfo for DKIM (§2.7.1): "dkim=RESULT [reason=VALUE] header.d=D header.i=I
/// header.s=S header.a=A header.b=B" — reason only when not pass and given, properties only
/// when known; "dkim=none" for DkimResult::None. No leading "; ", no folding.
std::string dkim_clause(const SignatureResult& result);

/// "dkim=none": the clause for a message without any DKIM-Signature field.
std::string dkim_none_clause();

}  // namespace postern::dkim
