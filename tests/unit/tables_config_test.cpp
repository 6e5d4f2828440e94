// tables_config_test.cpp — postern-tables' options → TablesConfig: maps from a config file
// and the environment, defaults, and the validation errors (what, where, why).
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/config_error.hpp"
#include "policyd/tables/tables_config.hpp"
#include "tests/unit/config_error_of.hpp"

namespace postern::tables {
namespace {

// Parses `flags` (and `env`, "NAME=value") as postern-tables would; returns the config.
TablesConfig build(std::vector<std::string> flags, std::vector<std::string> env = {}) {
  std::vector<const char*> argv{"postern-tables"};
  for (const auto& f : flags) argv.push_back(f.c_str());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  DaemonOptions options("tables", "postern-tables", "inet:10041@127.0.0.1");
  add_tables_options(options.options());
  options.parse(static_cast<int>(argv.size() - 1), argv.data(), envp.data());
  return build_tables_config(options);
}

std::string error_of(std::vector<std::string> flags) {
  return test_support::config_error_of([&] { build(std::move(flags)); }, "(no error)");
}

TEST(TablesConfig, MapsFromConfigFileWithDefaults) {
  std::string path = testing::TempDir() + "/tables.conf";
  std::ofstream(path) << "redis-url = unix:/run/redis.sock?db=2\n"
                         "map = psa cidr\n"
                         "map = vali redis\n"
                         "map = team redis prefix=T: type=set\n";
  TablesConfig config = build({"--config", path});
  ASSERT_EQ(config.maps.size(), 3u);
  EXPECT_EQ(config.maps[0].prefix, "PSA:");
  EXPECT_EQ(config.maps[1].name, "vali");
  EXPECT_EQ(config.maps[2].value_type, ValueType::Set);
  EXPECT_EQ(config.redis.url, "unix:/run/redis.sock?db=2");
  EXPECT_TRUE(config.uses(MapSpec::Kind::Cidr));
  EXPECT_FALSE(config.uses(MapSpec::Kind::Ldap));
  EXPECT_EQ(config.cache_ttl_seconds, 0) << "no cache by default: changes seen at once";
  EXPECT_EQ(config.limits.max_key_bytes, 4096u);
  EXPECT_EQ(config.request_deadline_seconds, 3);
}

TEST(TablesConfig, EnvironmentGivesOneMap) {
  TablesConfig config = build({}, {"POSTERN_TABLES_MAP=hlo redis"});
  ASSERT_EQ(config.maps.size(), 1u);
  EXPECT_EQ(config.maps[0].prefix, "HLO:");
}

TEST(TablesConfig, ErrorsNameTheOption) {
  EXPECT_EQ(error_of({}),
            "no map declared: give --map 'NAME KIND [OPTION=VALUE]...' (config file: map = ...)");
  EXPECT_EQ(error_of({"--map", "a redis", "--map", "a cidr"}),
            "option --map: map 'a' declared twice");
  EXPECT_EQ(error_of({"--map", "a redis prefix"}),
            "option --map: map 'a': 'prefix' is not OPTION=VALUE");
  EXPECT_EQ(error_of({"--map", "u ldap"}), "map 'u' is an ldap map: --ldap-server is needed");
  EXPECT_EQ(error_of({"--map", "a redis", "--max-key-bytes", "200000"}),
            "option --max-key-bytes: must be more than 0 and below --max-request-bytes");
  EXPECT_EQ(error_of({"--map", "a redis", "--cache-ttl", "-1"}),
            "option --cache-ttl: must be 0 (off) or more seconds");
  EXPECT_EQ(error_of({"--map", "a redis", "--workers", "0"}), "option --workers: must be > 0");
  EXPECT_EQ(error_of({"--map", "a redis", "--redis-timeout", "0"}),
            "option --redis-timeout: must be more than 0 seconds");
}

}  // namespace
}  // namespace postern::tables
