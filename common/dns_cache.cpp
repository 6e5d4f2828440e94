// dns_cache.cpp — see dns_cache.hpp. An LRU list of (key, answer, expiry) with a hash index.
#include "common/dns_cache.hpp"

#include <algorithm>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "common/ascii.hpp"

namespace postern::dns {
namespace {

using Clock = std::chrono::steady_clock;

// "type:name", the name lower-cased without a trailing dot.
std::string cache_key(std::string_view name, RrType type) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string key = std::to_string(static_cast<unsigned>(type));
  key += ':';
  for (char c : name) key += ascii_lower(c);
  return key;
}

bool reusable(const Answer& answer) {
  return answer.ttl > 0 && (answer.status == Status::NoError || answer.status == Status::NxDomain);
}

class CachingResolver final : public Resolver {
 public:
  CachingResolver(std::unique_ptr<Resolver> inner, const AnswerCacheConfig& config,
                  CacheClock clock)
      : inner_(std::move(inner)), config_(config), clock_(std::move(clock)) {}

  Answer query(std::string_view name, RrType type) override {
    std::string key = cache_key(name, type);
    {
      std::lock_guard lock(mutex_);
      if (auto it = index_.find(key); it != index_.end()) {
        if (clock_() < it->second->expires) {
          lru_.splice(lru_.begin(), lru_, it->second);  // most recently used first
          return it->second->answer;
        }
        lru_.erase(it->second);
        index_.erase(it);
      }
    }
    Answer answer = inner_->query(name, type);
    if (reusable(answer)) store(std::move(key), answer);
    return answer;
  }

 private:
  struct Entry {
    std::string key;
    Answer answer;
    Clock::time_point expires;
  };

  void store(std::string key, const Answer& answer) {
    auto expires = clock_() + std::chrono::seconds(std::min(answer.ttl, config_.max_ttl_seconds));
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {  // another thread was quicker
      lru_.erase(it->second);
      index_.erase(it);
    }
    while (!lru_.empty() && index_.size() >= config_.max_entries) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
    lru_.push_front(Entry{key, answer, expires});
    index_.emplace(std::move(key), lru_.begin());
  }

  std::unique_ptr<Resolver> inner_;
  AnswerCacheConfig config_;
  CacheClock clock_;
  std::mutex mutex_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace

std::unique_ptr<Resolver> make_caching_resolver(std::unique_ptr<Resolver> inner,
                                                const AnswerCacheConfig& config, CacheClock clock) {
  if (config.max_entries == 0) return inner;
  if (!clock) clock = [] { return Clock::now(); };
  return std::make_unique<CachingResolver>(std::move(inner), config, std::move(clock));
}

}  // namespace postern::dns
