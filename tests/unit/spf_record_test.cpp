// spf_record_test.cpp — RFC 7208 record syntax (§4.5, §4.6, §5, §6, §12): good records parse
// to the right terms, bad ones give a permerror reason naming the term.
#include <gtest/gtest.h>

#include "policyd/spf/record.hpp"

namespace postern::spf {
namespace {

TEST(SpfRecord, VersionSelection) {
  EXPECT_TRUE(is_spf_record("v=spf1"));
  EXPECT_TRUE(is_spf_record("v=spf1 -all"));
  EXPECT_TRUE(is_spf_record("V=SPF1 -all"));
  EXPECT_FALSE(is_spf_record("v=spf10 -all"));
  EXPECT_FALSE(is_spf_record("v=spf1-all"));
  EXPECT_FALSE(is_spf_record("spf2.0/pra -all"));
  EXPECT_FALSE(is_spf_record(" v=spf1 -all"));
}

TEST(SpfRecord, GoodRecords) {
  const char* good[] = {
      "v=spf1",
      "v=spf1 -all",
      "v=spf1  a  mx  ~all ",
      "v=spf1 ip4:0.0.0.0/0 ip6:::/0 -all",
      "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ?all",
      "v=spf1 a/24 a//64 a/24//64 a:example.com/0//0 mx:mail.example.com//128",
      "v=spf1 include:_spf.example.com exists:%{ir}.%{l1r+-}._spf.%{d} -all",
      "v=spf1 ptr ptr:example.com redirect=_spf.example.com",
      "v=spf1 exp=explain._spf.%{d} -all",
      "v=spf1 moo.cow-far_out=man:dog/cat ~all",
      "v=spf1 a:%{d} mx:foo.example.com. -ALL",
      "v=spf1 a:example.x-1",
  };
  for (const char* text : good) {
    ParsedRecord p = parse_record(text);
    EXPECT_TRUE(p.record) << "'" << text << "' rejected: " << p.error;
  }
}

TEST(SpfRecord, TermsAndPrefixes) {
  ParsedRecord p = parse_record("v=spf1 -a:example.com/24//64 ~mx ip4:1.2.3.4 ip6:::1/0 ?all");
  ASSERT_TRUE(p.record) << p.error;
  const auto& m = p.record->mechanisms;
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].kind, MechanismKind::A);
  EXPECT_EQ(m[0].qualifier, Qualifier::Fail);
  EXPECT_EQ(m[0].domain_spec, "example.com");
  EXPECT_EQ(m[0].cidr4, 24u);
  EXPECT_EQ(m[0].cidr6, 64u);
  EXPECT_EQ(m[1].kind, MechanismKind::Mx);
  EXPECT_EQ(m[1].qualifier, Qualifier::Softfail);
  EXPECT_EQ(m[1].domain_spec, "");
  EXPECT_EQ(m[2].cidr4, 32u);
  EXPECT_EQ(m[3].cidr6, 0u);
  EXPECT_EQ(m[4].qualifier, Qualifier::Neutral);
  EXPECT_EQ(m[4].text, "?all");
}

TEST(SpfRecord, ModifiersKeptAndUnknownDropped) {
  ParsedRecord p = parse_record("v=spf1 foo=bar REDIRECT=r.example.com Exp=e.example.com");
  ASSERT_TRUE(p.record) << p.error;
  EXPECT_TRUE(p.record->mechanisms.empty());
  EXPECT_EQ(p.record->redirect.value_or(""), "r.example.com");
  EXPECT_EQ(p.record->exp.value_or(""), "e.example.com");
}

struct Bad {
  const char* record;
  const char* reason;
};

TEST(SpfRecord, BadRecordsWithReasons) {
  const Bad bad[] = {
      {"v=spf1 ip4:1.2.3.4/33", "invalid ip4 prefix length 33 in 'ip4:1.2.3.4/33'"},
      {"v=spf1 ip4:1.2.3.4/032", "invalid ip4 prefix length 032 in 'ip4:1.2.3.4/032'"},
      {"v=spf1 ip6:::1/129", "invalid ip6 prefix length 129 in 'ip6:::1/129'"},
      {"v=spf1 ip4:1.2.3", "invalid ip4 address in 'ip4:1.2.3'"},
      {"v=spf1 ip4:01.2.3.4", "invalid ip4 address in 'ip4:01.2.3.4'"},
      {"v=spf1 ip6:1.2.3.4", "invalid ip6 address in 'ip6:1.2.3.4'"},
      {"v=spf1 ip4:1.2.3.4//32", "invalid ip4 prefix length /32 in 'ip4:1.2.3.4//32'"},
      {"v=spf1 a:example.com/33", "invalid ip4 prefix length 33 in 'a:example.com/33'"},
      {"v=spf1 mx//129", "invalid ip6 prefix length 129 in 'mx//129'"},
      {"v=spf1 redirect=a.example.com redirect=b.example.com",
       "duplicate redirect modifier 'redirect=b.example.com'"},
      {"v=spf1 exp=a.example.com exp=b.example.com", "duplicate exp modifier 'exp=b.example.com'"},
      {"v=spf1 redirect:example.com", "unknown mechanism 'redirect:example.com'"},
      {"v=spf1 include", "missing domain in 'include'"},
      {"v=spf1 exists", "missing domain in 'exists'"},
      {"v=spf1 exists:example.com/24",
       "invalid domain 'example.com/24' (no valid top label) in "
       "'exists:example.com/24'"},
      {"v=spf1 a:com", "invalid domain 'com' (no valid top label) in 'a:com'"},
      {"v=spf1 a:example.123",
       "invalid domain 'example.123' (no valid top label) in "
       "'a:example.123'"},
      {"v=spf1 a:", "empty domain-spec in 'a:'"},
      {"v=spf1 exp=", "empty domain-spec in 'exp='"},
      {"v=spf1 -all:foo", "unexpected argument in '-all:foo'"},
      {"v=spf1 a:%{x}.example.com", "invalid macro letter in '%{x}' in 'a:%{x}.example.com'"},
      {"v=spf1 foo=%z", "invalid macro at offset 0 in '%z' in 'foo=%z'"},
      {"v=spf1 1foo=bar", "unknown mechanism '1foo=bar'"},
      {"v=spf1 +redirect=x.example.com", "unknown mechanism '+redirect=x.example.com'"},
  };
  for (const Bad& b : bad) {
    ParsedRecord p = parse_record(b.record);
    EXPECT_FALSE(p.record) << "'" << b.record << "' accepted";
    EXPECT_EQ(p.error, b.reason) << "record '" << b.record << "'";
  }
}

TEST(SpfRecord, NulAndNonAsciiArePermerrors) {
  using namespace std::string_literals;
  EXPECT_FALSE(parse_record("v=spf1 a:example.com\0 -all"s).record);
  EXPECT_FALSE(parse_record("v=spf1 a:ex\xe4mple.com -all").record);
  EXPECT_FALSE(parse_record("v=spf1 -all\x7f").record);
}

TEST(SpfRecord, DomainSpecEnd) {
  EXPECT_EQ(check_domain_spec("%{d}"), "");
  EXPECT_EQ(check_domain_spec("foo.%{d}"), "");
  EXPECT_EQ(check_domain_spec("foo%%"), "");
  EXPECT_EQ(check_domain_spec("example.com."), "");
  EXPECT_NE(check_domain_spec("%{d}."), "");
  EXPECT_NE(check_domain_spec("foo.-bar"), "");
  EXPECT_NE(check_domain_spec("foo.bar-"), "");
}

}  // namespace
}  // namespace postern::spf
