// dns_wire.hpp — decoding of DNS rdata as libunbound hands it over (ub_result::data: one
// uncompressed rdata per record, RFC 1035 §3.3 wire format, no RDLENGTH prefix). Pure functions
// over untrusted bytes, fuzzed in tests/fuzz/common_dns_wire_fuzz.cpp; no libunbound needed.
// Bad input: every decoder returns nullopt for malformed rdata (a length running past the end,
// trailing bytes, a compression pointer, a name over 255 octets); nothing here throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/cidr.hpp"
#include "common/dns.hpp"

namespace postern::dns::wire {

using Bytes = std::span<const uint8_t>;

/// A domain name in uncompressed wire format (RFC 1035 §3.1: length-prefixed labels ending in
/// the zero-length root label) at the start of `wire`. On success `consumed` is its length in
/// octets. Text form: labels joined by '.', ASCII upper case folded to lower case, no trailing
/// dot, the root as "". Octets that would be ambiguous in text ('.', '\\') or are not printable
/// ASCII are written as RFC 1035 §5.1 escapes ("\\.", "\\\\", "\\DDD" decimal). nullopt for a
/// label length past the end, a compression pointer or reserved label type (top bits set), or a
/// name longer than 255 octets (RFC 1035 §2.3.4).
std::optional<std::string> decode_name(Bytes wire, std::size_t& consumed);

/// A whole rdata that is exactly one name: PTR (RFC 1035 §3.3.12), CNAME (§3.3.1). nullopt if
/// malformed or followed by trailing bytes.
std::optional<std::string> decode_name_rdata(Bytes rdata);

/// TXT rdata (RFC 1035 §3.3.14): one or more <length octet><bytes> character-strings,
/// concatenated with nothing in between (RFC 7208 §3.3, RFC 6376 §3.6.2.2); bytes kept as
/// received. An empty rdata (zero strings, tolerated) gives "". nullopt when a length octet
/// announces more bytes than remain.
std::optional<std::string> decode_txt(Bytes rdata);

/// MX rdata (RFC 1035 §3.3.9): 16-bit big-endian preference then the exchange name.
/// nullopt if shorter than 3 octets, the name is malformed or bytes trail.
std::optional<MxRecord> decode_mx(Bytes rdata);

/// A rdata (RFC 1035 §3.4.1): exactly 4 octets; nullopt otherwise.
std::optional<IpAddress> decode_a(Bytes rdata);

/// AAAA rdata (RFC 3596 §2.2): exactly 16 octets; nullopt otherwise.
std::optional<IpAddress> decode_aaaa(Bytes rdata);

/// The rdata of every answer-section record of `type` (class IN) in a whole DNS message
/// (RFC 1035 §4.1; names may be compressed, §4.1.4), in message order, each a view into
/// `message`; records of other types (the CNAMEs of a chain) are skipped. Parsed with libresolv's
/// ns_initparse/ns_parserr. nullopt when the message is malformed or its RCODE is not NOERROR.
/// Used where libunbound hands over the answer packet but not the records (dns_unbound.cpp).
std::optional<std::vector<Bytes>> answer_rdatas(Bytes message, uint16_t type);

}  // namespace postern::dns::wire
