// dkim_signing_policy_test.cpp — who gets signed: internal clients, single From: with a key.
#include <gtest/gtest.h>

#include "common/cidr.hpp"
#include "milters/dkim/signing_policy.hpp"

namespace postern::dkim {
namespace {

SigningPolicy policy(bool sign_subdomains = false) {
  KeyStore keys;
  keys.add("example.com", "e",
           PrivateKey::load_base64("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", "test key"));
  return SigningPolicy(std::move(keys), CidrList::parse(default_internal_hosts()), sign_subdomains);
}

struct Case {
  const char* client;
  const char* auth;
  std::vector<std::string> from;
  bool sign;
  const char* reason;
};

TEST(SigningPolicy, Decisions) {
  const Case cases[] = {
      {"192.0.2.7", "", {" joe@example.com"}, false, "external client"},
      {"192.0.2.7", "joe", {" joe@example.com"}, true, ""},
      {"10.1.2.3", "", {" joe@example.com"}, true, ""},
      {"::1", "", {" joe@example.com"}, true, ""},
      {"", "", {" joe@example.com"}, true, ""},  // local submission (sendmail)
      {"10.1.2.3", "", {}, false, "no From:"},
      {"10.1.2.3", "", {" a@example.com", " b@example.com"}, false, "several From: fields"},
      {"10.1.2.3", "", {" joe"}, false, "From: without a domain"},
      {"10.1.2.3", "", {" joe@other.org"}, false, "no key for domain other.org"},
      {"10.1.2.3", "", {" joe@sub.example.com"}, false, "no key for domain sub.example.com"},
  };
  SigningPolicy p = policy();
  for (const Case& c : cases) {
    SigningPolicy::Decision d = p.decide(c.client, c.auth, c.from);
    EXPECT_EQ(d.sign, c.sign) << c.client << " " << d.reason;
    EXPECT_EQ(d.reason, c.reason) << c.client;
    EXPECT_EQ(d.keys.empty(), !c.sign);
  }
}

TEST(SigningPolicy, SignSubdomains) {
  auto d = policy(true).decide("10.0.0.1", "", {" joe@sub.example.com"});
  ASSERT_TRUE(d.sign) << d.reason;
  EXPECT_EQ(d.keys.at(0).sdid, "example.com");
}

}  // namespace
}  // namespace postern::dkim
