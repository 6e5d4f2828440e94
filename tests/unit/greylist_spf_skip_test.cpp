// greylist_spf_skip_test.cpp — --skip-spf-pass: SpfPassCheck with postern-spf's real
// Evaluator (RFC 7208) on a canned zone in memory, then through GreylistPolicy on an LMDB
// store: only pass skips (counted as skip-spf-pass), every other result, a DNS fault, a spent
// check budget, a bad client address and an engine exception greylist as usual.
#include "policyd/greylist/spf_skip.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <stdexcept>
#include <utility>

#include "common/config_error.hpp"
#include "common/metrics.hpp"
#include "policyd/greylist/greylist_config.hpp"
#include "policyd/greylist/greylist_policy.hpp"
#include "policyd/greylist/lmdb_store.hpp"

namespace postern::greylist {
namespace {

// A zone in memory: (name, type) → answer; absent names are NXDOMAIN. Counts queries; each
// query advances `clock` by `seconds_per_query` (for the check budget).
class ZoneResolver : public dns::Resolver {
 public:
  void txt(const std::string& name, std::vector<std::string> records) {
    add(name, dns::RrType::TXT).txt = std::move(records);
  }
  void a(const std::string& name, const std::string& address) {
    add(name, dns::RrType::A).addresses.push_back(*IpAddress::parse(address));
  }
  void fail(const std::string& name, dns::RrType type, dns::Status status) {
    add(name, type).status = status;
  }
  dns::Answer query(std::string_view name, dns::RrType type) override {
    ++queries;
    clock += seconds_per_query;
    auto it = zone_.find({std::string(name), type});
    if (it != zone_.end()) return it->second;
    dns::Answer answer;
    answer.status = dns::Status::NxDomain;
    for (const auto& [key, value] : zone_) {
      if (key.first == name) answer.status = dns::Status::NoError;  // NODATA
    }
    return answer;
  }
  int queries = 0;
  double clock = 1000;
  double seconds_per_query = 0;

 private:
  dns::Answer& add(const std::string& name, dns::RrType type) {
    dns::Answer& answer = zone_[{name, type}];
    answer.status = dns::Status::NoError;
    return answer;
  }
  std::map<std::pair<std::string, dns::RrType>, dns::Answer> zone_;
};

class ThrowingEngine : public spf::SpfEngine {
 public:
  spf::SpfOutcome check_host(const spf::CheckHostRequest&) override {
    throw std::runtime_error("engine broke");
  }
};

class SpfSkipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dns_.txt("pass.example", {"v=spf1 ip4:192.0.2.0/24 -all"});
    dns_.txt("fail.example", {"v=spf1 ip4:192.0.2.10 -all"});
    dns_.txt("softfail.example", {"v=spf1 ip4:192.0.2.10 ~all"});
    dns_.txt("neutral.example", {"v=spf1 ?all"});
    dns_.a("nospf.example", "192.0.2.99");
    dns_.txt("broken.example", {"v=spf1 ip4:192.0.2.300 -all"});
    dns_.fail("servfail.example", dns::RrType::TXT, dns::Status::ServFail);
    dns_.fail("timeout.example", dns::RrType::TXT, dns::Status::Timeout);
    dns_.txt("mx.helo.example", {"v=spf1 a -all"});
    dns_.a("mx.helo.example", "198.51.100.7");
    // four includes, each one DNS query: with 1.5 s per query a 2 s budget is spent
    dns_.txt("slow.example", {"v=spf1 include:s1.example include:s2.example ip4:192.0.2.0/24"});
    dns_.txt("s1.example", {"v=spf1 include:s3.example ?all"});
    dns_.txt("s2.example", {"v=spf1 ?all"});
    dns_.txt("s3.example", {"v=spf1 ?all"});
  }
  spf::Evaluator evaluator(double budget = 0) {
    spf::EvaluatorLimits limits;
    limits.check_seconds = budget;
    return spf::Evaluator(dns_, limits, [this] { return dns_.clock; });
  }
  ZoneResolver dns_;
};

