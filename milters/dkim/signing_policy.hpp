// signing_policy.hpp — whether postern-dkim signs a message, and with which keys: mail from
// internal clients (listed networks, SASL-authenticated, or local submission) whose single
// From: address has a key. Outcomes are values (Decision), never exceptions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.hpp"
#include "milters/dkim/keys.hpp"

namespace postern::dkim {

/// "127.0.0.0/8, ::1/128, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7" (loopback and
/// RFC 1918 / RFC 4193 private networks), the --internal-hosts default.
std::string default_internal_hosts();

/// Why a message is not signed, as a class (metrics); Decision::reason has the details.
enum class SkipReason {
  None,               // signed
  ExternalClient,     // not from --internal-hosts, not authenticated, not local
  NoFrom,             // no From: field
  MultipleFrom,       // several From: fields or mailboxes
  FromWithoutDomain,  // From: mailbox without a domain
  UnparsableFrom,     // From: value that does not parse
  NoKey               // no key for the From: domain
};

class SigningPolicy {
 public:
  struct Decision {
    bool sign = false;
    std::vector<SigningKey> keys;               // when sign: one RSA and/or one Ed25519 key
    std::string reason;                         // when not: "external client", "no From:", ...
    SkipReason skip_reason = SkipReason::None;  // when not: the class of `reason`
  };

  /// `sign_subdomains`: a parent domain's --domain key signs subdomain mail (d= the parent).
  SigningPolicy(KeyStore keys, CidrList internal_hosts, bool sign_subdomains);

  /// `client_address`: Postfix's client address ("" for local submission: internal).
  /// `auth_authen`: the {auth_authen} macro ("" when not authenticated).
  /// `from_values`: the value of every From: field, in order.
  Decision decide(std::string_view client_address, std::string_view auth_authen,
                  const std::vector<std::string>& from_values) const;

  const KeyStore& keys() const { return keys_; }

 private:
  bool internal(std::string_view client_address, std::string_view auth_authen) const;

  KeyStore keys_;
  CidrList internal_hosts_;
  bool sign_subdomains_;
};

}  // namespace postern::dkim
