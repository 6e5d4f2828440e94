// ldap_filter_test.cpp — common/ldap.hpp's pure parts: RFC 4515 value escaping, Postfix
// ldap_table(5) query_filter expansion, scopes, password files, configuration checks. The
// client against a real slapd: tests/integration/test_ldap_client.py.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "common/config_error.hpp"
#include "common/ldap.hpp"

namespace postern::ldap {
namespace {

struct EscapeCase {
  std::string in, want;
};

TEST(LdapEscape, Rfc4515Section3) {
  const EscapeCase cases[] = {
      {"", ""},
      {"alice@example.org", "alice@example.org"},
      {"*", "\\2a"},
      {"(", "\\28"},
      {")", "\\29"},
      {"\\", "\\5c"},
      {std::string("a\0b", 3), "a\\00b"},
      {"*)(uid=*", "\\2a\\29\\28uid=\\2a"},
      {"a*)(|(objectClass=*", "a\\2a\\29\\28|\\28objectClass=\\2a"},
      // RFC 4515 §4 examples' values
      {"Parens R Us (for all your parenthetical needs)",
       "Parens R Us \\28for all your parenthetical needs\\29"},
      {"C:\\MyFile", "C:\\5cMyFile"},
      {"Lu\xc4\x8di\xc4\x87", "Lu\xc4\x8di\xc4\x87"},  // UTF-8 kept as is
      {"=&|!~<>", "=&|!~<>"},  // only the four specials and NUL matter inside a value
  };
  for (const EscapeCase& c : cases) {
    EXPECT_EQ(escape_filter_value(c.in), c.want) << "input '" << c.in << "'";
  }
}

struct ExpandCase {
  std::string pattern, key;
  std::optional<std::string> want;  // nullopt: search suppressed
};

TEST(LdapExpand, PostfixLdapTableExpansions) {
  const std::string ad =
      "(&(|(objectClass=person)(objectClass=group)(objectClass=publicFolder))"
      "(proxyAddresses=smtp:%s))";
  const ExpandCase cases[] = {
      {"(mail=%s)", "alice@example.org", "(mail=alice@example.org)"},
      {"(mail=%S)", "alice@example.org", "(mail=alice@example.org)"},
      {"(uid=%u)", "alice@example.org", "(uid=alice)"},
      {"(uid=%U)", "alice@example.org", "(uid=alice)"},
      {"(dc=%d)", "alice@example.org", "(dc=example.org)"},
      {"(dc=%D)", "alice@example.org", "(dc=example.org)"},
      {"(&(uid=%u)(dc=%d))", "a.b@mail.example.com", "(&(uid=a.b)(dc=mail.example.com))"},
      {"%1/%2/%3", "u@mail.example.com", "com/example/mail"},
      {"(x=%4)", "u@mail.example.com", std::nullopt},    // too few labels
      {"(x=%1)", "unqualified", std::nullopt},           // no domain part
      {"(uid=%u)", "unqualified", "(uid=unqualified)"},  // %u: the whole key without '@'
      {"(dc=%d)", "unqualified", std::nullopt},
      {"(dc=%d)", "user@", std::nullopt},          // empty domain
      {"(uid=%u)", "@example.org", std::nullopt},  // empty local part
      {"(mail=%s)", "@example.org", "(mail=@example.org)"},
      {"(mail=%s)", "", std::nullopt},
      {"(x=100%%)", "a@b", "(x=100%)"},
      {"(x=%%s)", "a@b", "(x=%s)"},
      {"(objectClass=*)", "a@b", "(objectClass=*)"},
      // the key splits at its last '@' (Postfix uses strrchr)
      {"(uid=%u)(dc=%d)", "\"a@b\"@example.org", "(uid=\"a@b\")(dc=example.org)"},
      // injection attempts are escaped wherever they land
      {"(mail=%s)", "*)(uid=*", "(mail=\\2a\\29\\28uid=\\2a)"},
      {"(uid=%u)", "*)(uid=*@example.org", "(uid=\\2a\\29\\28uid=\\2a)"},
      {"(dc=%d)", "a@x)(|(dc=*", "(dc=x\\29\\28|\\28dc=\\2a)"},
      {ad, "Alice@Example.org",
       "(&(|(objectClass=person)(objectClass=group)(objectClass=publicFolder))"
       "(proxyAddresses=smtp:Alice@Example.org))"},
      {ad, "*)(uid=*@example.org",
       "(&(|(objectClass=person)(objectClass=group)(objectClass=publicFolder))"
       "(proxyAddresses=smtp:\\2a\\29\\28uid=\\2a@example.org))"},
  };
  for (const ExpandCase& c : cases) {
    auto got = expand_filter(c.pattern, c.key);
    EXPECT_EQ(got, c.want) << "pattern '" << c.pattern << "' key '" << c.key << "': got "
                           << got.value_or("(suppressed)") << ", want "
                           << c.want.value_or("(suppressed)");
  }
}

TEST(LdapExpand, BadPatternsSayWhatAndWhere) {
  struct Bad {
    std::string pattern, message_part;
  };
  const Bad cases[] = {
      {"(mail=%x)", "unknown expansion %x at offset 6"},
      {"(mail=%0)", "unknown expansion %0 at offset 6"},
      {"(mail=%", "'%' at offset 6 ends the pattern"},
      {"%", "'%' at offset 0 ends the pattern"},
  };
  for (const Bad& c : cases) {
    try {
      expand_filter(c.pattern, "a@b.c");
      ADD_FAILURE() << "pattern '" << c.pattern << "': no error";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(c.message_part), std::string::npos)
          << "pattern '" << c.pattern << "': got '" << e.what() << "', want it to contain '"
          << c.message_part << "'";
    }
    EXPECT_THROW(check_filter_pattern(c.pattern), ConfigError) << c.pattern;
  }
  EXPECT_NO_THROW(check_filter_pattern("(objectClass=*)"));
  EXPECT_NO_THROW(check_filter_pattern("(&(uid=%u)(x=%%)(y=%9))"));
}

TEST(LdapScope, Words) {
  EXPECT_EQ(parse_scope("base"), Scope::Base);
  EXPECT_EQ(parse_scope("one"), Scope::OneLevel);
  EXPECT_EQ(parse_scope("sub"), Scope::Subtree);
  EXPECT_THROW(parse_scope("subtree"), ConfigError);
  EXPECT_THROW(parse_scope(""), ConfigError);
}

TEST(LdapPasswordFile, StripsOneLineEnd) {
  auto dir =
      std::filesystem::temp_directory_path() / ("postern_ldap_pw_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  struct Case {
    std::string content;
    std::optional<std::string> want;
  };
  const Case cases[] = {
      {"secret\n", "secret"},         {"secret\r\n", "secret"}, {"secret", "secret"},
      {"se cret \n\n", "se cret \n"}, {"", std::nullopt},       {"\n", std::nullopt},
  };
  int i = 0;
  for (const Case& c : cases) {
    auto path = (dir / std::to_string(i++)).string();
    std::ofstream(path, std::ios::binary) << c.content;
    if (c.want) {
      EXPECT_EQ(read_password_file(path), *c.want);
    } else {
      EXPECT_THROW(read_password_file(path), ConfigError) << "content '" << c.content << "'";
    }
  }
  EXPECT_THROW(read_password_file((dir / "missing").string()), ConfigError);
  std::filesystem::remove_all(dir);
}

TEST(LdapClientConfig, RejectedBeforeAnyNetwork) {
  auto make = [](ClientConfig c) { Client client(std::move(c)); };
  ClientConfig good;
  good.uris = {"ldap://127.0.0.1:1", "ldaps://ldap.example.org"};
  EXPECT_NO_THROW(make(good));
  ClientConfig none = good;
  none.uris.clear();
  EXPECT_THROW(make(none), ConfigError);
  ClientConfig bad_uri = good;
  bad_uri.uris = {"http://example.org"};
  EXPECT_THROW(make(bad_uri), ConfigError);
  ClientConfig timeout = good;
  timeout.operation_timeout_seconds = 0;
  EXPECT_THROW(make(timeout), ConfigError);
  ClientConfig pool = good;
  pool.pool_size = 0;
  EXPECT_THROW(make(pool), ConfigError);
  ClientConfig ca = good;
  ca.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(make(ca), ConfigError);
}

}  // namespace
}  // namespace postern::ldap
