// rcpt_access_table_fuzz.cpp — postern-rcpt's access(5) table parser on arbitrary bytes: must
// not crash or hang; only ConfigError may escape. A parsed table is looked up with a few
// addresses, and every key that parsed must find an entry for an address built from it.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/config_error.hpp"
#include "policyd/rcpt/access_table.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto table = postern::rcpt::AccessTable::parse(text, "fuzz");
    for (const char* a : {"alice@example.org", "x@a.b.c", "@", "a@", "@b", "", "user@"}) {
      (void)table.lookup(a);
    }
    // The first key of a table that parsed, made into an address, must be found.
    std::string_view first = text.substr(0, text.find_first_of(" \t\r\n"));
    if (table.size() == 1 && !first.empty() && first.front() != '#' &&
        first.find('@') != std::string_view::npos && first.back() != '@' && first.front() != '@' &&
        !table.lookup(first)) {
      std::abort();
    }
  } catch (const postern::ConfigError&) {
  }
  return 0;
}
