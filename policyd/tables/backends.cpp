// backends.cpp — the Redis client (common/redis.hpp) as the maps' KeyValueStore and the LDAP
// client (common/ldap.hpp) as their Directory; each fault becomes a StoreError (→ TEMP).
#include "policyd/tables/backends.hpp"

#include <atomic>
#include <string>
#include <utility>

#include "common/config_error.hpp"
#include "common/ldap.hpp"
#include "common/redis.hpp"

namespace postern::tables {
namespace {

// One reply of a string command: a bulk string, or nothing (nil). Anything else (an integer, an
// array) means the key holds another type than the map expects: a fault, not "not found".
std::optional<std::string> string_or_nil(const redis::Reply& reply, const std::string& key) {
  if (reply.is_nil()) return std::nullopt;
  if (reply.type == redis::Reply::Type::String) return reply.str;
  throw StoreError("key '" + key + "' did not give a string");
}

class RedisStore : public KeyValueStore {
 public:
  RedisStore(redis::Url url, redis::Options options)
      : tracker_(options.name), client_(std::move(url), options, &tracker_) {}

  std::optional<std::string> get(const std::string& key) override {
    return string_or_nil(call({"GET", key}), key);
  }
  std::vector<std::optional<std::string>> mget(const std::vector<std::string>& keys) override {
    std::vector<std::string_view> args{"MGET"};
    args.insert(args.end(), keys.begin(), keys.end());
    redis::Reply reply = call(args);
    if (reply.type != redis::Reply::Type::Array || reply.elements.size() != keys.size()) {
      throw StoreError("MGET did not give one value per key");
    }
    std::vector<std::optional<std::string>> out;
    out.reserve(keys.size());
    for (const redis::Reply& element : reply.elements) {  // MGET gives nil for other types
      out.push_back(element.type == redis::Reply::Type::String
                        ? std::optional<std::string>(element.str)
                        : std::nullopt);
    }
    return out;
  }
  std::vector<std::string> smembers(const std::string& key) override {
    redis::Reply reply = call({"SMEMBERS", key});
    if (reply.type != redis::Reply::Type::Array) {
      throw StoreError("SMEMBERS " + key + " did not give a set");
    }
    std::vector<std::string> out;
    for (const redis::Reply& element : reply.elements) out.push_back(element.str);
    return out;
  }
  std::optional<std::string> hget(const std::string& key, const std::string& field) override {
    return string_or_nil(call({"HGET", key, field}), key);
  }

  void check() { call({"PING"}); }
  bool up() const { return !tracker_.down(); }

 private:
  redis::Reply call(const std::vector<std::string_view>& args) {
    try {
      return client_.command(args);
    } catch (const redis::RedisError& e) {  // includes WRONGTYPE error replies
      throw StoreError(std::string("redis: ") + e.what());
    }
  }

  redis::OutageTracker tracker_;
  redis::Client client_;
};

class LdapDirectory : public Directory {
 public:
  explicit LdapDirectory(ldap::ClientConfig config) : client_(std::move(config)) {}

  std::vector<std::string> search(const DirectoryQuery& query) override {
    ldap::SearchRequest request;
    request.base = query.search_base;
    request.filter = query.filter;
    request.attributes = {query.result_attribute};
    std::vector<std::string> out;
    try {
      for (const ldap::Entry& entry : client_.search(request)) {
        if (const auto* values = entry.values(query.result_attribute)) {
          out.insert(out.end(), values->begin(), values->end());
        }
      }
    } catch (const ldap::LdapError& e) {
      throw StoreError(std::string("ldap ") + ldap::kind_name(e.kind()) + ": " + e.what());
    }
    return out;
  }

  void check() { client_.check(); }
  bool up() const { return client_.up(); }

 private:
  ldap::Client client_;
};

}  // namespace

struct Backends::Impl {
  std::unique_ptr<RedisStore> redis;
  std::unique_ptr<LdapDirectory> ldap;
};

Backends::Backends(const TablesConfig& config, metrics::Health& health)
    : impl_(std::make_unique<Impl>()) {
  if (config.uses(MapSpec::Kind::Redis) || config.uses(MapSpec::Kind::Cidr)) {
    redis::Options options;
    options.connect_timeout_seconds = config.redis.timeout_seconds;
    options.command_timeout_seconds = config.redis.timeout_seconds;
    options.pool_size = config.worker_threads;
    options.name = "tables-redis";
    impl_->redis = std::make_unique<RedisStore>(redis::parse_url(config.redis.url), options);
    health.add_check("redis", [store = impl_->redis.get()] {
      return metrics::Health::CheckResult{store->up(), store->up() ? "" : "last command failed"};
    });
  }
  if (config.uses(MapSpec::Kind::Ldap)) {
    ldap::ClientConfig client;
    client.uris = config.ldap.servers;
    client.bind_dn = config.ldap.bind_dn;
    if (!config.ldap.bind_password_file.empty()) {
      client.bind_password = ldap::read_password_file(config.ldap.bind_password_file);
    }
    client.network_timeout_seconds = config.ldap.timeout_seconds;
    client.operation_timeout_seconds = config.ldap.timeout_seconds;
    client.pool_size = config.worker_threads;
    client.name = "tables-ldap";
    impl_->ldap = std::make_unique<LdapDirectory>(std::move(client));
    health.add_check("ldap", [directory = impl_->ldap.get()] {
      bool up = directory->up();
      return metrics::Health::CheckResult{up, up ? "" : "last operation failed"};
    });
  }
}

Backends::~Backends() = default;

void Backends::check() {
  if (impl_->redis) {
    try {
      impl_->redis->check();
    } catch (const StoreError& e) {
      throw ConfigError(std::string("--redis-url: ") + e.what());
    }
  }
  if (impl_->ldap) {
    try {
      impl_->ldap->check();
    } catch (const ldap::LdapError& e) {
      throw ConfigError(std::string("--ldap-server: ") + e.what());
    }
  }
}

std::unique_ptr<Map> Backends::make_map(const MapSpec& spec) {
  switch (spec.kind) {
    case MapSpec::Kind::Redis:
      return make_redis_map(spec, *impl_->redis);
    case MapSpec::Kind::Cidr:
      return make_cidr_map(spec, *impl_->redis);
    case MapSpec::Kind::Ldap:
      break;
  }
  return make_ldap_map(spec, *impl_->ldap);
}

}  // namespace postern::tables
