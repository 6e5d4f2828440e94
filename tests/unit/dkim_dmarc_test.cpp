// dkim_dmarc_test.cpp — DMARC (RFC 7489, RFC 9091 np=) against an in-memory resolver and
// Debian's Public Suffix List: Organizational Domains, alignment, record parsing, policy
// discovery with fallback, evaluation (DKIM/SPF, sp=, np=, pct= with an injected draw,
// temperror, several From) and the Authentication-Results clause.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "common/config_error.hpp"
#include "milters/dkim/dmarc.hpp"
#include "milters/dkim/public_suffix.hpp"

namespace postern::dkim {
namespace {

using dns::RrType;
using dns::Status;

// Answers per (name, type). A name known for any type answers NODATA for the others; an
// unknown name is NXDOMAIN. `status` forces a status for (name, type).
class FakeResolver : public dns::Resolver {
 public:
  std::map<std::pair<std::string, RrType>, dns::Answer> answers;
  std::vector<std::string> queries;  // "name TYPE-number"

  void txt(const std::string& name, std::vector<std::string> records) {
    answers[{name, RrType::TXT}].status = Status::NoError;
    answers[{name, RrType::TXT}].txt = std::move(records);
  }
  void a(const std::string& name) {
    answers[{name, RrType::A}].status = Status::NoError;
    answers[{name, RrType::A}].addresses.push_back(*IpAddress::parse("192.0.2.1"));
  }
  void status(const std::string& name, RrType type, Status s) {
    answers[{name, type}].status = s;
    answers[{name, type}].why = "injected";
  }

