// spf_differential_test.cpp — our evaluator and libspf2 (Libspf2Engine) run check_host() over
// the same in-memory DNS: (a) every case of the RFC 7208 test suite in
// ../shared/conformance/spf (read through tests/unit/spf_suite_export.py), (b) a few hundred
// generated records (seeded, deterministic). Every disagreement must be in the tables below,
// which say which engine is right and why (RFC 7208 section); a disagreement that is not there
// fails the test, and so does a table entry that no longer disagrees.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "policyd/spf/evaluator.hpp"
#include "policyd/spf/libspf2_engine.hpp"

namespace postern::spf {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string strip_dot(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

// ---------------------------------------------------------------------------------------------
// The zone both engines see. Semantics as the conformance rig's DNS server (its README):
// names compare case-insensitively; a name not listed is NXDOMAIN, a listed name (or an
// ancestor of one) without the type is NODATA; CNAMEs are followed inside the zone and a loop
// ends with NOERROR and no records; a TIMEOUT name answers only the types listed before the
// marker and times out on the others.
class ZoneResolver : public dns::Resolver {
 public:
  void add(const std::string& name, dns::RrType type, std::string data) {
    nodes_[key(name)].records[type].push_back(std::move(data));
  }
  void list(const std::string& name) { nodes_[key(name)]; }
  void timeout(const std::string& name, std::set<dns::RrType> answered) {
    nodes_[key(name)].answered = std::move(answered);
  }

  dns::Answer query(std::string_view name, dns::RrType type) override {
    std::string at = key(name);
    std::set<std::string> seen;
    for (;;) {
      dns::Answer answer;
      auto it = nodes_.find(at);
      if (it == nodes_.end()) {
        answer.status = ancestor(at) ? dns::Status::NoError : dns::Status::NxDomain;
        return answer;
      }
      const Node& node = it->second;
      if (node.answered && !node.answered->count(type)) {
        answer.status = dns::Status::Timeout;
        answer.why = "timeout (zone)";
        return answer;
      }
      answer.status = dns::Status::NoError;
      auto cname = node.records.find(dns::RrType::CNAME);
      if (type != dns::RrType::CNAME && cname != node.records.end()) {
        if (!seen.insert(at).second) return answer;  // loop: NOERROR, nothing
        at = key(cname->second.front());
        continue;
      }
      auto records = node.records.find(type);
      if (records != node.records.end()) fill(answer, type, records->second);
      return answer;
    }
  }

 private:
  struct Node {
    std::map<dns::RrType, std::vector<std::string>> records;
    std::optional<std::set<dns::RrType>> answered;  // set for TIMEOUT names
  };

  static std::string key(std::string_view name) { return strip_dot(lower(name)); }

  bool ancestor(const std::string& name) const {
    for (const auto& [k, v] : nodes_) {
      if (k.size() > name.size() && k.compare(k.size() - name.size(), name.size(), name) == 0 &&
          k[k.size() - name.size() - 1] == '.') {
        return true;
      }
    }
    return false;
  }

  static void fill(dns::Answer& answer, dns::RrType type, const std::vector<std::string>& data) {
    for (const std::string& d : data) {
      switch (type) {
        case dns::RrType::A:
        case dns::RrType::AAAA:
          if (auto ip = IpAddress::parse(d); ip && ip->v6 == (type == dns::RrType::AAAA)) {
            answer.addresses.push_back(*ip);
          }
          break;
        case dns::RrType::MX: {
          size_t space = d.find(' ');
          answer.mx.push_back(
              {static_cast<uint16_t>(std::stoi(d.substr(0, space))), key(d.substr(space + 1))});
          break;
        }
        case dns::RrType::TXT:
          answer.txt.push_back(d);
          break;
        default:
          answer.names.push_back(key(d));
      }
    }
  }

  std::map<std::string, Node> nodes_;
};

// ---------------------------------------------------------------------------------------------
// Cases, results, and running both engines.

struct Case {
  std::string name;       // suite: "scenario-index/case"; generated: "gen-Z-C"
  std::string client;     // as the suite gives it ("::FFFF:1.2.3.4" included)
  std::string mail_from;  // may be empty (null sender: postmaster@HELO)
  std::string helo;
  std::set<std::string> expected;  // suite only: the acceptable result words
  std::string record;              // generated only: the sender domain's record, for messages
};

struct Verdicts {
  SpfOutcome ours, libspf2;
  bool agree() const { return ours.result == libspf2.result; }
};

Verdicts run_both(dns::Resolver& zone, const Case& c) {
  std::optional<IpAddress> client = IpAddress::parse(c.client);
  EXPECT_TRUE(client) << c.name << ": bad client " << c.client;
  CheckHostRequest request = mail_from_identity(client.value_or(IpAddress{}), c.mail_from, c.helo);
  request.receiver = "receiver.example";
  Evaluator ours(zone);
  Libspf2Engine libspf2(zone);
  return {ours.check_host(request), libspf2.check_host(request)};
}

std::string describe(const SpfOutcome& o) {
  std::string out(result_name(o.result));
  std::string why = o.problem.empty() ? o.mechanism : o.problem;
  if (!why.empty()) out += " (" + why.substr(0, 120) + ")";
  return out;
}

// Which engine a table entry says is right (Both: the RFC leaves the choice open).
enum class Right { Ours, Libspf2, Both };

struct Known {
  Right right;
  const char* why;  // with the RFC 7208 section
};

// ---------------------------------------------------------------------------------------------
// (a) The RFC 7208 test suite.

const char* const suite_path = "/work/shared/conformance/spf/rfc7208-tests.yml";

std::string unhex(const std::string& hex) {
  if (hex == "-") return {};
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

std::optional<dns::RrType> rr_type(const std::string& word) {
  static const std::map<std::string, dns::RrType> types = {
      {"A", dns::RrType::A},     {"AAAA", dns::RrType::AAAA},   {"MX", dns::RrType::MX},
      {"TXT", dns::RrType::TXT}, {"CNAME", dns::RrType::CNAME}, {"PTR", dns::RrType::PTR}};
  auto it = types.find(word);
  if (it == types.end()) return std::nullopt;
  return it->second;
}

struct Scenario {
  std::unique_ptr<ZoneResolver> zone = std::make_unique<ZoneResolver>();
  std::vector<Case> cases;
};

void read_line(const std::string& line, std::vector<Scenario>& out) {
  std::istringstream in(line);
  std::string tag, a, b, c, d, e;
  in >> tag >> a;
  if (tag == "S") {
    out.emplace_back();
    return;
  }
  ASSERT_FALSE(out.empty()) << "export line before a scenario: " << line;
  Scenario& s = out.back();
  if (tag == "N") {
    s.zone->list(unhex(a));
  } else if (tag == "R") {
    in >> b >> c;
    auto type = rr_type(b);
    if (type) s.zone->add(unhex(a), *type, unhex(c));  // types our resolver cannot ask for: skipped
  } else if (tag == "T") {
    in >> b;
    std::set<dns::RrType> answered;
    std::istringstream words(b == "-" ? "" : b);
    for (std::string w; std::getline(words, w, ',');) {
      if (auto type = rr_type(w)) answered.insert(*type);
    }
    s.zone->timeout(unhex(a), answered);
  } else if (tag == "C") {
    in >> b >> c >> d >> e;
    Case k{std::to_string(out.size() - 1) + "/" + a, unhex(b), unhex(c), unhex(d), {}, {}};
    std::istringstream words(e);
    for (std::string w; std::getline(words, w, ',');) k.expected.insert(w);
    s.cases.push_back(std::move(k));
  }
}

// The suite through /usr/bin/python3 tests/unit/spf_suite_export.py; empty when not there.
std::vector<Scenario> load_suite(std::string& why_not) {
  if (!fs::exists(suite_path)) {
    why_not = std::string("THE RFC 7208 SUITE IS MISSING: ") + suite_path +
              " (../shared/conformance/spf) — the suite half of the differential test is skipped";
    return {};
  }
  std::string command = std::string("/usr/bin/python3 ") + POSTERN_SOURCE_DIR +
                        "/tests/unit/spf_suite_export.py " + suite_path;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    why_not = "cannot run " + command;
    return {};
  }
  std::vector<Scenario> out;
  std::string line;
  for (int ch; (ch = std::fgetc(pipe)) != EOF;) {
    if (ch != '\n') {
      line += static_cast<char>(ch);
      continue;
    }
    read_line(line, out);
    line.clear();
  }
  int status = ::pclose(pipe);
  if (status != 0)
    why_not = command + " failed (python3-yaml missing?), status " + std::to_string(status);
  return status == 0 ? std::move(out) : std::vector<Scenario>{};
}

// Suite cases where the engines differ, in groups with one reason each. Key:
// "scenario-index/case". The engine named right must give a result the suite accepts (checked).
struct KnownGroup {
  Known known;
  std::vector<const char*> cases;
};

const std::vector<KnownGroup>& suite_groups() {
  static const std::vector<KnownGroup> groups = {
      {{Right::Ours,
        "libspf2's record compiler accepts invalid terms: a domain-spec must end in a valid "
        "toplabel and not be empty, macros are %{x} %% %_ %- only, a modifier appears at most "
        "once and its value must be a valid domain-spec, 'redirect:' is no mechanism, a "
        "record holds only ASCII (RFC 7208 §4.6.1, §4.8, §6, §7.1, §12 ABNF) → permerror"},
       {"0/non-ascii-policy",
        "0/control-char-policy",
        "3/redirect-is-modifier",
        "3/invalid-domain",
        "5/ptr-empty-domain",
        "6/a-bad-domain",
        "6/a-numeric",
        "6/a-numeric-toplabel",
        "6/a-bad-toplabel",
        "6/a-only-toplabel",
        "6/a-only-toplabel-trailing-dot",
        "6/a-empty-domain",
        "8/mx-bad-domain",
        "8/mx-numeric-top-label",
        "8/mx-bad-toplab",
        "8/mx-empty-domain",
        "9/exists-empty-domain",
        "9/exists-cidr",
        "10/cidr4-032",
        "12/exp-empty-domain",
        "12/exp-syntax-error",
        "12/exp-twice",
        "12/redirect-empty-domain",
        "12/redirect-twice",
        "12/unknown-modifier-syntax",
        "13/exp-only-macro-char",
        "13/invalid-macro-char",
        "13/invalid-embedded-macro-char",
        "13/invalid-trailing-macro-char"}},
      {{Right::Ours,
        "a NUL inside the record: libspf2 reads TXT data as a C string and evaluates the "
        "truncated record; the NUL is an invalid character (RFC 7208 §3.3, §12) → permerror"},
       {"6/a-null", "8/mx-null"}},
      {{Right::Ours,
        "libspf2 refuses prefix length 0 (\"Invalid CIDR netmask (=0)\") and the whole "
        "record becomes a permerror; RFC 7208 §5.6 ABNF allows /0 and //0"},
       {"6/a-nxdomain", "6/a-cidr4-0", "6/a-cidr4-0-ip6", "6/a-cidr6-0-ip4",
        "6/a-cidr6-0-ip4mapped", "6/a-cidr6-0-ip6", "6/a-cidr6-0-nxdomain", "8/mx-nxdomain",
        "8/mx-cidr4-0", "8/mx-cidr4-0-ip6", "8/mx-cidr6-0-ip4", "8/mx-cidr6-0-ip4mapped",
        "8/mx-cidr6-0-ip6", "8/mx-cidr6-0-nxdomain", "10/cidr4-0", "11/cidr6-0-ip4", "11/cidr6-ip4",
        "11/cidr6-0"}},
      {{Right::Ours,
        "a modifier name may hold '.', '-' and '_' (RFC 7208 §12: name = ALPHA *( ALPHA / "
        "DIGIT / \"-\" / \"_\" / \".\" )); libspf2 rejects 'moo.cow-far_out=' (the second "
        "case redirects to that record)"},
       {"3/modifier-charset-good", "3/redirect-after-mechanisms2"}},
      {{Right::Ours,
        "'redirect=' before '~all': modifiers may appear anywhere and redirect is ignored "
        "when a mechanism matches (RFC 7208 §6, §6.1); libspf2 refuses terms after the "
        "redirect to itself as 'mechanisms found after all'"},
       {"3/redirect-after-mechanisms1"}},
      {{Right::Ours,
        "an IPv4-mapped IPv6 client (::FFFF:1.2.3.4) is an IPv4 client for ip4, a and mx "
        "(RFC 7208 §5, §5.6 — ip6 never matches it); libspf2 evaluates it as IPv6"},
       {"6/a-colon-domain-ip4mapped", "8/mx-colon-domain-ip4mapped", "10/ip4-mapped-ip6"}},
      {{Right::Ours,
        "the limits of RFC 7208 §4.6.4: at most 10 DNS-querying terms over the whole "
        "evaluation (libspf2 lets this include chain pass) and at most 2 void lookups "
        "(libspf2 has no void-lookup limit) → permerror"},
       {"14/include-over-limit", "14/void-over-limit"}},
      {{Right::Ours,
        "more than 10 PTR names: the rest are ignored, which is not an error (RFC 7208 "
        "§4.6.4, §5.5); libspf2 answers permerror"},
       {"14/ptr-limit"}},
      {{Right::Both,
        "%{p} may name any validated domain (RFC 7208 §7.3: 'if there are multiple validated "
        "domain names, one is picked'); the suite accepts pass (ours: the name within the "
        "domain) and softfail (libspf2: the first validated)"},
       {"13/p-macro-multiple"}},
  };
  return groups;
}

const std::map<std::string, Known>& suite_disagreements() {
  static const std::map<std::string, Known> table = [] {
    std::map<std::string, Known> out;
    for (const KnownGroup& g : suite_groups()) {
      for (const char* name : g.cases) out.emplace(name, g.known);
    }
    return out;
  }();
  return table;
}

TEST(SpfDifferential, Rfc7208Suite) {
  std::string why_not;
  std::vector<Scenario> suite = load_suite(why_not);
  if (suite.empty()) GTEST_SKIP() << why_not;
  size_t cases = 0, disagreements = 0, ours_ok = 0, libspf2_ok = 0;
  std::set<std::string> seen;
  for (Scenario& s : suite) {
    for (const Case& c : s.cases) {
      ++cases;
      Verdicts v = run_both(*s.zone, c);
      bool ours_right = c.expected.count(std::string(result_name(v.ours.result))) > 0;
      bool lib_right = c.expected.count(std::string(result_name(v.libspf2.result))) > 0;
      EXPECT_TRUE(ours_right) << c.name << ": ours gives " << describe(v.ours)
                              << ", the suite wants " << *c.expected.begin();
      ours_ok += ours_right;
      libspf2_ok += lib_right;
      if (v.agree()) continue;
      ++disagreements;
      seen.insert(c.name);
      auto known = suite_disagreements().find(c.name);
      if (known == suite_disagreements().end()) {
        ADD_FAILURE() << "new disagreement " << c.name << ": ours " << describe(v.ours)
                      << ", libspf2 " << describe(v.libspf2) << "; suite wants "
                      << *c.expected.begin();
        continue;
      }
      Right right = known->second.right;
      EXPECT_TRUE(right == Right::Libspf2 || ours_right)
          << c.name << ": the table says ours is right, but the suite wants another result";
      EXPECT_TRUE(right == Right::Ours || lib_right)
          << c.name << ": the table says libspf2 is right, but the suite wants another result";
    }
  }
  for (const auto& [name, known] : suite_disagreements()) {
    EXPECT_TRUE(seen.count(name)) << name << ": listed as a disagreement, but the engines agree";
  }
  std::printf("rfc7208 suite: %zu cases, %zu disagreements; ours %zu/%zu, libspf2 %zu/%zu\n", cases,
              disagreements, ours_ok, cases, libspf2_ok, cases);
}

// ---------------------------------------------------------------------------------------------
// (b) Generated records: a seeded generator of plausible SPF records (qualifiers, ip4/ip6 with
// prefixes, a/mx with dual cidr, include, exists with a macro, ptr, all, redirect) in a small
// zone with A/AAAA/MX/PTR data, evaluated for clients from the same address pools.

// splitmix64: the same sequence on every platform (std distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  bool chance(unsigned percent) { return below(100) < percent; }
  template <class T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }

