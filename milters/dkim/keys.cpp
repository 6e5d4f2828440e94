// keys.cpp — loading and checking DKIM private keys (PEM, DER, raw Ed25519 seeds).
#include "milters/dkim/keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

#include <openssl/pem.h>

#include "common/config_error.hpp"
#include "common/openssl.hpp"
#include "milters/dkim/base64.hpp"

namespace postern::dkim {
namespace {

constexpr int kMinRsaBits = 1024;  // RFC 8301 §3.2
constexpr int kMaxRsaBits = 4096;
constexpr size_t kMaxKeyFileBytes = 64 * 1024;

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Refuses keys that anyone but the owner may read or write (OpenDKIM does the same).
void check_mode(const std::string& path, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) throw ConfigError("key file " + path + " is not a regular file");
  if (st.st_mode & (S_IRGRP | S_IROTH)) {
    throw ConfigError("key file " + path + " is readable by group or others (mode " +
                      mode_text(st.st_mode) + "); chmod 600");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    throw ConfigError("key file " + path + " is writable by group or others (mode " +
                      mode_text(st.st_mode) + "); chmod 600");
  }
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string read_key_file(const std::string& path) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY)};
  if (file.fd < 0) {
    throw ConfigError("key file " + path + ": " +
                      (errno == ENOENT ? std::string("no such file") : std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0)
    throw ConfigError("key file " + path + ": " + std::strerror(errno));
  check_mode(path, st);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(file.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ConfigError("key file " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxKeyFileBytes) throw ConfigError("key file " + path + " is too large");
  }
  return text;
}

}  // namespace

std::string_view algorithm_name(Algorithm algorithm) {
  return algorithm == Algorithm::RsaSha256 ? "rsa-sha256" : "ed25519-sha256";
}

PrivateKey::PrivateKey(Token, void* pkey, Algorithm algorithm, int bits)
    : pkey_(pkey), algorithm_(algorithm), bits_(bits) {}

PrivateKey::~PrivateKey() {
  EVP_PKEY_free(static_cast<EVP_PKEY*>(pkey_));
}

std::shared_ptr<const PrivateKey> PrivateKey::adopt(void* evp_pkey, const std::string& origin) {
  EvpPkey pkey(static_cast<EVP_PKEY*>(evp_pkey));
  if (!pkey) throw ConfigError(origin + ": no key");
  int bits = EVP_PKEY_get_bits(pkey.get());
  Algorithm algorithm;
  if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    if (bits < kMinRsaBits || bits > kMaxRsaBits) {
      throw ConfigError(origin + ": RSA key of " + std::to_string(bits) +
                        " bits; DKIM wants 1024 to 4096 bits (RFC 8301 §3.2), 2048 recommended");
    }
    algorithm = Algorithm::RsaSha256;
  } else if (EVP_PKEY_is_a(pkey.get(), "ED25519")) {
    algorithm = Algorithm::Ed25519Sha256;
  } else {
    const char* type = EVP_PKEY_get0_type_name(pkey.get());
    throw ConfigError(origin + ": unsupported key type " + std::string(type ? type : "?") +
                      "; DKIM signs with RSA or Ed25519");
  }
  return std::make_shared<const PrivateKey>(Token{}, pkey.release(), algorithm, bits);
}

std::shared_ptr<const PrivateKey> PrivateKey::load_pem(std::string_view pem,
                                                       const std::string& origin) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw std::runtime_error("BIO_new_mem_buf: " + openssl_error());
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (pkey == nullptr) {
    ERR_clear_error();
    throw ConfigError(origin + ": not a PEM private key (PKCS#1 or PKCS#8, unencrypted)");
  }
  return adopt(pkey, origin);
}

std::shared_ptr<const PrivateKey> PrivateKey::load_base64(std::string_view base64,
                                                          const std::string& origin) {
  std::optional<std::string> der = base64_decode(base64);
  if (!der) throw ConfigError(origin + ": key data is not base64");
  const auto* bytes = reinterpret_cast<const unsigned char*>(der->data());
  EVP_PKEY* pkey = nullptr;
  if (der->size() == 32) {
    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytes, der->size());
  } else {
    pkey = d2i_AutoPrivateKey(nullptr, &bytes, static_cast<long>(der->size()));
  }
  if (pkey == nullptr) {
    ERR_clear_error();
    throw ConfigError(origin + ": key data is not a DER private key or an Ed25519 seed");
  }
  return adopt(pkey, origin);
}

std::shared_ptr<const PrivateKey> PrivateKey::load_file(const std::string& path) {
  return load_pem(read_key_file(path), "key file " + path);
}

std::string PrivateKey::public_key_base64() const {
  auto* pkey = static_cast<EVP_PKEY*>(pkey_);
  if (algorithm_ == Algorithm::Ed25519Sha256) {
    unsigned char raw[32];
    size_t size = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(pkey, raw, &size) != 1 || size != sizeof raw) {
      throw std::runtime_error("EVP_PKEY_get_raw_public_key: " + openssl_error());
    }
    return base64_encode(std::string_view(reinterpret_cast<const char*>(raw), size));
  }
  unsigned char* der = nullptr;
  int size = i2d_PUBKEY(pkey, &der);
  if (size <= 0) throw std::runtime_error("i2d_PUBKEY: " + openssl_error());
  OpensslBytes owner(der);
  return base64_encode(
      std::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(size)));
}

std::string_view PrivateKey::key_type_name() const {
  return algorithm_ == Algorithm::RsaSha256 ? "rsa" : "ed25519";
}

}  // namespace postern::dkim
