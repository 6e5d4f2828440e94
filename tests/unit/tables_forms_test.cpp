// tables_forms_test.cpp — postern-tables' opt-in lookup forms (forms=access|virtual,
// parents=, lowercase=): the forms of each key kind in access(5) / virtual(5) order, one MGET
// for a string map with the first hit in that order winning, set/hash/LDAP maps form by form,
// and the option parser's defaults and errors.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/config_error.hpp"
#include "policyd/tables/maps.hpp"
#include "policyd/tables/tables_config.hpp"
#include "tests/unit/config_error_of.hpp"

namespace postern::tables {
namespace {

// Records every command; strings, sets and hashes in maps.
class RecordingStore : public KeyValueStore {
 public:
  std::map<std::string, std::string> strings;
  std::map<std::string, std::set<std::string>> sets;
  std::map<std::string, std::map<std::string, std::string>> hashes;
  std::vector<std::string> commands;  // "GET k", "MGET k1 k2", "SMEMBERS k", "HGET k f"

  std::optional<std::string> get(const std::string& key) override {
    commands.push_back("GET " + key);
    auto it = strings.find(key);
    if (it == strings.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::optional<std::string>> mget(const std::vector<std::string>& keys) override {
    std::string command = "MGET";
    std::vector<std::optional<std::string>> out;
    for (const auto& key : keys) {
      command += " " + key;
      auto it = strings.find(key);
      out.push_back(it == strings.end() ? std::nullopt : std::optional<std::string>(it->second));
    }
    commands.push_back(command);
    return out;
  }
  std::vector<std::string> smembers(const std::string& key) override {
    commands.push_back("SMEMBERS " + key);
    auto it = sets.find(key);
    if (it == sets.end()) return {};
    return {it->second.begin(), it->second.end()};
  }
  std::optional<std::string> hget(const std::string& key, const std::string& field) override {
    commands.push_back("HGET " + key + " " + field);
    auto it = hashes.find(key);
    if (it == hashes.end() || !it->second.count(field)) return std::nullopt;
    return it->second.at(field);
  }
};

using Forms = std::vector<std::string>;

TEST(LookupForms, AccessVirtualAndExactInPostfixOrder) {
  struct Case {
    const char* declaration;
    const char* key;
    Forms forms;
  };
  for (const Case& c : std::vector<Case>{
           // forms unset: the key exactly as asked, case kept
           {"m redis", "User@Sub.Example.COM", {"User@Sub.Example.COM"}},
           {"m redis forms=exact lowercase=yes", "Mixed.Case", {"mixed.case"}},
           // access(5) EMAIL ADDRESS PATTERNS: user@domain, domain, parents, user@
           {"m redis forms=access",
            "user@sub.example.com",
            {"user@sub.example.com", "sub.example.com", "example.com", "com", "user@"}},
           {"m redis forms=access parents=dot",
            "user@sub.example.com",
            {"user@sub.example.com", "sub.example.com", ".example.com", ".com", "user@"}},
           {"m redis forms=access parents=no",
            "user@sub.example.com",
            {"user@sub.example.com", "sub.example.com", "user@"}},
           {"m redis forms=access",
            "User@Example.NET",
            {"user@example.net", "example.net", "net", "user@"}},
           {"m redis forms=access lowercase=no",
            "User@Example.NET",
            {"User@Example.NET", "Example.NET", "NET", "User@"}},
           // the last '@' splits (a quoted local part may hold one); empty parts add nothing
           {"m redis forms=access", "\"a@b\"@x.org", {"\"a@b\"@x.org", "x.org", "org", "\"a@b\"@"}},
           {"m redis forms=access", "user@", {"user@"}},
           {"m redis forms=access", "@x.org", {"@x.org", "x.org", "org"}},
           {"m redis forms=access", "<>", {"<>"}},
           // host names (check_helo_access, check_client_access): the name and its parents
           {"m redis forms=access",
            "Mail.Spammer.BULK",
            {"mail.spammer.bulk", "spammer.bulk", "bulk"}},
           {"m redis forms=access", "REJECTEDMESSAGE", {"rejectedmessage"}},
           {"m redis forms=access", "example.com.", {"example.com.", "com."}},
           // addresses (access(5) CLIENT HOSTNAME/ADDRESS PATTERNS)
           {"m redis forms=access", "192.168.0.8", {"192.168.0.8", "192.168.0", "192.168", "192"}},
           {"m redis forms=access",
            "2001:db8::1",
            {"2001:db8::1", "2001:db8:", "2001:db8", "2001"}},
           // virtual(5): user@domain, @domain; anything else as asked
           {"m redis forms=virtual", "Sales@Example.COM", {"sales@example.com", "@example.com"}},
           {"m redis forms=virtual", "example.com", {"example.com"}},
           {"m redis forms=virtual", "user@", {"user@"}},
           {"m redis forms=virtual", "@example.com", {"@example.com"}},
       }) {
    MapSpec spec = parse_map_spec(c.declaration);
    EXPECT_EQ(lookup_forms(spec, c.key), c.forms) << c.declaration << " / " << c.key;
  }
}

TEST(LookupForms, OverlongDomainIsNotWalked) {
  MapSpec spec = parse_map_spec("m redis forms=access");
  std::string domain;
  while (domain.size() <= 255) domain += "a.";
  domain += "example";
  EXPECT_EQ(lookup_forms(spec, domain), Forms{domain});
  EXPECT_EQ(lookup_forms(spec, "u@" + domain), (Forms{"u@" + domain, domain, "u@"}));
}

TEST(RedisMapForms, OneMgetFirstHitInOrderWins) {
  RecordingStore store;
  auto recip = make_redis_map(parse_map_spec("recip redis forms=access"), store);
  EXPECT_EQ(recip->lookup("dave@sub.example.com").to_string(), "NOTFOUND ");
  ASSERT_EQ(store.commands.size(), 1u) << "one round trip";
  EXPECT_EQ(store.commands[0],
            "MGET RECIP:dave@sub.example.com RECIP:sub.example.com RECIP:example.com RECIP:com "
            "RECIP:dave@");
  // a domain-wide entry blocks every recipient of the domain and its subdomains ...
  store.strings["RECIP:example.com"] = "REJECT domain";
  EXPECT_EQ(recip->lookup("Dave@Example.com").to_string(), "OK REJECT domain");
  EXPECT_EQ(recip->lookup("x@sub.example.com").to_string(), "OK REJECT domain");
  // ... a user@ entry applies in every domain, after the domain entries ...
  store.strings["RECIP:postmaster@"] = "OK";
  EXPECT_EQ(recip->lookup("postmaster@example.com").to_string(), "OK REJECT domain");
  EXPECT_EQ(recip->lookup("postmaster@example.org").to_string(), "OK OK");
  // ... and the full address wins over both
  store.strings["RECIP:dave@example.com"] = "OK dave";
  EXPECT_EQ(recip->lookup("dave@example.com").to_string(), "OK OK dave");
  store.strings["RECIP:sub.example.com"] = "DUNNO";
  EXPECT_EQ(recip->lookup("x@sub.example.com").to_string(), "OK DUNNO")
      << "the most specific domain first";

  auto vali = make_redis_map(parse_map_spec("vali redis forms=virtual"), store);
  store.strings["VALI:@example.com"] = "catchall@example.com";
  store.strings["VALI:user1@example.com"] = "user1@example.com";
  EXPECT_EQ(vali->lookup("user1@example.com").to_string(), "OK user1@example.com");
  EXPECT_EQ(vali->lookup("Anyone@EXAMPLE.com").to_string(), "OK catchall@example.com");
  EXPECT_EQ(vali->lookup("anyone@example.org").to_string(), "NOTFOUND ");

  store.commands.clear();
  auto exact = make_redis_map(parse_map_spec("recip2 redis prefix=RECIP:"), store);
  EXPECT_EQ(exact->lookup("x@example.com").to_string(), "NOTFOUND ") << "forms unset: exact";
  EXPECT_EQ(store.commands, Forms{"GET RECIP:x@example.com"});
}

TEST(RedisMapForms, SetAndHashMapsTryFormByForm) {
  RecordingStore store;
  store.sets["TEAM:@example.com"] = {"b@example.com", "a@example.com"};
  auto team = make_redis_map(parse_map_spec("team redis type=set forms=virtual"), store);
  EXPECT_EQ(team->lookup("sales@example.com").to_string(), "OK a@example.com,b@example.com");
  EXPECT_EQ(store.commands,
            (Forms{"SMEMBERS TEAM:sales@example.com", "SMEMBERS TEAM:@example.com"}));
  store.commands.clear();
  store.hashes["BOX:example.com"]["action"] = "REJECT";
  auto box = make_redis_map(parse_map_spec("box redis type=hash field=action forms=access"), store);
  EXPECT_EQ(box->lookup("u@example.com").to_string(), "OK REJECT");
  EXPECT_EQ(store.commands, (Forms{"HGET BOX:u@example.com action", "HGET BOX:example.com action"}))
      << "stops at the first hit";
}

TEST(CidrMapForms, HostNamesWalkAddressesStayCidr) {
  RecordingStore store;
  auto rev = make_cidr_map(parse_map_spec("rev cidr forms=access"), store);
  store.strings["REV:example.net"] = "permit";
  EXPECT_EQ(rev->lookup("Mail.Example.NET").to_string(), "OK permit");
  EXPECT_EQ(store.commands.back(), "MGET REV:mail.example.net REV:example.net REV:net");
  store.strings["REV:192.168.0.0/24"] = "reject";
  EXPECT_EQ(rev->lookup("192.168.0.8").to_string(), "OK reject");
  EXPECT_EQ(store.commands.back().substr(0, 36), "MGET REV:192.168.0.8 REV:192.168.0.8")
      << "an address: the cidr candidates, not the octet prefixes";
}

class RecordingDirectory : public Directory {
 public:
  std::vector<std::string> filters;
  std::map<std::string, std::vector<std::string>> by_filter;
  std::vector<std::string> search(const DirectoryQuery& query) override {
    filters.push_back(query.filter);
    auto it = by_filter.find(query.filter);
    return it == by_filter.end() ? std::vector<std::string>{} : it->second;
  }
};

TEST(LdapMapForms, SearchPerFormFirstFoundWins) {
  RecordingDirectory directory;
  MapSpec spec = parse_map_spec("aliases ldap query_filter=(mail=%s) forms=virtual");
  auto map = make_ldap_map(spec, directory);
  directory.by_filter["(mail=@example.org)"] = {"catchall@example.org"};
  EXPECT_EQ(map->lookup("Who@Example.org").to_string(), "OK catchall@example.org");
  EXPECT_EQ(directory.filters, (Forms{"(mail=who@example.org)", "(mail=@example.org)"}));
  directory.filters.clear();
  directory.by_filter["(mail=who@example.org)"] = {"who@example.org"};
  EXPECT_EQ(map->lookup("who@example.org").to_string(), "OK who@example.org");
  EXPECT_EQ(directory.filters, Forms{"(mail=who@example.org)"});
}

TEST(MapSpecForms, DefaultsAndErrors) {
  EXPECT_FALSE(parse_map_spec("m redis").lowercase) << "exact: keys as asked";
  EXPECT_EQ(parse_map_spec("m redis").forms, AddressForms::Exact);
  EXPECT_TRUE(parse_map_spec("m redis forms=access").lowercase);
  EXPECT_TRUE(parse_map_spec("m redis forms=virtual").lowercase);
  EXPECT_FALSE(parse_map_spec("m redis forms=virtual lowercase=no").lowercase);
  EXPECT_EQ(parse_map_spec("m redis forms=access").parents, ParentStyle::Parent);
  EXPECT_EQ(parse_map_spec("m ldap forms=access parents=dot").parents, ParentStyle::Dot);
  struct Bad {
    const char* line;
    const char* error;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"m redis forms=alias", "map 'm': forms 'alias' is not one of exact, access, virtual"},
           {"m redis forms=access parents=maybe",
            "map 'm': parents 'maybe' is not one of yes, dot, no"},
           {"m redis forms=virtual parents=dot", "map 'm': parents= is for forms=access maps"},
           {"m redis parents=no", "map 'm': parents= is for forms=access maps"},
           {"m redis lowercase=true", "map 'm': lowercase 'true' is not yes or no"},
       }) {
    EXPECT_EQ(test_support::config_error_of([&] { parse_map_spec(bad.line); }), bad.error)
        << bad.line;
  }
}

}  // namespace
}  // namespace postern::tables
