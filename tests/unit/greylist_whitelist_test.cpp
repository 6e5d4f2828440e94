// greylist_whitelist_test.cpp — postgrey whitelist formats, table-driven, and Debian's
// postgrey lists (/etc/postgrey/whitelist_*) when installed.
#include "policyd/greylist/whitelist.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/config_error.hpp"

namespace postern::greylist {
namespace {

TEST(ClientWhitelist, Table) {
  ClientWhitelist w;
  w.add(
      "# comment\n"
      "  example.org   # trailing comment\n"
      "\n"
      "/^mail\\d+\\.telekom\\.de$/\n"
      "192.0.2.5\n"
      "198.51.100.0/25\n"
      "203.0.113\n"
      "10.20\n"
      "2001:db8:1::/48\n",
      "test");
  struct Case {
    const char* name;
    const char* address;
    bool want;
  };
  const Case cases[] = {
      {"example.org", "1.1.1.1", true},
      {"MX1.Example.ORG", "1.1.1.1", true},  // subdomain, any case
      {"badexample.org", "1.1.1.1", false},  // not a label boundary
      {"example.org.evil", "1.1.1.1", false},
      {"mail12.telekom.de", "1.1.1.1", true},  // regex
      {"MAIL12.TELEKOM.DE", "1.1.1.1", true},  // regexes are case-insensitive
      {"mailx.telekom.de", "1.1.1.1", false},
      {"unknown", "192.0.2.5", true},
      {"unknown", "192.0.2.6", false},
      {"unknown", "198.51.100.127", true},
      {"unknown", "198.51.100.128", false},
      {"unknown", "203.0.113.200", true},  // a.b.c = /24
      {"unknown", "10.20.99.1", true},     // a.b = /16
      {"unknown", "2001:db8:1:ffff::1", true},
      {"unknown", "2001:db8:2::1", false},
      {"unknown", "::ffff:192.0.2.5", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(w.matches(c.name, c.address), c.want)
        << c.name << " [" << c.address << "]: got " << !c.want << ", want " << c.want;
  }
}

TEST(RecipientWhitelist, Table) {
  RecipientWhitelist w;
  w.add("postmaster@\nabuse@example.com\nexample.net\n/^list-.*@lists\\.example$/\n", "test");
  struct Case {
    const char* recipient;
    bool want;
  };
  const Case cases[] = {
      {"postmaster@anything.example", true},
      {"Postmaster+tag@anything.example", true},  // user+extension
      {"postmaster2@anything.example", false},
      {"abuse@example.com", true},
      {"abuse+x@EXAMPLE.com", true},
      {"abuse@sub.example.com", false},
      {"someone@example.net", true},
      {"someone@mail.example.net", true},
      {"someone@badexample.net", false},
      {"list-dev@lists.example", true},
      {"dev@lists.example", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(w.matches(c.recipient), c.want) << c.recipient;
  }
}

TEST(Whitelist, BadEntriesNameFileAndLine) {
  const std::pair<const char*, const char*> client_cases[] = {
      {"ok.example\n/[unclosed/\n", "f:2: bad regular expression"},
      {"10.0.0.0/33\n", "f:1:"},
      {"two words\n", "f:1:"},
  };
  for (const auto& [text, want] : client_cases) {
    ClientWhitelist w;
    try {
      w.add(text, "f");
      ADD_FAILURE() << "no error for " << text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos)
          << "got " << e.what() << ", want " << want;
    }
  }
  RecipientWhitelist r;
  EXPECT_THROW(r.add("@example.com\n", "f"), ConfigError);
  ClientWhitelist w;
  EXPECT_THROW(w.add_file("/nonexistent/whitelist_clients"), ConfigError);
  EXPECT_NO_THROW(w.add_file("/nonexistent/whitelist_clients.local"));  // optional, as postgrey
}

// "unknown" (Postfix's client_name without a verified name) runs no regex per request: the
// answer found when the regexes were added must equal running them, in any order of adds.
TEST(ClientWhitelist, UnknownNameSameAsRunningTheRegexes) {
  ClientWhitelist none;
  none.add("/^mail\\d+\\./\n/unknown\\.example$/\nexample.org\n", "test");
  EXPECT_FALSE(none.matches("unknown", "192.0.2.1"));
  EXPECT_FALSE(none.matches_name("unknown"));
  EXPECT_TRUE(none.matches("mail1.example", "192.0.2.1"));
  ClientWhitelist later;
  later.add("/^mail\\d+\\./\n", "first");
  EXPECT_FALSE(later.matches_name("unknown"));
  later.add("/^UNK/\n", "second");  // case-insensitive, like every /regex/
  EXPECT_TRUE(later.matches_name("unknown"));
  EXPECT_TRUE(later.matches("unknown", "192.0.2.1"));
  EXPECT_TRUE(later.matches_name("Unknown-host"));  // not "unknown": the regex runs
}

TEST(Whitelist, DebianPostgreyLists) {
  const char* clients = "/etc/postgrey/whitelist_clients";
  const char* recipients = "/etc/postgrey/whitelist_recipients";
  if (!std::filesystem::exists(clients) || !std::filesystem::exists(recipients)) {
    GTEST_SKIP() << "postgrey not installed";
  }
  ClientWhitelist w;
  ASSERT_NO_THROW(w.add_file(clients));
  EXPECT_GT(w.size(), 100u);
  EXPECT_TRUE(w.matches("lists.debian.org", "1.1.1.1"));
  EXPECT_TRUE(w.matches("mail7.telekom.de", "1.1.1.1"));       // /^mail\d+\.telekom\.de$/
  EXPECT_TRUE(w.matches("unknown", "205.201.130.1"));          // 205.201.128.0/20
  EXPECT_TRUE(w.matches("unknown", "2a01:4180:4051:800::9"));  // IPv6 /64
  EXPECT_FALSE(w.matches("mail.example.com", "192.0.2.1"));
  RecipientWhitelist r;
  ASSERT_NO_THROW(r.add_file(recipients));
  EXPECT_TRUE(r.matches("postmaster@example.com"));
  EXPECT_FALSE(r.matches("alice@example.com"));
}

}  // namespace
}  // namespace postern::greylist