 private:
  uint64_t state_;
};

const std::vector<std::string> v4_pool = {"192.0.2.1", "192.0.2.2", "192.0.2.77", "198.51.100.5",
                                          "203.0.113.9"};
const std::vector<std::string> v6_pool = {"2001:db8::1", "2001:db8::2", "2001:db8:1::9"};
constexpr size_t zone_domains = 8;

std::string gen_domain(size_t i) {
  return "d" + std::to_string(i) + ".gen.example";
}

std::string prefix(Rng& r, const std::vector<std::string>& lengths) {
  return r.chance(55) ? std::string() : r.pick(lengths);
}

std::string gen_term(Rng& r) {
  static const std::vector<std::string> qualifiers = {"", "", "+", "-", "~", "?"};
  static const std::vector<std::string> cidr4 = {"/32", "/24", "/24", "/16", "/8", "/0"};
  static const std::vector<std::string> cidr6 = {"/128", "/64", "/48", "/32", "/0"};
  static const std::vector<std::string> dual = {"/24", "/32", "//64", "/28//48", "/16//32", "/0"};
  std::string q = r.pick(qualifiers);
  std::string d = gen_domain(r.below(zone_domains + 2));  // two past the zone: NXDOMAIN
  std::string target = r.chance(50) ? ":" + d : "";
  switch (r.below(10)) {
    case 0:
      return q + "ip4:" + r.pick(v4_pool) + prefix(r, cidr4);
    case 1:
      return q + "ip6:" + r.pick(v6_pool) + prefix(r, cidr6);
    case 2:
      return q + "a" + target + prefix(r, dual);
    case 3:
      return q + "mx" + target + prefix(r, dual);
    case 4:
    case 5:
      return q + "include:" + d;
    case 6:
      return q + "exists:" + (r.chance(40) ? "%{i}." : "") + d;
    case 7:
      return q + "ptr" + (r.chance(50) ? ":gen.example" : "");
    default:
      return q + "all";
  }
}

