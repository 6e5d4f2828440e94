// common_parsers_fuzz.cpp — libFuzzer target for common/ parsers that may see outside text:
// IpAddress::parse (client addresses from the MTA), Cidr/CidrList/SocketSpec::parse (config;
// must only ever throw ConfigError), and the log value quoting applied to untrusted values.
// Properties checked: address text round-trips, quoted log values are printable ASCII only.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/cidr.hpp"
#include "common/config_error.hpp"
#include "common/log_detail.hpp"
#include "common/socket_spec.hpp"

namespace {

void check_address(std::string_view text) {
  auto a = postern::IpAddress::parse(text);
  if (!a) return;
  auto again = postern::IpAddress::parse(a->to_string());
  if (!again || again->v6 != a->v6 || again->bytes != a->bytes) std::abort();
}

void check_log_value(std::string_view text) {
  std::string out;
  postern::log::detail::append_value(out, text);
  for (unsigned char c : out) {
    if (c < 0x20 || c >= 0x7f) std::abort();  // escaping must leave nothing raw
  }
}

template <class F>
void config_parse(F parse) {
  try {
    parse();
  } catch (const postern::ConfigError&) {
    // the only exception a config parser may throw
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check_address(text);
  check_log_value(text);
  config_parse([&] { postern::Cidr::parse(text); });
  config_parse([&] { postern::CidrList::parse(text); });
  config_parse([&] { postern::SocketSpec::parse(text); });
  return 0;
}
