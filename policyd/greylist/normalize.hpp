// normalize.hpp — the greylisting triplet (client network, sender, recipient) and how its
// parts are normalized, as postgrey 1.37 does (do_sender_substitutions,
// do_client_substitutions, the lower-cased "net/sender/recipient" key), plus SRS.
// Bad input: any octets are accepted; nothing here throws (except std::bad_alloc).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::greylist {

/// How a client address is reduced to the network greylisted as one (postgrey --ipv4cidr,
/// --ipv6cidr, --lookup-by-host).
struct NetworkOptions {
  unsigned ipv4_prefix = 24;  // 0..32
  unsigned ipv6_prefix = 64;  // 0..128
  bool by_host = false;       // true: the exact address
};

/// The network address of `client_address` under `options` ("192.0.2.0", "2001:db8:1:2::");
/// IPv4-mapped IPv6 counts as IPv4. nullopt when `client_address` is not an IP address.
std::optional<std::string> client_network(std::string_view client_address,
                                          const NetworkOptions& options);

/// The sender reduced to what stays the same across a sender's retries:
///  - BATV "prvs=TAG=local@d" (or "prvs=local=TAG@d") → "local@d" (postgrey's rule: of the two
///    parts the one not starting with 10 [0-9a-z] characters; the third when unsure);
///  - SRS "SRS0=HH=TT=domain=local@fwd" and "SRS1=HH=fwd==HH=TT=domain=local@fwd2" →
///    "local@domain" (postgrey leaves these as they are);
///  - "+extension" in the local part stripped;
///  - with `replace_digits`, every run of digits that is a whole word (Perl \b\d+\b) in the
///    local part → "#" (postgrey always does this).
/// An address without '@' (the null sender "" too) is returned unchanged. Case is kept;
/// triplet_key() lower-cases.
std::string normalize_sender(std::string_view sender, bool replace_digits = true);

/// The store key of a triplet: lower-cased "network/normalized sender/recipient", as postgrey.
std::string triplet_key(std::string_view network, std::string_view normalized_sender,
                        std::string_view recipient);

}  // namespace postern::greylist
