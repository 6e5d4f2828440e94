// dkim_config_dns_test.cpp — build_dkim_config's resolver options: --dns-cache-size and
// --dns-trust-anchor (defaults, what gets built, precise errors), and the shared key cache.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "milters/dkim/dkim_config.hpp"
#include "tests/unit/dkim_config_args.hpp"

namespace postern::dkim {
namespace {

// Every command line here starts with these options.
const std::vector<std::string> kBase = {"--mode",      "verify",  "--dns-server",
                                        "127.0.0.1@9", "--dmarc", "no"};

DkimConfig build(std::vector<std::string> args) {
  return test_support::build_from_words(kBase, std::move(args));
}

std::string error_of(std::vector<std::string> args) {
  return test_support::config_error_of(kBase, std::move(args));
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
