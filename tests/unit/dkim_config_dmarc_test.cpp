// dkim_config_dmarc_test.cpp — build_dkim_config's DMARC options: --dmarc, --public-suffix-list,
// --dmarc-reject, --dmarc-quarantine (defaults, what gets built, precise errors).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "milters/dkim/dkim_config.hpp"
#include "tests/unit/dkim_config_args.hpp"

namespace postern::dkim {
namespace {

// Every command line here starts with these options.
const std::vector<std::string> kBase = {"--mode", "verify", "--dns-server", "127.0.0.1@9"};

DkimConfig build(std::vector<std::string> args) {
  return test_support::build_from_words(kBase, std::move(args));
}

std::string error_of(std::vector<std::string> args) {
  return test_support::config_error_of(kBase, std::move(args));
}

TEST(DkimConfigDmarc, OnByDefaultWithoutEnforcement) {
  DkimConfig config = build({});
  ASSERT_TRUE(config.dmarc);
  ASSERT_TRUE(config.public_suffixes);
  EXPECT_EQ(config.public_suffixes->organizational_domain("a.b.example.co.uk"), "example.co.uk");
  EXPECT_FALSE(config.dmarc_enforcement.reject);
  EXPECT_FALSE(config.dmarc_enforcement.quarantine);
}

TEST(DkimConfigDmarc, OffWithNo) {
  DkimConfig config = build({"--dmarc", "no"});
  EXPECT_FALSE(config.dmarc);
  EXPECT_FALSE(config.public_suffixes);
}

TEST(DkimConfigDmarc, EnforcementFlags) {
  DkimConfig config = build({"--dmarc-reject", "--dmarc-quarantine"});
  EXPECT_TRUE(config.dmarc);
  EXPECT_TRUE(config.dmarc_enforcement.reject);
  EXPECT_TRUE(config.dmarc_enforcement.quarantine);
}

TEST(DkimConfigDmarc, PreciseErrors) {
  EXPECT_EQ(error_of({"--dmarc", "maybe"}), "option --dmarc: 'maybe' is not yes or no");
  EXPECT_EQ(error_of({"--dmarc", "no", "--dmarc-reject"}),
            "options --dmarc-reject/--dmarc-quarantine need --dmarc yes");
  EXPECT_EQ(error_of({"--public-suffix-list", ""}), "option --public-suffix-list: empty file name");
  EXPECT_NE(
      error_of({"--public-suffix-list", "/nonexistent/psl.dafsa"}).find("/nonexistent/psl.dafsa"),
      std::string::npos);
}

TEST(DkimConfigTemperror, AcceptByDefault) {
  EXPECT_EQ(build({}).temperror, TemperrorAction::Accept);
  EXPECT_EQ(build({"--temperror", "accept"}).temperror, TemperrorAction::Accept);
}

TEST(DkimConfigTemperror, Tempfail) {
  EXPECT_EQ(build({"--temperror", "tempfail"}).temperror, TemperrorAction::Tempfail);
  EXPECT_EQ(build({"--temperror", "tempfail", "--dmarc", "no"}).temperror,
            TemperrorAction::Tempfail);
}

TEST(DkimConfigTemperror, Errors) {
  EXPECT_EQ(error_of({"--temperror", "reject"}),
            "option --temperror: 'reject' is not accept or tempfail");
}

}  // namespace
}  // namespace postern::dkim
