// config_error_of.hpp — test helper: the message of the ConfigError (common/config_error.hpp)
// a piece of code throws, so that a test compares it with EXPECT_EQ.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "common/config_error.hpp"

namespace postern::test_support {

/// The what() of the ConfigError that f() throws; `if_none` when f() returns. Other
/// exceptions propagate (the test then errors).
template <typename F>
std::string config_error_of(F&& f, std::string_view if_none = "no error") {
  try {
    std::forward<F>(f)();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return std::string(if_none);
}

}  // namespace postern::test_support
