// from_address.hpp — the author address of a message: the From: field value(s) parsed as an
// RFC 5322 mailbox-list (§3.4, §3.6.2) with display names, quoted strings, comments, angle
// addresses, groups and obsolete forms (§4.4 routes, CFWS around dots) accepted leniently.
// Untrusted input: sizes capped, outcomes are values, nothing here throws.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postern::dkim {

enum class FromOutcome {
  Ok,         // exactly one mailbox with a domain
  Missing,    // no From: field
  Multiple,   // several From: fields, or several mailboxes in one
  NoDomain,   // a mailbox without "@domain" (or an address literal as domain)
  Unparsable  // empty, too long, unbalanced quotes/brackets, bad domain characters
};

struct FromAddress {
  FromOutcome outcome = FromOutcome::Missing;
  std::string address;     // "local@domain" when Ok; domain lower-cased, local part as written
  std::string local_part;  // without CFWS; quotes kept
  std::string domain;      // lower-cased, no trailing dot
  std::string reason;      // why not Ok, for logs
};

/// Longest From: value accepted, in bytes.
inline constexpr size_t kMaxFromBytes = 16 * 1024;

/// Parses one From: field value (everything after the colon, folds allowed).
FromAddress parse_from_value(std::string_view value);

/// All From: field values of a message: none → Missing, several → Multiple, else the parse.
FromAddress parse_from(const std::vector<std::string>& from_values);

}  // namespace postern::dkim
