// signature.hpp — DKIM-Signature field parsing (RFC 6376 §3.5; RFC 8301 algorithms; RFC 8463
// ed25519-sha256) and the verification result words (RFC 8601 §2.7.1).
// Untrusted input: sizes capped, outcomes are values with a reason, nothing here throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "milters/dkim/canon.hpp"
#include "milters/dkim/keys.hpp"

namespace postern::dkim {

/// Result of checking one signature, in RFC 8601 §2.7.1 words; None = the message has none.
enum class DkimResult { None, Pass, Fail, Neutral, Policy, Temperror, Permerror };

/// "none", "pass", "fail", "neutral", "policy", "temperror", "permerror".
std::string_view result_name(DkimResult result);

/// The tags of one DKIM-Signature field, decoded. Names follow RFC 6376.
struct Signature {
  Algorithm algorithm = Algorithm::RsaSha256;
  std::string algorithm_text;  // a= as written, lower-cased (also set for rsa-sha1 etc.)
  std::string b;               // b= decoded (raw signature octets)
  std::string b_text;          // b= base64 without whitespace (header.b, RFC 6008)
  std::string body_hash;       // bh= decoded (32 octets)
  Canonicalization canonicalization{Canon::Simple, Canon::Simple};  // c=, default simple/simple
  std::string sdid;                                                 // d=, lower-cased
  std::string auid;      // i= decoded (dkim-quoted-printable), default "@" + sdid
  std::string selector;  // s=, lower-cased
  std::vector<std::string> signed_header_fields;  // h=, lower-cased, in order
  std::optional<uint64_t> body_length;            // l=, canonical body octets signed
  std::optional<int64_t> timestamp;               // t=, Unix seconds
  std::optional<int64_t> expiration;              // x=, Unix seconds
  /// The field value with the b= value removed exactly where it stood (§3.7): the octets from
  /// just after "b=" to the value's last non-whitespace octet go; all else (folds, the
  /// whitespace after the value) stays. Hashed as the last header-hash input.
  std::string value_without_b;
};

enum class SignatureStatus { Ok, Fail, Permerror };

struct ParsedSignature {
  SignatureStatus status = SignatureStatus::Permerror;
  std::string reason;   // why not Ok ("missing bh= tag", "rsa-sha1 is not accepted (RFC 8301)")
  Signature signature;  // filled as far as parsing got (d=, s=, i=, a= for reports)
};

/// Longest DKIM-Signature field value accepted, in bytes.
inline constexpr size_t kMaxSignatureBytes = 16 * 1024;

/// Parses a DKIM-Signature field value (everything after the colon, folds as CRLF or LF).
/// Ok: every required tag (v=1, a, b, bh, d, h, s) present and well-formed, h= includes From,
/// i= is in d= or a subdomain of it, q= includes dns/txt, x= >= t=. Fail: a= rsa-sha1
/// (RFC 8301 §3.1). Permerror: anything else, with a precise reason. Expiry against the clock
/// is the verifier's job (it owns the time).
ParsedSignature parse_signature(std::string_view value);

/// True when `domain` equals `parent` or is a subdomain of it; ASCII case-insensitive.
bool domain_within(std::string_view domain, std::string_view parent);

}  // namespace postern::dkim
