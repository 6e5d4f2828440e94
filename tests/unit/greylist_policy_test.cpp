// greylist_policy_test.cpp — request → action (GreylistPolicy): reply texts, header, skips,
// --dry-run, missing attributes, and the fault action when the store is down (a Redis
// store pointing at a socket nobody listens on), with the decision metrics.
#include "policyd/greylist/greylist_policy.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/metrics.hpp"
#include "policyd/greylist/lmdb_store.hpp"
#include "policyd/greylist/redis_store.hpp"

namespace postern::greylist {
namespace {

constexpr int64_t t0 = 1'700'000'000;

PolicyRequest request(const char* client, const char* recipient = "bob@example.net",
                      const char* sasl = "") {
  PolicyRequest r;
  r.set("request", "smtpd_access_policy");
  r.set("protocol_state", "RCPT");
  r.set("client_address", client);
  r.set("client_name", "unknown");
  r.set("sender", "alice@example.com");
  r.set("recipient", recipient);
  r.set("instance", "abc.1");
  r.set("sasl_username", sasl);
  return r;
}

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (std::filesystem::temp_directory_path() / "postern-glp-XXXXXX").string();
    dir_ = mkdtemp(templ.data());
    LmdbOptions o;
    o.path = dir_ + "/g.mdb";
    o.map_size_bytes = 16 << 20;
    o.sweep_interval_seconds = 0;
    store_ = std::make_unique<LmdbStore>(o, [this] { return now_; });
    greylister_ = std::make_unique<Greylister>(
        GreylistSettings{}, *store_, [this] { return now_; }, nullptr);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  GreylistPolicy policy(PolicySettings s = {}) {
    s.hostname = "gw.example";
    s.version = "9.9";
    s.skip_networks = CidrList::parse("127.0.0.0/8 10.0.0.0/8");
    return GreylistPolicy(s, *greylister_, &registry_);
  }
  double decisions(const char* outcome) {
    return static_cast<double>(registry_
                                   .counter("postern_greylist_decisions_total",
                                            "greylisting decisions by outcome (also in --dry-run)",
                                            {{"outcome", outcome}})
                                   .value());
  }

  std::string dir_;
  int64_t now_ = t0;
  metrics::Registry registry_;
  std::unique_ptr<LmdbStore> store_;
  std::unique_ptr<Greylister> greylister_;
};

TEST_F(PolicyTest, GreylistThenHeaderThenDunno) {
  auto p = policy();
  EXPECT_EQ(p.decide(request("192.0.2.1")),
            "DEFER_IF_PERMIT 4.7.1 Greylisted, try again in 300 seconds");
  now_ += 120;
  EXPECT_EQ(p.decide(request("192.0.2.1")),
            "DEFER_IF_PERMIT 4.7.1 Greylisted, try again in 180 seconds");
  now_ += 180;
  std::string pass = p.decide(request("192.0.2.1"));
  EXPECT_EQ(
      pass.rfind("PREPEND X-Greylist: delayed 300 seconds by postern-greylist-9.9 at gw.example; ",
                 0),
      0u)
      << pass;
  EXPECT_EQ(p.decide(request("192.0.2.1")), "DUNNO");
  EXPECT_EQ(decisions("greylisted"), 2);
  EXPECT_EQ(decisions("passed"), 2);
}

TEST_F(PolicyTest, CustomTextActionAndNoHeader) {
  PolicySettings s;
  s.greylist_action = "DEFER";
  s.greylist_text = "Greylisted, see http://example/%r.html (%s s)";
  s.x_greylist_header = "";
  auto p = policy(s);
  EXPECT_EQ(p.decide(request("192.0.2.1")),
            "DEFER Greylisted, see http://example/example.net.html (300 s)");
  now_ += 300;
  EXPECT_EQ(p.decide(request("192.0.2.1")), "DUNNO");
}

TEST_F(PolicyTest, Skips) {
  auto p = policy();
  EXPECT_EQ(p.decide(request("192.0.2.1", "bob@example.net", "alice")), "DUNNO");
  EXPECT_EQ(p.decide(request("10.1.2.3")), "DUNNO");
  EXPECT_EQ(decisions("skip-sasl"), 1);
  EXPECT_EQ(decisions("skip-network"), 1);
  PolicySettings s;
  auto big = std::make_shared<ClientWhitelist>();
  big->add("bigmail.example\n", "t");
  s.skip_clients = big;
  auto q = policy(s);
  PolicyRequest r = request("192.0.2.1");
  r.set("client_name", "out7.bigmail.example");
  EXPECT_EQ(q.decide(r), "DUNNO");
  EXPECT_EQ(decisions("skip-client"), 1);
  PolicyRequest missing;
  missing.set("request", "smtpd_access_policy");
  missing.set("client_address", "192.0.2.1");
  EXPECT_EQ(p.decide(missing), "DUNNO");
}

TEST_F(PolicyTest, DryRunDecidesButAnswersDunno) {
  PolicySettings s;
  s.dry_run = true;
  auto p = policy(s);
  EXPECT_EQ(p.decide(request("192.0.2.1")), "DUNNO");
  EXPECT_EQ(decisions("greylisted"), 1);
  now_ += 300;
  EXPECT_EQ(p.decide(request("192.0.2.1")), "DUNNO");
  EXPECT_EQ(decisions("passed"), 1) << "the dry run must still record the triplet";
}

TEST_F(PolicyTest, StoreDownGivesFaultAction) {
  redis::Options o;
  o.retry_interval_seconds = 0;
  redis::Client client(redis::parse_url("unix:/nonexistent/postern-greylist.sock"), o);
  RedisStore down(client);
  Greylister g(
      {}, down, [this] { return now_; }, nullptr);
  redis::OutageTracker tracker("test-store");
  PolicySettings s;
  GreylistPolicy fail_open(s, g, &registry_, &tracker);
  EXPECT_EQ(fail_open.decide(request("192.0.2.1")), "DUNNO");
  EXPECT_TRUE(tracker.down());
  s.fault_action = "DEFER_IF_PERMIT 4.3.0 Greylisting store unavailable";
  GreylistPolicy fail_closed(s, g, nullptr, &tracker);
  EXPECT_EQ(fail_closed.decide(request("192.0.2.1")),
            "DEFER_IF_PERMIT 4.3.0 Greylisting store unavailable");
  EXPECT_EQ(decisions("store-fault"), 1);
}

TEST(Substitute, FirstOccurrenceOnly) {
  EXPECT_EQ(substitute("a %s b %s", 's', "1"), "a 1 b %s");
  EXPECT_EQ(substitute("none", 's', "1"), "none");
  EXPECT_EQ(substitute("%", 's', "1"), "%");
}

}  // namespace
}  // namespace postern::greylist