std::string gen_record(Rng& r) {
  std::string record = "v=spf1";
  for (size_t n = 1 + r.below(5); n > 0; --n) record += " " + gen_term(r);
  if (r.chance(40)) {
    record += r.chance(50) ? " -all" : " ~all";
  } else if (r.chance(35)) {
    record += " redirect=" + gen_domain(r.below(zone_domains + 2));
  }
  return record;
}

// One generated zone: records, addresses, MX hosts, PTR names, and `cases` checks against it.
struct GeneratedZone {
  ZoneResolver zone;
  std::map<std::string, std::string> records;  // domain → its SPF record
  std::vector<Case> cases;
};

GeneratedZone generate_zone(Rng& r, size_t index, size_t cases) {
  GeneratedZone g;
  for (size_t i = 0; i < zone_domains; ++i) {
    std::string d = gen_domain(i);
    g.zone.list(d);
    if (r.chance(88)) g.records[d] = gen_record(r);
    if (r.chance(85)) g.zone.add(d, dns::RrType::TXT, g.records.count(d) ? g.records[d] : "x");
    if (r.chance(70)) g.zone.add(d, dns::RrType::A, r.pick(v4_pool));
    if (r.chance(30)) g.zone.add(d, dns::RrType::A, r.pick(v4_pool));
    if (r.chance(40)) g.zone.add(d, dns::RrType::AAAA, r.pick(v6_pool));
    for (size_t m = r.chance(50) ? 1 + r.below(2) : 0; m > 0; --m) {
      std::string host = "mx" + std::to_string(m) + "." + d;
      g.zone.add(d, dns::RrType::MX, std::to_string(m * 10) + " " + host);
      g.zone.add(host, r.chance(75) ? dns::RrType::A : dns::RrType::AAAA,
                 r.chance(75) ? r.pick(v4_pool) : r.pick(v6_pool));
    }
  }
  for (const std::string& address : v4_pool) {
    if (!r.chance(50)) continue;
    std::string host = "host." + gen_domain(r.below(zone_domains));
    IpAddress ip = *IpAddress::parse(address);
    std::string reverse = std::to_string(ip.bytes[3]) + "." + std::to_string(ip.bytes[2]) + "." +
                          std::to_string(ip.bytes[1]) + "." + std::to_string(ip.bytes[0]) +
                          ".in-addr.arpa";
    g.zone.add(reverse, dns::RrType::PTR, host);
    g.zone.add(host, dns::RrType::A, address);
  }
  for (size_t c = 0; c < cases; ++c) {
    std::string domain = gen_domain(r.below(zone_domains));
    std::string client = r.chance(75) ? r.pick(v4_pool) : r.pick(v6_pool);
    std::string name = "gen-" + std::to_string(index) + "-" + std::to_string(c);
    g.cases.push_back({name, client, "user@" + domain, "mail.gen.example", {}, ""});
    g.cases.back().record = g.records.count(domain) ? g.records[domain] : "(none)";
  }
  return g;
}

