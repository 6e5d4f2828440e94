// greylist_normalize_test.cpp — triplet normalization against postgrey 1.37's rules
// (do_sender_substitutions, do_client_substitutions, lc key), table-driven.
#include "policyd/greylist/normalize.hpp"

#include <gtest/gtest.h>

namespace postern::greylist {
namespace {

TEST(NormalizeSender, Table) {
  struct Case {
    const char* sender;
    bool digits;
    const char* want;
  };
  const Case cases[] = {
      {"alice@example.com", true, "alice@example.com"},
      {"", true, ""},                                         // null sender
      {"no-at-sign", true, "no-at-sign"},                     // left alone
      {"alice+list@example.com", true, "alice@example.com"},  // extension stripped
      {"a+b+c@example.com", true, "a@example.com"},
      {"bounce-123-456@lists.example", true, "bounce-#-#@lists.example"},  // VERP numbers
      {"bounce-123-456@lists.example", false, "bounce-123-456@lists.example"},
      {"user123@example.com", true, "user123@example.com"},  // digits glued to a word stay
      {"123user@example.com", true, "123user@example.com"},
      {"12.34@example.com", true, "#.#@example.com"},
      {"a_12@example.com", true, "a_12@example.com"},  // '_' is a word character
      // BATV prvs=TAG=local: the part that does not look like a tag wins
      {"prvs=0123456789=alice@example.com", true, "alice@example.com"},
      {"prvs=alice=0123456789@example.com", true, "alice@example.com"},
      {"prvs=abc=def@example.com", true, "def@example.com"},       // unsure: the third
      {"prvs=x=y=z@example.com", true, "prvs=x=y=z@example.com"},  // not three parts
      {"prvs=0123456789=bob+x@example.com", true, "bob@example.com"},
      {"prvs=0123456789=user42@example.com", true, "user42@example.com"},
      // SRS (not in postgrey): back to the original sender
      {"SRS0=HHH=TT=orig.example=alice@fwd.example", true, "alice@orig.example"},
      {"srs0+HHH=TT=orig.example=alice@fwd.example", true, "alice@orig.example"},
      {"SRS1=HHH=fwd1.example==HHH=TT=orig.example=bob@fwd2.example", true, "bob@orig.example"},
      {"SRS0=bad@fwd.example", true, "SRS0=bad@fwd.example"},
      {"SRS0=HHH=TT=orig.example=a=b@fwd.example", true, "a=b@orig.example"},
  };
  for (const auto& c : cases) {
    std::string got = normalize_sender(c.sender, c.digits);
    EXPECT_EQ(got, c.want) << "sender " << c.sender << ": got " << got << ", want " << c.want;
  }
}

TEST(ClientNetwork, Table) {
  struct Case {
    const char* address;
    NetworkOptions options;
    const char* want;  // nullptr: not an address
  };
  const Case cases[] = {
      {"192.0.2.77", {}, "192.0.2.0"},
      {"192.0.2.77", {16, 64, false}, "192.0.0.0"},
      {"192.0.2.77", {24, 64, true}, "192.0.2.77"},
      {"192.0.2.77", {32, 64, false}, "192.0.2.77"},
      {"::ffff:192.0.2.77", {}, "192.0.2.0"},  // IPv4-mapped counts as IPv4
      {"2001:db8:1:2:3:4:5:6", {}, "2001:db8:1:2::"},
      {"2001:db8:1:2:3:4:5:6", {24, 48, false}, "2001:db8:1::"},
      {"2001:db8::1", {24, 64, true}, "2001:db8::1"},
      {"unknown", {}, nullptr},
      {"", {}, nullptr},
      {"192.0.2.300", {}, nullptr},
  };
  for (const auto& c : cases) {
    auto got = client_network(c.address, c.options);
    if (!c.want) {
      EXPECT_FALSE(got) << c.address << ": got " << got.value_or("") << ", want none";
    } else {
      EXPECT_EQ(got.value_or("(none)"), c.want) << c.address;
    }
  }
}

TEST(TripletKey, LowerCasedLikePostgrey) {
  EXPECT_EQ(triplet_key("192.0.2.0", "Alice@Example.COM", "Bob@Example.NET"),
            "192.0.2.0/alice@example.com/bob@example.net");
  EXPECT_EQ(triplet_key("2001:db8::", "", "x@y"), "2001:db8:://x@y");  // null sender
}

}  // namespace
}  // namespace postern::greylist
