// dkim_config_args.hpp — test helper: build_dkim_config (milters/dkim/dkim_config.hpp) over a
// command line given as words, as main.cpp parses it (add_dkim_options, Boost
// Program_options), and the ConfigError message it throws.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "milters/dkim/dkim_config.hpp"
#include "tests/unit/config_error_of.hpp"

namespace postern::dkim::test_support {

/// The DkimConfig for `postern-dkim <base...> <args...>`; throws what build_dkim_config or
/// the option parser throws.
inline DkimConfig build_from_words(const std::vector<std::string>& base,
                                   std::vector<std::string> args) {
  po::options_description options;
  add_dkim_options(options);
  args.insert(args.begin(), base.begin(), base.end());
  args.insert(args.begin(), "postern-dkim");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  po::variables_map values;
  po::store(po::parse_command_line(static_cast<int>(argv.size()), argv.data(), options), values);
  po::notify(values);
  return build_dkim_config(values);
}

/// The ConfigError message of build_from_words(base, args); "" when it builds.
inline std::string config_error_of(const std::vector<std::string>& base,
                                   std::vector<std::string> args) {
  return postern::test_support::config_error_of([&] { build_from_words(base, std::move(args)); },
                                                "");
}

}  // namespace postern::dkim::test_support
