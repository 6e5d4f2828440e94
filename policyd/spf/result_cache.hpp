// result_cache.hpp — a bounded, TTL'd cache of check_host() outcomes (postern-spf
// --cache-ttl, --cache-size) in front of any SpfEngine. The resolver caches DNS answers; this
// saves the whole evaluation for repeat senders. Key: (client IP, <domain>, <sender>, HELO) —
// everything a record can depend on through macros (RFC 7208 §7.2) except %{t}, which is the
// receive time anyway and a cached outcome is at most TTL seconds old. Temperror is never
// cached (it is the retry case). Least recently used entries go first when full.
// Thread-safe; concurrent misses on one key each evaluate (no single flight).
#pragma once

#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/metrics.hpp"
#include "policyd/spf/evaluator.hpp"

namespace postern::spf {

struct ResultCacheConfig {
  double ttl_seconds = 300;     // lifetime of an entry; 0 disables the cache
  size_t max_entries = 100000;  // bound; 0 disables the cache
};

/// Counters for logs and tests.
struct ResultCacheStats {
  size_t hits = 0;
  size_t misses = 0;
  size_t entries = 0;
};

/// An SpfEngine answering from the cache, else from `engine` (which must outlive it). `clock`
/// is monotonic seconds (evaluator.hpp).
class CachingEngine : public SpfEngine {
 public:
  CachingEngine(SpfEngine& engine, ResultCacheConfig config, MonotonicClock clock = steady_seconds);

  /// The cached outcome for the request when younger than ttl_seconds, else the engine's
  /// (stored unless temperror). Blocking on a miss; exceptions of the engine pass through
  /// and nothing is stored.
  SpfOutcome check_host(const CheckHostRequest& request) override;

  ResultCacheStats stats() const;

  /// Registers and from then on keeps `postern_spf_cache_lookups_total{result="hit"|"miss"}`
  /// (one per check_host() while the cache is enabled) and `postern_spf_cache_entries` in
  /// `registry`, which must outlive this engine. Call once, before the first check.
  void register_metrics(metrics::Registry& registry);

 private:
  struct Entry {
    SpfOutcome outcome;
    double expires = 0;
    std::list<std::string>::iterator position;  // in lru_
  };

  static std::string key_of(const CheckHostRequest& request);

  SpfEngine& engine_;
  ResultCacheConfig config_;
  MonotonicClock clock_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // front = most recently used
  size_t hits_ = 0, misses_ = 0;
  metrics::Counter* hit_counter_ = nullptr;
  metrics::Counter* miss_counter_ = nullptr;
  metrics::Gauge* entries_gauge_ = nullptr;
};

}  // namespace postern::spf
