// result_cache.cpp — LRU map of check_host() outcomes with expiry.
#include "policyd/spf/result_cache.hpp"

#include <utility>

namespace postern::spf {

CachingEngine::CachingEngine(SpfEngine& engine, ResultCacheConfig config, MonotonicClock clock)
    : engine_(engine), config_(config), clock_(std::move(clock)) {}

std::string CachingEngine::key_of(const CheckHostRequest& request) {
  // NUL cannot occur in the parts that matter (a policy attribute value ends at a newline and
  // NUL is no part of a valid name); it separates them.
  std::string key = request.client.to_string();
  for (const std::string* part : {&request.domain, &request.sender, &request.helo}) {
    key += '\0';
    key += *part;
  }
  return key;
}

SpfOutcome CachingEngine::check_host(const CheckHostRequest& request) {
  if (config_.ttl_seconds <= 0 || config_.max_entries == 0) return engine_.check_host(request);
  std::string key = key_of(request);
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      if (clock_() < it->second.expires) {
        ++hits_;
        if (hit_counter_) hit_counter_->inc();
        lru_.splice(lru_.begin(), lru_, it->second.position);
        return it->second.outcome;
      }
      lru_.erase(it->second.position);
      entries_.erase(it);
      if (entries_gauge_) entries_gauge_->set(static_cast<double>(entries_.size()));
    }
    ++misses_;
    if (miss_counter_) miss_counter_->inc();
  }
  SpfOutcome outcome = engine_.check_host(request);  // unlocked: DNS may take seconds
  if (outcome.result == SpfResult::Temperror) return outcome;
  std::lock_guard lock(mutex_);
  double expires = clock_() + config_.ttl_seconds;
  auto [it, inserted] = entries_.try_emplace(key);
  if (inserted) {
    lru_.push_front(key);
    it->second.position = lru_.begin();
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.position);
  }
  it->second.outcome = outcome;
  it->second.expires = expires;
  while (entries_.size() > config_.max_entries) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  if (entries_gauge_) entries_gauge_->set(static_cast<double>(entries_.size()));
  return outcome;
}

void CachingEngine::register_metrics(metrics::Registry& registry) {
  const std::string help =
      "check_host() results answered from the result cache (hit) or "
      "evaluated (miss)";
  hit_counter_ = &registry.counter("postern_spf_cache_lookups_total", help, {{"result", "hit"}});
  miss_counter_ = &registry.counter("postern_spf_cache_lookups_total", help, {{"result", "miss"}});
  entries_gauge_ =
      &registry.gauge("postern_spf_cache_entries", "check_host() results held in the result cache");
}

ResultCacheStats CachingEngine::stats() const {
  std::lock_guard lock(mutex_);
  return ResultCacheStats{hits_, misses_, entries_.size()};
}

}  // namespace postern::spf
