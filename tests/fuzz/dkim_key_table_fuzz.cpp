// dkim_key_table_fuzz.cpp — KeyTable and SigningTable line parsers and the refile wildcard
// matcher on arbitrary bytes. First byte picks the parser; never throws or crashes.
#include <cstdint>
#include <string_view>

#include "milters/dkim/key_table.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string error;
  switch (data[0] % 3) {
    case 0: {
      postern::dkim::KeyTableLine line;
      postern::dkim::parse_key_table_line(input, line, error);
      break;
    }
    case 1: {
      postern::dkim::SigningTableLine line;
      postern::dkim::parse_signing_table_line(input, line, error);
      break;
    }
    default: {  // "pattern\ntext"
      size_t newline = input.find('\n');
      if (newline != std::string_view::npos && input.size() < 4096) {
        postern::dkim::wildcard_match(input.substr(0, newline), input.substr(newline + 1));
      }
    }
  }
  return 0;
}
