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

// A reply to "x.test TXT": x.test CNAME y.test, then two TXT records of y.test, the second with
// no character-strings (rdlength 0); owner and target names compressed (RFC 1035 §4.1.4).
std::string cname_then_txt_reply(char rcode) {
  using namespace std::string_literals;
  return "\x00\x00\x81"s + rcode + "\x00\x01\x00\x03\x00\x00\x00\x00"s +     // header: 1 q, 3 an
         "\x01x\x04test\x00\x00\x10\x00\x01"s +                              // question at 12
         "\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x00\x00\x04\x01y\xc0\x0e"s +  // CNAME, y.test at 36
         "\xc0\x24\x00\x10\x00\x01\x00\x00\x00\x00\x00\x04\x03"
         "abc"s +                                              // TXT "abc"
         "\xc0\x24\x00\x10\x00\x01\x00\x00\x00\x00\x00\x00"s;  // TXT, no strings
}

TEST(DnsWire, AnswerRdatasOfTheAskedTypeOnly) {
  auto message = bytes(cname_then_txt_reply('\x80'));
  auto txt = wire::answer_rdatas(message, 16);
  ASSERT_TRUE(txt);
  ASSERT_EQ(txt->size(), 2u);
  EXPECT_EQ(std::string(txt->at(0).begin(), txt->at(0).end()),
            "\x03"
            "abc");
  EXPECT_TRUE(txt->at(1).empty()) << "got " << txt->at(1).size() << " octets, want none";
  EXPECT_EQ(wire::decode_txt(txt->at(1)), std::optional<std::string>(""));
  auto cname = wire::answer_rdatas(message, 5);
  ASSERT_TRUE(cname);
  EXPECT_EQ(cname->size(), 1u);
  auto a = wire::answer_rdatas(message, 1);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->empty());
}

TEST(DnsWire, AnswerRdatasRefusesErrorsAndTruncation) {
  EXPECT_FALSE(wire::answer_rdatas(bytes(cname_then_txt_reply('\x82')), 16))  // SERVFAIL
      << "an answer with RCODE SERVFAIL must not give records";
  auto message = bytes(cname_then_txt_reply('\x80'));
  for (std::size_t cut : {std::size_t{1}, std::size_t{5}, message.size() - 12}) {
    auto shorter = std::vector<uint8_t>(message.begin(), message.end() - static_cast<long>(cut));
    EXPECT_FALSE(wire::answer_rdatas(shorter, 16)) << "message cut by " << cut << " octets";
  }
  EXPECT_FALSE(wire::answer_rdatas({}, 16));
}

}  // namespace
