// rcpt_redis_key_test.cpp — policyd/rcpt/redis_source.hpp's key templates (the Redis parts
// against a real redis-server are in tests/integration/test_rcpt_postfix.py).
#include <gtest/gtest.h>

#include <string>

#include "common/config_error.hpp"
#include "policyd/rcpt/redis_source.hpp"

namespace postern::rcpt {
namespace {

TEST(RcptRedisKey, Templates) {
  struct Case {
    std::string key_template, address, want;
  };
  const Case cases[] = {
      {"VALI:%s", "user1@example.com", "VALI:user1@example.com"},
      {"VDOM:%d", "@example.com", "VDOM:example.com"},
      {"VDOM:%d", "user1@example.com", "VDOM:example.com"},
      {"u:%u d:%d", "a.b@c.d", "u:a.b d:c.d"},
      {"%u", "nodomain", "nodomain"},
      {"%d", "nodomain", ""},
      {"%u@%d", "\"a@b\"@c", "\"a@b\"@c"},  // split at the last '@'
      {"100%%:%s", "x@y", "100%:x@y"},
      {"fixed", "x@y", "fixed"},
      {"k:%s", "*)(uid=*", "k:*)(uid=*"},  // keys are binary-safe arguments: no escaping
  };
  for (const Case& c : cases) {
    EXPECT_EQ(expand_key(c.key_template, c.address), c.want)
        << "template '" << c.key_template << "' address '" << c.address << "'";
  }
}

TEST(RcptRedisKey, BadTemplates) {
  for (const char* bad : {"VALI:%x", "%", "a%1"}) {
    EXPECT_THROW(check_key_template(bad), ConfigError) << bad;
  }
  try {
    check_key_template("VALI:%x");
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown expansion %x at offset 5"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace postern::rcpt
