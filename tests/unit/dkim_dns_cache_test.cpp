// dkim_dns_cache_test.cpp — the answer cache postern-dkim puts in front of its resolver
// (common/dns_cache.hpp): hits, TTL expiry and cap on a fake clock, what is never kept,
// name folding, LRU eviction, and several threads at once.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "common/dns_cache.hpp"

namespace postern::dns {
namespace {

// Answers from a table; counts the queries that reach it.
class CountingResolver : public Resolver {
 public:
  std::map<std::string, Answer, std::less<>> answers;  // by name; default NXDOMAIN ttl 60
  std::atomic<int> calls{0};

  Answer query(std::string_view name, RrType) override {
    ++calls;
    std::lock_guard lock(mutex_);
    if (auto it = answers.find(name); it != answers.end()) return it->second;
    Answer nx;
    nx.status = Status::NxDomain;
    nx.ttl = 60;
    return nx;
  }

 private:
  std::mutex mutex_;
};

Answer txt(std::string text, uint32_t ttl) {
  Answer a;
  a.status = Status::NoError;
  a.txt = {std::move(text)};
  a.ttl = ttl;
  return a;
}

Answer failure(Status status) {
  Answer a;
  a.status = status;
  a.ttl = 300;  // even with a TTL: never kept
  a.why = "injected";
  return a;
}

class DnsCache : public ::testing::Test {
 protected:
  std::unique_ptr<Resolver> make(AnswerCacheConfig config = {}) {
    auto inner = std::make_unique<CountingResolver>();
    inner_ = inner.get();
    return make_caching_resolver(std::move(inner), config, [this] { return now_; });
  }
  void advance(int seconds) { now_ += std::chrono::seconds(seconds); }

  CountingResolver* inner_ = nullptr;
  std::chrono::steady_clock::time_point now_{};
};

TEST_F(DnsCache, SecondQueryIsAnsweredFromMemory) {
  auto resolver = make();
  inner_->answers["sel._domainkey.example.com"] = txt("v=DKIM1; p=abc", 300);
  Answer first = resolver->query("sel._domainkey.example.com", RrType::TXT);
  Answer second = resolver->query("SEL._domainkey.Example.COM.", RrType::TXT);
  EXPECT_EQ(inner_->calls, 1);
  EXPECT_EQ(second.status, Status::NoError);
  EXPECT_EQ(second.txt, first.txt);
  resolver->query("sel._domainkey.example.com", RrType::A);  // another type: another entry
  EXPECT_EQ(inner_->calls, 2);
}

TEST_F(DnsCache, ExpiresAfterTheTtl) {
  auto resolver = make();
  inner_->answers["a.example"] = txt("one", 10);
  resolver->query("a.example", RrType::TXT);
  advance(9);
  EXPECT_EQ(resolver->query("a.example", RrType::TXT).txt.at(0), "one");
  EXPECT_EQ(inner_->calls, 1);
  inner_->answers["a.example"] = txt("two", 10);
  advance(1);
  EXPECT_EQ(resolver->query("a.example", RrType::TXT).txt.at(0), "two");
  EXPECT_EQ(inner_->calls, 2);
}

TEST_F(DnsCache, TtlIsCappedByMaxTtl) {
  AnswerCacheConfig config;
  config.max_ttl_seconds = 5;
  auto resolver = make(config);
  inner_->answers["a.example"] = txt("one", 86400);
  resolver->query("a.example", RrType::TXT);
  advance(4);
  resolver->query("a.example", RrType::TXT);
  EXPECT_EQ(inner_->calls, 1);
  advance(1);
  resolver->query("a.example", RrType::TXT);
  EXPECT_EQ(inner_->calls, 2);
}

TEST_F(DnsCache, NegativeAnswersAreKept) {
  auto resolver = make();
  EXPECT_EQ(resolver->query("_dmarc.none.example", RrType::TXT).status, Status::NxDomain);
  EXPECT_EQ(resolver->query("_dmarc.none.example", RrType::TXT).status, Status::NxDomain);
  Answer nodata;
  nodata.status = Status::NoError;
  nodata.ttl = 30;
  inner_->answers["nodata.example"] = nodata;
  resolver->query("nodata.example", RrType::TXT);
  EXPECT_TRUE(resolver->query("nodata.example", RrType::TXT).txt.empty());
  EXPECT_EQ(inner_->calls, 2);
}

TEST_F(DnsCache, TemporaryFailuresAndZeroTtlAreNeverKept) {
  auto resolver = make();
  inner_->answers["servfail.example"] = failure(Status::ServFail);
  inner_->answers["timeout.example"] = failure(Status::Timeout);
  inner_->answers["error.example"] = failure(Status::Error);
  inner_->answers["zero.example"] = txt("no reuse", 0);
  for (const char* name :
       {"servfail.example", "timeout.example", "error.example", "zero.example"}) {
    int before = inner_->calls;
    resolver->query(name, RrType::TXT);
    Answer again = resolver->query(name, RrType::TXT);
    EXPECT_EQ(inner_->calls, before + 2) << name;
    EXPECT_EQ(again.status, inner_->answers[name].status) << name;
  }
}

TEST_F(DnsCache, LeastRecentlyUsedGoesFirst) {
  AnswerCacheConfig config;
  config.max_entries = 2;
  auto resolver = make(config);
  for (const char* name : {"a.example", "b.example"}) inner_->answers[name] = txt(name, 300);
  inner_->answers["c.example"] = txt("c", 300);
  resolver->query("a.example", RrType::TXT);
  resolver->query("b.example", RrType::TXT);
  resolver->query("a.example", RrType::TXT);  // a is now the most recently used
  resolver->query("c.example", RrType::TXT);  // evicts b
  EXPECT_EQ(inner_->calls, 3);
  resolver->query("a.example", RrType::TXT);
  EXPECT_EQ(inner_->calls, 3);
  resolver->query("b.example", RrType::TXT);
  EXPECT_EQ(inner_->calls, 4);
}

TEST_F(DnsCache, ZeroEntriesMeansNoCache) {
  AnswerCacheConfig config;
  config.max_entries = 0;
  auto inner = std::make_unique<CountingResolver>();
  Resolver* raw = inner.get();
  auto resolver = make_caching_resolver(std::move(inner), config);
  EXPECT_EQ(resolver.get(), raw);
}

TEST_F(DnsCache, ManyThreadsAtOnce) {
  auto resolver = make();
  for (int i = 0; i < 20; ++i) {
    inner_->answers["n" + std::to_string(i) + ".example"] = txt(std::to_string(i), 300);
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        int n = i % 20;
        Answer a = resolver->query("n" + std::to_string(n) + ".example", RrType::TXT);
        if (a.txt.size() != 1 || a.txt[0] != std::to_string(n)) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(inner_->calls, 4 * 20);  // at most one miss per name per thread
}

}  // namespace
}  // namespace postern::dns
