// record.cpp — RFC 7208 record syntax (§12 ABNF), one term at a time.
#include "policyd/spf/record.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

#include "policyd/spf/macro.hpp"

namespace postern::spf {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool equal_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string quoted(std::string_view term) {
  return "'" + std::string(term) + "'";
}

// A prefix length: "0" or a number without a leading zero, at most `max` (§12 ip4-cidr-length,
// ip6-cidr-length). Error text on failure.
std::optional<unsigned> parse_prefix(std::string_view digits, unsigned max, const char* family,
                                     std::string_view term, std::string& error) {
  bool ok = !digits.empty() && digits.size() <= 3 && (digits == "0" || digits[0] != '0');
  unsigned value = 0;
  for (char c : digits) {
    ok = ok && is_digit(c);
    if (is_digit(c)) value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (!ok || value > max) {
    error = std::string("invalid ") + family + " prefix length " + std::string(digits) + " in " +
            quoted(term);
    return std::nullopt;
  }
  return value;
}

// Splits a trailing dual-cidr-length ("/24", "//64", "/24//64") off `arg`, setting the
// mechanism's prefixes. Returns the argument without it.
std::optional<std::string_view> strip_dual_cidr(std::string_view arg, Mechanism& m,
                                                std::string& error) {
  size_t dual = arg.rfind("//");
  if (dual != std::string_view::npos && arg.find('/', dual + 2) == std::string_view::npos) {
    auto v6 = parse_prefix(arg.substr(dual + 2), 128, "ip6", m.text, error);
    if (!v6) return std::nullopt;
    m.cidr6 = *v6;
    arg = arg.substr(0, dual);
  }
  size_t slash = arg.rfind('/');
  if (slash != std::string_view::npos) {
    std::string_view digits = arg.substr(slash + 1);
    bool numeric = !digits.empty() && std::all_of(digits.begin(), digits.end(), is_digit);
    if (numeric) {
      auto v4 = parse_prefix(digits, 32, "ip4", m.text, error);
      if (!v4) return std::nullopt;
      m.cidr4 = *v4;
      arg = arg.substr(0, slash);
    }
  }
  return arg;
}

// ip4-network: four qnums without leading zeros (§12).
bool parse_ip4(std::string_view text, IpAddress& out) {
  out = IpAddress{};
  size_t pos = 0;
  for (int part = 0; part < 4; ++part) {
    size_t end = part < 3 ? text.find('.', pos) : text.size();
    if (end == std::string_view::npos) return false;
    std::string_view q = text.substr(pos, end - pos);
    if (q.empty() || q.size() > 3 || (q.size() > 1 && q[0] == '0')) return false;
    unsigned value = 0;
    for (char c : q) {
      if (!is_digit(c)) return false;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 255) return false;
    out.bytes[static_cast<size_t>(part)] = static_cast<uint8_t>(value);
    pos = end + 1;
  }
  return true;
}

bool parse_ip6(std::string_view text, IpAddress& out) {
  out = IpAddress{};
  out.v6 = true;
  if (text.empty() || text.size() > 45) return false;
  std::string z(text);
  return ::inet_pton(AF_INET6, z.c_str(), out.bytes.data()) == 1;
}

// ip4:/ip6: argument "network[/len]".
bool parse_ip_mechanism(std::string_view arg, Mechanism& m, std::string& error) {
  bool v6 = m.kind == MechanismKind::Ip6;
  size_t slash = arg.find('/');
  std::string_view address = arg.substr(0, slash);
  if (!(v6 ? parse_ip6(address, m.network) : parse_ip4(address, m.network))) {
    error = std::string("invalid ") + (v6 ? "ip6" : "ip4") + " address in " + quoted(m.text);
    return false;
  }
  if (slash == std::string_view::npos) return true;
  auto prefix =
      parse_prefix(arg.substr(slash + 1), v6 ? 128 : 32, v6 ? "ip6" : "ip4", m.text, error);
  if (!prefix) return false;
  (v6 ? m.cidr6 : m.cidr4) = *prefix;
  return true;
}

bool parse_domain_arg(std::string_view arg, Mechanism& m, std::string& error) {
  std::string why = check_domain_spec(arg);
  if (!why.empty()) {
    error = why + " in " + quoted(m.text);
    return false;
  }
  m.domain_spec = std::string(arg);
  return true;
}

std::optional<MechanismKind> kind_of(std::string_view name) {
  static constexpr std::array<MechanismKind, 8> kinds = {
      MechanismKind::All, MechanismKind::Include, MechanismKind::A,   MechanismKind::Mx,
      MechanismKind::Ptr, MechanismKind::Ip4,     MechanismKind::Ip6, MechanismKind::Exists};
  for (MechanismKind k : kinds) {
    if (equal_nocase(name, mechanism_name(k))) return k;
  }
  return std::nullopt;
}

// The part after the mechanism name: "" (none), ":arg", "/cidr" (a, mx).
bool parse_mechanism_args(std::string_view rest, Mechanism& m, std::string& error) {
  bool colon = !rest.empty() && rest[0] == ':';
  std::string_view arg = colon ? rest.substr(1) : rest;
  switch (m.kind) {
    case MechanismKind::All:
      if (!rest.empty()) error = "unexpected argument in " + quoted(m.text);
      return rest.empty();
    case MechanismKind::Ip4:
    case MechanismKind::Ip6:
      if (!colon) error = "missing address in " + quoted(m.text);
      return colon && parse_ip_mechanism(arg, m, error);
    case MechanismKind::Include:
    case MechanismKind::Exists:
      if (!colon) error = "missing domain in " + quoted(m.text);
      return colon && parse_domain_arg(arg, m, error);
    case MechanismKind::Ptr:
      if (!rest.empty() && !colon) error = "unexpected argument in " + quoted(m.text);
      return rest.empty() || (colon && parse_domain_arg(arg, m, error));
    case MechanismKind::A:
    case MechanismKind::Mx: {
      if (!rest.empty() && !colon && rest[0] != '/') {
        error = "unexpected argument in " + quoted(m.text);
        return false;
      }
      auto domain = strip_dual_cidr(arg, m, error);
      if (!domain) return false;
      if (!colon) {
        if (!domain->empty()) error = "unexpected argument in " + quoted(m.text);
        return domain->empty();
      }
      return parse_domain_arg(*domain, m, error);
    }
  }
  return false;
}

bool parse_directive(std::string_view term, Record& record, std::string& error) {
  Mechanism m;
  m.text = std::string(term);
  static constexpr std::string_view qualifiers = "+-~?";
  if (qualifiers.find(term[0]) != std::string_view::npos) {
    m.qualifier = term[0] == '+'   ? Qualifier::Pass
                  : term[0] == '-' ? Qualifier::Fail
                  : term[0] == '~' ? Qualifier::Softfail
                                   : Qualifier::Neutral;
    term.remove_prefix(1);
  }
  size_t name_end = 0;
  while (name_end < term.size() && (is_alpha(term[name_end]) || is_digit(term[name_end]))) {
    ++name_end;
  }
  auto kind = kind_of(term.substr(0, name_end));
  if (!kind) {
    error = "unknown mechanism " + quoted(m.text);
    return false;
  }
  m.kind = *kind;
  if (!parse_mechanism_args(term.substr(name_end), m, error)) return false;
  record.mechanisms.push_back(std::move(m));
  return true;
}

// name "=" macro-string (§4.6.1, §6): redirect and exp once each, others syntax-checked.
bool parse_modifier(std::string_view term, size_t equals, Record& record, std::string& error) {
  std::string_view name = term.substr(0, equals);
  std::string_view value = term.substr(equals + 1);
  bool redirect = equal_nocase(name, "redirect");
  bool exp = equal_nocase(name, "exp");
  if (!redirect && !exp) {
    std::string why = check_macro_string(value, MacroUse::DomainSpec);
    if (!why.empty()) error = why + " in " + quoted(term);
    return why.empty();
  }
  std::optional<std::string>& slot = redirect ? record.redirect : record.exp;
  if (slot) {
    error = "duplicate " + std::string(redirect ? "redirect" : "exp") + " modifier " + quoted(term);
    return false;
  }
  std::string why = check_domain_spec(value);
  if (!why.empty()) {
    error = why + " in " + quoted(term);
    return false;
  }
  slot = std::string(value);
  return true;
}

// A modifier starts with name "=", name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
size_t modifier_equals(std::string_view term) {
  if (term.empty() || !is_alpha(term[0])) return std::string_view::npos;
  size_t i = 1;
  while (i < term.size() && (is_alpha(term[i]) || is_digit(term[i]) || term[i] == '-' ||
                             term[i] == '_' || term[i] == '.')) {
    ++i;
  }
  return (i < term.size() && term[i] == '=') ? i : std::string_view::npos;
}

bool parse_term(std::string_view term, Record& record, std::string& error) {
  size_t equals = modifier_equals(term);
  if (equals != std::string_view::npos) return parse_modifier(term, equals, record, error);
  return parse_directive(term, record, error);
}

// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool is_toplabel(std::string_view label) {
  if (label.empty()) return false;
  bool alpha = false;
  for (char c : label) {
    if (!is_alpha(c) && !is_digit(c) && c != '-') return false;
    alpha = alpha || is_alpha(c);
  }
  if (label.find('-') == std::string_view::npos) return alpha;
  return label.front() != '-' && label.back() != '-';
}

// True when `spec` (a valid macro-string) ends with a macro-expand ("%{..}", "%%", "%_",
// "%-"): scan from the left, since "%%%" and "a%%" end differently.
bool ends_with_expand(std::string_view spec) {
  bool last_expand = false;
  for (size_t i = 0; i < spec.size();) {
    if (spec[i] != '%' || i + 1 == spec.size()) {
      last_expand = false;
      ++i;
    } else if (spec[i + 1] == '{') {
      size_t close = spec.find('}', i);
      i = close == std::string_view::npos ? spec.size() : close + 1;
      last_expand = true;
    } else {
      i += 2;
      last_expand = true;
    }
  }
  return last_expand;
}

}  // namespace

