// rcpt_access_table_test.cpp — policyd/rcpt/access_table.hpp: access(5) syntax, lookup order,
// and precise errors.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "common/config_error.hpp"
#include "policyd/rcpt/access_table.hpp"

namespace postern::rcpt {
namespace {

const char* table_text =
    "# override table\n"
    "alice@example.org      OK\n"
    "\n"
    "Blocked@Example.org    REJECT This mailbox is closed\n"
    "old@example.org        550 5.1.6 Recipient has moved\n"
    "later@example.org      DEFER_IF_PERMIT 4.2.1 Mailbox\n"
    "    is being migrated\n"  // continuation line
    "asked@example.org      DUNNO\n"
    "postmaster@            OK\n"
    "catchall.example.org   OK\n"
    "@wild.example.org      OK\n"
    ".sub.example.org       REJECT subdomains closed\n"
    "sub.example.org        DEFER\n";

struct LookupCase {
  std::string address;
  std::optional<TableVerdict::Kind> kind;  // nullopt: no entry
  std::string action, key;
};

TEST(RcptAccessTable, LookupOrderAndActions) {
  AccessTable t = AccessTable::parse(table_text, "test");
  EXPECT_EQ(t.size(), 10u);
  using K = TableVerdict::Kind;
  const LookupCase cases[] = {
      {"alice@example.org", K::Known, "", "alice@example.org"},
      {"ALICE@EXAMPLE.ORG", K::Known, "", "alice@example.org"},
      {"blocked@example.org", K::Action, "REJECT This mailbox is closed", "blocked@example.org"},
      {"old@example.org", K::Action, "550 5.1.6 Recipient has moved", "old@example.org"},
      {"later@example.org", K::Action, "DEFER_IF_PERMIT 4.2.1 Mailbox is being migrated",
       "later@example.org"},
      {"asked@example.org", K::Dunno, "", "asked@example.org"},
      {"postmaster@anything.example", K::Known, "", "postmaster@"},
      {"x@catchall.example.org", K::Known, "", "catchall.example.org"},
      {"x@wild.example.org", K::Known, "", "@wild.example.org"},
      {"x@a.sub.example.org", K::Action, "REJECT subdomains closed", ".sub.example.org"},
      {"x@a.b.sub.example.org", K::Action, "REJECT subdomains closed", ".sub.example.org"},
      {"x@sub.example.org", K::Action, "DEFER", "sub.example.org"},  // domain before .domain
      {"x@x.catchall.example.org", std::nullopt, "", ""},            // "domain" is exact
      {"bob@example.org", std::nullopt, "", ""},
      {"alice@example.net", std::nullopt, "", ""},
  };
  for (const LookupCase& c : cases) {
    auto v = t.lookup(c.address);
    if (!c.kind) {
      EXPECT_FALSE(v) << c.address << ": got key " << v->key << ", want no entry";
      continue;
    }
    ASSERT_TRUE(v) << c.address << ": got no entry";
    EXPECT_EQ(v->kind, *c.kind) << c.address;
    EXPECT_EQ(v->action, c.action) << c.address;
    EXPECT_EQ(v->key, c.key) << c.address;
  }
}

TEST(RcptAccessTable, ErrorsNameFileLineAndWhy) {
  struct Bad {
    std::string text, message;
  };
  const Bad cases[] = {
      {"alice@example.org\n", "t:1: key 'alice@example.org' has no action"},
      {"# c\nalice@example.org ACCEPT\n", "t:2: 'ACCEPT' is not an access(5) action"},
      {"a@example.org OK\nA@EXAMPLE.ORG REJECT\n", "t:2: key 'a@example.org' repeated"},
      {"  REJECT\n", "t:1: continuation line without a key"},
      {"exa!mple.org OK\n", "t:1: 'exa!mple.org' is not a domain name"},
      {"a@exa..mple OK\n", "t:1: 'exa..mple' is not a domain name"},
      {"@ OK\n", "t:1: '@' alone is not a key"},
      {"a@b.c 6xx no\n", "t:1: '6xx' is not an access(5) action"},
      {"a@b.c 45 short\n", "t:1: '45' is not an access(5) action"},
      {std::string("a@b.c OK\0\n", 10), "t:1: NUL byte"},
      {"a@b.c OK " + std::string(5000, 'x') + "\n", "t:1: line longer than 4096 bytes"},
  };
  for (const Bad& c : cases) {
    try {
      AccessTable::parse(c.text, "t");
      ADD_FAILURE() << "no error for '" << c.text.substr(0, 60) << "'";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
          << "got '" << e.what() << "', want '" << c.message << "'";
    }
  }
}

TEST(RcptAccessTable, ActionWords) {
  for (const char* ok :
       {"OK", "ok", "DUNNO", "REJECT", "reject text", "DEFER", "DEFER_IF_PERMIT", "DEFER_IF_REJECT",
        "450 x", "550", "421 4.3.0 x", "DISCARD", "HOLD", "REDIRECT a@b", "FILTER smtp:x", "WARN w",
        "INFO i", "BCC a@b", "PREPEND X-A: b"}) {
    EXPECT_TRUE(is_access_action(ok)) << ok;
  }
  for (const char* bad : {"", "ACCEPT", "250 ok", "600", "4500", "4x0", "REJECTED"}) {
    EXPECT_FALSE(is_access_action(bad)) << bad;
  }
}

TEST(RcptAccessTable, CrlfAndCommentsAndMissingFile) {
  AccessTable t = AccessTable::parse("a@b.example OK\r\n#x\r\n\r\n c\r\n", "t");
  EXPECT_EQ(t.lookup("a@b.example")->kind, TableVerdict::Kind::Known);
  EXPECT_EQ(t.lookup("a@b.example")->key, "a@b.example");
  EXPECT_THROW(AccessTable::load("/nonexistent/rcpt_access"), ConfigError);
}

}  // namespace
}  // namespace postern::rcpt
