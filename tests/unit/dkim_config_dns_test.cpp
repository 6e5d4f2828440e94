// dkim_config_dns_test.cpp — build_dkim_config's resolver options: --dns-cache-size and
// --dns-trust-anchor (defaults, what gets built, precise errors), and the shared key cache.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/config_error.hpp"
#include "milters/dkim/dkim_config.hpp"

namespace postern::dkim {
namespace {

DkimConfig build(std::vector<std::string> args) {
  po::options_description options;
  add_dkim_options(options);
  args.insert(args.begin(),
              {"postern-dkim", "--mode", "verify", "--dns-server", "127.0.0.1@9", "--dmarc", "no"});
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  po::variables_map values;
  po::store(po::parse_command_line(static_cast<int>(argv.size()), argv.data(), options), values);
  po::notify(values);
  return build_dkim_config(values);
}

std::string error_of(std::vector<std::string> args) {
  try {
    build(std::move(args));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(DkimConfigDns, DefaultsCacheKeysAndAnswers) {
  DkimConfig config = build({});
  ASSERT_TRUE(config.resolver);
  EXPECT_TRUE(config.verifier.key_cache);
  EXPECT_EQ(config.verifier.key_cache->size(), 0u);
}

TEST(DkimConfigDns, CacheSize) {
  EXPECT_NO_THROW(build({"--dns-cache-size", "0"}));
  EXPECT_NO_THROW(build({"--dns-cache-size", "50"}));
  EXPECT_EQ(error_of({"--dns-cache-size", "-1"}), "option --dns-cache-size: must be 0 or more");
}

TEST(DkimConfigDns, TrustAnchor) {
  std::string error = error_of({"--dns-trust-anchor", "/nonexistent/root.key"});
  EXPECT_EQ(error.rfind("dns: --dns-trust-anchor '/nonexistent/root.key': cannot read: ", 0), 0u)
      << error;
  if (std::filesystem::exists("/usr/share/dns/root.key")) {
    EXPECT_NO_THROW(build({"--dns-trust-anchor", "/usr/share/dns/root.key"}));
  }
}

}  // namespace
}  // namespace postern::dkim
