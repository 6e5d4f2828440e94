// digest.hpp — SHA-256 for DKIM signing and verification (RFC 6376 §3.3, RFC 8463 §3).
// Errors: OpenSSL failures throw std::runtime_error (a fault: the milter tempfails).
#pragma once

#include <openssl/evp.h>

#include <string>
#include <string_view>

namespace postern::dkim {

/// SHA-256 fetched once per process. EVP_sha256() would make OpenSSL 3 look the algorithm up
/// (under a lock) at every use, which every signing and verifying thread would contend on.
const EVP_MD* sha256_md();

/// The 32-byte SHA-256 digest of `data`, as raw bytes.
std::string sha256(std::string_view data);

}  // namespace postern::dkim
