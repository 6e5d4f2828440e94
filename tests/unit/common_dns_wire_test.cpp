// common_dns_wire_test.cpp — rdata decoders of common/dns_wire.hpp: RFC 1035 §3.3 wire forms,
// malformed lengths, compression pointers, name length limits, presentation escapes.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "common/dns_wire.hpp"

namespace wire = postern::dns::wire;

namespace {

std::vector<uint8_t> bytes(std::string_view text) {
  return {text.begin(), text.end()};
}

// n labels of 63 'a's, then the root: 64 * n + 1 octets.
std::vector<uint8_t> long_name(int labels) {
  std::vector<uint8_t> out;
  for (int i = 0; i < labels; ++i) {
    out.push_back(63);
    out.insert(out.end(), 63, 'a');
  }
  out.push_back(0);
  return out;
}

struct TxtCase {
  std::string rdata;
  std::optional<std::string> want;
};

TEST(DnsWire, Txt) {
  const TxtCase cases[] = {
      {std::string("\x0bv=spf1 -all"), "v=spf1 -all"},
      {std::string("\x03"
                   "abc"
                   "\x03"
                   "def"),
       "abcdef"},  // RFC 7208 §3.3: joined, no space
      {std::string("\x00", 1), ""},
      {"", ""},
      {std::string("\x02"
                   "a\0",
                   3),
       std::string("a\0", 2)},  // bytes as received
      {std::string("\x05"
                   "ab"),
       std::nullopt},  // length past the end
      {std::string("\x02"
                   "ab"
                   "\x01"),
       std::nullopt},  // second string cut off
  };
  for (const auto& c : cases) {
    auto data = bytes(c.rdata);
    EXPECT_EQ(wire::decode_txt(data), c.want) << "rdata '" << c.rdata << "'";
  }
}

TEST(DnsWire, TxtLongerThan255) {
  std::string rdata = "\xff" + std::string(255, 'x') + "\x0a" + std::string(10, 'y');
  auto text = wire::decode_txt(bytes(rdata));
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, std::string(255, 'x') + std::string(10, 'y'));
}

struct NameCase {
  std::string wire;
  std::optional<std::string> want;
};

TEST(DnsWire, NameRdata) {
  const NameCase cases[] = {
      {std::string("\x04"
                   "Host"
                   "\x07"
                   "EXAMPLE"
                   "\x03"
                   "com",
                   17) +
           '\0',
       "host.example.com"},
      {std::string("\x00", 1), ""},  // the root
      {std::string("\x03"
                   "a.b"
                   "\x00",
                   5),
       "a\\.b"},  // RFC 1035 §5.1 escapes
      {std::string("\x02"
                   "\\"
                   "\x07"
                   "\x00",
                   4),
       "\\\\\\007"},
      {std::string("\x01"
                   " "
                   "\x00",
                   3),
       "\\032"},
      {std::string("\xc0\x0c", 2), std::nullopt},  // compression pointer
      {std::string("\x41"
                   "a"
                   "\x00",
                   3),
       std::nullopt},  // reserved label type
      {std::string("\x03"
                   "abc",
                   4),
       std::nullopt},  // no root label
      {std::string("\x05"
                   "ab",
                   3),
       std::nullopt},  // label past the end
      {std::string("\x01"
                   "a"
                   "\x00"
                   "x",
                   4),
       std::nullopt},  // trailing bytes
      {"", std::nullopt},
  };
  for (const auto& c : cases) {
    auto data = bytes(c.wire);
    EXPECT_EQ(wire::decode_name_rdata(data), c.want) << "wire of " << c.wire.size() << " octets";
  }
}

TEST(DnsWire, NameLengthLimit) {
  auto ok = long_name(3);  // 193 octets
  ok.insert(ok.begin(), {61});
  ok.insert(ok.begin() + 1, 61, 'b');  // 255 octets: the most RFC 1035 §2.3.4 allows
  ASSERT_EQ(ok.size(), 255u);
  EXPECT_TRUE(wire::decode_name_rdata(ok));
  auto too_long = long_name(4);  // 257 octets
  EXPECT_FALSE(wire::decode_name_rdata(too_long));
}

TEST(DnsWire, NameConsumedStopsAtRoot) {
  auto data =
      bytes(std::string("\x01"
                        "a"
                        "\x00"
                        "rest",
                        7));
  std::size_t consumed = 0;
  EXPECT_EQ(wire::decode_name(data, consumed), "a");
  EXPECT_EQ(consumed, 3u);
}

TEST(DnsWire, Mx) {
  auto mx = wire::decode_mx(bytes(std::string("\x01\x02\x03MX1\x02NL\x00", 10)));
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->preference, 258);
  EXPECT_EQ(mx->exchange, "mx1.nl");
  EXPECT_FALSE(wire::decode_mx(bytes(std::string("\x00\x0a", 2))));          // no exchange
  EXPECT_FALSE(wire::decode_mx(bytes(std::string("\x00\x0a\xc0\x0c", 4))));  // pointer
}

TEST(DnsWire, Addresses) {
  auto a = wire::decode_a(bytes(std::string("\xc0\x00\x02\x01", 4)));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "192.0.2.1");
  EXPECT_FALSE(wire::decode_a(bytes(std::string("\xc0\x00\x02", 3))));
  std::string v6(16, '\0');
  v6[0] = '\x20', v6[1] = '\x01', v6[2] = '\x0d', v6[3] = '\xb8', v6[15] = '\x01';
  auto aaaa = wire::decode_aaaa(bytes(v6));
  ASSERT_TRUE(aaaa);
  EXPECT_TRUE(aaaa->v6);
  EXPECT_EQ(aaaa->to_string(), "2001:db8::1");
  EXPECT_FALSE(wire::decode_aaaa(bytes(v6 + "x")));
}

}  // namespace
