// cidr.cpp — IP addresses and CIDR networks via inet_pton/inet_ntop.
#include "common/cidr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "common/config_error.hpp"

namespace postern {
namespace {

constexpr std::size_t max_address_text = 64;  // longest IPv6 text is 45 bytes
constexpr std::array<uint8_t, 12> mapped_prefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char a = text[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

bool is_v4_mapped(const IpAddress& a) {
  return a.v6 && std::equal(mapped_prefix.begin(), mapped_prefix.end(), a.bytes.begin());
}

// ::ffff:a.b.c.d → a.b.c.d; anything else unchanged.
IpAddress unmapped(const IpAddress& a) {
  if (!is_v4_mapped(a)) return a;
  IpAddress v4;
  std::copy_n(a.bytes.begin() + 12, 4, v4.bytes.begin());
  return v4;
}

// True when the first `prefix` bits of a and b agree.
bool prefix_equal(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b,
                  unsigned prefix) {
  unsigned whole = prefix / 8, rest = prefix % 8;
  if (!std::equal(a.begin(), a.begin() + whole, b.begin())) return false;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

[[noreturn]] void fail(std::string_view text, const std::string& why) {
  throw ConfigError("'" + std::string(text) + "': " + why);
}

unsigned parse_prefix(std::string_view cidr, std::string_view digits, unsigned max) {
  if (digits.empty()) fail(cidr, "missing prefix length after '/'");
  if (digits.size() > 3) fail(cidr, "prefix length '" + std::string(digits) + "' is too long");
  unsigned value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9')
      fail(cidr, "prefix length '" + std::string(digits) + "' is not a number");
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > max) {
    fail(cidr, "prefix length " + std::to_string(value) + " is more than " + std::to_string(max));
  }
  return value;
}

bool host_bits_zero(const IpAddress& a, unsigned prefix) {
  unsigned total = a.v6 ? 128 : 32;
  for (unsigned bit = prefix; bit < total; ++bit) {
    if (a.bytes[bit / 8] & (0x80 >> (bit % 8))) return false;
  }
  return true;
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (starts_with_nocase(text, "ipv6:")) text.remove_prefix(5);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > max_address_text) return std::nullopt;
  std::string z(text);  // inet_pton needs a NUL-terminated string
  IpAddress out;
  if (::inet_pton(AF_INET, z.c_str(), out.bytes.data()) == 1) return out;
  if (::inet_pton(AF_INET6, z.c_str(), out.bytes.data()) == 1) {
    out.v6 = true;
    return out;
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

Cidr Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) fail(text, "'" + std::string(text.substr(0, slash)) + "' is not an IP address");
  unsigned max = address->v6 ? 128 : 32;
  unsigned prefix =
      slash == std::string_view::npos ? max : parse_prefix(text, text.substr(slash + 1), max);
  if (!host_bits_zero(*address, prefix)) {
    fail(text, "address has bits set beyond the /" + std::to_string(prefix) + " prefix");
  }
  if (is_v4_mapped(*address) && prefix >= 96) return Cidr{unmapped(*address), prefix - 96};
  return Cidr{*address, prefix};
}

bool Cidr::contains(const IpAddress& address) const {
  IpAddress a = unmapped(address);
  if (a.v6 != network.v6) return false;
  return prefix_equal(network.bytes, a.bytes, prefix);
}

CidrList CidrList::parse(std::string_view text) {
  CidrList out;
  constexpr std::string_view separators = ", \t\r\n";
  std::size_t pos = 0;
  while ((pos = text.find_first_not_of(separators, pos)) != std::string_view::npos) {
    std::size_t end = std::min(text.find_first_of(separators, pos), text.size());
    out.entries_.push_back(Cidr::parse(text.substr(pos, end - pos)));
    pos = end;
  }
  return out;
}

bool CidrList::contains(const IpAddress& address) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const Cidr& c) { return c.contains(address); });
}

bool CidrList::contains(std::string_view address_text) const {
  auto address = IpAddress::parse(address_text);
  return address && contains(*address);
}

}  // namespace postern
