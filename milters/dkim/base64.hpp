// base64.hpp — RFC 4648 §4 base64 for DKIM tag values (b=, bh=, p=) and inline keys.
// Decoding skips whitespace (folded values) and returns nullopt on any other bad input.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::dkim {

/// Standard alphabet, '=' padded, no line breaks.
std::string base64_encode(std::string_view bytes);
/// Inverse of base64_encode; SP, TAB, CR, LF ignored; nullopt on bad characters or length.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace postern::dkim
