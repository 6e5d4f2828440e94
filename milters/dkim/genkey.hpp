// genkey.hpp — `postern-dkim genkey`: make a DKIM key pair and print its DNS TXT record.
//   postern-dkim genkey --domain D --selector S [--algorithm rsa|ed25519] [--bits N]
//                       [--out-dir DIR]
// Writes DIR/S.private (PKCS#8 PEM, mode 0600, never overwrites) and DIR/S.txt (the record in
// zone-file form), and prints the record. RSA p= is SubjectPublicKeyInfo DER (RFC 6376 §3.6.1),
// Ed25519 p= the raw 32-byte key (RFC 8463 §4.2), both base64.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>

namespace postern::dkim {

/// Entry point; argv[0] is "genkey". Returns 0, 1 on failure, 2 on a usage error.
int run_genkey(int argc, const char* const argv[]);
/// Same, printing to `out` and `err` (tests).
int run_genkey(int argc, const char* const argv[], std::ostream& out, std::ostream& err);

/// The TXT record text: "v=DKIM1; k=TYPE; p=BASE64".
std::string dkim_txt_record(std::string_view key_type, std::string_view public_key_base64);

/// Zone-file form: `S._domainkey.D. IN TXT ( "..." "..." )`, character-strings ≤ 255 bytes.
std::string zone_file_record(std::string_view selector, std::string_view domain,
                             std::string_view txt);

}  // namespace postern::dkim
