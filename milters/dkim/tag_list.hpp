// tag_list.hpp — DKIM tag=value lists (RFC 6376 §3.2), the syntax of DKIM-Signature fields
// (§3.5) and key records (§3.6.1). Untrusted input: sizes capped, outcomes are values (an
// error string), nothing here throws.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace postern::dkim {

/// Longest tag-list accepted, in bytes (a DKIM-Signature field or a joined TXT record).
inline constexpr size_t kMaxTagListBytes = 64 * 1024;
/// Most tags in one list; RFC 6376 defines 14 for a signature and 7 for a key record.
inline constexpr size_t kMaxTags = 64;

/// One tag-spec. `name` and `value` are views of the parsed text: `value` has its leading and
/// trailing FWS removed but keeps inner whitespace and folds (b=, bh= and h= may be folded).
struct Tag {
  std::string_view name;
  std::string_view value;
  size_t value_begin = 0;  // offset in the text just after the '='
  size_t value_end = 0;    // offset just after the value's last non-whitespace octet
};

/// A parsed tag-list; on error `tags` holds the tags read before it.
struct TagList {
  std::vector<Tag> tags;  // in text order
  std::string error;      // "" when the whole text parsed; else why not, for a permerror reason

  bool ok() const { return error.empty(); }
  /// The tag called `name` (case-sensitive, §3.2), or nullptr.
  const Tag* find(std::string_view name) const;
};

/// Parses `text` as `tag-list = tag-spec *( ";" tag-spec ) [ ";" ]` (RFC 6376 §3.2). Tag names
/// are case-sensitive and must not repeat; FWS may be CRLF or bare LF folds. Leniencies: an
/// empty tag-spec (";;") is skipped, and octets >= 0x80 are allowed in values (RFC 8616).
/// Errors: "empty tag-list", "tag name must start with a letter", "missing '=' after tag
/// \"x\"", "control character in value of tag \"x\"", "duplicate tag \"x\"", "too many tags",
/// "tag-list too large".
TagList parse_tag_list(std::string_view text);

/// Splits a colon-separated tag value (h=, q=, key h=/s=/t=; §3.5, §3.6.1) into its elements
/// with surrounding FWS removed; an empty element (e.g. "a::b") stays as "".
std::vector<std::string_view> split_colon_list(std::string_view value);

}  // namespace postern::dkim
