// ldap_filter_fuzz.cpp — common/ldap.hpp's filter expansion on arbitrary bytes: the input is
// split at its first newline into a pattern and a key (the key is the
// untrusted recipient). Must not crash or hang; only ConfigError may escape expand_filter (a
// bad pattern). Checks that an expansion of the key holds no unescaped filter specials from
// it: with the pattern "%s" the result must contain no '(', ')' or '*'.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/config_error.hpp"
#include "common/ldap.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t newline = input.find('\n');
  std::string_view pattern =
      newline == std::string_view::npos ? "(mail=%s)" : input.substr(0, newline);
  std::string_view key = newline == std::string_view::npos ? input : input.substr(newline + 1);
  try {
    (void)postern::ldap::expand_filter(pattern, key);
  } catch (const postern::ConfigError&) {
  }
  auto alone = postern::ldap::expand_filter("%s", key);
  if (alone && alone->find_first_of(std::string_view("()*\0", 4)) != std::string::npos) {
    std::abort();  // a special of the key reached the filter unescaped
  }
  std::string escaped = postern::ldap::escape_filter_value(key);
  if (escaped.size() < key.size()) std::abort();
  return 0;
}
