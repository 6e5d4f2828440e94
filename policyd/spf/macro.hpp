// macro.hpp — SPF macro-strings (RFC 7208 §7): syntax check and expansion.
// Letters s l o d i p h v everywhere; c r t only in explanation text (§7.3). Transformers:
// a nonzero digit count of right-hand parts and 'r' (reverse); delimiters . - + , / _ =.
// Upper-case letters URL-escape the value (§7.3). Bad input: a value, never an exception.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/cidr.hpp"

namespace postern::spf {

/// The values macros expand to (RFC 7208 §7.2). `client` is the SMTP client (IPv4-mapped
/// addresses already unmapped by the caller).
struct MacroContext {
  IpAddress client;
  std::string sender;                // %{s}: local-part@domain
  std::string local_part;            // %{l}
  std::string sender_domain;         // %{o}
  std::string domain;                // %{d}: the current <domain>
  std::string helo;                  // %{h}
  std::string receiver = "unknown";  // %{r}
  int64_t timestamp = 0;             // %{t}: seconds since the epoch
  /// %{p}: the validated client domain name (§5.5), "unknown" when none; called at most once
  /// per expansion, only when the string uses %{p}. Unset: "unknown".
  std::function<std::string()> validated_name;
};

/// Where a macro-string is used: explain-string allows c, r, t and spaces (§7.1, §6.2).
enum class MacroUse { DomainSpec, Explanation };

/// An expansion: ok, or the syntax error saying what and where.
struct MacroExpansion {
  bool ok = false;
  std::string text;
  std::string error;  // "invalid macro letter 'x' in '%{x}'"
};

/// Checks `text` against the macro-string (or explain-string) ABNF of RFC 7208 §7.1. Returns ""
/// when valid, else the reason.
std::string check_macro_string(std::string_view text, MacroUse use);

/// True when `text` uses %{p}, whose expansion costs DNS lookups.
bool uses_ptr_macro(std::string_view text);

/// Expands `text` (RFC 7208 §7.3, §7.4). Syntax errors give ok=false with the reason.
MacroExpansion expand_macros(std::string_view text, const MacroContext& context, MacroUse use);

/// %{i} of an address: dotted quad for IPv4, 32 dot-separated nibbles for IPv6 (§7.3).
std::string macro_ip(const IpAddress& address);

}  // namespace postern::spf