  dns::Answer query(std::string_view name, RrType type) override {
    queries.push_back(std::string(name) + " " + std::to_string(static_cast<int>(type)));
    if (auto it = answers.find({std::string(name), type}); it != answers.end()) return it->second;
    dns::Answer answer;
    answer.status = Status::NxDomain;
    for (const auto& [key, value] : answers) {
      if (key.first == name) answer.status = Status::NoError;  // NODATA
    }
    return answer;
  }
};

const PublicSuffixList& psl() {
  static const PublicSuffixList list;  // Debian's /usr/share/publicsuffix list
  return list;
}

// ---- Organizational Domain (RFC 7489 §3.2) ----------------------------------------------

TEST(DmarcPsl, OrganizationalDomain) {
  struct Case {
    const char* domain;
    const char* want;
  };
  const Case cases[] = {
      {"a.b.example.co.uk", "example.co.uk"},
      {"example.co.uk", "example.co.uk"},
      {"co.uk", "co.uk"},  // a public suffix is its own org domain
      {"mail.example.com", "example.com"},
      {"Mail.EXAMPLE.com.", "example.com"},
      {"example.com", "example.com"},
      {"com", "com"},
      {"foo.github.io", "foo.github.io"},  // private section applies
      {"a.foo.github.io", "foo.github.io"},
      {"a.b.c.kawasaki.jp", "b.c.kawasaki.jp"},      // *.kawasaki.jp
      {"www.city.kawasaki.jp", "city.kawasaki.jp"},  // !city.kawasaki.jp
      {"x.y.unlistedtld", "y.unlistedtld"},          // implicit "*" rule
      {"", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(psl().organizational_domain(c.domain), c.want) << "domain " << c.domain;
  }
}

TEST(DmarcPsl, IsPublicSuffix) {
  EXPECT_TRUE(psl().is_public_suffix("co.uk"));
  EXPECT_TRUE(psl().is_public_suffix("COM."));
  EXPECT_FALSE(psl().is_public_suffix("example.com"));
}

TEST(DmarcPsl, MissingListIsConfigError) {
  EXPECT_THROW(PublicSuffixList("/nonexistent/psl.dafsa"), ConfigError);
}

// ---- Alignment (§3.1) ---------------------------------------------------------------------

TEST(Dmarc, Alignment) {
  struct Case {
    const char* authenticated;
    const char* from;
    Alignment mode;
    bool want;
  };
  const Case cases[] = {
      {"example.com", "example.com", Alignment::Strict, true},
      {"EXAMPLE.com.", "example.com", Alignment::Strict, true},
      {"mail.example.com", "example.com", Alignment::Strict, false},
      {"mail.example.com", "example.com", Alignment::Relaxed, true},
      {"example.com", "news.example.com", Alignment::Relaxed, true},
      {"a.example.com", "b.example.com", Alignment::Relaxed, true},
      {"example.net", "example.com", Alignment::Relaxed, false},
      {"other.co.uk", "example.co.uk", Alignment::Relaxed, false},  // same public suffix only
      {"a.example.co.uk", "b.example.co.uk", Alignment::Relaxed, true},
      {"foo.github.io", "bar.github.io", Alignment::Relaxed, false},
      {"", "example.com", Alignment::Relaxed, false},
      {"example.com", "", Alignment::Relaxed, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(aligned(c.authenticated, c.from, c.mode, psl()), c.want)
        << c.authenticated << " vs " << c.from
        << (c.mode == Alignment::Strict ? " strict" : " relaxed");
  }
}

// ---- Record parsing (§6.3, §6.4, §6.6.3 step 6) ------------------------------------------

TEST(Dmarc, ParseRecordStatus) {
  struct Case {
    const char* text;
    DmarcRecordStatus want;
    const char* reason_part;  // substring of the reason ("" = any)
  };
  using S = DmarcRecordStatus;
  const Case cases[] = {
      {"v=DMARC1; p=reject", S::Ok, ""},
      {"v=DMARC1;p=none;", S::Ok, ""},
      {"v = DMARC1 ; p = quarantine", S::Ok, ""},
      {"V=DMARC1; P=Reject", S::Ok, ""},
      {"v=DMARC1; p=none; foo=bar", S::Ok, ""},           // unknown tags ignored
      {"v=DMARC1; p=none; rua=notauri", S::Ok, ""},       // bad URIs dropped
      {"v=DMARC1; rua=mailto:r@example.com", S::Ok, ""},  // p missing, rua → p=none
      {"v=DMARC1; p=bogus; rua=mailto:r@example.com", S::Ok, ""},
      {"", S::NotDmarc, ""},
      {"v=spf1 -all", S::NotDmarc, ""},
      {"v=dmarc1; p=none", S::NotDmarc, ""},  // "DMARC1" is case-sensitive
      {"v=DMARC10; p=none", S::NotDmarc, ""},
      {"p=none; v=DMARC1", S::NotDmarc, ""},  // v= must come first
      {"v=DMARC1", S::Invalid, "missing p= tag"},
      {"v=DMARC1; rua=nouri", S::Invalid, "missing p= tag"},
      {"v=DMARC1; p=rejekt", S::Invalid, "invalid p= value \"rejekt\""},
      {"v=DMARC1; p=none; sp=x", S::Invalid, "invalid sp= value"},
      {"v=DMARC1; p=none; np=bogus", S::Invalid, "invalid np= value"},
      {"v=DMARC1; p=none; adkim=x", S::Invalid, "invalid adkim= value"},
      {"v=DMARC1; p=none; aspf=relaxed", S::Invalid, "invalid aspf= value"},
      {"v=DMARC1; p=none; pct=101", S::Invalid, "pct= value"},
      {"v=DMARC1; p=none; pct=50x", S::Invalid, "pct= value"},
      {"v=DMARC1; p=none; pct=-1", S::Invalid, "pct= value"},
      {"v=DMARC1; p=none; pct=", S::Invalid, "pct= value"},
      {"v=DMARC1; p=none; fo=2", S::Invalid, "invalid fo= value"},
      {"v=DMARC1; p=none; rf=a:", S::Invalid, "invalid rf= value"},
      {"v=DMARC1; p=none; ri=1h", S::Invalid, "invalid ri= value"},
      {"v=DMARC1; p=none; p=reject", S::Invalid, "duplicate tag"},
      {"v=DMARC1; p=none; P=reject", S::Invalid, "duplicate tag \"p\""},
      {"v=DMARC1; v=DMARC1; p=none", S::Invalid, "duplicate tag"},
      {"v=DMARC1; p", S::Invalid, "DMARC record syntax"},
      {"v=DMARC1; p=none\x01", S::Invalid, "DMARC record syntax"},
  };
  for (const Case& c : cases) {
    DmarcRecordParse got = parse_dmarc_record(c.text);
    EXPECT_EQ(static_cast<int>(got.status), static_cast<int>(c.want))
        << "record \"" << c.text << "\": reason " << got.reason;
    EXPECT_NE(got.reason.find(c.reason_part), std::string::npos)
        << "record \"" << c.text << "\": got reason \"" << got.reason << "\", want \""
        << c.reason_part << "\"";
  }
}

TEST(Dmarc, ParseRecordTags) {
  DmarcRecordParse got = parse_dmarc_record(
      "v=DMARC1; p=quarantine; sp=none; np=reject; adkim=s; aspf=S; pct=25;"
      " rua=mailto:a@example.com, mailto:b@example.com!10m, bad; ruf=mailto:f@example.com;"
      " fo=1:D; rf=afrf; ri=99999999999");
  ASSERT_EQ(got.status, DmarcRecordStatus::Ok) << got.reason;
  const DmarcRecord& r = got.record;
  EXPECT_EQ(r.policy, DmarcPolicy::Quarantine);
  EXPECT_EQ(r.subdomain_policy, DmarcPolicy::None);
  EXPECT_EQ(r.nonexistent_policy, DmarcPolicy::Reject);
  EXPECT_EQ(r.dkim_alignment, Alignment::Strict);
  EXPECT_EQ(r.spf_alignment, Alignment::Strict);
  EXPECT_EQ(r.percent, 25);
  EXPECT_EQ(r.aggregate_report_uris,
            (std::vector<std::string>{"mailto:a@example.com", "mailto:b@example.com!10m"}));
  EXPECT_EQ(r.failure_report_uris, std::vector<std::string>{"mailto:f@example.com"});
  EXPECT_EQ(r.failure_options, (std::vector<std::string>{"1", "d"}));
  EXPECT_EQ(r.report_formats, std::vector<std::string>{"afrf"});
  EXPECT_EQ(r.report_interval, UINT32_MAX);  // clamped
  EXPECT_FALSE(r.policy_defaulted);
}

TEST(Dmarc, ParseRecordDefaults) {
  DmarcRecordParse got = parse_dmarc_record("v=DMARC1; p=reject");
  ASSERT_EQ(got.status, DmarcRecordStatus::Ok);
  EXPECT_FALSE(got.record.subdomain_policy);
  EXPECT_FALSE(got.record.nonexistent_policy);
  EXPECT_EQ(got.record.dkim_alignment, Alignment::Relaxed);
  EXPECT_EQ(got.record.spf_alignment, Alignment::Relaxed);
  EXPECT_EQ(got.record.percent, 100);
  EXPECT_EQ(got.record.report_interval, 86400u);
}

TEST(Dmarc, ParseRecordPolicyDefaultedByRua) {
  DmarcRecordParse got = parse_dmarc_record("v=DMARC1; p=bogus; adkim=s; rua=mailto:r@example.com");
  ASSERT_EQ(got.status, DmarcRecordStatus::Ok);
  EXPECT_TRUE(got.record.policy_defaulted);
  EXPECT_EQ(got.record.policy, DmarcPolicy::None);
  EXPECT_EQ(got.record.dkim_alignment, Alignment::Relaxed);  // "as if v=DMARC1; p=none"
  EXPECT_NE(got.record.policy_problem.find("invalid p= value"), std::string::npos);
}

// ---- Discovery and evaluation (§6.6) -----------------------------------------------------

constexpr char kOtherTxt[] = "google-site-verification=abc";

FakeResolver zone() {
  FakeResolver r;
  r.txt("_dmarc.example.com", {kOtherTxt, "v=DMARC1; p=reject; sp=quarantine"});
  r.a("example.com");
  r.a("news.example.com");
  r.txt("_dmarc.own.example.com", {"v=DMARC1; p=none"});
  r.txt("_dmarc.strict.com", {"v=DMARC1; p=quarantine; adkim=s; aspf=s"});
  r.txt("_dmarc.np.com", {"v=DMARC1; p=none; sp=quarantine; np=reject"});
  r.a("exists.np.com");
  r.txt("nodata.np.com", {});  // the name exists with no A/AAAA/MX
  r.status("slow.np.com", RrType::A, Status::ServFail);
  r.txt("_dmarc.example.co.uk", {"v=DMARC1; p=quarantine"});
  r.txt("_dmarc.two.com", {"v=DMARC1; p=none", "v=DMARC1; p=reject"});
  r.txt("_dmarc.bad.com", {"v=DMARC1; p=rejekt"});
  r.txt("_dmarc.rua.com", {"v=DMARC1; rua=mailto:r@rua.com"});
  r.status("_dmarc.tempfail.com", RrType::TXT, Status::ServFail);
  r.status("_dmarc.orgtemp.com", RrType::TXT, Status::Timeout);
  r.txt("_dmarc.pct.com", {"v=DMARC1; p=reject; pct=50"});
  r.txt("_dmarc.pct0.com", {"v=DMARC1; p=quarantine; pct=0"});
  return r;
}

FromAddress from(const std::string& domain) {
  FromAddress f;
  f.outcome = FromOutcome::Ok;
  f.domain = domain;
  f.local_part = "user";
  f.address = "user@" + domain;
  return f;
}

SignatureResult sig(DkimResult result, const std::string& sdid) {
  SignatureResult s;
  s.result = result;
  s.sdid = sdid;
  return s;
}

struct EvalCase {
  const char* name;
  std::string from_domain;
  std::vector<SignatureResult> dkim;
  std::string spf_result;
  std::string spf_domain;
  DmarcResult want;
  DmarcPolicy want_requested = DmarcPolicy::None;
  DmarcPolicy want_applied = DmarcPolicy::None;
  const char* want_policy_domain = "";
  const char* reason_part = "";
  int draw = -1;  // the injected pct draw; -1 = must not be drawn
  bool want_sampled_out = false;
};

TEST(Dmarc, Evaluate) {
  using R = DmarcResult;
  using P = DmarcPolicy;
  const DkimResult kPass = DkimResult::Pass;
  const EvalCase cases[] = {
      {"DKIM-only pass, relaxed",
       "example.com",
       {sig(kPass, "mail.example.com")},
       "fail",
       "example.com",
       R::Pass,
       P::Reject,
       P::None,
       "example.com"},
      {"SPF-only pass, relaxed",
       "example.com",
       {},
       "pass",
       "bounce.example.com",
       R::Pass,
       P::Reject,
       P::None,
       "example.com"},
      {"SPF pass word case-insensitive",
       "example.com",
       {},
       "Pass",
       "example.com",
       R::Pass,
       P::Reject,
       P::None,
       "example.com"},
      {"both fail",
       "example.com",
       {sig(DkimResult::Fail, "example.com")},
       "fail",
       "example.com",
       R::Fail,
       P::Reject,
       P::Reject,
       "example.com",
       "not aligned"},
      {"pass but unaligned",
       "example.com",
       {sig(kPass, "example.net")},
       "pass",
       "example.net",
       R::Fail,
       P::Reject,
       P::Reject,
       "example.com"},
      {"neutral is no pass",
       "example.com",
       {sig(DkimResult::Neutral, "example.com")},
       "",
       "",
       R::Fail,
       P::Reject,
       P::Reject,
       "example.com"},
      {"no auth at all", "example.com", {}, "", "", R::Fail, P::Reject, P::Reject, "example.com"},
      {"strict DKIM subdomain fails",
       "strict.com",
       {sig(kPass, "mail.strict.com")},
       "",
       "",
       R::Fail,
       P::Quarantine,
       P::Quarantine,
       "strict.com"},
      {"strict DKIM exact passes",
       "strict.com",
       {sig(kPass, "STRICT.com")},
       "",
       "",
       R::Pass,
       P::Quarantine,
       P::None,
       "strict.com"},
      {"strict SPF subdomain fails",
       "strict.com",
       {},
       "pass",
       "mail.strict.com",
       R::Fail,
       P::Quarantine,
       P::Quarantine,
       "strict.com"},
      {"strict SPF exact passes",
       "strict.com",
       {},
       "pass",
       "strict.com",
       R::Pass,
       P::Quarantine,
       P::None,
       "strict.com"},
      {"second signature aligns",
       "example.com",
       {sig(kPass, "esp.example"), sig(kPass, "example.com")},
       "",
       "",
       R::Pass,
       P::Reject,
       P::None,
       "example.com"},
      {"subdomain falls back, sp=",
       "news.example.com",
       {},
       "",
       "",
       R::Fail,
       P::Quarantine,
       P::Quarantine,
       "example.com"},
      {"subdomain with own record",
       "own.example.com",
       {},
       "",
       "",
       R::Fail,
       P::None,
       P::None,
       "own.example.com"},
      {"org-domain fallback under co.uk",
       "a.b.example.co.uk",
       {},
       "",
       "",
       R::Fail,
       P::Quarantine,
       P::Quarantine,
       "example.co.uk"},
      {"np= NXDOMAIN subdomain",
       "ghost.np.com",
       {},
       "",
       "",
       R::Fail,
       P::Reject,
       P::Reject,
       "np.com"},
      {"np= NODATA subdomain",
       "nodata.np.com",
       {},
       "",
       "",
       R::Fail,
       P::Reject,
       P::Reject,
       "np.com"},
      {"np= existing subdomain uses sp=",
       "exists.np.com",
       {},
       "",
       "",
       R::Fail,
       P::Quarantine,
       P::Quarantine,
       "np.com"},
      {"np= not for the org domain", "np.com", {}, "", "", R::Fail, P::None, P::None, "np.com"},
      {"np= existence check temperror",
       "slow.np.com",
       {},
       "",
       "",
       R::Temperror,
       P::Quarantine,
       P::None,
       "np.com",
       "exists"},
      {"np= pass needs no existence check",
       "ghost.np.com",
       {sig(kPass, "np.com")},
       "",
       "",
       R::Pass,
       P::Quarantine,
       P::None,
       "np.com"},
      {"several records",
       "two.com",
       {},
       "",
       "",
       R::None,
       P::None,
       P::None,
       "",
       "several DMARC records at _dmarc.two.com"},
      {"invalid record",
       "bad.com",
       {},
       "",
       "",
       R::Permerror,
       P::None,
       P::None,
       "bad.com",
       "invalid p= value"},
      {"p= defaulted by rua=", "rua.com", {}, "", "", R::Fail, P::None, P::None, "rua.com"},
      {"no record",
       "nothing.org",
       {sig(kPass, "nothing.org")},
       "pass",
       "nothing.org",
       R::None,
       P::None,
       P::None,
       "",
       "no DMARC record"},
      {"temperror at From domain",
       "tempfail.com",
       {},
       "",
       "",
       R::Temperror,
       P::None,
       P::None,
       "",
       "DNS error for _dmarc.tempfail.com"},
      {"temperror at org domain",
       "x.orgtemp.com",
       {},
       "",
       "",
       R::Temperror,
       P::None,
       P::None,
       "",
       "DNS error for _dmarc.orgtemp.com"},
      {"aligned DKIM temperror",
       "example.com",
       {sig(DkimResult::Temperror, "example.com")},
       "fail",
       "example.com",
       R::Temperror,
       P::Reject,
       P::None,
       "example.com",
       "temporary"},
      {"aligned SPF temperror",
       "example.com",
       {},
       "temperror",
       "example.com",
       R::Temperror,
       P::Reject,
       P::None,
       "example.com",
       "temporary"},
      {"unaligned temperror is a fail",
       "example.com",
       {sig(DkimResult::Temperror, "example.net")},
       "",
       "",
       R::Fail,
       P::Reject,
       P::Reject,
       "example.com"},
      {"pct=50 selected",
       "pct.com",
       {},
       "",
       "",
       R::Fail,
       P::Reject,
       P::Reject,
       "pct.com",
       "",
       49,
       false},
      {"pct=50 sampled out",
       "pct.com",
       {},
       "",
       "",
       R::Fail,
       P::Reject,
       P::Quarantine,
       "pct.com",
       "",
       50,
       true},
      {"pct=50 pass draws nothing",
       "pct.com",
       {sig(kPass, "pct.com")},
       "",
       "",
       R::Pass,
       P::Reject,
       P::None,
       "pct.com"},
      {"pct=0 always sampled out",
       "pct0.com",
       {},
       "",
       "",
       R::Fail,
       P::Quarantine,
       P::None,
       "pct0.com",
       "",
       -1,
       true},
  };
  for (const EvalCase& c : cases) {
    SCOPED_TRACE(c.name);
    FakeResolver resolver = zone();
    int draws = 0;
    DmarcEvaluator evaluator(psl(), resolver, [&] {
      ++draws;
      return c.draw;
    });
    DmarcInput input{from(c.from_domain), c.dkim, c.spf_result, c.spf_domain};
    DmarcVerdict got = evaluator.evaluate(input);
    EXPECT_EQ(result_name(got.result), result_name(c.want)) << "reason: " << got.reason;
    EXPECT_EQ(policy_name(got.requested_policy), policy_name(c.want_requested));
    EXPECT_EQ(policy_name(got.applied_policy), policy_name(c.want_applied));
    EXPECT_EQ(got.policy_domain, c.want_policy_domain);
    EXPECT_EQ(got.sampled_out, c.want_sampled_out);
    EXPECT_EQ(draws, c.draw < 0 ? 0 : 1);
    EXPECT_NE(got.reason.find(c.reason_part), std::string::npos)
        << "got reason \"" << got.reason << "\", want \"" << c.reason_part << "\"";
    EXPECT_EQ(got.result == R::Pass, got.reason.empty()) << got.reason;
    EXPECT_EQ(got.from_domain, c.from_domain);
  }
}

TEST(Dmarc, EvaluateReportsAlignment) {
  FakeResolver resolver = zone();
  DmarcEvaluator evaluator(psl(), resolver);
  DmarcVerdict got = evaluator.evaluate(
      {from("example.com"), {sig(DkimResult::Pass, "mail.example.com")}, "pass", "example.com"});
  EXPECT_EQ(got.result, DmarcResult::Pass);
  EXPECT_TRUE(got.dkim_aligned);
  EXPECT_TRUE(got.spf_aligned);
  EXPECT_EQ(got.aligned_sdid, "mail.example.com");
  ASSERT_TRUE(got.record);
  EXPECT_EQ(got.record->subdomain_policy, DmarcPolicy::Quarantine);
}

TEST(Dmarc, EvaluateFromProblems) {
  FakeResolver resolver = zone();
  DmarcEvaluator evaluator(psl(), resolver);
  FromAddress several;
  several.outcome = FromOutcome::Multiple;
  several.reason = "several mailboxes";
  DmarcVerdict got = evaluator.evaluate({several, {}, "", ""});
  EXPECT_EQ(got.result, DmarcResult::Permerror);
  EXPECT_EQ(got.reason, "several From addresses");
  FromAddress missing;
  missing.outcome = FromOutcome::Missing;
  missing.reason = "no From field";
  got = evaluator.evaluate({missing, {}, "", ""});
  EXPECT_EQ(got.result, DmarcResult::Permerror);
  EXPECT_EQ(got.reason, "no usable From domain: no From field");
  EXPECT_TRUE(resolver.queries.empty());
}

TEST(Dmarc, DiscoveryQueries) {
  struct Case {
    const char* from;
    std::vector<std::string> want_queries;
  };
  const std::string txt = " 16";
  const Case cases[] = {
      {"example.com", {"_dmarc.example.com" + txt}},
      {"news.example.com", {"_dmarc.news.example.com" + txt, "_dmarc.example.com" + txt}},
      {"two.com", {"_dmarc.two.com" + txt}},
      {"tempfail.com", {"_dmarc.tempfail.com" + txt}},
      {"nothing.org", {"_dmarc.nothing.org" + txt}},  // already the org domain
  };
  for (const Case& c : cases) {
    FakeResolver resolver = zone();
    discover_dmarc_policy(c.from, resolver, psl());
    EXPECT_EQ(resolver.queries, c.want_queries) << "from " << c.from;
  }
}

TEST(Dmarc, DomainExistence) {
  struct Case {
    const char* domain;
    DomainExistence want;
    size_t want_queries;
  };
  const Case cases[] = {
      {"example.com", DomainExistence::Exists, 1},
      {"ghost.np.com", DomainExistence::NonExistent, 1},
      {"nodata.np.com", DomainExistence::NonExistent, 3},
      {"slow.np.com", DomainExistence::Temperror, 1},
  };
  for (const Case& c : cases) {
    FakeResolver resolver = zone();
    EXPECT_EQ(static_cast<int>(domain_existence(c.domain, resolver)), static_cast<int>(c.want))
        << c.domain;
    EXPECT_EQ(resolver.queries.size(), c.want_queries) << c.domain;
  }
}

TEST(Dmarc, DefaultPercentSourceIsInRange) {
  // pct=50 with the real random source: over many draws both outcomes occur.
  FakeResolver resolver = zone();
  DmarcEvaluator evaluator(psl(), resolver);
  std::set<bool> seen;
  for (int i = 0; i < 200 && seen.size() < 2; ++i) {
    seen.insert(evaluator.evaluate({from("pct.com"), {}, "", ""}).sampled_out);
  }
  EXPECT_EQ(seen.size(), 2u);
}

// ---- Authentication-Results clause (RFC 8601, RFC 7489 §11.2) ----------------------------

TEST(Dmarc, Clause) {
  FakeResolver resolver = zone();
  DmarcEvaluator evaluator(psl(), resolver, [] { return 99; });
  struct Case {
    std::string from_domain;
    std::vector<SignatureResult> dkim;
    DmarcPolicy disposition;
    const char* want;
  };
  const Case cases[] = {
      {"example.com",
       {},
       DmarcPolicy::None,
       "dmarc=fail (p=reject dis=none) reason=\"DKIM and SPF not aligned with example.com\" "
       "header.from=example.com policy.dmarc=reject"},
      {"example.com",
       {sig(DkimResult::Pass, "example.com")},
       DmarcPolicy::None,
       "dmarc=pass (p=reject dis=none) header.from=example.com policy.dmarc=none"},
      {"pct.com",
       {},
       DmarcPolicy::Quarantine,
       "dmarc=fail (p=reject dis=quarantine) reason=\"DKIM and SPF not aligned with pct.com\" "
       "header.from=pct.com policy.dmarc=quarantine"},
      {"nothing.org",
       {},
       DmarcPolicy::None,
       "dmarc=none reason=\"no DMARC record\" header.from=nothing.org policy.dmarc=none"},
      {"tempfail.com",
       {},
       DmarcPolicy::None,
       "dmarc=temperror reason=\"DNS error for _dmarc.tempfail.com TXT: injected\" "
       "header.from=tempfail.com policy.dmarc=none"},
  };
  for (const Case& c : cases) {
    DmarcVerdict verdict = evaluator.evaluate({from(c.from_domain), c.dkim, "", ""});
    EXPECT_EQ(dmarc_clause(verdict, c.disposition), c.want);
  }
  FromAddress several;
  several.outcome = FromOutcome::Multiple;
  EXPECT_EQ(dmarc_clause(evaluator.evaluate({several, {}, "", ""}), DmarcPolicy::None),
            "dmarc=permerror reason=\"several From addresses\" policy.dmarc=none");
}

TEST(Dmarc, Names) {
  EXPECT_EQ(result_name(DmarcResult::None), "none");
  EXPECT_EQ(result_name(DmarcResult::Pass), "pass");
  EXPECT_EQ(result_name(DmarcResult::Fail), "fail");
  EXPECT_EQ(result_name(DmarcResult::Temperror), "temperror");
  EXPECT_EQ(result_name(DmarcResult::Permerror), "permerror");
  EXPECT_EQ(policy_name(DmarcPolicy::None), "none");
  EXPECT_EQ(policy_name(DmarcPolicy::Quarantine), "quarantine");
  EXPECT_EQ(policy_name(DmarcPolicy::Reject), "reject");
}

}  // namespace
}  // namespace postern::dkim
