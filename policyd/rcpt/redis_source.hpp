// redis_source.hpp — postern-rcpt's Redis parts over common/redis.hpp: the recipient source
// (a key per valid address), the relay domains held in Redis (a key per domain), and the
// shared positive/negative cache, so that every gateway behind one MX sees the same answers.
// Default key schema as the a16bitsysop/docker-postfix-redis image (../shared/seeds):
// "VALI:<address>" exists → the recipient is valid; "VDOM:<domain>" exists → we answer for
// that domain. Keys are built from templates with %s (address), %u (local part), %d (domain),
// %% — the address lower-cased, as Postfix folds table keys. Faults (common/redis.hpp
// RedisError) become SourceFault; the client's OutageTracker logs one line per outage.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/redis.hpp"
#include "policyd/rcpt/memory_cache.hpp"
#include "policyd/rcpt/rcpt_policy.hpp"
#include "policyd/rcpt/recipient_source.hpp"

namespace postern::rcpt {

/// `key_template` with %s, %u, %d, %% replaced for `address` (split at its last '@'; no '@':
/// %u is the whole address, %d empty). Throws ConfigError for another '%' escape.
std::string expand_key(std::string_view key_template, std::string_view address);

/// Checks a key template (ConfigError as expand_key).
void check_key_template(std::string_view key_template);

/// The recipient source: EXISTS <key>.
class RedisSource : public RecipientSource {
 public:
  /// `client` must outlive the source. Throws ConfigError for a bad template.
  RedisSource(redis::Client& client, std::string key_template = "VALI:%s");
  const char* name() const override { return "redis"; }
  bool exists(const std::string& address) override;

 private:
  redis::Client& client_;
  std::string key_template_;
};

/// Relay domains: the fixed list, or a domain whose key (default "VDOM:%d") exists in Redis.
/// Redis answers are remembered for `ttl_seconds` (positive and negative) in-process.
class RedisDomains : public RelayDomains {
 public:
  RedisDomains(DomainList fixed, redis::Client& client, std::string key_template = "VDOM:%d",
               double ttl_seconds = 60, Clock clock = steady_seconds);
  /// Throws SourceFault when Redis must be asked and cannot answer.
  bool contains(const std::string& domain) override;

 private:
  DomainList fixed_;
  redis::Client& client_;
  std::string key_template_;
  MemoryCache cache_;
};

/// The shared cache: "<prefix><address>" = "1" (known) or "0" (unknown) with a PX lifetime
/// of the positive or negative TTL. Throws SourceFault("redis-cache") on a fault.
class RedisCache : public RecipientCache {
 public:
  RedisCache(redis::Client& client, CacheConfig config, std::string prefix = "postern:rcpt:");
  std::optional<bool> get(const std::string& address) override;
  void put(const std::string& address, bool known) override;

 private:
  redis::Client& client_;
  CacheConfig config_;
  std::string prefix_;
};

}  // namespace postern::rcpt