std::string_view mechanism_name(MechanismKind kind) {
  switch (kind) {
    case MechanismKind::All:
      return "all";
    case MechanismKind::Include:
      return "include";
    case MechanismKind::A:
      return "a";
    case MechanismKind::Mx:
      return "mx";
    case MechanismKind::Ptr:
      return "ptr";
    case MechanismKind::Ip4:
      return "ip4";
    case MechanismKind::Ip6:
      return "ip6";
    case MechanismKind::Exists:
      return "exists";
  }
  return "";
}

bool is_spf_record(std::string_view txt) {
  constexpr std::string_view version = "v=spf1";
  if (txt.size() < version.size() || !equal_nocase(txt.substr(0, version.size()), version)) {
    return false;
  }
  return txt.size() == version.size() || txt[version.size()] == ' ';
}

std::string check_domain_spec(std::string_view spec) {
  if (spec.empty()) return "empty domain-spec";
  std::string why = check_macro_string(spec, MacroUse::DomainSpec);
  if (!why.empty()) return why;
  if (ends_with_expand(spec)) return {};
  std::string_view body = spec;
  if (body.back() == '.') body.remove_suffix(1);
  size_t dot = body.rfind('.');
  if (dot == std::string_view::npos || !is_toplabel(body.substr(dot + 1))) {
    return "invalid domain " + quoted(spec) + " (no valid top label)";
  }
  return {};
}

ParsedRecord parse_record(std::string_view text) {
  ParsedRecord out;
  if (!is_spf_record(text)) {
    out.error = "not an SPF version 1 record";
    return out;
  }
  Record record;
  size_t pos = 6;
  while (pos < text.size()) {
    if (text[pos] == ' ') {
      ++pos;
      continue;
    }
    size_t end = std::min(text.find(' ', pos), text.size());
    if (!parse_term(text.substr(pos, end - pos), record, out.error)) return out;
    pos = end;
  }
  out.record = std::move(record);
  return out;
}

}  // namespace postern::spf
