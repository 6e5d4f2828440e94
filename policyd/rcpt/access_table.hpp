// access_table.hpp — postern-rcpt's override table in Postfix access(5) syntax, read at start
// and on SIGHUP. One "KEY ACTION" per logical line: '#' comment lines and blank lines are
// ignored, a line starting with whitespace continues the previous one (postmap(1) input rules).
// Keys (case-insensitive, as access(5) "EMAIL ADDRESS PATTERNS" plus the virtual(5) catch-all):
//   user@domain   that address;        domain   every address in that domain;
//   @domain       every address in that domain (virtual(5) style);
//   .domain       every address in any subdomain of domain;   user@   that local part anywhere.
// Lookup order for user@a.b.c: user@a.b.c, a.b.c, @a.b.c, .b.c, .c, user@ (first hit wins).
// Actions (access(5) "ACCEPT/REJECT ACTIONS"): OK (the recipient exists), DUNNO (no decision
// here: ask the other sources), and any reply Postfix takes from a policy service — REJECT,
// DEFER, DEFER_IF_PERMIT, DEFER_IF_REJECT, 4NN/5NN with an optional text, DISCARD, HOLD,
// REDIRECT, FILTER, INFO, WARN, BCC, PREPEND — passed through as written.
// Bad input: AccessTable::parse throws ConfigError "FILE:LINE: why" (missing action, unknown
// action word, a key that is none of the forms above, a repeated key, a line over 4096 bytes).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace postern::rcpt {

/// What the table says for a recipient.
struct TableVerdict {
  enum class Kind { Known, Dunno, Action };
  Kind kind = Kind::Dunno;
  std::string action;  // Kind::Action: the reply as written ("REJECT no such user")
  std::string key;     // the key that matched (for logs)
};

class AccessTable {
 public:
  /// Parses the table text; `source` names it in errors ("/etc/postern/rcpt_access").
  static AccessTable parse(std::string_view text, const std::string& source);
  /// Reads and parses `path`. Throws ConfigError (unreadable file, or as parse()).
  static AccessTable load(const std::string& path);

  /// The first matching entry for `address` (user@domain; lookups in the order above), or
  /// nullopt. `address` without '@' is looked up as a whole key only.
  std::optional<TableVerdict> lookup(std::string_view address) const;

  size_t size() const { return entries_.size(); }

 private:
  std::optional<TableVerdict> find(const std::string& key) const;
  std::unordered_map<std::string, std::string> entries_;  // lower-case key → action text
};

/// True when `word` (the first word of an action) is one a policy service may answer, or
/// OK/DUNNO. Case-insensitive; "450"/"550"-style codes are 4NN/5NN.
bool is_access_action(std::string_view action);

}  // namespace postern::rcpt
