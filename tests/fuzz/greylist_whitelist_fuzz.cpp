// greylist_whitelist_fuzz.cpp — libFuzzer target for the postgrey whitelist file parsers
// (ClientWhitelist::add, RecipientWhitelist::add): any text either loads or throws
// ConfigError — nothing else — and a loaded list answers matches() without crashing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/config_error.hpp"
#include "policyd/greylist/whitelist.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    postern::greylist::ClientWhitelist w;
    w.add(text, "fuzz");
    w.matches("mail1.example.org", "192.0.2.1");
  } catch (const postern::ConfigError&) {
  }
  try {
    postern::greylist::RecipientWhitelist w;
    w.add(text, "fuzz");
    w.matches("postmaster+x@example.com");
  } catch (const postern::ConfigError&) {
  }
  return 0;
}
