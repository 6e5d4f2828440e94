// dkim_auth_results_field_test.cpp — authserv-id parsing, forged-field detection, the spf=
// clause from Received-SPF, folding of our Authentication-Results, and plan_message.
#include <gtest/gtest.h>

#include "milters/dkim/auth_results_field.hpp"
#include "milters/dkim/dkim_mode.hpp"

namespace postern::dkim {
namespace {

TEST(ArAuthservId, Shapes) {
  struct Case {
    const char* value;
    std::optional<std::string> want;
  };
  const Case cases[] = {
      {" mx.example.org; dkim=pass", "mx.example.org"},
      {"mx.example.org;dkim=pass", "mx.example.org"},
      {" mx.example.org 1; dkim=pass", "mx.example.org"},
      {" (comment (nested)) mx.example.org; none", "mx.example.org"},
      {"\n\t MX.Example.ORG\n\t; none", "MX.Example.ORG"},
      {" \"mx.example.org\"; none", "mx.example.org"},
      {" \"mx\\\".example\"; none", "mx\".example"},
      {" ; none", std::nullopt},
      {"", std::nullopt},
      {" (unterminated mx.example.org; none", std::nullopt},
      {" \"unterminated", std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ar_authserv_id(c.value), c.want) << "value " << c.value;
  }
}

TEST(ForgedArInstances, CountsOnlyAuthenticationResultsAndComparesIgnoringCase) {
  std::vector<HeaderField> fields = {
      {"Received", " from x"},
      {"Authentication-Results", " other.example; dkim=pass"},
      {"authentication-results", " MX.example.org; dkim=pass"},
      {"Subject", " mx.example.org"},
      {"Authentication-Results", " (c) mx.example.org 1; spf=pass"},
      {"Authentication-Results", " mx.example.org.evil; dkim=pass"},
  };
  EXPECT_EQ(forged_ar_instances(fields, "mx.example.org"), (std::vector<int>{2, 3}));
  EXPECT_TRUE(forged_ar_instances(fields, "absent.example").empty());
}

TEST(SpfClause, TrustsOnlyTheTopMostFieldAboveReceivedWithOurReceiver) {
  const std::string ours =
      " pass (mx.example.org: domain of a@example.com designates 203.0.113.9 as permitted "
      "sender) client-ip=203.0.113.9; envelope-from=\"a@example.com\"; helo=client.example;"
      "\n\treceiver=mx.example.org; identity=mailfrom";
  std::vector<HeaderField> fields = {{"Received-SPF", ours}, {"Received", " from x"}};
  EXPECT_EQ(spf_clause(fields, "mx.example.org"), "spf=pass smtp.mailfrom=a@example.com");
  EXPECT_EQ(spf_clause(fields, "MX.example.org"), "spf=pass smtp.mailfrom=a@example.com");
  EXPECT_EQ(spf_clause(fields, ""), std::nullopt) << "off without --spf-receiver";
  EXPECT_EQ(spf_clause(fields, "other.example"), std::nullopt);
  // A sender's field below Postfix's Received: is never used.
  std::vector<HeaderField> below = {{"Received", " from x"}, {"Received-SPF", ours}};
  EXPECT_EQ(spf_clause(below, "mx.example.org"), std::nullopt);
  // Only the top-most Received-SPF counts, even when a lower one would match.
  std::vector<HeaderField> two = {{"Received-SPF", " fail receiver=x"}, {"Received-SPF", ours}};
  EXPECT_EQ(spf_clause(two, "mx.example.org"), std::nullopt);
  // Null sender: the HELO identity.
  std::vector<HeaderField> bounce = {
      {"Received-SPF",
       " None (no SPF record) envelope-from=\"\"; helo=mail.example.net; "
       "receiver=mx.example.org"}};
  EXPECT_EQ(spf_clause(bounce, "mx.example.org"), "spf=none smtp.helo=mail.example.net");
  // Not an RFC 7208 result, or garbage after it.
  EXPECT_EQ(spf_clause({{"Received-SPF", " great receiver=mx.example.org"}}, "mx.example.org"),
            std::nullopt);
  EXPECT_EQ(spf_clause({{"Received-SPF", " pass receiver=\"mx.example.org"}}, "mx.example.org"),
            std::nullopt);
}

TEST(BuildArValue, FoldsWithin78Columns) {
  std::vector<std::string> clauses = {
      "dkim=pass header.d=example.com header.i=@example.com header.s=s1 header.a=rsa-sha256 "
      "header.b=\"abcd+/ef\"",
      "dkim=fail reason=\"body hash mismatch\" header.d=example.com header.s=s2",
      "spf=pass smtp.mailfrom=a@example.com"};
  std::string value = build_ar_value("mx.example.org", clauses);
  EXPECT_EQ(value.rfind(" mx.example.org;", 0), 0u) << value;
  std::string field = "Authentication-Results:" + value;
  size_t start = 0;
  while (start <= field.size()) {
    size_t end = field.find('\n', start);
    std::string line = field.substr(start, end == std::string::npos ? end : end - start);
    size_t columns = line.size() + (line.rfind('\t', 0) == 0 ? 7 : 0);
    EXPECT_LE(columns, 78u) << "line: " << line;
    if (end == std::string::npos) break;
    EXPECT_EQ(field[end + 1], '\t');
    start = end + 1;
  }
  std::string unfolded;
  for (char c : value) unfolded += (c == '\n') ? ' ' : (c == '\t' ? '\0' : c);
  unfolded.erase(std::remove(unfolded.begin(), unfolded.end(), '\0'), unfolded.end());
  EXPECT_NE(unfolded.find("reason=\"body hash mismatch\""), std::string::npos) << value;
  EXPECT_NE(unfolded.find("header.b=\"abcd+/ef\"; dkim=fail"), std::string::npos) << value;
  EXPECT_EQ(build_ar_value("mx.example.org", {"dkim=none"}), " mx.example.org; dkim=none");
}

TEST(PlanMessage, ModesAndClients) {
  SigningPolicy::Decision sign;
  sign.sign = true;
  SigningPolicy::Decision external;
  external.skip_reason = SkipReason::ExternalClient;
  SigningPolicy::Decision internal_no_key;
  internal_no_key.skip_reason = SkipReason::NoKey;
  struct Case {
    Mode mode;
    bool verify_internal;
    const SigningPolicy::Decision& decision;
    bool want_sign, want_verify;
  };
  const Case cases[] = {
      {Mode::Both, false, sign, true, false},
      {Mode::Both, false, external, false, true},
      {Mode::Both, false, internal_no_key, false, false},
      {Mode::Both, true, sign, true, true},
      {Mode::Both, true, internal_no_key, false, true},
      {Mode::Sign, false, external, false, false},
      {Mode::Sign, true, sign, true, false},
      {Mode::Verify, false, sign, false, false},
      {Mode::Verify, false, external, false, true},
      {Mode::Verify, true, internal_no_key, false, true},
  };
  int i = 0;
  for (const Case& c : cases) {
    MessageWork work = plan_message(c.mode, c.verify_internal, c.decision);
    EXPECT_EQ(work.sign, c.want_sign) << "case " << i;
    EXPECT_EQ(work.verify, c.want_verify) << "case " << i;
    ++i;
  }
  EXPECT_EQ(parse_mode("sv"), Mode::Both);
  EXPECT_EQ(parse_mode("verify"), Mode::Verify);
  EXPECT_THROW(parse_mode("sign,verify"), std::exception);
}

}  // namespace
}  // namespace postern::dkim
