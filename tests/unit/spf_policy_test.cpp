// spf_policy_test.cpp — policy request → action: default actions per result (RFC 7372 codes),
// the Received-SPF header (RFC 7208 §9.1) with hostile values, HELO handling, skips, and one
// evaluation per message (instance).
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "common/config_error.hpp"
#include "policyd/spf/spf_policy.hpp"

namespace postern::spf {
namespace {

// An engine that answers a fixed outcome per <domain> and records its calls.
class FakeEngine : public SpfEngine {
 public:
  SpfOutcome check_host(const CheckHostRequest& request) override {
    calls.push_back(request);
    auto it = outcomes.find(request.domain);
    SpfOutcome o = it == outcomes.end() ? SpfOutcome{} : it->second;
    o.domain = request.domain;
    return o;
  }
  void set(const std::string& domain, SpfResult result, std::string mechanism = "",
           std::string explanation = "", std::string problem = "") {
    outcomes[domain] = SpfOutcome{result, std::move(mechanism), std::move(problem),
                                  std::move(explanation), domain};
  }
  std::map<std::string, SpfOutcome> outcomes;
  std::vector<CheckHostRequest> calls;
};

PolicyRequest rcpt(const std::string& sender, const std::string& helo = "mx.sender.example",
                   const std::string& client = "192.0.2.1", const std::string& instance = "") {
  PolicyRequest r;
  r.set("request", "smtpd_access_policy");
  r.set("protocol_state", "RCPT");
  r.set("client_address", client);
  r.set("helo_name", helo);
  r.set("sender", sender);
  r.set("recipient", "user@rcpt.example");
  r.set("instance", instance);
  return r;
}

class SpfPolicyTest : public ::testing::Test {
 protected:
  SpfPolicy make(SpfPolicyConfig config = {}) {
    config.receiver = "gw.rcpt.example";
    return SpfPolicy(config, engine_, [] { return int64_t{1700000000}; });
  }
  FakeEngine engine_;
};

TEST_F(SpfPolicyTest, DefaultActionPerResult) {
  struct Case {
    SpfResult result;
    const char* want_prefix;
  };
  const Case cases[] = {
      {SpfResult::Pass,
       "PREPEND Received-SPF: pass (gw.rcpt.example: domain of u@s.example "
       "designates 192.0.2.1 as permitted sender)"},
      {SpfResult::Fail, "550 5.7.23 SPF fail - not authorized: u@s.example"},
      {SpfResult::Softfail, "PREPEND Received-SPF: softfail "},
      {SpfResult::Neutral, "PREPEND Received-SPF: neutral "},
      {SpfResult::None, "PREPEND Received-SPF: none "},
      {SpfResult::Temperror, "DEFER_IF_PERMIT 4.7.24 SPF temperror for u@s.example"},
      {SpfResult::Permerror, "PREPEND Received-SPF: permerror "},
  };
  SpfPolicy policy = make();
  for (const Case& c : cases) {
    engine_.set("s.example", c.result, "-all");
    std::string action = policy.decide(rcpt("u@s.example"));
    EXPECT_EQ(action.rfind(c.want_prefix, 0), 0u)
        << result_name(c.result) << ": got '" << action << "', want '" << c.want_prefix << "...'";
  }
}

TEST_F(SpfPolicyTest, DeferWithoutProblemTextHasNoDanglingColon) {
  engine_.set("s.example", SpfResult::Temperror, "-all");
  std::string action = make().decide(rcpt("u@s.example"));
  EXPECT_EQ(action, "DEFER_IF_PERMIT 4.7.24 SPF temperror for u@s.example") << action;
}

TEST_F(SpfPolicyTest, ReceivedSpfFields) {
  engine_.set("s.example", SpfResult::Pass, "ip4:192.0.2.0/24");
  std::string action = make().decide(rcpt("u@s.example"));
  EXPECT_NE(action.find(" client-ip=192.0.2.1;"), std::string::npos) << action;
  EXPECT_NE(action.find(" envelope-from=\"u@s.example\";"), std::string::npos) << action;
  EXPECT_NE(action.find(" helo=mx.sender.example;"), std::string::npos) << action;
  EXPECT_NE(action.find(" receiver=gw.rcpt.example;"), std::string::npos) << action;
  EXPECT_NE(action.find(" identity=mailfrom;"), std::string::npos) << action;
  EXPECT_NE(action.find(" mechanism=\"ip4:192.0.2.0/24\";"), std::string::npos) << action;
}

TEST_F(SpfPolicyTest, HostileValuesAreMadeSafe) {
  ReceivedSpf f;
  f.outcome.result = SpfResult::Neutral;
  f.identity = "mailfrom";
  f.client_ip = "192.0.2.1";
  f.envelope_from = "\"a\\b\"@x.example\r\nX-Evil: 1";
  f.helo = "(evil) helo\x01\xff";
  f.sender = "a)(b@x.example";
  f.receiver = "gw";
  std::string h = format_received_spf(f);
  EXPECT_EQ(h.find_first_of("\r\n\x01\xff"), std::string::npos) << h;
  EXPECT_NE(h.find("envelope-from=\"\\\"a\\\\b\\\"@x.exampleX-Evil: 1\";"), std::string::npos) << h;
  EXPECT_NE(h.find("helo=\"(evil) helo\";"), std::string::npos) << h;
  EXPECT_NE(h.find("domain of ab@x.example"), std::string::npos) << h;
  f.envelope_from = std::string(1000, 'a');
  EXPECT_LT(format_received_spf(f).size(), 800u);
}

TEST_F(SpfPolicyTest, ExplanationInRejectIsMadeSafe) {
  engine_.set("s.example", SpfResult::Fail, "-all", "see http://s.example/why\r\n250 ok");
  EXPECT_EQ(make().decide(rcpt("u@s.example")), "550 5.7.23 see http://s.example/why250 ok");
}

TEST_F(SpfPolicyTest, NullSenderUsesHelo) {
  engine_.set("mx.sender.example", SpfResult::Pass, "a");
  std::string action = make().decide(rcpt(""));
  ASSERT_EQ(engine_.calls.size(), 1u);
  EXPECT_EQ(engine_.calls[0].sender, "postmaster@mx.sender.example");
  EXPECT_NE(action.find("Received-SPF: pass"), std::string::npos) << action;
  EXPECT_NE(action.find("identity=helo;"), std::string::npos) << action;
}

TEST_F(SpfPolicyTest, HeloFailRejectsWhenAsked) {
  engine_.set("mx.sender.example", SpfResult::Fail, "-all");
  engine_.set("s.example", SpfResult::Pass, "+all");
  EXPECT_EQ(make().decide(rcpt("u@s.example")).rfind("PREPEND Received-SPF: pass", 0), 0u);
  EXPECT_EQ(engine_.calls.size(), 1u) << "HELO checked though it decides nothing";
  SpfPolicyConfig config;
  config.helo_fail = Action::Reject;
  std::string action = make(config).decide(rcpt("u@s.example"));
  EXPECT_EQ(action.rfind("550 5.7.23 ", 0), 0u) << action;
}

TEST_F(SpfPolicyTest, ConfiguredActions) {
  SpfPolicyConfig config;
  config.mail_from_actions[static_cast<size_t>(SpfResult::Softfail)] = Action::Reject;
  config.mail_from_actions[static_cast<size_t>(SpfResult::Permerror)] = Action::Reject;
  config.mail_from_actions[static_cast<size_t>(SpfResult::Temperror)] = Action::Dunno;
  SpfPolicy policy = make(config);
  engine_.set("s.example", SpfResult::Softfail, "~all");
  EXPECT_EQ(policy.decide(rcpt("u@s.example")).rfind("550 5.7.23 SPF softfail", 0), 0u);
  engine_.set("s.example", SpfResult::Permerror, "", "", "bad record");
  EXPECT_EQ(policy.decide(rcpt("u@s.example")),
            "550 5.7.24 SPF permerror for u@s.example: bad record");
  engine_.set("s.example", SpfResult::Temperror);
  EXPECT_EQ(policy.decide(rcpt("u@s.example")), "DUNNO");
  EXPECT_EQ(parse_action("Reject"), Action::Reject);
  EXPECT_EQ(parse_action("maybe"), std::nullopt);
}

TEST_F(SpfPolicyTest, SkipsWithoutChecking) {
  SpfPolicyConfig config;
  config.skip_networks = CidrList::parse("127.0.0.0/8, 10.0.0.0/8");
  SpfPolicy policy = make(config);
  EXPECT_EQ(policy.decide(rcpt("u@s.example", "h.example", "10.1.2.3")), "DUNNO");
  PolicyRequest sasl = rcpt("u@s.example");
  sasl.set("sasl_username", "alice");
  EXPECT_EQ(policy.decide(sasl), "DUNNO");
  PolicyRequest mail = rcpt("u@s.example");
  mail.set("protocol_state", "MAIL");
  EXPECT_EQ(policy.decide(mail), "DUNNO");
  EXPECT_EQ(policy.decide(rcpt("u@s.example", "h.example", "unknown")), "DUNNO");
  EXPECT_TRUE(engine_.calls.empty());
}

TEST_F(SpfPolicyTest, SkipsListedHostnames) {
  SpfPolicyConfig config;
  config.skip_hostnames = parse_hostname_list("fwd.example.org, .backup.example");
  SpfPolicy policy = make(config);
  engine_.set("s.example", SpfResult::Fail, "-all");
  auto from = [](const char* client_name) {
    PolicyRequest r = rcpt("u@s.example");
    r.set("client_name", client_name);
    return r;
  };
  EXPECT_EQ(policy.decide(from("FWD.example.org.")), "DUNNO");
  EXPECT_EQ(policy.decide(from("mx2.backup.example")), "DUNNO");
  EXPECT_TRUE(engine_.calls.empty());
  EXPECT_EQ(policy.decide(from("backup.example")).rfind("550 5.7.23", 0), 0u)
      << ".domain matches names below it only";
  EXPECT_EQ(policy.decide(from("unknown")).rfind("550 5.7.23", 0), 0u);
  EXPECT_EQ(policy.decide(from("evilfwd.example.org")).rfind("550 5.7.23", 0), 0u);
  EXPECT_EQ(policy.decide(rcpt("u@s.example")).rfind("550 5.7.23", 0), 0u) << "no client_name";
  EXPECT_EQ(engine_.calls.size(), 4u);
}

TEST(SpfHostnameList, ParsesAndRejects) {
  EXPECT_EQ(parse_hostname_list(" A.Example. ,.b.example\tc-d_e.example"),
            (std::vector<std::string>{"a.example", ".b.example", "c-d_e.example"}));
  EXPECT_TRUE(parse_hostname_list("").empty());
  for (const char* bad : {"a..example", ".", "*.example", "a.example/24", "..x"}) {
    EXPECT_THROW(parse_hostname_list(bad), ConfigError) << bad;
  }
  EXPECT_FALSE(hostname_listed({".example"}, "unknown"));
  EXPECT_FALSE(hostname_listed({"unknown"}, "unknown"));
  EXPECT_FALSE(hostname_listed({".example"}, ""));
}

TEST_F(SpfPolicyTest, OneEvaluationPerInstance) {
  SpfPolicy policy = make();
  engine_.set("s.example", SpfResult::Pass, "+all");
  EXPECT_EQ(
      policy.decide(rcpt("u@s.example", "h.example", "192.0.2.1", "abc.1")).rfind("PREPEND ", 0),
      0u);
  EXPECT_EQ(policy.decide(rcpt("u@s.example", "h.example", "192.0.2.1", "abc.1")), "DUNNO");
  EXPECT_EQ(engine_.calls.size(), 1u);
  engine_.set("f.example", SpfResult::Fail, "-all");
  std::string first = policy.decide(rcpt("u@f.example", "h.example", "192.0.2.1", "abc.2"));
  EXPECT_EQ(policy.decide(rcpt("u@f.example", "h.example", "192.0.2.1", "abc.2")), first);
  EXPECT_EQ(engine_.calls.size(), 2u);
}

TEST_F(SpfPolicyTest, InstanceCacheIsBounded) {
  SpfPolicyConfig config;
  config.instance_cache = 2;
  SpfPolicy policy = make(config);
  engine_.set("s.example", SpfResult::Pass, "+all");
  for (const char* instance : {"a", "b", "c", "a"}) {
    policy.decide(rcpt("u@s.example", "h.example", "192.0.2.1", instance));
  }
  EXPECT_EQ(engine_.calls.size(), 4u) << "'a' should have been forgotten";
}

}  // namespace
}  // namespace postern::spf
