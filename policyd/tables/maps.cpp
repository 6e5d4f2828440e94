// maps.cpp — Redis, CIDR and LDAP maps, value joining, the reply cache and the dispatcher.
// Sources: socketmap_table(5), access(5) and virtual(5) (lookup forms; the order is Postfix's
// smtpd_check.c check_mail_access / check_domain_access / check_addr_access), ldap_table(5)
// (query_filter and result_attribute; the filter expansion and RFC 4515 escaping are
// common/ldap.hpp's), cidr_table(5) (network notation).
#include "policyd/tables/maps.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "common/cidr.hpp"
#include "common/ldap.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"

namespace postern::tables {

std::string join_values(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  std::string out;
  for (const std::string& value : values) {
    if (!out.empty()) out.push_back(',');
    out.append(value);
  }
  return out;
}

std::vector<std::string> cidr_candidate_keys(const std::string& prefix,
                                             const std::string& address) {
  std::optional<IpAddress> ip = IpAddress::parse(address);
  if (!ip) return {};
  unsigned bits = ip->v6 ? 128 : 32;
  std::vector<std::string> keys;
  keys.reserve(bits + 2);
  keys.push_back(prefix + address);
  IpAddress network = *ip;
  for (unsigned length = bits + 1; length-- > 0;) {
    if (length < bits) {  // clear bit `length` (counted from the most significant)
      network.bytes[length / 8] =
          static_cast<uint8_t>(network.bytes[length / 8] & ~(0x80u >> (length % 8)));
    }
    keys.push_back(prefix + network.to_string() + "/" + std::to_string(length));
  }
  return keys;
}

namespace {

// The domain walk of access(5) (smtpd_check.c check_domain_access), appended to `out`.
void add_domain_walk(const std::string& domain, ParentStyle parents,
                     std::vector<std::string>& out) {
  out.push_back(domain);
  if (parents == ParentStyle::None || domain.size() > 255) return;
  for (size_t dot = domain.find('.', 1); dot != std::string::npos;
       dot = domain.find('.', dot + 1)) {
    if (dot + 1 == domain.size()) break;  // a trailing dot: no empty parent
    out.push_back(parents == ParentStyle::Parent ? domain.substr(dot + 1) : domain.substr(dot));
  }
}

void add_unique(std::vector<std::string>& out, std::string form) {
  if (std::find(out.begin(), out.end(), form) == out.end()) out.push_back(std::move(form));
}

}  // namespace

std::vector<std::string> lookup_forms(const MapSpec& spec, const std::string& asked) {
  std::string key = asked;
  if (spec.lowercase) {
    for (char& c : key) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  if (spec.forms == AddressForms::Exact) return {key};
  size_t at = key.rfind('@');
  std::vector<std::string> forms;
  if (spec.forms == AddressForms::Virtual) {
    forms.push_back(key);
    if (at != std::string::npos && at > 0 && at + 1 < key.size()) add_unique(forms, key.substr(at));
    return forms;
  }
  if (at != std::string::npos) {  // access(5) EMAIL ADDRESS PATTERNS
    forms.push_back(key);
    std::vector<std::string> walk;
    if (at + 1 < key.size()) add_domain_walk(key.substr(at + 1), spec.parents, walk);
    for (std::string& form : walk) add_unique(forms, std::move(form));
    if (at > 0) add_unique(forms, key.substr(0, at + 1));
    return forms;
  }
  if (IpAddress::parse(key)) {  // access(5) CLIENT HOSTNAME/ADDRESS PATTERNS: net prefixes
    char delimiter = key.find(':') != std::string::npos ? ':' : '.';
    std::string prefix = key;
    for (;;) {
      forms.push_back(prefix);
      size_t cut = prefix.rfind(delimiter);
      if (cut == std::string::npos) break;
      prefix.resize(cut);
      if (prefix.empty()) break;
    }
    return forms;
  }
  std::vector<std::string> walk;
  add_domain_walk(key, spec.parents, walk);
  for (std::string& form : walk) add_unique(forms, std::move(form));
  return forms;
}

namespace {

SocketmapReply found_or_not(std::optional<std::string> value) {
  return value ? SocketmapReply::ok(std::move(*value)) : SocketmapReply::not_found();
}

// One MGET of `keys`; the value of the first that exists.
SocketmapReply first_found(KeyValueStore& store, const std::vector<std::string>& keys) {
  std::vector<std::optional<std::string>> values = store.mget(keys);
  if (values.size() != keys.size()) {
    throw StoreError("MGET of " + std::to_string(keys.size()) + " keys returned " +
                     std::to_string(values.size()) + " values");
  }
  for (auto& value : values) {
    if (value) return SocketmapReply::ok(std::move(*value));
  }
  return SocketmapReply::not_found();
}

class RedisMap : public Map {
 public:
  RedisMap(MapSpec spec, KeyValueStore& store) : spec_(std::move(spec)), store_(store) {}
  SocketmapReply lookup(const std::string& key) override {
    std::vector<std::string> forms = lookup_forms(spec_, key);
    if (spec_.value_type == ValueType::String && forms.size() > 1) {
      for (std::string& form : forms) form.insert(0, spec_.prefix);
      return first_found(store_, forms);
    }
    for (const std::string& form : forms) {
      SocketmapReply reply = lookup_one(spec_.prefix + form);
      if (reply.status == SocketmapReply::Status::Ok) return reply;
    }
    return SocketmapReply::not_found();
  }

 private:
  SocketmapReply lookup_one(const std::string& redis_key) {
    switch (spec_.value_type) {
      case ValueType::String:
        return found_or_not(store_.get(redis_key));
      case ValueType::Hash:
        return found_or_not(store_.hget(redis_key, spec_.hash_field));
      case ValueType::Set:
        break;
    }
    std::vector<std::string> members = store_.smembers(redis_key);
    if (members.empty()) return SocketmapReply::not_found();
    return SocketmapReply::ok(join_values(std::move(members)));
  }

  MapSpec spec_;
  KeyValueStore& store_;
};

class CidrMap : public Map {
 public:
  CidrMap(MapSpec spec, KeyValueStore& store) : spec_(std::move(spec)), store_(store) {}
  SocketmapReply lookup(const std::string& key) override {
    std::vector<std::string> keys = cidr_candidate_keys(spec_.prefix, key);
    if (keys.empty()) {  // a host name: its lookup forms
      keys = lookup_forms(spec_, key);
      if (keys.size() == 1) return found_or_not(store_.get(spec_.prefix + keys[0]));
      for (std::string& form : keys) form.insert(0, spec_.prefix);
    }
    return first_found(store_, keys);
  }

 private:
  MapSpec spec_;
  KeyValueStore& store_;
};

class LdapMap : public Map {
 public:
  LdapMap(MapSpec spec, Directory& directory) : spec_(std::move(spec)), directory_(directory) {}
  SocketmapReply lookup(const std::string& key) override {
    for (const std::string& form : lookup_forms(spec_, key)) {
      std::optional<std::string> filter = ldap::expand_filter(spec_.query_filter, form);
      if (!filter) continue;
      std::vector<std::string> values =
          directory_.search({spec_.search_base, *filter, spec_.result_attribute});
      if (!values.empty()) return SocketmapReply::ok(join_values(std::move(values)));
    }
    return SocketmapReply::not_found();
  }

 private:
  MapSpec spec_;
  Directory& directory_;
};

}  // namespace

std::unique_ptr<Map> make_redis_map(const MapSpec& spec, KeyValueStore& store) {
  return std::make_unique<RedisMap>(spec, store);
}

std::unique_ptr<Map> make_cidr_map(const MapSpec& spec, KeyValueStore& store) {
  return std::make_unique<CidrMap>(spec, store);
}

std::unique_ptr<Map> make_ldap_map(const MapSpec& spec, Directory& directory) {
  return std::make_unique<LdapMap>(spec, directory);
}

ReplyCache::ReplyCache(std::chrono::milliseconds ttl, size_t max_entries, Clock clock)
    : ttl_(ttl), max_entries_(max_entries), clock_(std::move(clock)) {}

namespace {
std::string cache_key(const std::string& map, const std::string& key) {
  std::string out = map;
  out.push_back(' ');  // map names hold no space (socketmap splits at the first one)
  out.append(key);
  return out;
}
}  // namespace

std::optional<SocketmapReply> ReplyCache::find(const std::string& map, const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(cache_key(map, key));
  if (it == entries_.end()) return std::nullopt;
  if (clock_() >= it->second.expires) {
    order_.erase(it->second.order);
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.reply;
}

void ReplyCache::store(const std::string& map, const std::string& key,
                       const SocketmapReply& reply) {
  using Status = SocketmapReply::Status;
  if (reply.status != Status::Ok && reply.status != Status::NotFound) return;
  if (max_entries_ == 0 || ttl_.count() <= 0) return;
  std::lock_guard lock(mutex_);
  std::string k = cache_key(map, key);
  auto it = entries_.find(k);
  if (it != entries_.end()) {
    order_.erase(it->second.order);
    entries_.erase(it);
  }
  while (entries_.size() >= max_entries_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(k);
  entries_.emplace(std::move(k), Entry{reply, clock_() + ttl_, std::prev(order_.end())});
}

void Tables::add(const std::string& name, std::unique_ptr<Map> map) {
  Entry entry{std::move(map), {}};
  if (registry_) {
    for (const char* result : {"OK", "NOTFOUND", "TEMP", "PERM"}) {
      entry.counters[result] = &registry_->counter(
          "postern_tables_lookups_total", "Lookups by map and result (socketmap reply status).",
          {{"map", name}, {"result", result}});
    }
  }
  maps_[name] = std::move(entry);
}

SocketmapReply Tables::lookup(const std::string& name, const std::string& key) {
  auto it = maps_.find(name);
  if (it == maps_.end()) return SocketmapReply::perm("unknown map '" + name + "'");
  SocketmapReply reply;
  std::optional<SocketmapReply> cached;
  if (cache_) cached = cache_->find(name, key);
  if (cached) {
    reply = std::move(*cached);
  } else {
    try {
      reply = it->second.map->lookup(key);
      if (cache_) cache_->store(name, key, reply);
    } catch (const StoreError& e) {
      log::warning("tables-backend-error").kv("map", name).kv("reason", e.what());
      reply = SocketmapReply::temp(std::string("map ") + name + ": " + e.what());
    }
  }
  log::debug("tables-lookup")
      .kv("map", name)
      .kv("key", key)
      .kv("result", status_name(reply.status))
      .kv("cached", cached.has_value());
  auto counter = it->second.counters.find(status_name(reply.status));
  if (counter != it->second.counters.end()) counter->second->inc();
  return reply;
}

}  // namespace postern::tables
