// auth_results.cpp — see auth_results.hpp.
#include "milters/dkim/auth_results.hpp"

#include <algorithm>

namespace postern::dkim {
namespace {

constexpr size_t kMaxValueBytes = 256;
constexpr std::string_view kTspecials = "()<>@,;:\\\"/[]?=";

bool is_token_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7F && kTspecials.find(c) == std::string_view::npos;
}

bool is_atext(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u > 0x20 && u < 0x7F &&
          std::string_view("()<>[]:;@\\,.\"").find(c) == std::string_view::npos);
}

bool is_dot_atom(std::string_view text) {
  if (text.empty() || text.front() == '.' || text.back() == '.') return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '.' ? text[i - 1] == '.' : !is_atext(text[i])) return false;
  }
  return true;
}

bool is_domain_name(std::string_view text) {
  if (text.empty() || text.size() > 253 || text.front() == '.' || text.back() == '.') {
    return false;
  }
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || (c == '.' && text[i - 1] != '.');
    if (!ok) return false;
  }
  return true;
}

void add_property(std::string& out, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  out += ' ';
  out += name;
  out += '=';
  out += ar_pvalue(value);
}

}  // namespace

std::string ar_value(std::string_view text) {
  text = text.substr(0, kMaxValueBytes);
  if (!text.empty() && std::all_of(text.begin(), text.end(), is_token_char)) {
    return std::string(text);
  }
  std::string out = "\"";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') out += '\\';
    out += (u < 0x20 || u == 0x7F) ? ' ' : c;
  }
  out += '"';
  return out;
}

std::string ar_pvalue(std::string_view text) {
  size_t at = text.rfind('@');
  if (at == std::string_view::npos) {
    if (is_domain_name(text)) return std::string(text);
  } else if ((at == 0 || is_dot_atom(text.substr(0, at))) && is_domain_name(text.substr(at + 1))) {
    return std::string(text);
  }
  return ar_value(text);
}

std::string dkim_clause(const SignatureResult& result) {
  if (result.result == DkimResult::None) return dkim_none_clause();
  std::string out = "dkim=";
  out += result_name(result.result);
  if (result.result != DkimResult::Pass && !result.reason.empty()) {
    out += " reason=";
    out += ar_value(result.reason);
  }
  add_property(out, "header.d", result.sdid);
  add_property(out, "header.i", result.auid);
  add_property(out, "header.s", result.selector);
  add_property(out, "header.a", result.algorithm);
  add_property(out, "header.b", result.b_prefix);
  return out;
}

std::string dkim_none_clause() {
  return "dkim=none";
}

}  // namespace postern::dkim
