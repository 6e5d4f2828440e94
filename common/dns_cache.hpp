// dns_cache.hpp — an answer cache in front of a dns::Resolver, in the caller's thread.
// libunbound caches too, but each of its answers, cached or not, is a hand-off to its worker
// thread and back (pipe writes, poll, a condition variable: ~0.1 ms of CPU and four context
// switches). A milter verifying mail asks the same few names (selector._domainkey.sdid,
// _dmarc.domain) over and over; this cache answers those from memory.
// Kept: NoError (records or NODATA) and NxDomain answers with a TTL > 0, for min(TTL,
// max_ttl_seconds) from when they arrived (RFC 2308 §5 for negative answers). Never kept:
// ServFail, Timeout, Error (a retry may succeed). Names compare case-insensitively
// (RFC 4343), a trailing dot ignored. Bounded by max_entries, least recently used out first.
// Thread-safe; the inner resolver is called without the lock held.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "common/dns.hpp"

namespace postern::dns {

struct AnswerCacheConfig {
  size_t max_entries = 10000;       // 0: no cache, every query goes to the inner resolver
  uint32_t max_ttl_seconds = 3600;  // an answer is reused at most this long
};

/// Monotonic clock for expiry; tests inject a fake one.
using CacheClock = std::function<std::chrono::steady_clock::time_point()>;

/// `inner` wrapped in the cache (returned as is when config.max_entries is 0). `clock` empty:
/// std::chrono::steady_clock::now.
std::unique_ptr<Resolver> make_caching_resolver(std::unique_ptr<Resolver> inner,
                                                const AnswerCacheConfig& config,
                                                CacheClock clock = {});

}  // namespace postern::dns
