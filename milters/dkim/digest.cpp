// digest.cpp — SHA-256 helpers shared by signer and verifier.
#include "milters/dkim/digest.hpp"

#include <openssl/sha.h>

#include <stdexcept>

#include "common/openssl.hpp"

namespace postern::dkim {

const EVP_MD* sha256_md() {
  static const EvpMd md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  if (!md) throw std::runtime_error("EVP_MD_fetch SHA256: " + openssl_error());
  return md.get();
}

std::string sha256(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  if (EVP_Digest(data.data(), data.size(), digest, nullptr, sha256_md(), nullptr) != 1) {
    throw std::runtime_error("EVP_Digest: " + openssl_error());
  }
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

}  // namespace postern::dkim
