// config_error.hpp — the one exception type for bad configuration: options, key files,
// tables. The message says what, where (option or file:line) and why; main() prints it
// and exits non-zero before anything listens.
#pragma once

#include <stdexcept>
#include <string>

namespace postern {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace postern
