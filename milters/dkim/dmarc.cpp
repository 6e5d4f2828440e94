// dmarc.cpp — see dmarc.hpp. RFC 7489 (DMARC), RFC 9091 (np=), RFC 8601 (results).
#include "milters/dkim/dmarc.hpp"

#include <algorithm>
#include <charconv>
#include <random>

#include "common/ascii.hpp"
#include "milters/dkim/auth_results.hpp"
#include "milters/dkim/tag_list.hpp"

namespace postern::dkim {
namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

// Untrusted text in a reason: printable ASCII only, at most 40 octets, quoted.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text.substr(0, 40)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7F && c != '"' && c != '\\') ? c : '?';
  }
  if (text.size() > 40) out += "...";
  return out + "\"";
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t start = 0;;) {
    size_t end = s.find(sep, start);
    out.push_back(trim(s.substr(start, end == std::string_view::npos ? end : end - start)));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

// §6.6.3 step 3: the record starts with a "v" tag of value "DMARC1" (§6.4 dmarc-version).
bool starts_with_dmarc1(std::string_view text) {
  text = trim(text);
  if (text.empty() || ascii_lower(text.front()) != 'v') return false;
  text = trim(text.substr(1));
  if (text.empty() || text.front() != '=') return false;
  text = trim(text.substr(1));
  if (text.substr(0, 6) != "DMARC1") return false;
  text = trim(text.substr(6));
  return text.empty() || text.front() == ';';
}

std::optional<DmarcPolicy> parse_policy(std::string_view v) {
  if (iequals(v, "none")) return DmarcPolicy::None;
  if (iequals(v, "quarantine")) return DmarcPolicy::Quarantine;
  if (iequals(v, "reject")) return DmarcPolicy::Reject;
  return std::nullopt;
}

std::optional<Alignment> parse_alignment(std::string_view v) {
  if (iequals(v, "r")) return Alignment::Relaxed;
  if (iequals(v, "s")) return Alignment::Strict;
  return std::nullopt;
}

// 1*N DIGIT with nothing else; values above `max` are clamped when `clamp`, else rejected.
std::optional<uint64_t> parse_number(std::string_view v, size_t max_digits, uint64_t max,
                                     bool clamp) {
  if (v.empty() || v.size() > max_digits || !std::all_of(v.begin(), v.end(), is_digit)) {
    return std::nullopt;
  }
  uint64_t n = 0;
  for (char c : v) {
    n = n * 10 + static_cast<uint64_t>(c - '0');
    if (n > max) return clamp ? std::optional<uint64_t>(max) : std::nullopt;
  }
  return n;
}

// §6.4 Keyword (RFC 5321 §4.1.2): Let-dig *(Ldh-str).
bool is_keyword(std::string_view v) {
  if (v.empty() || !(is_alpha(v.front()) || is_digit(v.front())) || v.back() == '-') return false;
  return std::all_of(v.begin(), v.end(),
                     [](char c) { return is_alpha(c) || is_digit(c) || c == '-'; });
}

// §6.4 dmarc-uri: URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]; URI checked as scheme ":" 1*VCHAR
// without ',' and '!' (RFC 3986 §3.1 scheme; commas and '!' must be %-encoded, §6.2).
bool is_dmarc_uri(std::string_view uri) {
  size_t bang = uri.find('!');
  if (bang != std::string_view::npos) {
    std::string_view size = uri.substr(bang + 1);
    if (!size.empty() && std::string_view("kmgtKMGT").find(size.back()) != std::string_view::npos) {
      size.remove_suffix(1);
    }
    if (size.empty() || size.size() > 20 || !std::all_of(size.begin(), size.end(), is_digit)) {
      return false;
    }
    uri = uri.substr(0, bang);
  }
  size_t colon = uri.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon + 1 == uri.size()) return false;
  if (!is_alpha(uri.front())) return false;
  for (size_t i = 0; i < colon; ++i) {
    char c = uri[i];
    if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.')) return false;
  }
  return std::all_of(uri.begin() + static_cast<ptrdiff_t>(colon) + 1, uri.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7F;
  });
}

std::vector<std::string> parse_uris(std::string_view value) {
  std::vector<std::string> out;
  for (std::string_view uri : split(value, ',')) {
    if (out.size() < kMaxReportUris && is_dmarc_uri(uri)) out.emplace_back(uri);
  }
  return out;
}

