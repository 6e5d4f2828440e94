// spf_result_cache_test.cpp — the check_host() result cache (postern-spf --cache-ttl,
// --cache-size) on a fake clock: hits, expiry, temperror never stored, LRU eviction, the key,
// and a concurrency smoke test.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "policyd/spf/result_cache.hpp"

namespace postern::spf {
namespace {

// Answers a fixed result per <domain>, counting calls (thread-safe).
class CountingEngine : public SpfEngine {
 public:
  SpfOutcome check_host(const CheckHostRequest& request) override {
    ++calls;
    std::lock_guard lock(mutex);
    SpfOutcome o;
    auto it = results.find(request.domain);
    o.result = it == results.end() ? SpfResult::Pass : it->second;
    o.domain = request.domain;
    o.mechanism = "+all";
    return o;
  }
  std::atomic<int> calls{0};
  std::mutex mutex;
  std::map<std::string, SpfResult> results;
};

CheckHostRequest request(const std::string& sender, const std::string& client = "192.0.2.1",
                         const std::string& helo = "mx.example") {
  return mail_from_identity(*IpAddress::parse(client), sender, helo);
}

class SpfResultCacheTest : public ::testing::Test {
 protected:
  CachingEngine make(double ttl = 300, size_t size = 100) {
    return CachingEngine(engine_, ResultCacheConfig{ttl, size}, [this] { return now_; });
  }
  CountingEngine engine_;
  double now_ = 50;
};

TEST_F(SpfResultCacheTest, RepeatIsAHit) {
  CachingEngine cache = make();
  SpfOutcome first = cache.check_host(request("u@a.example"));
  SpfOutcome again = cache.check_host(request("u@a.example"));
  EXPECT_EQ(engine_.calls, 1);
  EXPECT_EQ(again.result, first.result);
  EXPECT_EQ(again.mechanism, "+all");
  EXPECT_EQ(again.domain, "a.example");
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 1u);
}

TEST_F(SpfResultCacheTest, KeyHasClientSenderAndHelo) {
  CachingEngine cache = make();
  cache.check_host(request("u@a.example"));
  cache.check_host(request("u@a.example", "192.0.2.2"));
  cache.check_host(request("v@a.example"));
  cache.check_host(request("u@a.example", "192.0.2.1", "other.example"));
  EXPECT_EQ(engine_.calls, 4);
  EXPECT_EQ(cache.stats().entries, 4u);
}

TEST_F(SpfResultCacheTest, EntriesExpire) {
  CachingEngine cache = make(300);
  cache.check_host(request("u@a.example"));
  now_ += 299;
  cache.check_host(request("u@a.example"));
  EXPECT_EQ(engine_.calls, 1);
  now_ += 1;
  cache.check_host(request("u@a.example"));
  EXPECT_EQ(engine_.calls, 2);
  cache.check_host(request("u@a.example"));
  EXPECT_EQ(engine_.calls, 2) << "the fresh result is stored again";
}

TEST_F(SpfResultCacheTest, TemperrorIsNeverCached) {
  engine_.results["t.example"] = SpfResult::Temperror;
  engine_.results["p.example"] = SpfResult::Permerror;
  engine_.results["f.example"] = SpfResult::Fail;
  CachingEngine cache = make();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(cache.check_host(request("u@t.example")).result, SpfResult::Temperror);
    cache.check_host(request("u@p.example"));
    cache.check_host(request("u@f.example"));
  }
  EXPECT_EQ(engine_.calls, 4);
  EXPECT_EQ(cache.stats().entries, 2u);
}

TEST_F(SpfResultCacheTest, LeastRecentlyUsedIsEvicted) {
  CachingEngine cache = make(300, 2);
  cache.check_host(request("u@a.example"));
  cache.check_host(request("u@b.example"));
  cache.check_host(request("u@a.example"));  // hit: a is now the most recent
  cache.check_host(request("u@c.example"));  // evicts b
  EXPECT_EQ(engine_.calls, 3);
  EXPECT_EQ(cache.stats().entries, 2u);
  cache.check_host(request("u@a.example"));
  EXPECT_EQ(engine_.calls, 3);
  cache.check_host(request("u@b.example"));
  EXPECT_EQ(engine_.calls, 4);
}

TEST_F(SpfResultCacheTest, ZeroDisables) {
  CachingEngine no_ttl = make(0, 100);
  no_ttl.check_host(request("u@a.example"));
  no_ttl.check_host(request("u@a.example"));
  CachingEngine no_size = make(300, 0);
  no_size.check_host(request("u@a.example"));
  no_size.check_host(request("u@a.example"));
  EXPECT_EQ(engine_.calls, 4);
}

// The /metrics series: hits and misses counted per check, entries as a gauge (temperror not
// stored), nothing counted while the cache is disabled.
TEST_F(SpfResultCacheTest, MetricsCountHitsMissesAndEntries) {
  metrics::Registry registry;
  CachingEngine cache = make(300, 2);
  cache.register_metrics(registry);
  engine_.results["t.example"] = SpfResult::Temperror;
  cache.check_host(request("u@a.example"));  // miss, stored
  cache.check_host(request("u@a.example"));  // hit
  cache.check_host(request("u@a.example"));  // hit
  cache.check_host(request("u@t.example"));  // miss, not stored
  std::string text = registry.render();
  for (const char* want :
       {"postern_spf_cache_lookups_total{result=\"hit\"} 2\n",
        "postern_spf_cache_lookups_total{result=\"miss\"} 2\n", "postern_spf_cache_entries 1\n"})
    EXPECT_NE(text.find(want), std::string::npos) << "want " << want << "in:\n" << text;
  cache.check_host(request("u@b.example"));
  cache.check_host(request("u@c.example"));  // evicts a: the bound holds
  EXPECT_NE(registry.render().find("postern_spf_cache_entries 2\n"), std::string::npos);

  metrics::Registry off_registry;
  CachingEngine off = make(0, 100);
  off.register_metrics(off_registry);
  off.check_host(request("u@a.example"));
  off.check_host(request("u@a.example"));
  std::string off_text = off_registry.render();
  EXPECT_NE(off_text.find("postern_spf_cache_lookups_total{result=\"hit\"} 0\n"), std::string::npos)
      << off_text;
  EXPECT_NE(off_text.find("postern_spf_cache_lookups_total{result=\"miss\"} 0\n"),
            std::string::npos)
      << off_text;
}

TEST_F(SpfResultCacheTest, ConcurrentChecksAreSafe) {
  CachingEngine cache = make(300, 16);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string domain = "d" + std::to_string((i * 7 + t) % 40) + ".example";
        SpfOutcome o = cache.check_host(request("u@" + domain));
        if (o.domain != domain || o.result != SpfResult::Pass) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong, 0);
  ResultCacheStats stats = cache.stats();
  EXPECT_EQ(stats.hits + stats.misses, 16000u);
  EXPECT_LE(stats.entries, 16u);
}

}  // namespace
}  // namespace postern::spf
