// auth_results_field.hpp — the whole Authentication-Results field postern-dkim adds (RFC 8601):
// reading the authserv-id of fields already in a message (to remove the ones that claim ours,
// §5), turning the Received-SPF field postern-spf made Postfix prepend into an spf= clause,
// and assembling + folding our field. The per-signature dkim= clause is auth_results.hpp's.
// Untrusted input: any octets are accepted, sizes are bounded, nothing here throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "milters/dkim/signer.hpp"  // HeaderField

namespace postern::dkim {

/// The authserv-id of an Authentication-Results field value (RFC 8601 §2.2): leading CFWS
/// (whitespace, folds, nested comments) skipped, then a token or quoted-string (unquoted,
/// escapes resolved); what follows (a version number, CFWS, ";") is not part of it.
/// nullopt when the value holds no authserv-id (empty, unterminated comment or quote).
std::optional<std::string> ar_authserv_id(std::string_view value);

/// The 1-based instance numbers, among the Authentication-Results fields of `fields` (name
/// compared case-insensitively), of those whose authserv-id equals `authserv_id` ignoring
/// ASCII case — the fields a sender may have forged in our name (RFC 8601 §5). Ascending.
std::vector<int> forged_ar_instances(const std::vector<HeaderField>& fields,
                                     std::string_view authserv_id);

/// The spf= clause (RFC 8601 §2.7.2) from our own Received-SPF field (RFC 7208 §9.1):
/// "spf=RESULT smtp.mailfrom=ADDR" (smtp.helo=NAME when the envelope sender is empty).
/// Trusted only when all hold: it is the top-most Received-SPF field; no Received: field is
/// above it (Postfix writes the fields its policy PREPEND actions ask for above its own
/// Received:, so a sender's forgery sits lower); its receiver= equals `receiver` (the
/// --receiver of postern-spf; ASCII case-insensitive); its result is an RFC 7208 word.
/// nullopt otherwise, and when `receiver` is empty (the feature is off).
std::optional<std::string> spf_clause(const std::vector<HeaderField>& fields,
                                      std::string_view receiver);

/// Our field's value: " AUTHSERV-ID;" then the clauses separated by ";", folded ("\n\t",
/// as Postfix takes milter header values) so that lines stay within 78 octets counting the
/// "Authentication-Results:" name, breaking between clauses and between a clause's
/// properties; a single word longer than a line stays whole. `clauses` must not be empty.
std::string build_ar_value(std::string_view authserv_id, const std::vector<std::string>& clauses);

}  // namespace postern::dkim