// The value-checking half of parse_dmarc_record: one known tag into `r`; "" or an error.
std::string apply_tag(std::string_view name, std::string_view value, DmarcRecord& r,
                      std::string& policy_problem, bool& p_seen) {
  auto bad = [&](std::string_view what) {
    return std::string(what) + " " + std::string(name) + "= value " + quoted(value);
  };
  if (name == "p" || name == "sp") {
    auto p = parse_policy(value);
    if (!p) {
      policy_problem = bad("invalid");
    } else if (name == "p") {
      r.policy = *p;
      p_seen = true;
    } else {
      r.subdomain_policy = p;
    }
  } else if (name == "np") {
    r.nonexistent_policy = parse_policy(value);
    if (!r.nonexistent_policy) return bad("invalid");
  } else if (name == "adkim" || name == "aspf") {
    auto a = parse_alignment(value);
    if (!a) return bad("invalid");
    (name == "adkim" ? r.dkim_alignment : r.spf_alignment) = *a;
  } else if (name == "pct") {
    auto n = parse_number(value, 3, 100, false);
    if (!n) return bad("invalid (want 0..100)");
    r.percent = static_cast<int>(*n);
  } else if (name == "rua" || name == "ruf") {
    (name == "rua" ? r.aggregate_report_uris : r.failure_report_uris) = parse_uris(value);
  } else if (name == "fo") {
    r.failure_options.clear();
    for (std::string_view o : split(value, ':')) {
      if (o != "0" && o != "1" && !iequals(o, "d") && !iequals(o, "s")) return bad("invalid");
      r.failure_options.emplace_back(1, ascii_lower(o.front()));
    }
  } else if (name == "rf") {
    r.report_formats.clear();
    for (std::string_view f : split(value, ':')) {
      if (!is_keyword(f)) return bad("invalid");
      r.report_formats.emplace_back(f);
    }
  } else if (name == "ri") {
    auto n = parse_number(value, 32, UINT32_MAX, true);
    if (!n) return bad("invalid");
    r.report_interval = static_cast<uint32_t>(*n);
  }
  return "";
}

DmarcRecordParse invalid(std::string reason) {
  return {DmarcRecordStatus::Invalid, {}, std::move(reason)};
}

}  // namespace

std::string_view result_name(DmarcResult result) {
  switch (result) {
    case DmarcResult::None:
      return "none";
    case DmarcResult::Pass:
      return "pass";
    case DmarcResult::Fail:
      return "fail";
    case DmarcResult::Temperror:
      return "temperror";
    case DmarcResult::Permerror:
      return "permerror";
  }
  return "permerror";
}

std::string_view policy_name(DmarcPolicy policy) {
  switch (policy) {
    case DmarcPolicy::None:
      return "none";
    case DmarcPolicy::Quarantine:
      return "quarantine";
    case DmarcPolicy::Reject:
      return "reject";
  }
  return "none";
}

DmarcRecordParse parse_dmarc_record(std::string_view text) {
  if (!starts_with_dmarc1(text)) return {DmarcRecordStatus::NotDmarc, {}, "not a v=DMARC1 record"};
  if (text.size() > kMaxDmarcRecordBytes) return invalid("DMARC record too large");
  TagList tags = parse_tag_list(text);
  if (!tags.ok()) return invalid("DMARC record syntax: " + tags.error);
  DmarcRecordParse out{DmarcRecordStatus::Ok, {}, ""};
  std::string policy_problem;
  bool p_seen = false;
  std::vector<std::string> seen;
  for (size_t i = 1; i < tags.tags.size(); ++i) {            // tags[0] is v=DMARC1
    std::string name = normalize_domain(tags.tags[i].name);  // ASCII lower-case
    if (name == "v" || std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return invalid("duplicate tag \"" + name + "\"");
    }
    seen.push_back(name);
    std::string error = apply_tag(name, tags.tags[i].value, out.record, policy_problem, p_seen);
    if (!error.empty()) return invalid(error);
  }
  if (!p_seen && policy_problem.empty()) policy_problem = "missing p= tag";
  if (!policy_problem.empty()) {
    // §6.6.3 step 6: a valid rua= rescues the record as p=none; otherwise it is unusable.
    if (out.record.aggregate_report_uris.empty()) return invalid(policy_problem);
    DmarcRecord defaulted;
    defaulted.aggregate_report_uris = std::move(out.record.aggregate_report_uris);
    defaulted.policy_defaulted = true;
    defaulted.policy_problem = std::move(policy_problem);
    out.record = std::move(defaulted);
  }
  return out;
}

