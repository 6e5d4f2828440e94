// dkim_from_address_fuzz.cpp — From: parser on arbitrary bytes: must not crash, hang or throw;
// an Ok result must have a non-empty domain, lower-case, and address == local@domain.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "milters/dkim/from_address.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string value(reinterpret_cast<const char*>(data), size);
  postern::dkim::FromAddress from = postern::dkim::parse_from_value(value);
  if (from.outcome == postern::dkim::FromOutcome::Ok) {
    if (from.domain.empty() || from.address != from.local_part + "@" + from.domain) std::abort();
    for (char c : from.domain) {
      if (c >= 'A' && c <= 'Z') std::abort();
    }
  }
  return 0;
}
