// av_config_test.cpp — postern-av's option table → AvConfig: defaults, values from flags and
// environment, and precise errors for bad values.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/config_error.hpp"
#include "milters/av/av_config.hpp"
#include "tests/unit/config_error_of.hpp"

namespace postern::av {
namespace {

AvConfig build(std::vector<std::string> flags, std::vector<std::string> env = {}) {
  std::vector<std::string> storage = std::move(flags);
  std::vector<const char*> argv = {"postern-av"};
  for (const std::string& s : storage) argv.push_back(s.c_str());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  DaemonOptions options("av", "postern-av", "inet:7357@127.0.0.1");
  add_av_options(options.options());
  options.parse(static_cast<int>(argv.size() - 1), argv.data(), envp.data());
  return build_av_config(options.values());
}

std::string error_of(std::vector<std::string> flags) {
  return test_support::config_error_of([&] { build(std::move(flags)); });
}

TEST(AvConfig, Defaults) {
  AvConfig c = build({"--tmp-dir", ::testing::TempDir()});
  EXPECT_EQ(c.engine.database_dir, "/var/lib/clamav");
  EXPECT_EQ(c.spool.max_size, 10240000u);  // Postfix's message_size_limit default
  EXPECT_EQ(c.spool.memory_threshold, 1u << 20);
  EXPECT_EQ(c.policy.on_virus, VirusAction::Reject);
  EXPECT_EQ(c.policy.on_oversize, OversizeAction::Accept);
  EXPECT_TRUE(c.add_headers);
  EXPECT_TRUE(c.engine.bytecode);
  EXPECT_TRUE(c.engine.heuristic_alerts);
  EXPECT_EQ(c.engine.limits.max_recursion, 17u);
  EXPECT_EQ(c.engine.limits.max_scan_time_ms, 120000u);
  EXPECT_EQ(c.policy.scanner.rfind("ClamAV ", 0), 0u) << c.policy.scanner;
  EXPECT_TRUE(c.watch_database);
}

TEST(AvConfig, FlagsAndEnvironment) {
  AvConfig c = build({"--tmp-dir", ::testing::TempDir(), "--on-virus", "quarantine", "--max-size",
                      "0", "--outbound-hosts", "10.0.0.0/8, 192.0.2.1", "--add-headers", "false",
                      "--max-scan-time", "5000"},
                     {"POSTERN_AV_DATABASE=/srv/clamav", "POSTERN_AV_OVERSIZE=tempfail"});
  EXPECT_EQ(c.engine.database_dir, "/srv/clamav");
  EXPECT_EQ(c.policy.on_virus, VirusAction::Quarantine);
  EXPECT_EQ(c.policy.on_oversize, OversizeAction::Tempfail);
  EXPECT_EQ(c.spool.max_size, 0u);
  EXPECT_TRUE(c.outbound_hosts.contains("10.1.2.3"));
  EXPECT_TRUE(c.outbound_hosts.contains("192.0.2.1"));
  EXPECT_FALSE(c.outbound_hosts.contains("192.0.2.2"));
  EXPECT_FALSE(c.add_headers);
  EXPECT_EQ(c.engine.limits.max_scan_time_ms, 5000u);
}

TEST(AvConfig, Errors) {
  std::string tmp = ::testing::TempDir();
  struct Case {
    std::vector<std::string> flags;
    std::string want;
  };
  const Case cases[] = {
      {{"--tmp-dir", "/nonexistent/x"}, "option --tmp-dir: '/nonexistent/x' is not a directory"},
      {{"--tmp-dir", tmp, "--on-virus", "bounce"}, "option --on-virus: 'bounce' is not one of"},
      {{"--tmp-dir", tmp, "--oversize", "reject"}, "option --oversize: 'reject' is not one of"},
      {{"--tmp-dir", tmp, "--max-size", "-1"}, "option --max-size: -1 is out of range"},
      {{"--tmp-dir", tmp, "--max-recursion", "0"}, "option --max-recursion: 0 is out of range"},
      {{"--tmp-dir", tmp, "--outbound-hosts", "10.0.0.0/33"}, "prefix length 33"},
      {{"--tmp-dir", tmp, "--database", ""}, "option --database: empty"},
  };
  for (const Case& c : cases) {
    std::string got = error_of(c.flags);
    EXPECT_NE(got.find(c.want), std::string::npos) << "got " << got << ", want " << c.want;
  }
}

}  // namespace
}  // namespace postern::av
