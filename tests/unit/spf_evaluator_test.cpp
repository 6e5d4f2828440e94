// spf_evaluator_test.cpp — check_host() (RFC 7208 §4–§6) against an in-memory resolver:
// record selection, include/redirect, the §4.6.4 limits, a/mx cidr, ptr, exists, exp.
#include <gtest/gtest.h>

#include <map>
#include <utility>

#include "policyd/spf/evaluator.hpp"

namespace postern::spf {
namespace {

// A zone in memory: (lower-case name, type) → answer; absent names are NXDOMAIN, present names
// without the type NODATA. Counts queries.
class FakeResolver : public dns::Resolver {
 public:
  void txt(const std::string& name, std::vector<std::string> records) {
    add(name, dns::RrType::TXT).txt = std::move(records);
  }
  void a(const std::string& name, const std::vector<std::string>& addresses) {
    for (const std::string& text : addresses) {
      auto ip = *IpAddress::parse(text);
      add(name, ip.v6 ? dns::RrType::AAAA : dns::RrType::A).addresses.push_back(ip);
    }
  }
  void mx(const std::string& name, std::vector<std::string> exchanges) {
    auto& answer = add(name, dns::RrType::MX);
    uint16_t preference = 10;
    for (auto& exchange : exchanges) answer.mx.push_back({preference++, std::move(exchange)});
  }
  void ptr(const std::string& name, std::vector<std::string> targets) {
    add(name, dns::RrType::PTR).names = std::move(targets);
  }
  void fail(const std::string& name, dns::RrType type) {
    add(name, type).status = dns::Status::ServFail;
  }

  dns::Answer query(std::string_view name, dns::RrType type) override {
    ++queries;
    std::string key = lower(name);
    auto it = zone_.find({key, type});
    if (it != zone_.end()) return it->second;
    dns::Answer answer;
    bool exists = false;
    for (const auto& [k, v] : zone_) exists = exists || k.first == key;
    answer.status = exists ? dns::Status::NoError : dns::Status::NxDomain;
    return answer;
  }

  int queries = 0;

