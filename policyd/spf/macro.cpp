// macro.cpp — RFC 7208 §7 macro-string syntax and expansion.
#include "policyd/spf/macro.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

namespace postern::spf {
namespace {

constexpr std::string_view delimiters = ".-+,/_=";

// One parsed %{...} expand: letter, transformers and delimiters (§7.1).
struct MacroExpand {
  char letter = 0;  // lower-case
  bool upper = false;
  unsigned digits = 0;  // 0 = all parts
  bool reverse = false;
  std::string delimiters;
};

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_letter(char c, MacroUse use) {
  std::string_view letters = use == MacroUse::Explanation ? "slodiphcrtv" : "slodiphv";
  return letters.find(lower(c)) != std::string_view::npos;
}

// Parses the inside of "%{...}" (without braces); error text on failure.
std::optional<MacroExpand> parse_expand(std::string_view body, MacroUse use, std::string& error) {
  MacroExpand out;
  if (body.empty() || !is_letter(body[0], use)) {
    error = "invalid macro letter in '%{" + std::string(body) + "}'";
    return std::nullopt;
  }
  out.letter = lower(body[0]);
  out.upper = body[0] >= 'A' && body[0] <= 'Z';
  size_t i = 1;
  bool have_digits = false;
  while (i < body.size() && body[i] >= '0' && body[i] <= '9') {
    out.digits = std::min(out.digits * 10 + static_cast<unsigned>(body[i] - '0'), 1000u);
    have_digits = true;
    ++i;
  }
  if (have_digits && out.digits == 0) {
    error = "zero digit transformer in '%{" + std::string(body) + "}'";
    return std::nullopt;
  }
  if (i < body.size() && lower(body[i]) == 'r') {
    out.reverse = true;
    ++i;
  }
  for (; i < body.size(); ++i) {
    if (delimiters.find(body[i]) == std::string_view::npos) {
      error = "invalid macro delimiter in '%{" + std::string(body) + "}'";
      return std::nullopt;
    }
    out.delimiters += body[i];
  }
  return out;
}

// A piece of a macro-string: literal text or an expand.
struct Piece {
  std::string literal;
  std::optional<MacroExpand> expand;
};

// Splits `text` into pieces; error text on a syntax error.
std::optional<std::vector<Piece>> tokenize(std::string_view text, MacroUse use,
                                           std::string& error) {
  std::vector<Piece> out;
  auto add_literal = [&out](std::string_view s) {
    if (out.empty() || out.back().expand) out.emplace_back();
    out.back().literal += s;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '%') {
      bool space_ok = use == MacroUse::Explanation && c == ' ';
      if ((c < 0x21 || c > 0x7e) && !space_ok) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(c));
        error = std::string("invalid character ") + hex + " in '" + std::string(text) + "'";
        return std::nullopt;
      }
      add_literal(std::string_view(&text[i], 1));
      continue;
    }
    char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (next == '%' || next == '_' || next == '-') {
      add_literal(next == '%' ? "%" : next == '_' ? " " : "%20");
      ++i;
      continue;
    }
    size_t close = next == '{' ? text.find('}', i + 2) : std::string_view::npos;
    if (close == std::string_view::npos) {
      error = "invalid macro at offset " + std::to_string(i) + " in '" + std::string(text) + "'";
      return std::nullopt;
    }
    auto expand = parse_expand(text.substr(i + 2, close - i - 2), use, error);
    if (!expand) return std::nullopt;
    out.push_back(Piece{"", std::move(expand)});
    i = close;
  }
  return out;
}

std::vector<std::string_view> split(std::string_view value, std::string_view delims) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || delims.find(value[i]) != std::string_view::npos) {
      parts.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

// §7.3: split on the delimiters, reverse, keep the right-most `digits` parts, join with '.'.
std::string transform(std::string_view value, const MacroExpand& m) {
  if (m.digits == 0 && !m.reverse && m.delimiters.empty()) return std::string(value);
  auto parts = split(value, m.delimiters.empty() ? std::string_view(".") : m.delimiters);
  if (m.reverse) std::reverse(parts.begin(), parts.end());
  size_t first = (m.digits != 0 && m.digits < parts.size()) ? parts.size() - m.digits : 0;
  std::string out;
  for (size_t i = first; i < parts.size(); ++i) {
    if (i != first) out += '.';
    out += parts[i];
  }
  return out;
}

// RFC 3986 unreserved characters stay, everything else becomes %XX (§7.3).
std::string url_escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    bool keep = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '~';
    if (keep) {
      out += c;
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", u);
      out += hex;
    }
  }
  return out;
}

std::string letter_value(char letter, const MacroContext& context) {
  switch (letter) {
    case 's':
      return context.sender;
    case 'l':
      return context.local_part;
    case 'o':
      return context.sender_domain;
    case 'd':
      return context.domain;
    case 'i':
      return macro_ip(context.client);
    case 'p':
      return context.validated_name ? context.validated_name() : "unknown";
    case 'v':
      return context.client.v6 ? "ip6" : "in-addr";
    case 'h':
      return context.helo;
    case 'c':
      return context.client.to_string();
    case 'r':
      return context.receiver;
    case 't':
      return std::to_string(context.timestamp);
  }
  return {};
}

}  // namespace

std::string check_macro_string(std::string_view text, MacroUse use) {
  std::string error;
  if (!tokenize(text, use, error)) return error;
  return {};
}

bool uses_ptr_macro(std::string_view text) {
  std::string error;
  auto pieces = tokenize(text, MacroUse::Explanation, error);
  if (!pieces) return false;
  return std::any_of(pieces->begin(), pieces->end(),
                     [](const Piece& p) { return p.expand && p.expand->letter == 'p'; });
}

MacroExpansion expand_macros(std::string_view text, const MacroContext& context, MacroUse use) {
  MacroExpansion out;
  auto pieces = tokenize(text, use, out.error);
  if (!pieces) return out;
  std::optional<std::string> ptr_name;  // %{p} costs DNS: look it up once
  for (const Piece& piece : *pieces) {
    if (!piece.expand) {
      out.text += piece.literal;
      continue;
    }
    const MacroExpand& m = *piece.expand;
    std::string value;
    if (m.letter == 'p') {
      if (!ptr_name) ptr_name = letter_value('p', context);
      value = *ptr_name;
    } else {
      value = letter_value(m.letter, context);
    }
    value = transform(value, m);
    out.text += m.upper ? url_escape(value) : value;
  }
  out.ok = true;
  return out;
}

std::string macro_ip(const IpAddress& address) {
  if (!address.v6) {
    return std::to_string(address.bytes[0]) + '.' + std::to_string(address.bytes[1]) + '.' +
           std::to_string(address.bytes[2]) + '.' + std::to_string(address.bytes[3]);
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t byte : address.bytes) {
    if (!out.empty()) out += '.';
    out += hex[byte >> 4];
    out += '.';
    out += hex[byte & 0x0f];
  }
  return out;
}

}  // namespace postern::spf
