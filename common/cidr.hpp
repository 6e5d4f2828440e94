// cidr.hpp — IPv4/IPv6 networks in CIDR notation and lists of them, for --internal-hosts,
// --skip-networks and the like. IPv4-mapped IPv6 clients (::ffff:a.b.c.d) match IPv4 networks.
// Parse errors throw ConfigError ("'10.0.0.0/33': prefix length 33 is more than 32").
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern {

/// An IP address, IPv4 stored as IPv4 (not mapped).
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // first 4 used for IPv4
  /// Numeric IPv4 or IPv6 text (brackets and an "IPv6:" prefix accepted); nullopt if not one.
  static std::optional<IpAddress> parse(std::string_view text);
  std::string to_string() const;
};

struct Cidr {
  IpAddress network;
  unsigned prefix = 0;  // 0..32 or 0..128
  /// "a.b.c.d/n", "x::y/n", or a bare address (full-length prefix). Throws ConfigError.
  static Cidr parse(std::string_view text);
  bool contains(const IpAddress& address) const;
};

/// A list of networks; matches when any contains the address.
class CidrList {
 public:
  CidrList() = default;
  /// Comma- and/or whitespace-separated CIDRs. Throws ConfigError naming the bad entry.
  static CidrList parse(std::string_view text);
  bool contains(const IpAddress& address) const;
  bool contains(std::string_view address_text) const;  // false for non-IP text
  const std::vector<Cidr>& entries() const { return entries_; }

 private:
  std::vector<Cidr> entries_;
};

}  // namespace postern
