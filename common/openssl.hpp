// openssl.hpp — owners for OpenSSL handles (one unique_ptr type per handle, stateless
// deleters) and openssl_error(), the text of OpenSSL's queued errors for fault messages.
// Source: OpenSSL 3.0 API (EVP_*_free, BIO_free_all, BN_free, ERR_get_error_all).
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "common/free.hpp"

namespace postern {

/// Deleter for OPENSSL_free'd memory (a macro in C, so wrapped in a function).
struct FreeOpensslMemory {
  void operator()(void* p) const noexcept { OPENSSL_free(p); }
};

using EvpPkey = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using EvpPkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Free<EVP_PKEY_CTX_free>>;
using EvpMdCtx = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX_free>>;
using EvpMd = std::unique_ptr<EVP_MD, Free<EVP_MD_free>>;  // from EVP_MD_fetch only
using EvpEncodeCtx = std::unique_ptr<EVP_ENCODE_CTX, Free<EVP_ENCODE_CTX_free>>;
using Bio = std::unique_ptr<BIO, Free<BIO_free_all>>;
using Bignum = std::unique_ptr<BIGNUM, Free<BN_free>>;
using BnCtx = std::unique_ptr<BN_CTX, Free<BN_CTX_free>>;
using X509Cert = std::unique_ptr<X509, Free<X509_free>>;
using OpensslString = std::unique_ptr<char, FreeOpensslMemory>;
using OpensslBytes = std::unique_ptr<unsigned char, FreeOpensslMemory>;

/// Drains this thread's OpenSSL error queue into one string ("error:...; error:..."),
/// oldest first; "no OpenSSL error queued" when empty. Use in fault messages.
inline std::string openssl_error() {
  std::string text;
  char buf[256];
  while (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? std::string("no OpenSSL error queued") : text;
}

}  // namespace postern
