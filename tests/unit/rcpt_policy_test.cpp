// rcpt_policy_test.cpp — policyd/rcpt/rcpt_policy.hpp: relay domains, table override, cache
// (positive and negative TTLs), sources in order, final actions, faults → 4.4.3, extension
// stripping, metrics. Sources here are in-memory directories (the LDAP source against a real
// slapd is in tests/integration/test_rcpt_postfix.py).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/config_error.hpp"
#include "common/metrics.hpp"
#include "policyd/rcpt/memory_cache.hpp"
#include "policyd/rcpt/rcpt_policy.hpp"

namespace postern::rcpt {
namespace {

// An in-memory directory that counts its lookups and can be switched to failing.
class Directory : public RecipientSource {
 public:
  Directory(const char* name, std::set<std::string> addresses)
      : name_(name), addresses_(std::move(addresses)) {}
  const char* name() const override { return name_; }
  bool exists(const std::string& address) override {
    ++lookups;
    if (down) throw SourceFault(name_, "ldap://dc1.corp.internal:389: Can't contact server");
    return addresses_.count(address) > 0;
  }
  std::atomic<int> lookups{0};
  bool down = false;

 private:
  const char* name_;
  std::set<std::string> addresses_;
};

PolicyRequest rcpt(const std::string& recipient, const char* state = "RCPT") {
  PolicyRequest r;
  r.set("request", "smtpd_access_policy");
  r.set("protocol_state", state);
  r.set("client_address", "192.0.2.1");
  r.set("recipient", recipient);
  r.set("queue_id", "");
  return r;
}

struct Fixture {
  DomainList domains = DomainList::parse("example.org, .sub.example.org");
  double now = 1000;
  MemoryCache cache{CacheConfig{3600, 300, 1000}, [this] { return now; }};
  Directory ldap{"ldap", {"alice@example.org", "bob@example.org", "x@a.sub.example.org"}};
  Directory redis{"redis", {"carol@example.org"}};
  metrics::Registry registry;
  std::unique_ptr<RcptPolicy> policy;
  explicit Fixture(RcptPolicyConfig config = {}, std::shared_ptr<const AccessTable> table = {}) {
    policy = std::make_unique<RcptPolicy>(config, domains, table, &cache,
                                          std::vector<RecipientSource*>{&ldap, &redis}, &registry);
  }
};

TEST(RcptPolicy, KnownUnknownAndOtherDomains) {
  Fixture f;
  struct Case {
    std::string recipient, want;
  };
  const Case cases[] = {
      {"alice@example.org", "DUNNO"},
      {"ALICE@Example.ORG", "DUNNO"},
      {"carol@example.org", "DUNNO"},  // second source
      {"x@a.sub.example.org", "DUNNO"},
      {"nobody@example.org", "450 4.1.1 User unknown"},
      {"nobody@a.sub.example.org", "450 4.1.1 User unknown"},
      {"nobody@sub.example.org", "DUNNO"},  // ".sub" is only its subdomains
      {"nobody@example.net", "DUNNO"},      // not a relay domain: not checked
      {"postmaster", "DUNNO"},
      {"", "DUNNO"},
      {"*)(uid=*@example.org", "450 4.1.1 User unknown"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(f.policy->decide(rcpt(c.recipient)), c.want) << c.recipient;
  }
  EXPECT_EQ(f.policy->decide(rcpt("nobody@example.org", "MAIL")), "DUNNO");
  EXPECT_EQ(f.policy->decide(rcpt("nobody@example.org", "rcpt")), "450 4.1.1 User unknown");
}

TEST(RcptPolicy, FinalActions) {
  for (auto [action, want] : {std::pair{FinalAction::Defer, "450 4.1.1 User unknown"},
                              std::pair{FinalAction::Reject, "550 5.1.1 User unknown"},
                              std::pair{FinalAction::DryRun, "DUNNO"}}) {
    RcptPolicyConfig config;
    config.final_action = action;
    Fixture f(config);
    EXPECT_EQ(f.policy->decide(rcpt("nobody@example.org")), want);
    EXPECT_EQ(f.policy->decide(rcpt("bob@example.org")), "DUNNO");
  }
  EXPECT_EQ(parse_final_action("dry-run"), FinalAction::DryRun);
  EXPECT_FALSE(parse_final_action("Defer"));
}

TEST(RcptPolicy, CachesWithSeparateTtls) {
  Fixture f;
  EXPECT_EQ(f.policy->decide(rcpt("alice@example.org")), "DUNNO");
  EXPECT_EQ(f.policy->decide(rcpt("nobody@example.org")), "450 4.1.1 User unknown");
  EXPECT_EQ(f.ldap.lookups, 2);
  f.now += 299;  // both cached
  EXPECT_EQ(f.policy->decide(rcpt("Alice@example.org")), "DUNNO");
  EXPECT_EQ(f.policy->decide(rcpt("nobody@example.org")), "450 4.1.1 User unknown");
  EXPECT_EQ(f.ldap.lookups, 2);
  f.now += 2;  // negative expired (300 s), positive not (3600 s)
  EXPECT_EQ(f.policy->decide(rcpt("alice@example.org")), "DUNNO");
  EXPECT_EQ(f.policy->decide(rcpt("nobody@example.org")), "450 4.1.1 User unknown");
  EXPECT_EQ(f.ldap.lookups, 3);
  f.now += 3600;
  EXPECT_EQ(f.policy->decide(rcpt("alice@example.org")), "DUNNO");
  EXPECT_EQ(f.ldap.lookups, 4);
  EXPECT_NE(f.registry.render().find("postern_rcpt_cache_total{result=\"hit\"} 3"),
            std::string::npos)
      << f.registry.render();
}

TEST(RcptPolicy, FaultIsTemporaryAndNamesNoHost) {
  Fixture f;
  f.ldap.down = true;
  std::string action = f.policy->decide(rcpt("alice@example.org"));
  EXPECT_EQ(action, "DEFER_IF_PERMIT 4.4.3 Recipient verification temporarily unavailable");
  EXPECT_EQ(action.find("corp.internal"), std::string::npos);
  EXPECT_EQ(f.cache.size(), 0u);  // a fault is never cached
  EXPECT_EQ(f.redis.lookups, 0);  // and not taken for "unknown here"
  f.ldap.down = false;
  EXPECT_EQ(f.policy->decide(rcpt("alice@example.org")), "DUNNO");
  std::string text = f.registry.render();
  EXPECT_NE(text.find("postern_rcpt_faults_total{source=\"ldap\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("postern_rcpt_answers_total{result=\"fault\"} 1"), std::string::npos);
  // a fault in the second source after the first said "unknown" is still a fault
  f.redis.down = true;
  EXPECT_EQ(f.policy->decide(rcpt("dave@example.org")),
            "DEFER_IF_PERMIT 4.4.3 Recipient verification temporarily unavailable");
}

TEST(RcptPolicy, TableOverridesEverything) {
  auto table = std::make_shared<const AccessTable>(
      AccessTable::parse("alice@example.org REJECT Account closed\n"
                         "temp@example.org OK\n"
                         "bob@example.org DUNNO\n"
                         "@example.net OK\n",
                         "t"));
  Fixture f({}, table);
  EXPECT_EQ(f.policy->decide(rcpt("alice@example.org")), "REJECT Account closed");
  EXPECT_EQ(f.policy->decide(rcpt("temp@example.org")), "DUNNO");
  EXPECT_EQ(f.policy->decide(rcpt("bob@example.org")), "DUNNO");  // asked the sources
  EXPECT_EQ(f.ldap.lookups, 1);
  // the table is consulted only for relay domains
  EXPECT_EQ(f.policy->decide(rcpt("x@example.net")), "DUNNO");
  f.ldap.down = true;  // the table answers without the sources
  EXPECT_EQ(f.policy->decide(rcpt("temp@example.org")), "DUNNO");
  f.policy->set_table(nullptr);
  EXPECT_EQ(f.policy->decide(rcpt("alice@example.org")),
            "DEFER_IF_PERMIT 4.4.3 Recipient verification temporarily unavailable");
}

TEST(RcptPolicy, RecipientDelimiter) {
  RcptPolicyConfig config;
  config.recipient_delimiter = "+-";
  Fixture f(config);
  EXPECT_EQ(f.policy->decide(rcpt("alice+news@example.org")), "DUNNO");
  EXPECT_EQ(f.policy->decide(rcpt("alice-x+y@example.org")), "DUNNO");
  EXPECT_EQ(f.policy->decide(rcpt("nobody+x@example.org")), "450 4.1.1 User unknown");
  EXPECT_EQ(strip_extension("a+b@c", "+"), "a@c");
  EXPECT_EQ(strip_extension("+b@c", "+"), std::nullopt);
  EXPECT_EQ(strip_extension("a@c", "+"), std::nullopt);
  EXPECT_EQ(strip_extension("a+b@c", ""), std::nullopt);
}

TEST(RcptPolicy, DomainListErrors) {
  EXPECT_THROW(DomainList::parse("example..org"), ConfigError);
  EXPECT_THROW(DomainList::parse("exa mple@org"), ConfigError);
  EXPECT_THROW(DomainList::parse("."), ConfigError);
  EXPECT_TRUE(DomainList::parse(" , ").empty());
  DomainList d = DomainList::parse("Example.ORG");
  EXPECT_TRUE(d.contains("example.org"));
}

TEST(RcptMemoryCache, BoundedLeastRecentlyUsed) {
  double now = 0;
  MemoryCache cache(CacheConfig{10, 5, 2}, [&] { return now; });
  cache.put("a", true);
  cache.put("b", false);
  EXPECT_EQ(cache.get("a"), true);  // a is now the most recent
  cache.put("c", true);             // evicts b
  EXPECT_EQ(cache.get("b"), std::nullopt);
  EXPECT_EQ(cache.get("a"), true);
  EXPECT_EQ(cache.get("c"), true);
  now = 10;
  EXPECT_EQ(cache.get("a"), std::nullopt);
  MemoryCache no_negative(CacheConfig{10, 0, 10}, [&] { return now; });
  no_negative.put("x", false);
  EXPECT_EQ(no_negative.get("x"), std::nullopt);
}

}  // namespace
}  // namespace postern::rcpt
