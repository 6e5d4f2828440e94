// common_cidr_test.cpp — IP address parsing, CIDR matching (v4, v6, IPv4-mapped), bad prefixes.
#include <gtest/gtest.h>

#include <string>

#include "common/cidr.hpp"
#include "common/config_error.hpp"

namespace postern {
namespace {

TEST(IpAddressParse, Table) {
  struct Case {
    std::string text;
    bool ok, v6;
    std::string printed;
  } cases[] = {
      {"192.0.2.1", true, false, "192.0.2.1"},
      {"2001:db8::1", true, true, "2001:db8::1"},
      {"[2001:db8::1]", true, true, "2001:db8::1"},
      {"IPv6:2001:db8::1", true, true, "2001:db8::1"},
      {"ipv6:::1", true, true, "::1"},
      {"::ffff:192.0.2.1", true, true, "::ffff:192.0.2.1"},
      {"", false, false, ""},
      {"example.com", false, false, ""},
      {"192.0.2", false, false, ""},
      {"192.0.2.256", false, false, ""},
      {"192.0.2.1 ", false, false, ""},
      {"fe80::1%eth0", false, false, ""},
      {std::string(100, '1'), false, false, ""},
  };
  for (const auto& c : cases) {
    auto a = IpAddress::parse(c.text);
    ASSERT_EQ(a.has_value(), c.ok)
        << "'" << c.text << "': got parsed=" << a.has_value() << ", want " << c.ok;
    if (!a) continue;
    EXPECT_EQ(a->v6, c.v6) << c.text;
    EXPECT_EQ(a->to_string(), c.printed) << "got " << a->to_string() << ", want " << c.printed;
  }
}

TEST(CidrContains, Table) {
  struct Case {
    std::string cidr, address;
    bool want;
  } cases[] = {
      {"10.0.0.0/8", "10.1.2.3", true},
      {"10.0.0.0/8", "11.0.0.0", false},
      {"192.0.2.0/25", "192.0.2.127", true},
      {"192.0.2.0/25", "192.0.2.128", false},
      {"192.0.2.7", "192.0.2.7", true},
      {"192.0.2.7", "192.0.2.8", false},
      {"0.0.0.0/0", "203.0.113.9", true},
      {"0.0.0.0/0", "2001:db8::1", false},
      {"10.0.0.0/8", "::ffff:10.9.9.9", true},  // mapped client, IPv4 network
      {"10.0.0.0/8", "::ffff:11.9.9.9", false},
      {"::ffff:10.0.0.0/104", "10.2.3.4", true},  // mapped network, IPv4 client
      {"2001:db8::/32", "2001:db8:ffff::1", true},
      {"2001:db8::/32", "2001:db9::1", false},
      {"2001:db8::/33", "2001:db8:8000::1", false},
      {"::/0", "::1", true},
      {"::/0", "127.0.0.1", false},
      {"::1", "::1", true},
      {"10.0.0.0/8", "::a00:1", false},  // IPv4-compatible is not mapped
  };
  for (const auto& c : cases) {
    Cidr cidr = Cidr::parse(c.cidr);
    auto a = IpAddress::parse(c.address);
    ASSERT_TRUE(a) << c.address;
    EXPECT_EQ(cidr.contains(*a), c.want)
        << c.cidr << " contains " << c.address << ": got " << !c.want << ", want " << c.want;
  }
}

TEST(CidrParse, Bad) {
  struct Case {
    std::string text, message;
  } cases[] = {
      {"10.0.0.0/33", "'10.0.0.0/33': prefix length 33 is more than 32"},
      {"2001:db8::/129", "'2001:db8::/129': prefix length 129 is more than 128"},
      {"10.0.0.0/", "'10.0.0.0/': missing prefix length after '/'"},
      {"10.0.0.0/8x", "'10.0.0.0/8x': prefix length '8x' is not a number"},
      {"10.0.0.0/-8", "'10.0.0.0/-8': prefix length '-8' is not a number"},
      {"10.0.0.0/0008", "'10.0.0.0/0008': prefix length '0008' is too long"},
      {"10.0.0.1/8", "'10.0.0.1/8': address has bits set beyond the /8 prefix"},
      {"example.com/8", "'example.com/8': 'example.com' is not an IP address"},
      {"", "'': '' is not an IP address"},
  };
  for (const auto& c : cases) {
    try {
      Cidr::parse(c.text);
      ADD_FAILURE() << "'" << c.text << "': got success, want " << c.message;
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()), c.message) << "got " << e.what() << ", want " << c.message;
    }
  }
}

TEST(CidrList, ParseAndMatch) {
  CidrList list = CidrList::parse("127.0.0.0/8, ::1\n10.0.0.0/8\t192.168.0.0/16,,");
  ASSERT_EQ(list.entries().size(), 4u) << "got " << list.entries().size() << " entries, want 4";
  EXPECT_TRUE(list.contains("127.0.0.1"));
  EXPECT_TRUE(list.contains("::1"));
  EXPECT_TRUE(list.contains("::ffff:192.168.3.4"));
  EXPECT_FALSE(list.contains("8.8.8.8"));
  EXPECT_FALSE(list.contains("not-an-ip"));
  EXPECT_FALSE(list.contains(""));
  EXPECT_TRUE(CidrList::parse("").entries().empty());
  EXPECT_FALSE(CidrList().contains("127.0.0.1"));
}

TEST(CidrList, BadEntryNamed) {
  try {
    CidrList::parse("127.0.0.0/8, 10.0.0.0/40");
    ADD_FAILURE() << "got success, want ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("10.0.0.0/40"), std::string::npos) << "got " << e.what();
  }
}

}  // namespace
}  // namespace postern
