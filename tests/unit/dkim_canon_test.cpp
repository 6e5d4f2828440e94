// dkim_canon_test.cpp — RFC 6376 §3.4 canonicalization: the §3.4.6 example, empty-body rules
// (errata 1384/4926 for relaxed), bare LF, and chunk-split independence of the streaming side.
#include <gtest/gtest.h>

#include "common/config_error.hpp"
#include "milters/dkim/canon.hpp"

namespace postern::dkim {
namespace {

std::string headers(Canon canon) {
  std::string out;
  canonicalize_header(canon, "A", " X", out);
  canonicalize_header(canon, "B ", " Y\t\r\n\tZ  ", out);
  return out;
}

constexpr char kExampleBody[] = " C \r\nD \t E\r\n\r\n\r\n";

TEST(Canon, Rfc6376Example346Relaxed) {
  EXPECT_EQ(headers(Canon::Relaxed), "a:X\r\nb:Y Z\r\n");
  EXPECT_EQ(canonicalize_body(Canon::Relaxed, kExampleBody), " C\r\nD E\r\n");
}

TEST(Canon, Rfc6376Example346Simple) {
  EXPECT_EQ(headers(Canon::Simple), "A: X\r\nB : Y\t\r\n\tZ  \r\n");
  EXPECT_EQ(canonicalize_body(Canon::Simple, kExampleBody), " C \r\nD \t E\r\n");
}

TEST(Canon, SimpleHeaderWritesBareLfFoldsAsCrlf) {
  std::string out;
  canonicalize_header(Canon::Simple, "Subject", " a\n\tb\r\n c", out);
  EXPECT_EQ(out, "Subject: a\r\n\tb\r\n c\r\n");
}

TEST(Canon, RelaxedHeaderUnfoldsBareLf) {
  std::string out;
  canonicalize_header(Canon::Relaxed, "SUBJECT", "  a\n\t b  \n c \t", out);
  EXPECT_EQ(out, "subject:a b c\r\n");
}

struct BodyCase {
  const char* name;
  Canon canon;
  std::string in;
  std::string want;
};

const BodyCase kBodyCases[] = {
    {"simple empty", Canon::Simple, "", "\r\n"},
    {"relaxed empty", Canon::Relaxed, "", ""},
    {"simple only empty lines", Canon::Simple, "\r\n\r\n\r\n", "\r\n"},
    {"relaxed only empty lines", Canon::Relaxed, "\r\n\r\n", ""},
    {"relaxed only whitespace lines", Canon::Relaxed, "  \r\n\t\r\n", ""},
    {"simple whitespace line kept", Canon::Simple, "  \r\n", "  \r\n"},
    {"simple no final CRLF", Canon::Simple, "abc", "abc\r\n"},
    {"relaxed no final CRLF", Canon::Relaxed, "abc  ", "abc\r\n"},
    {"bare LF simple", Canon::Simple, "a\nb\n\n", "a\r\nb\r\n"},
    {"bare LF relaxed", Canon::Relaxed, "a \nb\t\n\n", "a\r\nb\r\n"},
    {"inner empty lines kept", Canon::Relaxed, "a\r\n\r\n\r\nb\r\n\r\n", "a\r\n\r\n\r\nb\r\n"},
    {"bare CR is content", Canon::Simple, "a\rb\r\n", "a\rb\r\n"},
    {"CR at end", Canon::Simple, "a\r", "a\r\r\n"},
    {"8bit", Canon::Relaxed, "caf\xc3\xa9  au\tlait \r\n", "caf\xc3\xa9 au lait\r\n"},
};

TEST(Canon, BodyCases) {
  for (const BodyCase& c : kBodyCases) {
    std::string got = canonicalize_body(c.canon, c.in);
    EXPECT_EQ(got, c.want) << c.name;
  }
}

// Every split point into two chunks, and byte-at-a-time, give the whole-body result.
TEST(Canon, ChunkingDoesNotMatter) {
  const std::string body = " a  b \r\n\r\n\tc\n\r\nd\r\re \t\r\n\r\n \r\n";
  for (Canon canon : {Canon::Simple, Canon::Relaxed}) {
    std::string want = canonicalize_body(canon, body);
    for (size_t split = 0; split <= body.size(); ++split) {
      BodyCanonicalizer c(canon);
      std::string got(c.update(body.substr(0, split)));
      got += c.update(body.substr(split));
      got += c.finish();
      EXPECT_EQ(got, want) << "split at " << split;
      EXPECT_EQ(c.length(), want.size());
    }
    BodyCanonicalizer c(canon);
    std::string got;
    for (char ch : body) got += c.update(std::string_view(&ch, 1));
    got += c.finish();
    EXPECT_EQ(got, want) << "byte at a time";
  }
}

TEST(Canon, ResetStartsOver) {
  BodyCanonicalizer c(Canon::Simple);
  c.update("abc\r\n\r\n");
  c.reset();
  std::string got(c.update(""));
  got += c.finish();
  EXPECT_EQ(got, "\r\n");
}

TEST(Canon, ParseCanonicalization) {
  EXPECT_EQ(Canonicalization::parse("relaxed/simple"),
            (Canonicalization{Canon::Relaxed, Canon::Simple}));
  EXPECT_EQ(Canonicalization::parse("Simple"), (Canonicalization{Canon::Simple, Canon::Simple}));
  EXPECT_EQ(Canonicalization::parse("relaxed/relaxed").to_string(), "relaxed/relaxed");
  EXPECT_THROW(Canonicalization::parse("relaxed/"), ConfigError);
  EXPECT_THROW(Canonicalization::parse("nofws"), ConfigError);
  EXPECT_THROW(Canonicalization::parse("relaxed/relaxed/x"), ConfigError);
}

}  // namespace
}  // namespace postern::dkim
