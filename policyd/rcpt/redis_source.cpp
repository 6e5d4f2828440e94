// redis_source.cpp — Redis recipient source, relay domains and shared cache (redis_source.hpp).
#include "policyd/rcpt/redis_source.hpp"

#include <cmath>

#include "common/config_error.hpp"

namespace postern::rcpt {

std::string expand_key(std::string_view key_template, std::string_view address) {
  size_t at = address.rfind('@');
  std::string_view local = at == std::string_view::npos ? address : address.substr(0, at);
  std::string_view domain = at == std::string_view::npos ? "" : address.substr(at + 1);
  std::string out;
  for (size_t i = 0; i < key_template.size(); ++i) {
    char c = key_template[i];
    if (c != '%') {
      out += c;
      continue;
    }
    char letter = i + 1 < key_template.size() ? key_template[++i] : '\0';
    switch (letter) {
      case 's':
        out += address;
        break;
      case 'u':
        out += local;
        break;
      case 'd':
        out += domain;
        break;
      case '%':
        out += '%';
        break;
      default:
        throw ConfigError("key template '" + std::string(key_template) + "': " +
                          (letter ? std::string("unknown expansion %") + letter
                                  : std::string("'%' ends the template")) +
                          " at offset " + std::to_string(i - (letter ? 1 : 0)) +
                          " (known: %s %u %d %%)");
    }
  }
  return out;
}

void check_key_template(std::string_view key_template) {
  (void)expand_key(key_template, "u@d");
}

RedisSource::RedisSource(redis::Client& client, std::string key_template)
    : client_(client), key_template_(std::move(key_template)) {
  check_key_template(key_template_);
}

bool RedisSource::exists(const std::string& address) {
  std::string key = expand_key(key_template_, address);
  try {
    return client_.command({"EXISTS", key}).integer > 0;
  } catch (const redis::RedisError& e) {
    throw SourceFault("redis", e.what());
  }
}

RedisDomains::RedisDomains(DomainList fixed, redis::Client& client, std::string key_template,
                           double ttl_seconds, Clock clock)
    : fixed_(std::move(fixed)),
      client_(client),
      key_template_(std::move(key_template)),
      cache_(CacheConfig{ttl_seconds, ttl_seconds, 10000}, std::move(clock)) {
  check_key_template(key_template_);
}

bool RedisDomains::contains(const std::string& domain) {
  if (fixed_.contains(domain)) return true;
  if (auto hit = cache_.get(domain)) return *hit;
  bool listed = false;
  try {
    listed = client_.command({"EXISTS", expand_key(key_template_, "@" + domain)}).integer > 0;
  } catch (const redis::RedisError& e) {
    throw SourceFault("redis", e.what());
  }
  cache_.put(domain, listed);
  return listed;
}

RedisCache::RedisCache(redis::Client& client, CacheConfig config, std::string prefix)
    : client_(client), config_(config), prefix_(std::move(prefix)) {}

std::optional<bool> RedisCache::get(const std::string& address) {
  try {
    redis::Reply r = client_.command({"GET", prefix_ + address});
    if (r.is_nil()) return std::nullopt;
    if (r.str == "1") return true;
    if (r.str == "0") return false;
    return std::nullopt;  // not ours: ask the sources, then overwrite
  } catch (const redis::RedisError& e) {
    throw SourceFault("redis-cache", e.what());
  }
}

void RedisCache::put(const std::string& address, bool known) {
  double ttl = known ? config_.positive_ttl_seconds : config_.negative_ttl_seconds;
  if (!(ttl > 0)) return;
  std::string ms = std::to_string(static_cast<long long>(std::ceil(ttl * 1000)));
  try {
    client_.command({"SET", prefix_ + address, known ? "1" : "0", "PX", ms});
  } catch (const redis::RedisError& e) {
    throw SourceFault("redis-cache", e.what());
  }
}

}  // namespace postern::rcpt
