// evaluator.cpp — check_host() (RFC 7208 §4–§6): one Evaluation object per check carries the
// lookup counters across include and redirect.
#include "policyd/spf/evaluator.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <optional>
#include <vector>

#include "policyd/spf/macro.hpp"
#include "policyd/spf/record.hpp"

namespace postern::spf {
namespace {

constexpr std::array<uint8_t, 12> mapped_prefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) { return lower(c); });
  return out;
}

// ::ffff:a.b.c.d → a.b.c.d (§5: such clients are IPv4 clients).
IpAddress unmapped(const IpAddress& a) {
  if (!a.v6 || !std::equal(mapped_prefix.begin(), mapped_prefix.end(), a.bytes.begin())) {
    return a;
  }
  IpAddress v4;
  std::copy_n(a.bytes.begin() + 12, 4, v4.bytes.begin());
  return v4;
}

bool temporary(dns::Status status) {
  return status == dns::Status::ServFail || status == dns::Status::Timeout ||
         status == dns::Status::Error;
}

bool is_void(const dns::Answer& answer, size_t records) {
  return answer.status == dns::Status::NxDomain ||
         (answer.status == dns::Status::NoError && records == 0);
}

std::string strip_dot(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return std::string(name);
}

// §4.6.1 / §7.3: more than 253 octets → drop labels from the left until it fits.
std::string truncate_left(std::string name) {
  while (name.size() > 253) {
    size_t dot = name.find('.');
    if (dot == std::string::npos) return {};
    name.erase(0, dot + 1);
  }
  return name;
}

