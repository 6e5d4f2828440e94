// dmarc_action.cpp — DMARC verdict → milter action; the SPF identity from our spf= clause.
#include "milters/dkim/dmarc_action.hpp"

namespace postern::dkim {
namespace {

// Undoes ar_value()'s quoting ("..." with \" and \\ escapes); a bare value is returned as is.
std::string unquote(std::string_view value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::string(value);
  std::string out;
  bool escaped = false;
  for (char c : value.substr(1, value.size() - 2)) {
    if (!escaped && c == '\\') {
      escaped = true;
      continue;
    }
    escaped = false;
    out += c;
  }
  return out;
}

// Splits at spaces outside double quotes.
std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  bool quoted = false;
  bool escaped = false;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || (text[i] == ' ' && !quoted)) {
      if (i > start) out.push_back(text.substr(start, i - start));
      start = i + 1;
      continue;
    }
    if (escaped) {
      escaped = false;
    } else if (quoted && text[i] == '\\') {
      escaped = true;
    } else if (text[i] == '"') {
      quoted = !quoted;
    }
  }
  return out;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::optional<SpfIdentity> spf_identity(std::string_view clause) {
  std::vector<std::string_view> parts = words(clause);
  if (parts.size() < 2 || !starts_with(parts[0], "spf=")) return std::nullopt;
  SpfIdentity spf;
  spf.result = std::string(parts[0].substr(4));
  for (char& c : spf.result) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (spf.result.empty()) return std::nullopt;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (starts_with(parts[i], "smtp.mailfrom=")) {
      std::string address = unquote(parts[i].substr(14));
      size_t at = address.rfind('@');
      if (at == std::string::npos) return std::nullopt;
      spf.domain = normalize_domain(std::string_view(address).substr(at + 1));
    } else if (starts_with(parts[i], "smtp.helo=")) {
      spf.domain = normalize_domain(unquote(parts[i].substr(10)));
    }
  }
  if (spf.domain.empty()) return std::nullopt;
  return spf;
}

DmarcInput dmarc_input(const std::vector<std::string>& from_values,
                       const std::vector<SignatureResult>& dkim,
                       const std::optional<SpfIdentity>& spf) {
  DmarcInput input;
  input.from = parse_from(from_values);
  input.dkim = dkim;
  if (spf) {
    input.spf_result = spf->result;
    input.spf_domain = spf->domain;
  }
  return input;
}

DmarcPolicy dmarc_disposition(const DmarcVerdict& verdict, const DmarcEnforcement& enforcement) {
  if (verdict.result != DmarcResult::Fail) return DmarcPolicy::None;
  switch (verdict.applied_policy) {
    case DmarcPolicy::Reject:
      if (enforcement.reject) return DmarcPolicy::Reject;
      return enforcement.quarantine ? DmarcPolicy::Quarantine : DmarcPolicy::None;
    case DmarcPolicy::Quarantine:
      return enforcement.quarantine ? DmarcPolicy::Quarantine : DmarcPolicy::None;
    case DmarcPolicy::None:
      return DmarcPolicy::None;
  }
  return DmarcPolicy::None;  // not reached: every enumerator is handled
}

bool temperror_tempfails(TemperrorAction action, const std::vector<SignatureResult>& dkim,
                         std::optional<DmarcResult> dmarc) {
  if (action != TemperrorAction::Tempfail) return false;
  if (dmarc == DmarcResult::Temperror) return true;
  for (const SignatureResult& r : dkim) {
    if (r.result == DkimResult::Temperror) return true;
  }
  return false;
}

std::string dmarc_reject_text(const DmarcVerdict& verdict) {
  std::string domain;
  for (char c : verdict.from_domain) {
    auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7F && c != '%') domain += c;
  }
  return "Rejected by DMARC policy for " +
         (domain.empty() ? std::string("the From domain") : domain);
}

}  // namespace postern::dkim
