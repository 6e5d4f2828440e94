// key_record.hpp — DKIM public key records (RFC 6376 §3.6.1, §3.6.2.2; RFC 8463 §4.2 Ed25519;
// RFC 8301 §3.2 RSA sizes): parse the TXT text, then load p= into an OpenSSL key.
// Untrusted input: sizes capped, outcomes are values with a reason, nothing here throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/openssl.hpp"
#include "milters/dkim/keys.hpp"

namespace postern::dkim {

enum class KeyType { Rsa, Ed25519 };

/// A parsed key record. An empty `public_key` means the key was revoked (p= empty).
struct KeyRecord {
  KeyType key_type = KeyType::Rsa;  // k=, default rsa
  std::string public_key;           // p= decoded: SubjectPublicKeyInfo DER, or raw 32 octets
  bool testing = false;             // t=y
  bool strict_identity = false;     // t=s: i= domain must equal d= exactly

  bool revoked() const { return public_key.empty(); }
};

struct KeyRecordParse {
  std::optional<KeyRecord> record;  // set when the text is a usable DKIM1 record
  std::string reason;               // why not ("key record v= is not DKIM1", "unknown k=")
};

/// Parses one TXT record (its character-strings already joined, §3.6.2.2). Rules: v= if
/// present is first and "DKIM1"; k= rsa or ed25519; h=, if present, lists sha256; s=, if
/// present, includes "*" or "email"; p= present (empty = revoked) and valid base64; unknown
/// tags and flags ignored (§3.6.1).
KeyRecordParse parse_key_record(std::string_view txt);

/// A key ready for EVP_DigestVerify.
struct PublicKey {
  EvpPkey pkey;        // null when unusable
  int bits = 0;        // RSA modulus size; 256 for Ed25519
  std::string reason;  // why unusable: "key too small", "bad public key"
};

/// Smallest RSA key accepted, in bits (RFC 8301 §3.2).
inline constexpr int kMinVerifyRsaBits = 1024;
/// Largest RSA key accepted, in bits (bounds verification time).
inline constexpr int kMaxVerifyRsaBits = 8192;

/// Loads a non-revoked record's p=: RSA as SubjectPublicKeyInfo (or bare PKCS#1 RSAPublicKey,
/// which some publish), Ed25519 as the raw 32-octet key (RFC 8463 §4.2). RSA under 1024 or over
/// 8192 bits → reason "key too small" / "key too large". Clears OpenSSL's error queue.
PublicKey load_public_key(const KeyRecord& record);

}  // namespace postern::dkim