// Generated disagreements, recognised by what the engines report. Each says who is right.
struct GeneratedRule {
  const char* name;
  Right right;
  const char* why;
  std::function<bool(const Verdicts&)> applies;
};

bool has(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

const std::vector<GeneratedRule>& generated_rules() {
  static const std::vector<GeneratedRule> rules = {
      {"zero-prefix", Right::Ours,
       "libspf2 refuses a /0 prefix length and fails the whole record (permerror); RFC 7208 "
       "§5.6 ABNF allows /0 (ip4-cidr-length = \"/\" (\"0\" / %x31-39 0*1DIGIT))",
       [](const Verdicts& v) {
         return v.libspf2.result == SpfResult::Permerror && has(v.libspf2.problem, "(=0)");
       }},
      {"void-lookup-limit", Right::Ours,
       "a third void lookup (NXDOMAIN or no records: include/a/mx/exists targets that do not "
       "exist) is a permerror under RFC 7208 §4.6.4; libspf2 has no void-lookup limit",
       [](const Verdicts& v) {
         return v.ours.result == SpfResult::Permerror && has(v.ours.problem, "void lookups") &&
                v.libspf2.result != SpfResult::Permerror;
       }},
  };
  return rules;
}

TEST(SpfDifferential, GeneratedRecords) {
  Rng r(20250607);
  size_t cases = 0, disagreements = 0;
  std::map<std::string, size_t> per_rule;
  for (size_t z = 0; z < 30; ++z) {
    GeneratedZone g = generate_zone(r, z, 10);
    for (const Case& c : g.cases) {
      ++cases;
      Verdicts v = run_both(g.zone, c);
      if (v.agree()) continue;
      ++disagreements;
      const GeneratedRule* rule = nullptr;
      for (const GeneratedRule& candidate : generated_rules()) {
        if (candidate.applies(v)) {
          rule = &candidate;
          break;
        }
      }
      if (rule) {
        ++per_rule[rule->name];
        continue;
      }
      std::string zone_text;
      for (const auto& [domain, record] : g.records) zone_text += "\n  " + domain + ": " + record;
      ADD_FAILURE() << "new disagreement " << c.name << " client " << c.client << " sender "
                    << c.mail_from << ": ours " << describe(v.ours) << ", libspf2 "
                    << describe(v.libspf2) << "; records:" << zone_text;
    }
  }
  for (const GeneratedRule& rule : generated_rules()) {
    EXPECT_TRUE(per_rule.count(rule.name)) << "rule " << rule.name << " explains nothing now";
  }
  std::printf("generated: %zu cases, %zu disagreements", cases, disagreements);
  for (const auto& [name, count] : per_rule) std::printf("; %s %zu", name.c_str(), count);
  std::printf("\n");
}

}  // namespace
}  // namespace postern::spf
