// dkim_dmarc_action_test.cpp — DMARC verdict → milter action, SPF identity from our spf= clause.
#include "milters/dkim/dmarc_action.hpp"

#include <gtest/gtest.h>

namespace postern::dkim {
namespace {

TEST(DmarcSpfIdentity, MailFromDomain) {
  auto spf = spf_identity("spf=pass smtp.mailfrom=bounce@Mail.Example.ORG");
  ASSERT_TRUE(spf);
  EXPECT_EQ(spf->result, "pass");
  EXPECT_EQ(spf->domain, "mail.example.org");
}

TEST(DmarcSpfIdentity, QuotedMailFromAndUpperCaseResult) {
  auto spf = spf_identity(R"(spf=SoftFail smtp.mailfrom="a b\"c@example.net")");
  ASSERT_TRUE(spf);
  EXPECT_EQ(spf->result, "softfail");
  EXPECT_EQ(spf->domain, "example.net");
}

TEST(DmarcSpfIdentity, HeloForNullSender) {
  auto spf = spf_identity("spf=none smtp.helo=mx.example.com.");
  ASSERT_TRUE(spf);
  EXPECT_EQ(spf->result, "none");
  EXPECT_EQ(spf->domain, "mx.example.com");
}

TEST(DmarcSpfIdentity, UnknownShapesAreNullopt) {
  EXPECT_FALSE(spf_identity(""));
  EXPECT_FALSE(spf_identity("spf=pass"));
  EXPECT_FALSE(spf_identity("dkim=pass header.d=example.com"));
  EXPECT_FALSE(spf_identity("spf= smtp.mailfrom=a@example.com"));
  EXPECT_FALSE(spf_identity("spf=pass smtp.mailfrom=no-at-sign"));
}

TEST(DmarcInputTest, CarriesFromDkimAndSpf) {
  SignatureResult sig;
  sig.result = DkimResult::Pass;
  sig.sdid = "example.com";
  DmarcInput input =
      dmarc_input({" Alice <alice@Example.COM>"}, {sig}, SpfIdentity{"pass", "example.com"});
  EXPECT_EQ(input.from.outcome, FromOutcome::Ok);
  EXPECT_EQ(input.from.domain, "example.com");
  ASSERT_EQ(input.dkim.size(), 1u);
  EXPECT_EQ(input.spf_result, "pass");
  EXPECT_EQ(input.spf_domain, "example.com");
}

TEST(DmarcInputTest, SpfUnknownAndSeveralFrom) {
  DmarcInput input = dmarc_input({"a@example.com", "b@example.org"}, {}, std::nullopt);
  EXPECT_EQ(input.from.outcome, FromOutcome::Multiple);
  EXPECT_EQ(input.spf_result, "");
  EXPECT_EQ(input.spf_domain, "");
}

DmarcVerdict verdict(DmarcResult result, DmarcPolicy applied) {
  DmarcVerdict v;
  v.result = result;
  v.applied_policy = applied;
  v.from_domain = "example.com";
  return v;
}

TEST(DmarcDisposition, OffByDefault) {
  DmarcEnforcement off;
  EXPECT_EQ(dmarc_disposition(verdict(DmarcResult::Fail, DmarcPolicy::Reject), off),
            DmarcPolicy::None);
  EXPECT_EQ(dmarc_disposition(verdict(DmarcResult::Fail, DmarcPolicy::Quarantine), off),
            DmarcPolicy::None);
}

TEST(DmarcDisposition, RejectAndQuarantineWhenAllowed) {
  DmarcEnforcement both{true, true};
  EXPECT_EQ(dmarc_disposition(verdict(DmarcResult::Fail, DmarcPolicy::Reject), both),
            DmarcPolicy::Reject);
  EXPECT_EQ(dmarc_disposition(verdict(DmarcResult::Fail, DmarcPolicy::Quarantine), both),
            DmarcPolicy::Quarantine);
  EXPECT_EQ(dmarc_disposition(verdict(DmarcResult::Fail, DmarcPolicy::None), both),
            DmarcPolicy::None);
}

TEST(DmarcDisposition, RejectPolicyWithOnlyQuarantineAllowedIsHeld) {
  DmarcEnforcement quarantine_only{false, true};
  EXPECT_EQ(dmarc_disposition(verdict(DmarcResult::Fail, DmarcPolicy::Reject), quarantine_only),
            DmarcPolicy::Quarantine);
  DmarcEnforcement reject_only{true, false};
  EXPECT_EQ(dmarc_disposition(verdict(DmarcResult::Fail, DmarcPolicy::Quarantine), reject_only),
            DmarcPolicy::None);
}

TEST(DmarcDisposition, OnlyFailIsActedOn) {
  DmarcEnforcement both{true, true};
  for (DmarcResult r :
       {DmarcResult::None, DmarcResult::Pass, DmarcResult::Temperror, DmarcResult::Permerror}) {
    EXPECT_EQ(dmarc_disposition(verdict(r, DmarcPolicy::Reject), both), DmarcPolicy::None);
  }
}

TEST(DmarcRejectText, NamesTheDomainSafely) {
  EXPECT_EQ(dmarc_reject_text(verdict(DmarcResult::Fail, DmarcPolicy::Reject)),
            "Rejected by DMARC policy for example.com");
  DmarcVerdict odd = verdict(DmarcResult::Fail, DmarcPolicy::Reject);
  odd.from_domain = "ex%am\r\nple.com";
  EXPECT_EQ(dmarc_reject_text(odd), "Rejected by DMARC policy for example.com");
}

SignatureResult signature(DkimResult result) {
  SignatureResult sig;
  sig.result = result;
  sig.sdid = "example.com";
  return sig;
}

TEST(TemperrorTempfails, AcceptNeverTempfails) {
  EXPECT_FALSE(temperror_tempfails(TemperrorAction::Accept, {signature(DkimResult::Temperror)},
                                   DmarcResult::Temperror));
  EXPECT_FALSE(temperror_tempfails(TemperrorAction::Accept, {}, std::nullopt));
}

TEST(TemperrorTempfails, AnyDkimTemperrorTempfails) {
  EXPECT_TRUE(temperror_tempfails(TemperrorAction::Tempfail,
                                  {signature(DkimResult::Pass), signature(DkimResult::Temperror)},
                                  std::nullopt));
  EXPECT_TRUE(temperror_tempfails(TemperrorAction::Tempfail, {signature(DkimResult::Temperror)},
                                  DmarcResult::Pass));
}

TEST(TemperrorTempfails, DmarcTemperrorTempfails) {
  EXPECT_TRUE(temperror_tempfails(TemperrorAction::Tempfail, {signature(DkimResult::Pass)},
                                  DmarcResult::Temperror));
  EXPECT_TRUE(temperror_tempfails(TemperrorAction::Tempfail, {}, DmarcResult::Temperror));
}

TEST(TemperrorTempfails, OtherResultsDoNot) {
  std::vector<SignatureResult> dkim;
  for (DkimResult r : {DkimResult::None, DkimResult::Pass, DkimResult::Fail, DkimResult::Neutral,
                       DkimResult::Policy, DkimResult::Permerror}) {
    dkim.push_back(signature(r));
  }
  EXPECT_FALSE(temperror_tempfails(TemperrorAction::Tempfail, dkim, std::nullopt));
  EXPECT_FALSE(temperror_tempfails(TemperrorAction::Tempfail, {}, std::nullopt));
  for (DmarcResult r :
       {DmarcResult::None, DmarcResult::Pass, DmarcResult::Fail, DmarcResult::Permerror}) {
    EXPECT_FALSE(temperror_tempfails(TemperrorAction::Tempfail, dkim, r));
  }
}

TEST(TemperrorTempfails, ReplyText) {
  EXPECT_EQ(kTemperrorReplyText, "Temporary DKIM/DMARC verification failure, try again later");
}

}  // namespace
}  // namespace postern::dkim
