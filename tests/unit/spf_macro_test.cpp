// spf_macro_test.cpp — RFC 7208 §7 macro expansion: the §7.4 examples exactly, plus syntax.
#include <gtest/gtest.h>

#include "policyd/spf/macro.hpp"

namespace postern::spf {
namespace {

MacroContext example_context(const char* ip) {
  MacroContext c;
  c.client = *IpAddress::parse(ip);
  c.sender = "strong-bad@email.example.com";
  c.local_part = "strong-bad";
  c.sender_domain = "email.example.com";
  c.domain = "email.example.com";
  c.helo = "mx.example.org";
  c.receiver = "rx.example.net";
  c.timestamp = 1700000000;
  return c;
}

struct Case {
  const char* ip;
  const char* macro;
  const char* want;
};

TEST(SpfMacro, Rfc7208Section74Examples) {
  const Case cases[] = {
      {"192.0.2.3", "%{s}", "strong-bad@email.example.com"},
      {"192.0.2.3", "%{o}", "email.example.com"},
      {"192.0.2.3", "%{d}", "email.example.com"},
      {"192.0.2.3", "%{d4}", "email.example.com"},
      {"192.0.2.3", "%{d3}", "email.example.com"},
      {"192.0.2.3", "%{d2}", "example.com"},
      {"192.0.2.3", "%{d1}", "com"},
      {"192.0.2.3", "%{dr}", "com.example.email"},
      {"192.0.2.3", "%{d2r}", "example.email"},
      {"192.0.2.3", "%{l}", "strong-bad"},
      {"192.0.2.3", "%{l-}", "strong.bad"},
      {"192.0.2.3", "%{lr}", "strong-bad"},
      {"192.0.2.3", "%{lr-}", "bad.strong"},
      {"192.0.2.3", "%{l1r-}", "strong"},
      {"192.0.2.3", "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
      {"192.0.2.3", "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
      {"192.0.2.3", "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
       "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
      {"192.0.2.3", "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
       "3.2.0.192.in-addr.strong.lp._spf.example.com"},
      {"192.0.2.3", "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
      {"2001:db8::cb01", "%{ir}.%{v}._spf.%{d2}",
       "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"},
      // §7.3 URL escaping for upper-case letters, and the escapes %% %_ %-.
      {"192.0.2.3", "%{S}", "strong-bad%40email.example.com"},
      {"192.0.2.3", "a%%b%_c%-d", "a%b c%20d"},
      {"192.0.2.3", "%{h}", "mx.example.org"},
      {"192.0.2.3", "%{c} %{r} %{t}", "192.0.2.3 rx.example.net 1700000000"},
  };
  for (const Case& c : cases) {
    MacroExpansion e = expand_macros(c.macro, example_context(c.ip), MacroUse::Explanation);
    EXPECT_TRUE(e.ok) << c.macro << ": " << e.error;
    EXPECT_EQ(e.text, c.want) << "macro " << c.macro << ": got " << e.text << ", want " << c.want;
  }
}

TEST(SpfMacro, ValidatedNameForP) {
  MacroContext c = example_context("192.0.2.3");
  int calls = 0;
  c.validated_name = [&calls] {
    ++calls;
    return std::string("mx.example.com");
  };
  MacroExpansion e = expand_macros("%{p}.%{p2}", c, MacroUse::DomainSpec);
  EXPECT_EQ(e.text, "mx.example.com.example.com");
  EXPECT_EQ(calls, 1) << "%{p} looked up more than once";
  c.validated_name = nullptr;
  EXPECT_EQ(expand_macros("%{p}", c, MacroUse::DomainSpec).text, "unknown");
}

TEST(SpfMacro, SyntaxErrors) {
  struct Bad {
    const char* text;
    MacroUse use;
  };
  const Bad bad[] = {
      {"%{x}", MacroUse::DomainSpec},
      {"%{c}", MacroUse::DomainSpec},
      {"%{r}.example.com", MacroUse::DomainSpec},
      {"%{t}", MacroUse::DomainSpec},
      {"%{d0}", MacroUse::DomainSpec},
      {"%{d2x}", MacroUse::DomainSpec},
      {"%{d", MacroUse::DomainSpec},
      {"50%", MacroUse::DomainSpec},
      {"%a", MacroUse::DomainSpec},
      {"a b", MacroUse::DomainSpec},
      {"caf\xc3\xa9", MacroUse::DomainSpec},
      {"%{}", MacroUse::Explanation},
  };
  for (const Bad& b : bad) {
    EXPECT_NE(check_macro_string(b.text, b.use), "") << "accepted '" << b.text << "'";
  }
  EXPECT_EQ(check_macro_string("%{c} %{r} %{t}", MacroUse::Explanation), "");
  EXPECT_EQ(check_macro_string("%{d2r+-}.%{L}", MacroUse::DomainSpec), "");
}

TEST(SpfMacro, DelimitersAndBigDigits) {
  MacroContext c = example_context("192.0.2.3");
  c.local_part = "a+b=c_d,e/f";
  EXPECT_EQ(expand_macros("%{l+=_,/}", c, MacroUse::DomainSpec).text, "a.b.c.d.e.f");
  EXPECT_EQ(expand_macros("%{d100}", c, MacroUse::DomainSpec).text, "email.example.com");
}

}  // namespace
}  // namespace postern::spf
