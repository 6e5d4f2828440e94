// common_log_test.cpp — log line format: quoting, escaping, truncation, levels, prefixes.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "common/config_error.hpp"
#include "common/log.hpp"
#include "common/log_detail.hpp"

namespace postern::log {
namespace {

struct Captured {
  Level level;
  std::string line;
};

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init("postern-test", Target::Stderr, Level::Info);
    detail::set_sink([this](Level level, std::string_view line) {
      lines_.push_back({level, std::string(line)});
    });
  }
  void TearDown() override { detail::set_sink(nullptr); }
  std::vector<Captured> lines_;
};

std::string as_value(std::string_view value) {
  std::string out;
  detail::append_value(out, value);
  return out;
}

TEST(LogQuote, Table) {
  struct Case {
    std::string value, want;
  } cases[] = {
      {"example.com", "example.com"},
      {"", "\"\""},
      {"body hash mismatch", "\"body hash mismatch\""},
      {"a=b", "\"a=b\""},
      {"say \"hi\"", "\"say \\\"hi\\\"\""},
      {"back\\slash", "\"back\\\\slash\""},
      {"line\r\nnext", "\"line\\r\\nnext\""},
      {"tab\there", "\"tab\\there\""},
      {std::string("nul\0x", 5), "\"nul\\x00x\""},
      {"\x7f", "\"\\x7f\""},
      {"caf\xc3\xa9", "\"caf\\xc3\\xa9\""},
      {"<user@example.com>", "<user@example.com>"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(as_value(c.value), c.want)
        << "value '" << c.value << "': got " << as_value(c.value) << ", want " << c.want;
  }
}

TEST(LogQuote, TruncatesLongValues) {
  std::string plain(300, 'a');
  std::string want = std::string(detail::max_value_bytes, 'a') + "...";
  EXPECT_EQ(as_value(plain), want)
      << "got length " << as_value(plain).size() << ", want " << want.size();

  std::string spaced(300, ' ');
  std::string want_spaced = "\"" + std::string(detail::max_value_bytes, ' ') + "...\"";
  EXPECT_EQ(as_value(spaced), want_spaced);

  std::string exact(detail::max_value_bytes, 'b');
  EXPECT_EQ(as_value(exact), exact) << "a value of exactly the limit must not be marked truncated";
}

TEST_F(LogTest, EventLine) {
  info("dkim-verify")
      .kv("queue_id", "4XyZ1")
      .kv("sdid", "example.com")
      .kv("result", "fail")
      .kv("reason", "body hash mismatch");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(
      lines_[0].line,
      "dkim-verify queue_id=4XyZ1 sdid=example.com result=fail reason=\"body hash mismatch\"");
}

TEST_F(LogTest, Numbers) {
  info("n")
      .kv("i", -3)
      .kv("u", 7u)
      .kv("big", static_cast<uint64_t>(18446744073709551615ull))
      .kv("d", 0.25)
      .kv("b", true);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].line, "n i=-3 u=7 big=18446744073709551615 d=0.25 b=yes");
}

TEST_F(LogTest, LevelsFilterBelowMinimum) {
  debug("hidden").kv("x", "y");
  info("shown");
  warning("warned");
  error("failed");
  ASSERT_EQ(lines_.size(), 3u) << "got " << lines_.size() << " lines, want 3 (debug filtered)";
  EXPECT_EQ(lines_[0].line, "shown");
  EXPECT_EQ(lines_[1].level, Level::Warning);
  EXPECT_EQ(lines_[2].level, Level::Error);
}

TEST(LogParse, LevelsAndTargets) {
  EXPECT_EQ(parse_level("debug"), Level::Debug);
  EXPECT_EQ(parse_level("error"), Level::Error);
  EXPECT_THROW(parse_level("verbose"), ConfigError);
  EXPECT_THROW(parse_level("INFO"), ConfigError);
  EXPECT_EQ(parse_target("syslog"), Target::Syslog);
  EXPECT_THROW(parse_target("file"), ConfigError);
}

TEST(LogStderr, WarningPrefixAndNewline) {
  init("postern-test", Target::Stderr, Level::Info);
  testing::internal::CaptureStderr();
  warning("disk-low").kv("free", 3);
  error("milter-error").kv("reason", "x y");
  std::string got = testing::internal::GetCapturedStderr();
  std::string want = "warning: disk-low free=3\nerror: milter-error reason=\"x y\"\n";
  EXPECT_EQ(got, want) << "got " << got << ", want " << want;
}

// Lines from many threads at once: each written whole, none lost, each thread's in its order.
TEST(LogStderr, ManyThreadsWholeLinesInOrder) {
  init("postern-test", Target::Stderr, Level::Info);
  testing::internal::CaptureStderr();
  constexpr int kThreads = 8, kLines = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLines; ++i)
        info("line").kv("thread", t).kv("n", i).kv("pad", "0123456789abcdef");
    });
  }
  for (auto& thread : threads) thread.join();
  std::string got = testing::internal::GetCapturedStderr();
  std::vector<int> next(kThreads, 0);
  size_t lines = 0, start = 0;
  for (size_t end; (end = got.find('\n', start)) != std::string::npos; start = end + 1) {
    std::string line = got.substr(start, end - start);
    int t = -1, n = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "line thread=%d n=%d pad=0123456789abcdef", &t, &n), 2)
        << line;
    ASSERT_TRUE(t >= 0 && t < kThreads) << line;
    EXPECT_EQ(n, next[t]++) << "thread " << t << " out of order";
    ++lines;
  }
  EXPECT_EQ(start, got.size()) << "a partial last line";
  EXPECT_EQ(lines, size_t{kThreads} * kLines);
}

}  // namespace
}  // namespace postern::log
