// tables_maps_test.cpp — postern-tables' map logic on an in-memory store: Redis string, set
// and hash maps (value joining), the CIDR map (most specific wins, the seed's
// PSA:192.168.0.0/24 example), the LDAP map (filter expansion from common/ldap), the dispatcher
// (unknown map → PERM, backend fault → TEMP), the reply cache and the map declaration parser.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/config_error.hpp"
#include "common/metrics.hpp"
#include "policyd/tables/maps.hpp"
#include "policyd/tables/tables_config.hpp"
#include "tests/unit/config_error_of.hpp"

namespace postern::tables {
namespace {

// The Redis operations over maps; `down` makes every call a fault.
class MemoryStore : public KeyValueStore {
 public:
  std::map<std::string, std::string> strings;
  std::map<std::string, std::set<std::string>> sets;
  std::map<std::string, std::map<std::string, std::string>> hashes;
  bool down = false;
  int calls = 0;

  std::optional<std::string> get(const std::string& key) override {
    check();
    auto it = strings.find(key);
    if (it == strings.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::optional<std::string>> mget(const std::vector<std::string>& keys) override {
    check();
    std::vector<std::optional<std::string>> out;
    for (const auto& key : keys) {
      auto it = strings.find(key);
      out.push_back(it == strings.end() ? std::nullopt : std::optional<std::string>(it->second));
    }
    return out;
  }
  std::vector<std::string> smembers(const std::string& key) override {
    check();
    auto it = sets.find(key);
    if (it == sets.end()) return {};
    return {it->second.begin(), it->second.end()};
  }
  std::optional<std::string> hget(const std::string& key, const std::string& field) override {
    check();
    auto it = hashes.find(key);
    if (it == hashes.end() || !it->second.count(field)) return std::nullopt;
    return it->second.at(field);
  }

 private:
  void check() {
    ++calls;
    if (down) throw StoreError("connection refused");
  }
};

MapSpec redis_spec(const std::string& name, const std::string& prefix,
                   ValueType type = ValueType::String, const std::string& field = "",
                   MapSpec::Kind kind = MapSpec::Kind::Redis) {
  MapSpec spec;
  spec.name = name;
  spec.kind = kind;
  spec.prefix = prefix;
  spec.value_type = type;
  spec.hash_field = field;
  return spec;
}

std::string answer(Map& map, const std::string& key) {
  return map.lookup(key).to_string();
}

TEST(RedisMap, StringSetAndHashValues) {
  MemoryStore store;
  store.strings["VALI:sales@example.com"] = "user1@example.com user2@example.com";
  store.sets["SET:team@example.com"] = {"zed@example.com", "amy@example.com"};
  store.hashes["USER:amy@example.com"] = {{"mailbox", "example.com/amy/"}};
  MapSpec vali = redis_spec("vali", "VALI:");
  auto strings = make_redis_map(vali, store);
  EXPECT_EQ(answer(*strings, "sales@example.com"), "OK user1@example.com user2@example.com")
      << "a string is returned as stored";
  EXPECT_EQ(answer(*strings, "nobody@example.com"), "NOTFOUND ");
  MapSpec set_spec = redis_spec("team", "SET:", ValueType::Set);
  auto set = make_redis_map(set_spec, store);
  EXPECT_EQ(answer(*set, "team@example.com"), "OK amy@example.com,zed@example.com");
  EXPECT_EQ(answer(*set, "none@example.com"), "NOTFOUND ") << "an empty set is not found";
  MapSpec hash_spec = redis_spec("box", "USER:", ValueType::Hash, "mailbox");
  auto hash = make_redis_map(hash_spec, store);
  EXPECT_EQ(answer(*hash, "amy@example.com"), "OK example.com/amy/");
  EXPECT_EQ(answer(*hash, "zed@example.com"), "NOTFOUND ");
}

TEST(JoinValues, SortedCommaSeparatedAsPostfixLdapTable) {
  EXPECT_EQ(join_values({}), "");
  EXPECT_EQ(join_values({"b", "a", "c"}), "a,b,c");
  EXPECT_EQ(join_values({"only"}), "only");
}

TEST(CidrCandidateKeys, MostSpecificFirst) {
  std::vector<std::string> v4 = cidr_candidate_keys("PSA:", "192.168.0.8");
  ASSERT_EQ(v4.size(), 34u);
  EXPECT_EQ(v4[0], "PSA:192.168.0.8");
  EXPECT_EQ(v4[1], "PSA:192.168.0.8/32");
  EXPECT_EQ(v4[2], "PSA:192.168.0.8/31");
  EXPECT_EQ(v4[5], "PSA:192.168.0.0/28");
  EXPECT_EQ(v4[9], "PSA:192.168.0.0/24");
  EXPECT_EQ(v4[17], "PSA:192.168.0.0/16");
  EXPECT_EQ(v4[33], "PSA:0.0.0.0/0");
  std::vector<std::string> v6 = cidr_candidate_keys("P:", "2001:db8::1");
  ASSERT_EQ(v6.size(), 130u);
  EXPECT_EQ(v6[0], "P:2001:db8::1");
  EXPECT_EQ(v6[1], "P:2001:db8::1/128");
  EXPECT_EQ(v6[2], "P:2001:db8::/127");
  EXPECT_EQ(v6[129 - 32], "P:2001:db8::/32");
  EXPECT_EQ(v6[129], "P:::/0");
  EXPECT_TRUE(cidr_candidate_keys("P:", "mail.example.com").empty());
}

TEST(CidrMap, MostSpecificWinsSeedExample) {
  MemoryStore store;
  MapSpec psa = redis_spec("psa", "PSA:", ValueType::String, "", MapSpec::Kind::Cidr);
  auto map = make_cidr_map(psa, store);
  store.strings["PSA:192.168.0.0/24"] = "permit";  // the seed: redis-cli set PSA:192.168.0.0/24
  EXPECT_EQ(answer(*map, "192.168.0.8"), "OK permit");
  EXPECT_EQ(answer(*map, "192.168.1.8"), "NOTFOUND ");
  store.strings["PSA:192.168.0.0/16"] = "reject";
  EXPECT_EQ(answer(*map, "192.168.0.8"), "OK permit") << "/24 beats /16";
  EXPECT_EQ(answer(*map, "192.168.1.8"), "OK reject");
  store.strings["PSA:192.168.0.8"] = "reject";  // redis-cli set PSA:8.8.8.8 reject style
  EXPECT_EQ(answer(*map, "192.168.0.8"), "OK reject") << "an exact address beats any network";
  store.strings.erase("PSA:192.168.0.8");  // redis-cli del
  EXPECT_EQ(answer(*map, "192.168.0.8"), "OK permit");
  store.strings["PSA:2001:db8::/32"] = "permit";
  EXPECT_EQ(answer(*map, "2001:db8:1::25"), "OK permit");
  EXPECT_EQ(answer(*map, "2001:db9::25"), "NOTFOUND ");
  store.strings["PSA:mail.example.com"] = "dunno";
  EXPECT_EQ(answer(*map, "mail.example.com"), "OK dunno") << "names are looked up exactly";
}

class FakeDirectory : public Directory {
 public:
  std::vector<DirectoryQuery> queries;
  std::vector<std::string> values;
  std::vector<std::string> search(const DirectoryQuery& query) override {
    queries.push_back(query);
    return values;
  }
};

TEST(LdapMap, SearchesWithExpandedFilterAndJoins) {
  FakeDirectory directory;
  MapSpec spec;
  spec.name = "aliases";
  spec.kind = MapSpec::Kind::Ldap;
  spec.search_base = "ou=people,dc=example,dc=org";
  spec.query_filter = "(mail=%s)";
  spec.result_attribute = "maildrop";
  auto map = make_ldap_map(spec, directory);
  directory.values = {"b@example.org", "a@example.org"};
  EXPECT_EQ(answer(*map, "sales@example.org"), "OK a@example.org,b@example.org");
  ASSERT_EQ(directory.queries.size(), 1u);
  EXPECT_EQ(directory.queries[0].filter, "(mail=sales@example.org)");
  EXPECT_EQ(directory.queries[0].search_base, "ou=people,dc=example,dc=org");
  EXPECT_EQ(directory.queries[0].result_attribute, "maildrop");
  directory.values.clear();
  EXPECT_EQ(answer(*map, "none@example.org"), "NOTFOUND ");
  EXPECT_EQ(answer(*map, "*)(uid=*"), "NOTFOUND ");
  EXPECT_EQ(directory.queries.back().filter, "(mail=\\2a\\29\\28uid=\\2a)")
      << "the key is escaped (RFC 4515)";
  spec.query_filter = "(&(uid=%u)(dc=%d))";
  auto by_parts = make_ldap_map(spec, directory);
  size_t searches = directory.queries.size();
  EXPECT_EQ(answer(*by_parts, "example.org"), "NOTFOUND ");
  EXPECT_EQ(directory.queries.size(), searches) << "no domain part: no search (ldap_table)";
}

TEST(Tables, DispatchUnknownMapAndBackendFault) {
  MemoryStore store;
  store.strings["HLO:mail.spammer.bulk"] = "reject";
  metrics::Registry registry;
  Tables tables(&registry);
  tables.add("hlo", make_redis_map(redis_spec("hlo", "HLO:"), store));
  EXPECT_EQ(tables.lookup("hlo", "mail.spammer.bulk").to_string(), "OK reject");
  EXPECT_EQ(tables.lookup("nosuch", "x").to_string(), "PERM unknown map 'nosuch'");
  store.down = true;
  EXPECT_EQ(tables.lookup("hlo", "mail.spammer.bulk").to_string(),
            "TEMP map hlo: connection refused")
      << "a backend fault is never NOTFOUND";
  std::string text = registry.render();
  EXPECT_NE(text.find("postern_tables_lookups_total{map=\"hlo\",result=\"TEMP\"} 1"),
            std::string::npos)
      << text;
}

TEST(ReplyCache, TtlBoundAndNoTemp) {
  auto now = std::chrono::steady_clock::time_point{};
  ReplyCache cache(std::chrono::milliseconds(1000), 2, [&now] { return now; });
  MemoryStore store;
  store.strings["HLO:a"] = "permit";
  Tables tables(nullptr, &cache);
  tables.add("hlo", make_redis_map(redis_spec("hlo", "HLO:"), store));
  EXPECT_EQ(tables.lookup("hlo", "a").to_string(), "OK permit");
  store.strings["HLO:a"] = "reject";
  EXPECT_EQ(tables.lookup("hlo", "a").to_string(), "OK permit") << "cached";
  now += std::chrono::milliseconds(1000);
  EXPECT_EQ(tables.lookup("hlo", "a").to_string(), "OK reject") << "expired";
  store.down = true;
  now += std::chrono::milliseconds(1000);
  EXPECT_EQ(tables.lookup("hlo", "b").to_string(), "TEMP map hlo: connection refused");
  store.down = false;
  store.strings["HLO:b"] = "dunno";
  EXPECT_EQ(tables.lookup("hlo", "b").to_string(), "OK dunno") << "TEMP was not cached";
  tables.lookup("hlo", "c");  // NOTFOUND, cached; evicts the oldest of the 2 entries
  int before = store.calls;
  tables.lookup("hlo", "c");
  EXPECT_EQ(store.calls, before) << "NOTFOUND cached";
}

TEST(MapSpec, ParsesDeclarationsWithPreciseErrors) {
  MapSpec psa = parse_map_spec("psa cidr");
  EXPECT_EQ(psa.kind, MapSpec::Kind::Cidr);
  EXPECT_EQ(psa.prefix, "PSA:") << "default prefix: the seed's names";
  MapSpec team = parse_map_spec("team redis prefix=T: type=set");
  EXPECT_EQ(team.prefix, "T:");
  EXPECT_EQ(team.value_type, ValueType::Set);
  MapSpec box = parse_map_spec("vbox redis type=hash field=mailbox");
  EXPECT_EQ(box.hash_field, "mailbox");
  MapSpec ldap = parse_map_spec(
      "users ldap search_base=dc=example,dc=org query_filter=(mail=%s) result_attribute=uid");
  EXPECT_EQ(ldap.search_base, "dc=example,dc=org");
  EXPECT_EQ(ldap.result_attribute, "uid");
  struct Bad {
    const char* line;
    const char* error;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"psa", "map 'psa': want NAME KIND [OPTION=VALUE]..."},
           {"psa mysql", "map 'psa': kind 'mysql' is not one of redis, cidr, ldap"},
           {"psa redis prefx=P:", "map 'psa': unknown option 'prefx'"},
           {"psa redis type=list", "map 'psa': type 'list' is not one of string, set, hash"},
           {"box redis type=hash", "map 'box': type=hash needs field=FIELD"},
           {"psa cidr type=set", "map 'psa': a cidr map holds strings (no type=)"},
           {"u ldap query_filter=(x=%q)",
            "map 'u': query filter: unknown expansion %q at offset 3 (known: %s %u %d %S %U %D "
            "%1..%9 %%)"},
           {"a/b redis", "map 'a/b': a name is letters, digits, '_', '-', '.'"},
       }) {
    EXPECT_EQ(test_support::config_error_of([&] { parse_map_spec(bad.line); }), bad.error)
        << bad.line;
  }
}

}  // namespace
}  // namespace postern::tables
