// key_table.hpp — OpenDKIM KeyTable and SigningTable lines (opendkim.conf(5)), parsed one line
// at a time so the parsers can be fuzzed, and KeyStore's entry type.
//   KeyTable:     keyname  domain:selector:keydata      (keydata: /path, ./path, ../path, or
//                                                        inline base64 DER; domain "%" = the
//                                                        From: domain)
//   SigningTable: pattern  keyname [signer]             (plain: exact keys; refile: '*' globs)
// '#' starts a comment (at line start or after whitespace). Bad input gives an error text,
// never an exception.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "milters/dkim/keys.hpp"

namespace postern::dkim {

/// One KeyTable record. `key_data` is a path when is_path, else inline base64.
struct KeyTableLine {
  std::string key_name;
  std::string sdid;  // "%" = the From: domain
  std::string selector;
  std::string key_data;
  bool is_path = false;
};

/// One SigningTable record; `pattern` lower-cased.
struct SigningTableLine {
  std::string pattern;
  std::string key_name;
  std::string signer;  // optional i= value; "%" = the From: domain
};

/// Outcome of parsing one line: Record (fields filled), Blank (empty or comment) or Error
/// (`error` says why, without file:line).
enum class LineKind { Record, Blank, Error };

/// Parses one KeyTable line (no line terminator needed; a trailing CR is ignored).
LineKind parse_key_table_line(std::string_view line, KeyTableLine& out, std::string& error);
/// Parses one SigningTable line.
LineKind parse_signing_table_line(std::string_view line, SigningTableLine& out, std::string& error);

/// Case-insensitive glob with '*' (any run, also empty) as in OpenDKIM's refile tables.
bool wildcard_match(std::string_view pattern, std::string_view text);

/// How an entry matches a From: address.
enum class MatchKind {
  Domain,   // --domain shortcut: the From: domain (and subdomains with sign_subdomains)
  Exact,    // plain SigningTable key: compared with the lookup candidates
  Wildcard  // refile: SigningTable pattern against the whole address
};

struct KeyStore::Entry {
  MatchKind kind = MatchKind::Domain;
  std::string pattern;  // lower-cased
  std::string sdid;     // "%" = From: domain
  std::string selector;
  std::shared_ptr<const PrivateKey> key;
  std::string signer;  // SigningTable's i= field ("%" = From: domain), "" = none
};

/// The i= for a SigningTable `signer` field once "%" is replaced by the From: `domain`; ""
/// when there is none or when its domain is not `sdid` or a subdomain of it (RFC 6376 §3.5;
/// opendkim.conf(5) drops a conflicting i= the same way).
std::string signing_identity(std::string_view signer, std::string_view domain,
                             std::string_view sdid);

}  // namespace postern::dkim