TEST_F(SpfSkipTest, OnlyPassSkips) {
  struct Case {
    const char* client;
    const char* sender;
    const char* helo;
    const char* want_result;
    bool want_skip;
  };
  const Case cases[] = {
      {"192.0.2.20", "alice@pass.example", "out.pass.example", "pass", true},
      {"::ffff:192.0.2.21", "alice@pass.example", "out.pass.example", "pass", true},
      {"203.0.113.5", "alice@pass.example", "x.example", "fail", false},
      {"203.0.113.5", "bob@fail.example", "x.example", "fail", false},
      {"192.0.2.10", "bob@fail.example", "x.example", "pass", true},
      {"203.0.113.6", "carol@softfail.example", "x.example", "softfail", false},
      {"203.0.113.6", "dave@neutral.example", "x.example", "neutral", false},
      {"203.0.113.6", "erin@nospf.example", "x.example", "none", false},
      {"203.0.113.6", "frank@nxdomain.example", "x.example", "none", false},
      {"203.0.113.6", "gina@broken.example", "x.example", "permerror", false},
      {"203.0.113.6", "hal@servfail.example", "x.example", "temperror", false},
      {"203.0.113.6", "ivy@timeout.example", "x.example", "temperror", false},
      // null sender: postmaster@HELO (RFC 7208 §2.4)
      {"198.51.100.7", "", "mx.helo.example", "pass", true},
      {"203.0.113.7", "", "mx.helo.example", "fail", false},
      {"203.0.113.7", "", "", "none", false},
      {"not-an-address", "alice@pass.example", "x.example", "error", false},
      {"", "alice@pass.example", "x.example", "error", false},
  };
  spf::Evaluator engine = evaluator();
  SpfPassCheck check(engine, "gw.example", [] { return int64_t{1'700'000'000}; });
  for (const Case& c : cases) {
    SpfSkipVerdict v = check.check(c.client, c.sender, c.helo);
    EXPECT_EQ(v.result, c.want_result) << c.client << " " << c.sender << " (" << v.problem << ")";
    EXPECT_EQ(v.skip, c.want_skip) << c.client << " " << c.sender;
  }
}

TEST_F(SpfSkipTest, SpentBudgetIsTemperrorNotSkip) {
  dns_.seconds_per_query = 1.5;
  spf::Evaluator budgeted = evaluator(2);
  SpfPassCheck check(budgeted, "gw.example", nullptr);
  SpfSkipVerdict v = check.check("192.0.2.20", "a@slow.example", "x.example");
  EXPECT_EQ(v.result, "temperror") << v.problem;
  EXPECT_FALSE(v.skip);
  EXPECT_NE(v.problem.find("exceeded 2 s"), std::string::npos) << v.problem;
  // the same record without a budget passes: the budget alone made it temperror
  spf::Evaluator unlimited = evaluator(0);
  SpfPassCheck again(unlimited, "gw.example", nullptr);
  EXPECT_TRUE(again.check("192.0.2.20", "a@slow.example", "x.example").skip);
}

TEST_F(SpfSkipTest, EngineExceptionIsNotSkip) {
  ThrowingEngine engine;
  SpfPassCheck check(engine, "gw.example", nullptr);
  SpfSkipVerdict v = check.check("192.0.2.20", "alice@pass.example", "x.example");
  EXPECT_FALSE(v.skip);
  EXPECT_EQ(v.result, "error");
  EXPECT_EQ(v.problem, "engine broke");
}

PolicyRequest request(const char* client, const char* sender, const char* sasl = "") {
  PolicyRequest r;
  r.set("request", "smtpd_access_policy");
  r.set("protocol_state", "RCPT");
  r.set("client_address", client);
  r.set("client_name", "unknown");
  r.set("helo_name", "out.sender.example");
  r.set("sender", sender);
  r.set("recipient", "bob@example.net");
  r.set("sasl_username", sasl);
  return r;
}

class SpfSkipPolicyTest : public SpfSkipTest {
 protected:
  void SetUp() override {
    SpfSkipTest::SetUp();
    std::string templ = (std::filesystem::temp_directory_path() / "postern-gls-XXXXXX").string();
    dir_ = mkdtemp(templ.data());
    LmdbOptions o;
    o.path = dir_ + "/g.mdb";
    o.map_size_bytes = 16 << 20;
    o.sweep_interval_seconds = 0;
    store_ = std::make_unique<LmdbStore>(o, [] { return int64_t{1'700'000'000}; });
    greylister_ = std::make_unique<Greylister>(
        GreylistSettings{}, *store_, [] { return int64_t{1'700'000'000}; }, nullptr);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  GreylistPolicy policy(bool skip_spf_pass, bool dry_run = false) {
    PolicySettings s;
    s.hostname = "gw.example";
    s.dry_run = dry_run;
    s.skip_networks = CidrList::parse("127.0.0.0/8");
    if (skip_spf_pass) {
      s.skip_spf_pass = std::make_shared<SpfPassCheck>(engine_, "gw.example", nullptr);
    }
    return GreylistPolicy(s, *greylister_, &registry_);
  }
  uint64_t decisions(const char* outcome) {
    return registry_
        .counter("postern_greylist_decisions_total",
                 "greylisting decisions by outcome (also in --dry-run)", {{"outcome", outcome}})
        .value();
  }
  uint64_t spf_checks(const char* result) {
    return registry_
        .counter("postern_greylist_spf_checks_total",
                 "--skip-spf-pass checks by SPF result (RFC 7208 §2.6; error: not checked, e.g. "
                 "a bad address)",
                 {{"result", result}})
        .value();
  }

  std::string dir_;
  metrics::Registry registry_;
  spf::Evaluator engine_{dns_};
  std::unique_ptr<LmdbStore> store_;
  std::unique_ptr<Greylister> greylister_;
};

constexpr const char* greylisted = "DEFER_IF_PERMIT 4.7.1 Greylisted, try again in 300 seconds";

TEST_F(SpfSkipPolicyTest, PassSkipsOthersGreylisted) {
  auto p = policy(true);
  EXPECT_EQ(p.decide(request("192.0.2.20", "alice@pass.example")), "DUNNO");
  EXPECT_EQ(p.decide(request("203.0.113.6", "carol@softfail.example")), greylisted);
  EXPECT_EQ(p.decide(request("203.0.113.6", "erin@nospf.example")), greylisted);
  EXPECT_EQ(p.decide(request("203.0.113.6", "hal@servfail.example")), greylisted);
  EXPECT_EQ(p.decide(request("203.0.113.6", "ivy@timeout.example")), greylisted);
  EXPECT_EQ(p.decide(request("203.0.113.5", "alice@pass.example")), greylisted);  // fail
  EXPECT_EQ(p.decide(request("bad", "alice@pass.example")), "DUNNO");  // bad-client-address
  EXPECT_EQ(decisions("skip-spf-pass"), 1u);
  EXPECT_EQ(decisions("greylisted"), 5u);
  EXPECT_EQ(spf_checks("pass"), 1u);
  EXPECT_EQ(spf_checks("softfail"), 1u);
  EXPECT_EQ(spf_checks("none"), 1u);
  EXPECT_EQ(spf_checks("temperror"), 2u);
  EXPECT_EQ(spf_checks("fail"), 1u);
  EXPECT_EQ(spf_checks("error"), 1u);
  // the skipped triplet was not stored: without the skip it is new and greylisted
  auto off = policy(false);
  EXPECT_EQ(off.decide(request("192.0.2.20", "alice@pass.example")), greylisted);
}

TEST_F(SpfSkipPolicyTest, OffByDefaultAndNoDnsQueries) {
  auto p = policy(false);
  EXPECT_EQ(p.decide(request("192.0.2.20", "alice@pass.example")), greylisted);
  EXPECT_EQ(dns_.queries, 0);
  EXPECT_EQ(decisions("skip-spf-pass"), 0u);
}

TEST_F(SpfSkipPolicyTest, CheapSkipsComeFirst) {
  auto p = policy(true);
  EXPECT_EQ(p.decide(request("192.0.2.20", "alice@pass.example", "authuser")), "DUNNO");
  EXPECT_EQ(p.decide(request("127.0.0.1", "alice@pass.example")), "DUNNO");
  EXPECT_EQ(dns_.queries, 0);  // no SPF check for skip-sasl and skip-network
  EXPECT_EQ(decisions("skip-sasl"), 1u);
  EXPECT_EQ(decisions("skip-network"), 1u);
}

TEST_F(SpfSkipPolicyTest, DryRunCountsSkip) {
  auto p = policy(true, true);
  EXPECT_EQ(p.decide(request("192.0.2.20", "alice@pass.example")), "DUNNO");
  EXPECT_EQ(p.decide(request("203.0.113.6", "carol@softfail.example")), "DUNNO");
  EXPECT_EQ(decisions("skip-spf-pass"), 1u);
  EXPECT_EQ(decisions("greylisted"), 1u);
}

// build_greylist_config with `flags` (no environment, no config file).
GreylistConfig config_of(std::vector<std::string> flags) {
  DaemonOptions options("greylist", "postern-greylist", "inet:10023@127.0.0.1");
  add_greylist_options(options.options());
  std::vector<const char*> argv{"postern-greylist"};
  for (const std::string& f : flags) argv.push_back(f.c_str());
  argv.push_back(nullptr);
  char* env[] = {nullptr};
  EXPECT_FALSE(options.parse(static_cast<int>(argv.size() - 1), argv.data(), env).has_value());
  return build_greylist_config(options);
}

TEST(SpfSkipConfigTest, OptionsAndBudgetBelowDeadline) {
  GreylistConfig off = config_of({});
  EXPECT_FALSE(off.skip_spf_pass);
  EXPECT_EQ(off.worker_threads, 4u);
  GreylistConfig on = config_of({"--skip-spf-pass", "--dns-server", "127.0.0.1@20053"});
  EXPECT_TRUE(on.skip_spf_pass);
  EXPECT_EQ(on.worker_threads, 8u);  // each worker waits on DNS
  EXPECT_EQ(on.resolver.dns_server, "127.0.0.1@20053");
  EXPECT_EQ(on.resolver.timeout_seconds, 1);
  EXPECT_EQ(on.spf_limits.check_seconds, 2);
  EXPECT_EQ(on.spf_cache.ttl_seconds, 300);
  EXPECT_EQ(config_of({"--skip-spf-pass", "--workers", "3"}).worker_threads, 3u);
  // budget + one query timeout must end before the request deadline (→ --fault-action DUNNO)
  try {
    config_of({"--skip-spf-pass", "--dns-timeout", "3"});
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "default for --spf-check-timeout (2 s) + option --dns-timeout (3 s): must be "
                 "below --request-deadline (5 s), or a slow SPF check ends in --fault-action "
                 "instead of greylisting");
  }
  EXPECT_NO_THROW(config_of({"--skip-spf-pass", "--dns-timeout", "3", "--request-deadline", "6"}));
  EXPECT_NO_THROW(config_of({"--dns-timeout", "3"}));  // not checked without --skip-spf-pass
  EXPECT_THROW(config_of({"--skip-spf-pass", "--spf-check-timeout", "0"}), ConfigError);
  EXPECT_THROW(config_of({"--skip-spf-pass", "--dns-timeout", "-1"}), ConfigError);
  EXPECT_THROW(config_of({"--skip-spf-pass", "--spf-cache-ttl", "-1"}), ConfigError);
}

}  // namespace
}  // namespace postern::greylist