// The reverse-lookup name of an address (in-addr.arpa / ip6.arpa).
std::string reverse_name(const IpAddress& a) {
  if (!a.v6) {
    return std::to_string(a.bytes[3]) + '.' + std::to_string(a.bytes[2]) + '.' +
           std::to_string(a.bytes[1]) + '.' + std::to_string(a.bytes[0]) + ".in-addr.arpa";
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = a.bytes.size(); i-- > 0;) {
    out += hex[a.bytes[i] & 0x0f];
    out += '.';
    out += hex[a.bytes[i] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

bool same_address(const IpAddress& a, const IpAddress& b) {
  IpAddress x = unmapped(a), y = unmapped(b);
  return x.v6 == y.v6 && x.bytes == y.bytes;
}

// `name` equals `domain` or ends with "." + domain, ignoring case (§5.5).
bool within(std::string_view name, std::string_view domain) {
  std::string n = lower(strip_dot(name)), d = lower(strip_dot(domain));
  if (n == d) return true;
  return n.size() > d.size() && n.compare(n.size() - d.size(), d.size(), d) == 0 &&
         n[n.size() - d.size() - 1] == '.';
}

SpfResult result_of(Qualifier q) {
  switch (q) {
    case Qualifier::Pass:
      return SpfResult::Pass;
    case Qualifier::Fail:
      return SpfResult::Fail;
    case Qualifier::Softfail:
      return SpfResult::Softfail;
    case Qualifier::Neutral:
      return SpfResult::Neutral;
  }
  return SpfResult::Neutral;
}

SpfOutcome error_outcome(SpfResult result, std::string problem) {
  SpfOutcome out;
  out.result = result;
  out.problem = std::move(problem);
  return out;
}

// A mechanism's verdict: matched, did not, or ended the evaluation (temperror/permerror).
struct Match {
  enum class Kind { No, Yes, Stop } kind = Kind::No;
  SpfOutcome stop;
  static Match yes() { return Match{Kind::Yes, {}}; }
  static Match no() { return Match{Kind::No, {}}; }
  static Match halt(SpfResult r, std::string why) {
    return Match{Kind::Stop, error_outcome(r, why)};
  }
};

// One check_host() run, with the §4.6.4 counters shared by its includes and redirects.
class Evaluation {
 public:
  Evaluation(dns::Resolver& resolver, const EvaluatorLimits& limits,
             const CheckHostRequest& request, const MonotonicClock& clock)
      : resolver_(resolver), limits_(limits), request_(request), clock_(clock) {
    if (limits_.check_seconds > 0) deadline_ = clock_() + limits_.check_seconds;
    request_.client = unmapped(request.client);
    size_t at = request_.sender.rfind('@');
    local_part_ = at == std::string::npos ? "" : request_.sender.substr(0, at);
    sender_domain_ = at == std::string::npos ? request_.sender : request_.sender.substr(at + 1);
    if (local_part_.empty()) local_part_ = "postmaster";
  }

  // check_host() for `domain`; `explain` is false inside include (§6.2).
  SpfOutcome check(const std::string& domain, bool explain);

  // True once a query was refused because the time budget was spent.
  bool over_budget() const { return over_budget_; }

 private:
  MacroContext macro_context(const std::string& domain);
  std::optional<Record> fetch_record(const std::string& domain, SpfOutcome& stop);
  Match match(const Mechanism& m, const std::string& domain);
  Match count_term();
  Match count_void(const dns::Answer& answer, size_t records);
  std::optional<std::string> target(const Mechanism& m, const std::string& domain);
  Match match_a(const Mechanism& m, const std::string& target, bool count_voids = true);
  Match match_mx(const Mechanism& m, const std::string& target);
  Match match_ptr(const std::string& target);
  Match match_exists(const std::string& target);
  Match match_include(const std::string& target);
  bool address_matches(const IpAddress& address, const Mechanism& m) const;
  std::vector<std::string> validated_names(std::optional<Match>* void_check);
  SpfOutcome redirect(const Record& record, const std::string& domain, bool explain);
  std::string explanation(const Record& record, const std::string& domain);

  dns::Answer lookup(std::string_view name, dns::RrType type);

  dns::Resolver& resolver_;
  const EvaluatorLimits& limits_;
  CheckHostRequest request_;
  const MonotonicClock& clock_;
  std::optional<double> deadline_;
  bool over_budget_ = false;
  std::string local_part_, sender_domain_;
  unsigned terms_ = 0, voids_ = 0;
};

// Every query goes through here: none is started past the budget; the refused one reads as a
// timeout (temporary), and check_host() turns the whole check into temperror.
dns::Answer Evaluation::lookup(std::string_view name, dns::RrType type) {
  if (deadline_ && (over_budget_ || clock_() >= *deadline_)) {
    over_budget_ = true;
    dns::Answer refused;
    refused.status = dns::Status::Timeout;
    refused.why = "SPF check time budget spent";
    return refused;
  }
  return resolver_.query(name, type);
}

MacroContext Evaluation::macro_context(const std::string& domain) {
  MacroContext c;
  c.client = request_.client;
  c.sender = local_part_ + "@" + sender_domain_;
  c.local_part = local_part_;
  c.sender_domain = sender_domain_;
  c.domain = domain;
  c.helo = request_.helo;
  c.receiver = request_.receiver;
  c.timestamp = request_.timestamp;
  c.validated_name = [this, domain] {
    std::vector<std::string> names = validated_names(nullptr);
    for (const std::string& name : names) {
      if (within(name, domain)) return name;
    }
    return names.empty() ? std::string("unknown") : names.front();
  };
  return c;
}

// §4.4, §4.5: exactly one "v=spf1" TXT record, parsed.
std::optional<Record> Evaluation::fetch_record(const std::string& domain, SpfOutcome& stop) {
  dns::Answer answer = lookup(domain, dns::RrType::TXT);
  if (temporary(answer.status)) {
    stop =
        error_outcome(SpfResult::Temperror, "DNS error looking up " + domain + ": " + answer.why);
    return std::nullopt;
  }
  std::vector<const std::string*> records;
  for (const std::string& txt : answer.txt) {
    if (is_spf_record(txt)) records.push_back(&txt);
  }
  if (records.empty()) {
    stop = error_outcome(SpfResult::None, "no SPF record for " + domain);
    return std::nullopt;
  }
  if (records.size() > 1) {
    stop = error_outcome(SpfResult::Permerror, "multiple SPF records for " + domain);
    return std::nullopt;
  }
  ParsedRecord parsed = parse_record(*records.front());
  if (!parsed.record) {
    stop = error_outcome(SpfResult::Permerror, parsed.error);
    return std::nullopt;
  }
  return std::move(parsed.record);
}

SpfOutcome Evaluation::check(const std::string& domain, bool explain) {
  if (!valid_domain(domain)) return error_outcome(SpfResult::None, "malformed domain " + domain);
  SpfOutcome stop;
  std::optional<Record> record = fetch_record(domain, stop);
  if (!record) return stop;
  for (const Mechanism& m : record->mechanisms) {
    Match verdict = match(m, domain);
    if (verdict.kind == Match::Kind::Stop) return verdict.stop;
    if (verdict.kind == Match::Kind::No) continue;
    SpfOutcome out;
    out.result = result_of(m.qualifier);
    out.mechanism = m.text;
    if (out.result == SpfResult::Fail && explain && record->exp) {
      out.explanation = explanation(*record, domain);
    }
    return out;
  }
  if (record->redirect) return redirect(*record, domain, explain);
  SpfOutcome out;
  out.result = SpfResult::Neutral;
  out.mechanism = "default";
  return out;
}

// §6.1: redirect counts as a DNS term; a target without a record is a permerror.
SpfOutcome Evaluation::redirect(const Record& record, const std::string& domain, bool explain) {
  Match counted = count_term();
  if (counted.kind == Match::Kind::Stop) return counted.stop;
  MacroExpansion e = expand_macros(*record.redirect, macro_context(domain), MacroUse::DomainSpec);
  if (!e.ok) return error_outcome(SpfResult::Permerror, e.error);
  std::string target = truncate_left(strip_dot(e.text));
  SpfOutcome out = check(target, explain);
  if (out.result == SpfResult::None) {
    return error_outcome(SpfResult::Permerror, "redirect to " + target + ": " + out.problem);
  }
  return out;
}

// §6.2: the explanation is best effort; any trouble gives none.
std::string Evaluation::explanation(const Record& record, const std::string& domain) {
  MacroContext context = macro_context(domain);
  MacroExpansion e = expand_macros(*record.exp, context, MacroUse::DomainSpec);
  std::string target = e.ok ? truncate_left(strip_dot(e.text)) : std::string();
  if (!valid_domain(target)) return {};
  dns::Answer answer = lookup(target, dns::RrType::TXT);
  if (answer.status != dns::Status::NoError || answer.txt.size() != 1) return {};
  MacroExpansion text = expand_macros(answer.txt.front(), context, MacroUse::Explanation);
  return text.ok ? text.text : std::string();
}

Match Evaluation::count_term() {
  if (++terms_ > limits_.dns_terms) {
    return Match::halt(SpfResult::Permerror,
                       "more than " + std::to_string(limits_.dns_terms) + " DNS lookups");
  }
  return Match::no();
}

Match Evaluation::count_void(const dns::Answer& answer, size_t records) {
  if (is_void(answer, records) && ++voids_ > limits_.void_lookups) {
    return Match::halt(SpfResult::Permerror,
                       "more than " + std::to_string(limits_.void_lookups) + " void lookups");
  }
  return Match::no();
}

// The mechanism's <target-name>: its expanded domain-spec, or the current domain (§4.8).
std::optional<std::string> Evaluation::target(const Mechanism& m, const std::string& domain) {
  if (m.domain_spec.empty()) return domain;
  MacroExpansion e = expand_macros(m.domain_spec, macro_context(domain), MacroUse::DomainSpec);
  if (!e.ok) return std::nullopt;
  return truncate_left(strip_dot(e.text));
}

Match Evaluation::match(const Mechanism& m, const std::string& domain) {
  switch (m.kind) {
    case MechanismKind::All:
      return Match::yes();
    case MechanismKind::Ip4:
    case MechanismKind::Ip6:
      return address_matches(m.network, m) ? Match::yes() : Match::no();
    default:
      break;
  }
  Match counted = count_term();
  if (counted.kind == Match::Kind::Stop) return counted;
  std::optional<std::string> name = target(m, domain);
  if (!name) return Match::halt(SpfResult::Permerror, "bad macro in '" + m.text + "'");
  switch (m.kind) {
    case MechanismKind::Include:
      return match_include(*name);
    case MechanismKind::A:
      return match_a(m, *name);
    case MechanismKind::Mx:
      return match_mx(m, *name);
    case MechanismKind::Ptr:
      return match_ptr(*name);
    default:
      return match_exists(*name);
  }
}

// Does the client fall in `address`/cidr (the family-specific prefix of `m`)?
bool Evaluation::address_matches(const IpAddress& address, const Mechanism& m) const {
  if (address.v6 != request_.client.v6) return false;
  Cidr network{address, address.v6 ? m.cidr6 : m.cidr4};
  return network.contains(request_.client);
}

// §5.2: pass matches; fail/softfail/neutral do not; temperror stays; none/permerror → permerror.
Match Evaluation::match_include(const std::string& target) {
  SpfOutcome inner = check(target, false);
  switch (inner.result) {
    case SpfResult::Pass:
      return Match::yes();
    case SpfResult::Fail:
    case SpfResult::Softfail:
    case SpfResult::Neutral:
      return Match::no();
    case SpfResult::Temperror:
      return Match::halt(SpfResult::Temperror, inner.problem);
    case SpfResult::None:
    case SpfResult::Permerror:
      break;
  }
  return Match::halt(SpfResult::Permerror, "include:" + target + ": " + inner.problem);
}

// §5.3: the client's address family's records of the target. The lookups of MX exchanges
// (count_voids false) do not count as void lookups; the MX query did.
Match Evaluation::match_a(const Mechanism& m, const std::string& target, bool count_voids) {
  if (!valid_domain(target)) return Match::no();
  dns::Answer answer = lookup(target, request_.client.v6 ? dns::RrType::AAAA : dns::RrType::A);
  if (temporary(answer.status)) {
    return Match::halt(SpfResult::Temperror, "DNS error looking up " + target + ": " + answer.why);
  }
  Match v = count_voids ? count_void(answer, answer.addresses.size()) : Match::no();
  if (v.kind == Match::Kind::Stop) return v;
  for (const IpAddress& address : answer.addresses) {
    if (address_matches(address, m)) return Match::yes();
  }
  return Match::no();
}

// §5.4, §4.6.4: at most `mx_names` exchanges, each looked up like "a".
Match Evaluation::match_mx(const Mechanism& m, const std::string& target) {
  if (!valid_domain(target)) return Match::no();
  dns::Answer answer = lookup(target, dns::RrType::MX);
  if (temporary(answer.status)) {
    return Match::halt(SpfResult::Temperror, "DNS error looking up " + target + ": " + answer.why);
  }
  Match v = count_void(answer, answer.mx.size());
  if (v.kind == Match::Kind::Stop) return v;
  if (answer.mx.size() > limits_.mx_names) {
    return Match::halt(SpfResult::Permerror,
                       "more than " + std::to_string(limits_.mx_names) + " MX names for " + target);
  }
  for (const dns::MxRecord& mx : answer.mx) {
    std::string exchange = strip_dot(mx.exchange);
    if (exchange.empty()) continue;  // null MX (RFC 7505)
    Match a = match_a(m, exchange, false);
    if (a.kind != Match::Kind::No) return a;
  }
  return Match::no();
}

// §5.5: client names (PTR, at most ptr_names) whose A/AAAA records include the client.
// `void_check`, when given, receives a Stop when the PTR lookup exceeds the void limit.
std::vector<std::string> Evaluation::validated_names(std::optional<Match>* void_check) {
  std::vector<std::string> out;
  dns::Answer ptr = lookup(reverse_name(request_.client), dns::RrType::PTR);
  if (void_check) {
    Match v = count_void(ptr, ptr.names.size());
    if (v.kind == Match::Kind::Stop) *void_check = v;
  }
  if (ptr.status != dns::Status::NoError) return out;
  size_t count = std::min<size_t>(ptr.names.size(), limits_.ptr_names);
  for (size_t i = 0; i < count; ++i) {
    std::string name = strip_dot(ptr.names[i]);
    if (!valid_domain(name)) continue;
    dns::Answer a = lookup(name, request_.client.v6 ? dns::RrType::AAAA : dns::RrType::A);
    for (const IpAddress& address : a.addresses) {
      if (same_address(address, request_.client)) {
        out.push_back(name);
        break;
      }
    }
  }
  return out;
}

Match Evaluation::match_ptr(const std::string& target) {
  std::optional<Match> void_check;
  std::vector<std::string> names = validated_names(&void_check);
  if (void_check) return *void_check;
  for (const std::string& name : names) {
    if (within(name, target)) return Match::yes();
  }
  return Match::no();
}

// §5.7: an A lookup whatever the client's family; any address matches.
Match Evaluation::match_exists(const std::string& target) {
  if (!valid_domain(target)) return Match::no();
  dns::Answer answer = lookup(target, dns::RrType::A);
  if (temporary(answer.status)) {
    return Match::halt(SpfResult::Temperror, "DNS error looking up " + target + ": " + answer.why);
  }
  Match v = count_void(answer, answer.addresses.size());
  if (v.kind == Match::Kind::Stop) return v;
  return answer.addresses.empty() ? Match::no() : Match::yes();
}

// local-part@domain of a sender; no '@' means a bare domain.
std::string sender_of(std::string_view mail_from, std::string_view helo) {
  if (mail_from.empty()) return "postmaster@" + std::string(helo);
  if (mail_from.find('@') == std::string_view::npos) return "postmaster@" + std::string(mail_from);
  return std::string(mail_from);
}

}  // namespace

std::string_view result_name(SpfResult result) {
  switch (result) {
    case SpfResult::None:
      return "none";
    case SpfResult::Neutral:
      return "neutral";
    case SpfResult::Pass:
      return "pass";
    case SpfResult::Fail:
      return "fail";
    case SpfResult::Softfail:
      return "softfail";
    case SpfResult::Temperror:
      return "temperror";
    case SpfResult::Permerror:
      return "permerror";
  }
  return "none";
}

bool valid_domain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty() || domain.size() > 253) return false;
  size_t labels = 0, start = 0;
  while (start <= domain.size()) {
    size_t end = std::min(domain.find('.', start), domain.size());
    size_t length = end - start;
    if (length == 0 || length > 63) return false;
    ++labels;
    start = end + 1;
  }
  return labels >= 2;
}

CheckHostRequest helo_identity(const IpAddress& client, std::string_view helo) {
  CheckHostRequest r;
  r.client = client;
  r.domain = strip_dot(helo);
  r.sender = "postmaster@" + r.domain;
  r.helo = std::string(helo);
  return r;
}

CheckHostRequest mail_from_identity(const IpAddress& client, std::string_view mail_from,
                                    std::string_view helo) {
  CheckHostRequest r;
  r.client = client;
  r.sender = sender_of(mail_from, helo);
  r.domain = strip_dot(r.sender.substr(r.sender.rfind('@') + 1));
  r.helo = std::string(helo);
  return r;
}

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

SpfOutcome Evaluator::check_host(const CheckHostRequest& request) {
  Evaluation evaluation(resolver_, limits_, request, clock_);
  SpfOutcome out = evaluation.check(strip_dot(request.domain), true);
  if (evaluation.over_budget()) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", limits_.check_seconds);
    out = error_outcome(SpfResult::Temperror, std::string("SPF check exceeded ") + seconds + " s");
  }
  out.domain = request.domain;
  return out;
}

}  // namespace postern::spf
