// maps.hpp — postern-tables' lookup logic: named maps over a key-value store (Redis) or a
// directory (LDAP), the CIDR-aware map kind, the short-TTL cache and the dispatch of a
// socketmap request "name key" to its map. No sockets here: the stores are interfaces, so the
// logic is tested with in-memory stores and served with the real clients (redis_store.hpp,
// ldap_directory.hpp).
// Outcomes (found, not found) are replies; a store fault (server down, timeout, wrong type)
// throws StoreError and becomes "TEMP reason" — Postfix then defers, never bounces.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/socketmap.hpp"

namespace postern {
namespace metrics {
class Registry;
class Counter;
}  // namespace metrics

namespace tables {

/// A backend fault: unreachable, timed out, refused, or data of an unexpected type.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The Redis operations the maps need. Implementations throw StoreError on any fault and must
/// be thread-safe (several lookups run at once).
class KeyValueStore {
 public:
  virtual ~KeyValueStore() = default;
  /// GET: the string at `key`, nullopt when the key does not exist.
  virtual std::optional<std::string> get(const std::string& key) = 0;
  /// MGET: one entry per key, in order; nullopt where a key does not exist or is no string.
  virtual std::vector<std::optional<std::string>> mget(const std::vector<std::string>& keys) = 0;
  /// SMEMBERS: the members of the set at `key` (empty when the key does not exist).
  virtual std::vector<std::string> smembers(const std::string& key) = 0;
  /// HGET: field `field` of the hash at `key`, nullopt when either does not exist.
  virtual std::optional<std::string> hget(const std::string& key, const std::string& field) = 0;
};

/// One LDAP search the way Postfix's ldap_table(5) builds it.
struct DirectoryQuery {
  std::string search_base;
  std::string filter;  // already expanded and escaped (ldap::expand_filter)
  std::string result_attribute;
};

/// The LDAP operations the maps need; throws StoreError on any fault. Thread-safe.
class Directory {
 public:
  virtual ~Directory() = default;
  /// Every value of `query.result_attribute` over all entries found (empty: none found).
  virtual std::vector<std::string> search(const DirectoryQuery& query) = 0;
};

/// How a Redis map stores its values.
enum class ValueType { String, Set, Hash };

/// A map's declaration, from one "map = NAME KIND option=value..." line (tables_config.hpp).
struct MapSpec {
  enum class Kind { Redis, Cidr, Ldap };
  std::string name;
  Kind kind = Kind::Redis;
  std::string prefix;  // Redis key = prefix + lookup key
  ValueType value_type = ValueType::String;
  std::string hash_field;  // ValueType::Hash
  // LDAP (ldap_table(5) names)
  std::string search_base;
  std::string query_filter = "(mailacceptinggeneralid=%s)";
  std::string result_attribute = "maildrop";
};

/// The members of a multi-valued result joined as Postfix's own ldap: and mysql: tables join
/// them: with ',' (here sorted first, so the answer does not depend on the server's order).
std::string join_values(std::vector<std::string> values);

/// The Redis keys a CIDR map tries for IP `address`, most specific first: prefix + the address
/// as given, then prefix + "NET/LEN" for LEN = 32..0 (IPv4) or 128..0 (IPv6), NET the address
/// with the host bits cleared, written as inet_ntop writes it. So `SET PSA:192.168.0.0/24
/// permit` answers 192.168.0.8, a `PSA:192.168.0.8` entry overrides it, and `PSA:0.0.0.0/0`
/// is the catch-all. Empty when `address` is not an IP address.
std::vector<std::string> cidr_candidate_keys(const std::string& prefix, const std::string& address);

/// One named map.
class Map {
 public:
  virtual ~Map() = default;
  /// The answer for `key` as asked (Postfix walks address and domain forms itself).
  /// Throws StoreError on a backend fault.
  virtual SocketmapReply lookup(const std::string& key) = 0;
};

/// kind redis: GET, SMEMBERS (joined) or HGET on prefix + key.
std::unique_ptr<Map> make_redis_map(const MapSpec& spec, KeyValueStore& store);
/// kind cidr: IP keys through cidr_candidate_keys (one MGET, first hit wins), other keys GET.
std::unique_ptr<Map> make_cidr_map(const MapSpec& spec, KeyValueStore& store);
/// kind ldap: search with the query_filter expanded for the key by ldap::expand_filter
/// (ldap_table(5): %s %u %d ..., RFC 4515 escaping; no search when it gives none → NOTFOUND);
/// the result_attribute values of every entry found, joined by join_values.
std::unique_ptr<Map> make_ldap_map(const MapSpec& spec, Directory& directory);

/// Lookup result cache: (map, key) → OK/NOTFOUND reply for `ttl`; TEMP/PERM never stored.
/// Bounded by `max_entries` (oldest inserted evicted first). Thread-safe; clock injected.
class ReplyCache {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  ReplyCache(std::chrono::milliseconds ttl, size_t max_entries, Clock clock);
  std::optional<SocketmapReply> find(const std::string& map, const std::string& key);
  void store(const std::string& map, const std::string& key, const SocketmapReply& reply);

 private:
  struct Entry {
    SocketmapReply reply;
    std::chrono::steady_clock::time_point expires;
    std::list<std::string>::iterator order;
  };
  std::chrono::milliseconds ttl_;
  size_t max_entries_;
  Clock clock_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;  // insertion order, oldest first
};

/// The socketmap handler: "name key" → the named map's reply. Unknown map → PERM naming it.
/// A StoreError → TEMP with its reason (logged "tables-backend-error"). Each lookup is logged
/// at debug level ("tables-lookup map= key= result= cached="). Counts lookups in
/// postern_tables_lookups_total{map,result} when given a registry.
class Tables {
 public:
  explicit Tables(metrics::Registry* registry = nullptr, ReplyCache* cache = nullptr)
      : registry_(registry), cache_(cache) {}
  void add(const std::string& name, std::unique_ptr<Map> map);
  SocketmapReply lookup(const std::string& name, const std::string& key);

 private:
  struct Entry {
    std::unique_ptr<Map> map;
    std::map<std::string, metrics::Counter*> counters;  // by result, filled by add()
  };
  metrics::Registry* registry_;
  ReplyCache* cache_;
  std::map<std::string, Entry, std::less<>> maps_;
};

}  // namespace tables
}  // namespace postern