 private:
  static std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  }
  dns::Answer& add(const std::string& name, dns::RrType type) {
    dns::Answer& answer = zone_[{lower(name), type}];
    answer.status = dns::Status::NoError;
    return answer;
  }
  std::map<std::pair<std::string, dns::RrType>, dns::Answer> zone_;
};

struct Case {
  const char* name;
  const char* client;
  const char* sender;
  SpfResult want;
};

class SpfEvaluatorTest : public ::testing::Test {
 protected:
  SpfOutcome check(const char* client, const char* sender, const char* helo = "mail.example.com") {
    Evaluator evaluator(dns_);
    return evaluator.check_host(mail_from_identity(*IpAddress::parse(client), sender, helo));
  }
  void expect(const Case& c) {
    SpfOutcome o = check(c.client, c.sender);
    EXPECT_EQ(result_name(o.result), result_name(c.want))
        << c.name << ": got " << result_name(o.result) << " (" << o.mechanism << o.problem
        << "), want " << result_name(c.want);
  }
  FakeResolver dns_;
};

TEST_F(SpfEvaluatorTest, RecordSelection) {
  dns_.txt("none.example", {"some other text"});
  dns_.txt("two.example", {"v=spf1 +all", "v=spf1 -all"});
  dns_.txt("one.example", {"v=spf1 -all", "spf2.0/pra +all"});
  dns_.txt("bad.example", {"v=spf1 ip4:1.2.3.4/33 +all"});
  dns_.fail("broken.example", dns::RrType::TXT);
  const Case cases[] = {
      {"no TXT", "1.2.3.4", "u@nxdomain.example", SpfResult::None},
      {"no SPF TXT", "1.2.3.4", "u@none.example", SpfResult::None},
      {"two records", "1.2.3.4", "u@two.example", SpfResult::Permerror},
      {"spf2.0 ignored", "1.2.3.4", "u@one.example", SpfResult::Fail},
      {"syntax error", "1.2.3.4", "u@bad.example", SpfResult::Permerror},
      {"servfail", "1.2.3.4", "u@broken.example", SpfResult::Temperror},
      {"single label", "1.2.3.4", "u@localhost", SpfResult::None},
      {"empty label", "1.2.3.4", "u@foo..example", SpfResult::None},
  };
  for (const Case& c : cases) expect(c);
}

TEST_F(SpfEvaluatorTest, IpMechanismsAndMappedClients) {
  dns_.txt("e.example", {"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all"});
  dns_.txt("zero.example", {"v=spf1 ip6:::/0 ip4:0.0.0.0/0 -all"});
  dns_.txt("v6only.example", {"v=spf1 ip6:::/0 -all"});
  const Case cases[] = {
      {"ip4 in", "192.0.2.77", "u@e.example", SpfResult::Pass},
      {"ip4 mapped in", "::ffff:192.0.2.77", "u@e.example", SpfResult::Pass},
      {"ip4 out", "198.51.100.1", "u@e.example", SpfResult::Softfail},
      {"ip6 in", "2001:db8::1", "u@e.example", SpfResult::Pass},
      {"ip6 out", "2001:db9::1", "u@e.example", SpfResult::Softfail},
      {"/0", "198.51.100.1", "u@zero.example", SpfResult::Pass},
      {"ip6 /0 never matches IPv4", "198.51.100.1", "u@v6only.example", SpfResult::Fail},
      {"ip6 /0 and a mapped client", "::FFFF:1.2.3.4", "u@v6only.example", SpfResult::Fail},
  };
  for (const Case& c : cases) expect(c);
}

TEST_F(SpfEvaluatorTest, AAndMxWithDualCidr) {
  dns_.txt("e.example", {"v=spf1 a/24//64 mx:m.example/28 -all"});
  dns_.a("e.example", {"192.0.2.10", "2001:db8:1:2::1"});
  dns_.mx("m.example", {"mx1.m.example", "mx2.m.example"});
  dns_.a("mx2.m.example", {"203.0.113.17"});
  dns_.txt("nullmx.example", {"v=spf1 mx -all"});
  dns_.mx("nullmx.example", {""});
  const Case cases[] = {
      {"a /24", "192.0.2.200", "u@e.example", SpfResult::Pass},
      {"a //64", "2001:db8:1:2:ffff::9", "u@e.example", SpfResult::Pass},
      {"a //64 out", "2001:db8:1:3::9", "u@e.example", SpfResult::Fail},
      {"mx /28", "203.0.113.30", "u@e.example", SpfResult::Pass},
      {"mx /28 out", "203.0.113.33", "u@e.example", SpfResult::Fail},
      {"null MX", "203.0.113.33", "u@nullmx.example", SpfResult::Fail},
  };
  for (const Case& c : cases) expect(c);
}

TEST_F(SpfEvaluatorTest, IncludeResultMapping) {
  dns_.txt("pass.example", {"v=spf1 +all"});
  dns_.txt("fail.example", {"v=spf1 -all"});
  dns_.txt("temp.example", {"v=spf1 a:broken.example -all"});
  dns_.fail("broken.example", dns::RrType::A);
  dns_.txt("perm.example", {"v=spf1 foo"});
  dns_.txt("i1.example", {"v=spf1 include:pass.example -all"});
  dns_.txt("i2.example", {"v=spf1 include:fail.example ~all"});
  dns_.txt("i3.example", {"v=spf1 include:temp.example -all"});
  dns_.txt("i4.example", {"v=spf1 include:perm.example -all"});
  dns_.txt("i5.example", {"v=spf1 include:nothing.example -all"});
  const Case cases[] = {
      {"include pass", "192.0.2.1", "u@i1.example", SpfResult::Pass},
      {"include fail → no match", "192.0.2.1", "u@i2.example", SpfResult::Softfail},
      {"include temperror", "192.0.2.1", "u@i3.example", SpfResult::Temperror},
      {"include permerror", "192.0.2.1", "u@i4.example", SpfResult::Permerror},
      {"include none → permerror", "192.0.2.1", "u@i5.example", SpfResult::Permerror},
  };
  for (const Case& c : cases) expect(c);
}

TEST_F(SpfEvaluatorTest, Redirect) {
  dns_.txt("r1.example", {"v=spf1 redirect=target.example"});
  dns_.txt("target.example", {"v=spf1 ip4:192.0.2.0/24 -all"});
  dns_.txt("r2.example", {"v=spf1 redirect=nothing.example"});
  dns_.txt("r3.example", {"v=spf1 ~all redirect=target.example"});
  dns_.txt("self.example", {"v=spf1 redirect=self.example"});
  const Case cases[] = {
      {"redirect pass", "192.0.2.1", "u@r1.example", SpfResult::Pass},
      {"redirect fail", "198.51.100.1", "u@r1.example", SpfResult::Fail},
      {"redirect to none → permerror", "192.0.2.1", "u@r2.example", SpfResult::Permerror},
      {"all wins over redirect", "198.51.100.1", "u@r3.example", SpfResult::Softfail},
      {"redirect loop hits the limit", "192.0.2.1", "u@self.example", SpfResult::Permerror},
  };
  for (const Case& c : cases) expect(c);
}

TEST_F(SpfEvaluatorTest, ProcessingLimits) {
  // 10 DNS terms are fine, the 11th is a permerror.
  std::string ten = "v=spf1", eleven = "v=spf1";
  for (int i = 0; i < 10; ++i) ten += " a:h" + std::to_string(i) + ".example";
  eleven = ten + " a:h10.example";
  for (int i = 0; i <= 10; ++i) dns_.a("h" + std::to_string(i) + ".example", {"203.0.113.1"});
  dns_.txt("ten.example", {ten + " -all"});
  dns_.txt("eleven.example", {eleven + " -all"});
  // Void lookups: two are allowed, the third is a permerror.
  dns_.txt("void2.example", {"v=spf1 a:v1.example exists:v2.example -all"});
  dns_.txt("void3.example", {"v=spf1 a:v1.example exists:v2.example mx:v3.example -all"});
  // More than 10 MX names.
  std::vector<std::string> many;
  for (int i = 0; i < 11; ++i) many.push_back("mx" + std::to_string(i) + ".example");
  dns_.mx("manymx.example", many);
  dns_.txt("manymx.example", {"v=spf1 mx -all"});
  const Case cases[] = {
      {"10 terms", "192.0.2.1", "u@ten.example", SpfResult::Fail},
      {"11 terms", "192.0.2.1", "u@eleven.example", SpfResult::Permerror},
      {"2 void lookups", "192.0.2.1", "u@void2.example", SpfResult::Fail},
      {"3 void lookups", "192.0.2.1", "u@void3.example", SpfResult::Permerror},
      {"11 MX names", "192.0.2.1", "u@manymx.example", SpfResult::Permerror},
  };
  for (const Case& c : cases) expect(c);
}

TEST_F(SpfEvaluatorTest, PtrAndExists) {
  dns_.txt("p.example", {"v=spf1 ptr -all"});
  dns_.ptr("1.2.0.192.in-addr.arpa", {"mail.p.example", "other.example"});
  dns_.a("mail.p.example", {"192.0.2.1"});
  dns_.ptr("2.2.0.192.in-addr.arpa", {"fake.p.example"});
  dns_.a("fake.p.example", {"192.0.2.99"});  // forward does not confirm
  dns_.txt("x.example", {"v=spf1 exists:%{ir}.%{l}._spf.%{d} -all"});
  dns_.a("1.2.0.192.ok._spf.x.example", {"127.0.0.2"});
  const Case cases[] = {
      {"ptr validated", "192.0.2.1", "u@p.example", SpfResult::Pass},
      {"ptr not validated", "192.0.2.2", "u@p.example", SpfResult::Fail},
      {"ptr no name", "192.0.2.3", "u@p.example", SpfResult::Fail},
      {"exists with macros", "192.0.2.1", "ok@x.example", SpfResult::Pass},
      {"exists no", "192.0.2.1", "no@x.example", SpfResult::Fail},
  };
  for (const Case& c : cases) expect(c);
}

TEST_F(SpfEvaluatorTest, ExplanationOnlyOnFail) {
  dns_.txt("e.example", {"v=spf1 ip4:192.0.2.0/24 -all exp=why.e.example"});
  dns_.txt("why.e.example", {"%{i} is not one of %{d}'s servers"});
  dns_.txt("i.example", {"v=spf1 include:e.example -all"});
  SpfOutcome fail = check("198.51.100.7", "u@e.example");
  EXPECT_EQ(fail.result, SpfResult::Fail);
  EXPECT_EQ(fail.explanation, "198.51.100.7 is not one of e.example's servers");
  EXPECT_EQ(fail.mechanism, "-all");
  EXPECT_EQ(check("192.0.2.7", "u@e.example").explanation, "");
  // The included record's exp is not used (§6.2).
  EXPECT_EQ(check("198.51.100.7", "u@i.example").explanation, "");
}

TEST_F(SpfEvaluatorTest, BrokenExplanationIsIgnored) {
  dns_.txt("e.example", {"v=spf1 -all exp=why.e.example"});
  dns_.txt("why.e.example", {"%{x} bad macro"});
  SpfOutcome o = check("198.51.100.7", "u@e.example");
  EXPECT_EQ(o.result, SpfResult::Fail);
  EXPECT_EQ(o.explanation, "");
}

// A resolver on a fake clock: every query takes `seconds_per_query`.
class SlowResolver : public FakeResolver {
 public:
  dns::Answer query(std::string_view name, dns::RrType type) override {
    now += seconds_per_query;
    return FakeResolver::query(name, type);
  }
  double now = 1000;
  double seconds_per_query = 1;
};

TEST(SpfTimeBudget, SpentBudgetStopsQueriesWithTemperror) {
  SlowResolver dns;
  // A chain of includes: each level is one TXT query (1 s each on the fake clock).
  for (int i = 0; i < 8; ++i) {
    dns.txt("l" + std::to_string(i) + ".example",
            {"v=spf1 include:l" + std::to_string(i + 1) + ".example -all"});
  }
  dns.txt("l8.example", {"v=spf1 +all"});
  EvaluatorLimits limits;
  limits.check_seconds = 3.5;
  Evaluator evaluator(dns, limits, [&dns] { return dns.now; });
  SpfOutcome o =
      evaluator.check_host(mail_from_identity(*IpAddress::parse("192.0.2.1"), "u@l0.example", "h"));
  EXPECT_EQ(o.result, SpfResult::Temperror);
  EXPECT_EQ(o.problem, "SPF check exceeded 3.5 s");
  EXPECT_EQ(dns.queries, 4) << "queries at t=0,1,2,3 started; none at 4 s";
  EXPECT_EQ(o.domain, "l0.example");
}

TEST(SpfTimeBudget, WithinBudgetAndNoBudget) {
  SlowResolver dns;
  dns.txt("e.example", {"v=spf1 include:i.example -all"});
  dns.txt("i.example", {"v=spf1 +all"});
  EvaluatorLimits limits;
  limits.check_seconds = 5;
  Evaluator timed(dns, limits, [&dns] { return dns.now; });
  IpAddress ip = *IpAddress::parse("192.0.2.1");
  EXPECT_EQ(timed.check_host(mail_from_identity(ip, "u@e.example", "h")).result, SpfResult::Pass);
  dns.seconds_per_query = 1000;
  Evaluator untimed(dns, EvaluatorLimits{}, [&dns] { return dns.now; });
  EXPECT_EQ(untimed.check_host(mail_from_identity(ip, "u@e.example", "h")).result, SpfResult::Pass);
  EXPECT_EQ(timed.check_host(mail_from_identity(ip, "u@e.example", "h")).result,
            SpfResult::Temperror)
      << "the first query takes 1000 s, the budget is 5 s";
}

TEST(SpfIdentity, NullSenderAndMissingLocalPart) {
  IpAddress ip = *IpAddress::parse("192.0.2.1");
  CheckHostRequest r = mail_from_identity(ip, "", "mx.example.org");
  EXPECT_EQ(r.sender, "postmaster@mx.example.org");
  EXPECT_EQ(r.domain, "mx.example.org");
  r = mail_from_identity(ip, "example.com", "h");
  EXPECT_EQ(r.sender, "postmaster@example.com");
  r = mail_from_identity(ip, "a@b@example.com", "h");
  EXPECT_EQ(r.domain, "example.com");
  r = helo_identity(ip, "mx.example.org.");
  EXPECT_EQ(r.domain, "mx.example.org");
  EXPECT_EQ(r.sender, "postmaster@mx.example.org");
}

TEST(SpfDomain, Validity) {
  EXPECT_TRUE(valid_domain("example.com"));
  EXPECT_TRUE(valid_domain("example.com."));
  EXPECT_FALSE(valid_domain("com"));
  EXPECT_FALSE(valid_domain("a..example"));
  EXPECT_FALSE(valid_domain(std::string(64, 'a') + ".example"));
  EXPECT_FALSE(valid_domain(""));
}

}  // namespace
}  // namespace postern::spf
