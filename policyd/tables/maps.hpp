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

/// The lookup forms a map tries for one asked key (option forms=). Postfix sends a socketmap
/// only the full key (it is a pattern table to Postfix: DICT_FLAG_PATTERN), never the shorter
/// forms it walks for hash: tables; these bring them back. See lookup_forms().
enum class AddressForms {
  Exact,    // the key as asked (default)
  Access,   // access(5): user@domain, domain (+ parents), user@; host names; IP prefixes
  Virtual,  // virtual(5): user@domain, @domain
};

/// How forms=access matches a domain's subdomains (option parents=), after Postfix's
/// parent_domain_matches_subdomains (postconf(5)): its default lists smtpd_access_maps, so an
/// entry "example.com" also matches sub.example.com (Parent); without it only an entry
/// ".example.com" does (Dot).
enum class ParentStyle {
  Parent,  // sub.example.com, example.com, com (default)
  Dot,     // sub.example.com, .example.com, .com
  None,    // sub.example.com only
};

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
  AddressForms forms = AddressForms::Exact;
  ParentStyle parents = ParentStyle::Parent;
  bool lowercase = false;  // ASCII-lowercase the key before the forms (parse: default yes
                           // with forms=access|virtual, as Postfix lowercases fixed-table keys)
};

/// The keys (without prefix) a map tries for the asked `key`, in order; the first found wins.
/// `spec.lowercase` first lowercases `key` (ASCII). Then, with forms=
///  - exact (default): {key}.
///  - access, access(5) "EMAIL ADDRESS PATTERNS" order of smtpd_check.c check_mail_access:
///    an address user@domain (split at the last '@') gives user@domain, the domain walk of
///    domain, then user@ (no user@ for an empty user, no domain walk for an empty domain);
///    an IPv4 address a.b.c.d gives a.b.c.d, a.b.c, a.b, a and an IPv6 address drops one
///    ':'-part at a time as written (access(5) "CLIENT HOSTNAME/ADDRESS PATTERNS"); any other
///    key (HELO name, client host name, domain) gives its domain walk.
///    The domain walk of sub.example.com is, per `spec.parents`: sub.example.com,
///    example.com, com (Parent); sub.example.com, .example.com, .com (Dot); sub.example.com
///    (None). A domain over 255 octets (no DNS name) is not walked.
///  - virtual, virtual(5) "TABLE SEARCH ORDER" without the parts that need main.cf:
///    user@domain then @domain for an address; any other key as asked. Not tried: the bare
///    user (Postfix tries it only for domains in mydestination and friends) and the address
///    with its recipient_delimiter extension removed.
/// No duplicates. Bounded: the walk has at most one form per '.' or ':' of the key.
std::vector<std::string> lookup_forms(const MapSpec& spec, const std::string& key);

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
  /// The answer for `key`: the first of lookup_forms(spec, key) found (with forms unset,
  /// `key` exactly as asked). Throws StoreError on a backend fault.
  virtual SocketmapReply lookup(const std::string& key) = 0;
};

/// kind redis: GET, SMEMBERS (joined) or HGET on prefix + each lookup form; string maps read
/// all forms in one MGET (one round trip), set and hash maps one command per form, in order.
std::unique_ptr<Map> make_redis_map(const MapSpec& spec, KeyValueStore& store);
/// kind cidr: IP keys through cidr_candidate_keys (one MGET, first hit wins), other keys
/// (host names) through lookup_forms (one MGET).
std::unique_ptr<Map> make_cidr_map(const MapSpec& spec, KeyValueStore& store);
/// kind ldap: search with the query_filter expanded for the key by ldap::expand_filter
/// (ldap_table(5): %s %u %d ..., RFC 4515 escaping; no search when it gives none → NOTFOUND);
/// the result_attribute values of every entry found, joined by join_values; with forms=, one
/// search per lookup form in order, the first that finds values wins.
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
