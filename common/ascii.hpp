// ascii.hpp — case folding for protocol text (header field names, domains, tags). ASCII only,
// locale-free: mail protocols compare these case-insensitively in US-ASCII (RFC 5322 §1.2.2,
// RFC 6376 §3.2, RFC 1035 §2.3.3); other octets are left as they are.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace postern {

/// 'A'..'Z' → 'a'..'z'; every other octet unchanged.
constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

/// `text` with ASCII letters lower-cased.
inline std::string to_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

/// Equal ignoring ASCII case.
constexpr bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

}  // namespace postern
