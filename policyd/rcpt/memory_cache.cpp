// memory_cache.cpp — the in-process recipient cache (memory_cache.hpp).
#include "policyd/rcpt/memory_cache.hpp"

#include <chrono>

namespace postern::rcpt {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

MemoryCache::MemoryCache(CacheConfig config, Clock clock)
    : config_(config), clock_(std::move(clock)) {}

std::optional<bool> MemoryCache::get(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(address);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.expires <= clock_()) {
    lru_.erase(it->second.position);
    entries_.erase(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second.position);
  return it->second.known;
}

void MemoryCache::put(const std::string& address, bool known) {
  double ttl = known ? config_.positive_ttl_seconds : config_.negative_ttl_seconds;
  if (config_.max_entries == 0 || !(ttl > 0)) return;
  std::lock_guard lock(mutex_);
  double expires = clock_() + ttl;
  auto it = entries_.find(address);
  if (it != entries_.end()) {
    it->second.known = known;
    it->second.expires = expires;
    lru_.splice(lru_.begin(), lru_, it->second.position);
    return;
  }
  if (entries_.size() >= config_.max_entries) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(address);
  entries_.emplace(address, Entry{known, expires, lru_.begin()});
}

size_t MemoryCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace postern::rcpt
