// record.hpp — SPF record parser (RFC 7208 §4.5, §4.6, §5, §6, §12 ABNF).
// "v=spf1" then terms separated by spaces: directives ([qualifier] mechanism) and modifiers.
// Any syntax error anywhere makes the whole record a permerror (§4.6); the reason names the
// term ("invalid ip4 prefix length 33 in 'ip4:1.2.3.4/33'"). Nothing here throws or queries DNS.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.hpp"

namespace postern::spf {

/// §4.6.2: '+' pass (default), '-' fail, '~' softfail, '?' neutral.
enum class Qualifier { Pass, Fail, Softfail, Neutral };

enum class MechanismKind { All, Include, A, Mx, Ptr, Ip4, Ip6, Exists };

/// One directive (§4.6.1). `domain_spec` is the unexpanded macro-string ("" = the current
/// domain, for a, mx and ptr); `network` is set for ip4/ip6.
struct Mechanism {
  Qualifier qualifier = Qualifier::Pass;
  MechanismKind kind = MechanismKind::All;
  std::string domain_spec;
  IpAddress network;
  unsigned cidr4 = 32;   // ip4, a, mx: prefix length for IPv4 clients (0..32)
  unsigned cidr6 = 128;  // ip6, a, mx: prefix length for IPv6 clients (0..128)
  std::string text;      // the term as written, for Received-SPF mechanism=
};

/// A parsed record: mechanisms in order, and the two modifiers of §6 (unknown modifiers are
/// syntax-checked and dropped, §6).
struct Record {
  std::vector<Mechanism> mechanisms;
  std::optional<std::string> redirect;  // domain-spec of redirect=
  std::optional<std::string> exp;       // domain-spec of exp=
};

/// A record, or the permerror reason.
struct ParsedRecord {
  std::optional<Record> record;
  std::string error;
};

/// True when `txt` is an SPF version 1 record: "v=spf1" (any case) followed by a space or the
/// end (§4.5).
bool is_spf_record(std::string_view txt);

/// Parses a whole record (§4.6, §12). Expects is_spf_record(text).
ParsedRecord parse_record(std::string_view text);

/// Checks a domain-spec: a valid macro-string ending in a macro-expand or "." toplabel ["."]
/// (§12 domain-end). Returns "" when valid, else the reason.
std::string check_domain_spec(std::string_view spec);

/// Name of a mechanism kind as written in records ("include", "ip4").
std::string_view mechanism_name(MechanismKind kind);

}  // namespace postern::spf