bool aligned(std::string_view authenticated, std::string_view from_domain, Alignment mode,
             const PublicSuffixList& psl) {
  std::string a = normalize_domain(authenticated);
  std::string f = normalize_domain(from_domain);
  if (a.empty() || f.empty()) return false;
  if (a == f) return true;
  return mode == Alignment::Relaxed && psl.organizational_domain(a) == psl.organizational_domain(f);
}

namespace {

bool is_temporary(dns::Status status) {
  return status == dns::Status::ServFail || status == dns::Status::Timeout ||
         status == dns::Status::Error;
}

// One _dmarc query (§6.6.3 steps 1-5 for one name). `found` false with status None means
// "nothing here, try the Organizational Domain".
struct NameLookup {
  DmarcDiscovery discovery;
  bool found = false;
};

NameLookup lookup_name(const std::string& domain, dns::Resolver& resolver) {
  NameLookup out;
  out.discovery.policy_domain = domain;
  std::string name = "_dmarc." + domain;
  dns::Answer answer = resolver.query(name, dns::RrType::TXT);
  if (is_temporary(answer.status)) {
    out.discovery.status = DmarcDiscoveryStatus::Temperror;
    out.discovery.reason = "DNS error for " + name + " TXT: " + answer.why;
    out.found = true;
    return out;
  }
  std::vector<const std::string*> records;
  for (const std::string& txt : answer.txt) {
    if (starts_with_dmarc1(txt)) records.push_back(&txt);
  }
  if (records.empty()) return out;
  out.found = true;
  if (records.size() > 1) {
    out.discovery.status = DmarcDiscoveryStatus::None;
    out.discovery.reason = "several DMARC records at " + name;
    return out;
  }
  DmarcRecordParse parse = parse_dmarc_record(*records.front());
  out.discovery.status = parse.status == DmarcRecordStatus::Ok ? DmarcDiscoveryStatus::Found
                                                               : DmarcDiscoveryStatus::Permerror;
  out.discovery.record = std::move(parse.record);
  out.discovery.reason = std::move(parse.reason);
  return out;
}

int default_percent() {
  thread_local std::mt19937 engine{std::random_device{}()};
  return std::uniform_int_distribution<int>(0, 99)(engine);
}

DmarcPolicy one_step_lower(DmarcPolicy policy) {
  return policy == DmarcPolicy::Reject ? DmarcPolicy::Quarantine : DmarcPolicy::None;
}

// p= for the record's own domain; else sp= (falling back to p=) for a subdomain (§6.3 sp).
DmarcPolicy subdomain_or_domain_policy(const DmarcVerdict& v) {
  if (v.policy_domain == v.from_domain) return v.record->policy;
  return v.record->subdomain_policy.value_or(v.record->policy);
}

// §6.6.2: an aligned DKIM pass or an aligned SPF pass.
void check_alignment(const DmarcInput& input, const PublicSuffixList& psl, DmarcVerdict& v) {
  for (const SignatureResult& sig : input.dkim) {
    if (sig.result == DkimResult::Pass &&
        aligned(sig.sdid, v.from_domain, v.record->dkim_alignment, psl)) {
      v.dkim_aligned = true;
      v.aligned_sdid = sig.sdid;
      break;
    }
  }
  v.spf_aligned = iequals(input.spf_result, "pass") &&
                  aligned(input.spf_domain, v.from_domain, v.record->spf_alignment, psl);
}

// An authentication that might have passed aligned had DNS answered.
bool aligned_temperror(const DmarcInput& input, const PublicSuffixList& psl,
                       const DmarcVerdict& v) {
  for (const SignatureResult& sig : input.dkim) {
    if (sig.result == DkimResult::Temperror &&
        aligned(sig.sdid, v.from_domain, v.record->dkim_alignment, psl)) {
      return true;
    }
  }
  return iequals(input.spf_result, "temperror") &&
         aligned(input.spf_domain, v.from_domain, v.record->spf_alignment, psl);
}

DmarcVerdict finish(DmarcVerdict v, DmarcResult result, std::string reason) {
  v.result = result;
  v.reason = std::move(reason);
  return v;
}

}  // namespace

DmarcDiscovery discover_dmarc_policy(std::string_view from_domain, dns::Resolver& resolver,
                                     const PublicSuffixList& psl) {
  std::string domain = normalize_domain(from_domain);
  NameLookup at_from = lookup_name(domain, resolver);
  if (at_from.found) return std::move(at_from.discovery);
  std::string org = psl.organizational_domain(domain);
  if (org != domain) {
    NameLookup at_org = lookup_name(org, resolver);
    if (at_org.found) return std::move(at_org.discovery);
  }
  DmarcDiscovery none;
  none.reason = "no DMARC record";
  return none;
}

