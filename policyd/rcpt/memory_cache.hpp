// memory_cache.hpp — postern-rcpt's in-process recipient cache: positive and negative answers
// with separate lifetimes (--positive-ttl, default 3600 s; --negative-ttl, default 300 s),
// bounded (--cache-size entries; least recently used go first). Thread-safe (one mutex).
// A TTL of 0 turns that side off. The clock is injected (monotonic seconds).
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "policyd/rcpt/recipient_source.hpp"

namespace postern::rcpt {

struct CacheConfig {
  double positive_ttl_seconds = 3600;
  double negative_ttl_seconds = 300;
  size_t max_entries = 100000;  // 0 disables the cache
};

/// Monotonic seconds (steady_clock in the daemon, a variable in tests).
using Clock = std::function<double()>;
double steady_seconds();

class MemoryCache : public RecipientCache {
 public:
  explicit MemoryCache(CacheConfig config, Clock clock = steady_seconds);
  std::optional<bool> get(const std::string& address) override;
  void put(const std::string& address, bool known) override;
  size_t size() const;

 private:
  struct Entry {
    bool known = false;
    double expires = 0;
    std::list<std::string>::iterator position;  // in lru_
  };
  CacheConfig config_;
  Clock clock_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // front = most recently used
};

}  // namespace postern::rcpt
