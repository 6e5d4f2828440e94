// dkim_from_address_test.cpp — From: parsing (RFC 5322 §3.4, §3.6.2, §4.4), table-driven.
#include <gtest/gtest.h>

#include "milters/dkim/from_address.hpp"

namespace postern::dkim {
namespace {

struct Case {
  const char* value;
  FromOutcome outcome;
  const char* address;
};

const Case kCases[] = {
    {" joe@example.com", FromOutcome::Ok, "joe@example.com"},
    {" Joe SixPack <joe@Football.Example.COM>", FromOutcome::Ok, "joe@football.example.com"},
    {" \"Six, Pack\" <joe@example.com>", FromOutcome::Ok, "joe@example.com"},
    {" \"quoted <x@y>\" <joe@example.com>", FromOutcome::Ok, "joe@example.com"},
    {" joe@example.com (Joe, the (nested) one)", FromOutcome::Ok, "joe@example.com"},
    {" (c) Joe\r\n <joe@example.com>", FromOutcome::Ok, "joe@example.com"},
    {" joe@example.com.", FromOutcome::Ok, "joe@example.com"},
    {" \"joe smith\"@example.com", FromOutcome::Ok, "\"joe smith\"@example.com"},
    {" joe . smith @ example . com", FromOutcome::Ok, "joe.smith@example.com"},  // obs-local-part
    {" <@relay.example:joe@example.com>", FromOutcome::Ok, "joe@example.com"},   // obs-route
    {" Team: joe@example.com;", FromOutcome::Ok, "joe@example.com"},             // group
    {" J\xc3\xb6rg <j@b\xc3\xbc"
     "cher.example>",
     FromOutcome::Ok,
     "j@b\xc3\xbc"
     "cher.example"},
    {" a@example.com, b@example.com", FromOutcome::Multiple, ""},
    {" Team: a@example.com, b@example.com;", FromOutcome::Multiple, ""},
    {" joe", FromOutcome::NoDomain, ""},
    {" <joe@>", FromOutcome::NoDomain, ""},
    {" joe@[192.0.2.1]", FromOutcome::NoDomain, ""},
    {"", FromOutcome::Unparsable, ""},
    {"   ", FromOutcome::Unparsable, ""},
    {" Undisclosed:;", FromOutcome::Unparsable, ""},
    {" \"unterminated <joe@example.com>", FromOutcome::Unparsable, ""},
    {" (unterminated joe@example.com", FromOutcome::Unparsable, ""},
    {" <joe@example.com", FromOutcome::Unparsable, ""},
    {" joe@exa mple!.com", FromOutcome::Unparsable, ""},
    {" joe@example..com", FromOutcome::Unparsable, ""},
    {" @example.com", FromOutcome::Unparsable, ""},
};

TEST(FromAddress, Cases) {
  for (const Case& c : kCases) {
    FromAddress got = parse_from_value(c.value);
    EXPECT_EQ(got.outcome, c.outcome) << "value [" << c.value << "] reason " << got.reason;
    if (c.outcome == FromOutcome::Ok) {
      EXPECT_EQ(got.address, c.address) << "value [" << c.value << "]";
    } else {
      EXPECT_FALSE(got.reason.empty()) << c.value;
    }
  }
}

TEST(FromAddress, Fields) {
  EXPECT_EQ(parse_from({}).outcome, FromOutcome::Missing);
  EXPECT_EQ(parse_from({}).reason, "no From:");
  FromAddress two = parse_from({" a@example.com", " b@example.com"});
  EXPECT_EQ(two.outcome, FromOutcome::Multiple);
  EXPECT_EQ(two.reason, "several From: fields");
  FromAddress one = parse_from({" Joe <Joe@Example.com>"});
  EXPECT_EQ(one.local_part, "Joe");
  EXPECT_EQ(one.domain, "example.com");
}

TEST(FromAddress, CapsSize) {
  std::string huge(kMaxFromBytes + 1, 'a');
  EXPECT_EQ(parse_from_value(huge).outcome, FromOutcome::Unparsable);
  std::string deep(100, '(');
  EXPECT_EQ(parse_from_value(deep + "x@y").outcome, FromOutcome::Unparsable);
}

}  // namespace
}  // namespace postern::dkim