DomainExistence domain_existence(std::string_view domain, dns::Resolver& resolver) {
  std::string name = normalize_domain(domain);
  for (dns::RrType type : {dns::RrType::A, dns::RrType::AAAA, dns::RrType::MX}) {
    dns::Answer answer = resolver.query(name, type);
    if (answer.status == dns::Status::NxDomain) return DomainExistence::NonExistent;
    if (is_temporary(answer.status)) return DomainExistence::Temperror;
    if (!answer.addresses.empty() || !answer.mx.empty()) return DomainExistence::Exists;
  }
  return DomainExistence::NonExistent;  // NODATA for all three
}

DmarcEvaluator::DmarcEvaluator(const PublicSuffixList& psl, dns::Resolver& resolver,
                               PercentSource percent)
    : psl_(psl),
      resolver_(resolver),
      percent_(percent ? std::move(percent) : PercentSource(default_percent)) {}

DmarcVerdict DmarcEvaluator::evaluate(const DmarcInput& input) const {
  DmarcVerdict v;
  if (input.from.outcome == FromOutcome::Multiple) {
    return finish(std::move(v), DmarcResult::Permerror, "several From addresses");
  }
  if (input.from.outcome != FromOutcome::Ok || input.from.domain.empty()) {
    return finish(std::move(v), DmarcResult::Permerror,
                  "no usable From domain: " + input.from.reason);
  }
  v.from_domain = normalize_domain(input.from.domain);
  DmarcDiscovery found = discover_dmarc_policy(v.from_domain, resolver_, psl_);
  switch (found.status) {
    case DmarcDiscoveryStatus::None:
      return finish(std::move(v), DmarcResult::None, found.reason);
    case DmarcDiscoveryStatus::Temperror:
      return finish(std::move(v), DmarcResult::Temperror, found.reason);
    case DmarcDiscoveryStatus::Permerror:
      v.policy_domain = found.policy_domain;
      return finish(std::move(v), DmarcResult::Permerror, found.reason);
    case DmarcDiscoveryStatus::Found:
      break;
  }
  v.policy_domain = found.policy_domain;
  v.record = std::move(found.record);
  v.requested_policy = subdomain_or_domain_policy(v);
  check_alignment(input, psl_, v);
  if (v.dkim_aligned || v.spf_aligned) return finish(std::move(v), DmarcResult::Pass, "");
  return fail(std::move(v), input);
}

DmarcVerdict DmarcEvaluator::fail(DmarcVerdict v, const DmarcInput& input) const {
  if (aligned_temperror(input, psl_, v)) {
    return finish(std::move(v), DmarcResult::Temperror,
                  "no aligned pass; an aligned DKIM or SPF check had a temporary error");
  }
  if (v.record->nonexistent_policy && v.policy_domain != v.from_domain) {
    switch (domain_existence(v.from_domain, resolver_)) {
      case DomainExistence::NonExistent:
        v.requested_policy = *v.record->nonexistent_policy;
        break;
      case DomainExistence::Temperror:
        return finish(std::move(v), DmarcResult::Temperror,
                      "DNS error checking whether " + v.from_domain + " exists (RFC 9091)");
      case DomainExistence::Exists:
        break;
    }
  }
  v.applied_policy = v.requested_policy;
  int percent = v.record->percent;
  if (v.requested_policy != DmarcPolicy::None && percent < 100 &&
      (percent == 0 || percent_() >= percent)) {
    v.applied_policy = one_step_lower(v.requested_policy);
    v.sampled_out = true;
  }
  return finish(std::move(v), DmarcResult::Fail, "DKIM and SPF not aligned with " + v.from_domain);
}

std::string dmarc_clause(const DmarcVerdict& verdict, DmarcPolicy disposition) {
  std::string out = "dmarc=";
  out += result_name(verdict.result);
  if (verdict.record) {
    out += " (p=";
    out += policy_name(verdict.requested_policy);
    out += " dis=";
    out += policy_name(disposition);
    out += ")";
  }
  if (verdict.result != DmarcResult::Pass && !verdict.reason.empty()) {
    out += " reason=" + ar_value(verdict.reason);
  }
  if (!verdict.from_domain.empty()) out += " header.from=" + ar_pvalue(verdict.from_domain);
  out += " policy.dmarc=";
  out += policy_name(verdict.applied_policy);
  return out;
}

}  // namespace postern::dkim
