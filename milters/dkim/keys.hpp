// keys.hpp — DKIM private keys and which key signs which From: address.
// INTERFACE CONTRACT (implementation: keys.cpp, key_table.cpp).
// Sources: the single-domain shortcut (--domain/--selector/--key-file) and OpenDKIM's
// KeyTable/SigningTable formats (opendkim.conf(5)), including "refile:" wildcard tables.
// Every load error throws postern::ConfigError saying what, which file (and line), and why.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace postern::dkim {

enum class Algorithm { RsaSha256, Ed25519Sha256 };
/// "rsa-sha256" / "ed25519-sha256" (the a= tag values, RFC 6376 §3.5, RFC 8463 §3).
std::string_view algorithm_name(Algorithm algorithm);

/// A loaded private key (OpenSSL EVP_PKEY inside). Immutable, shared by all sessions.
class PrivateKey {
 public:
  /// Load a PEM key (PKCS#1 or PKCS#8; RSA or Ed25519). Throws ConfigError when the file is
  /// missing, unreadable, readable or writable by group/others, unparsable, or an RSA key
  /// outside 1024..4096 bits (RFC 8301 §3.2).
  static std::shared_ptr<const PrivateKey> load_file(const std::string& path);
  /// Same checks on PEM text already in memory (`origin` names it in errors).
  static std::shared_ptr<const PrivateKey> load_pem(std::string_view pem,
                                                    const std::string& origin);
  /// OpenDKIM's inline KeyTable form: base64 of a DER private key (PKCS#1 or PKCS#8), or of a
  /// raw 32-byte Ed25519 seed (RFC 8463 §A.2 style). Same size checks. Throws ConfigError.
  static std::shared_ptr<const PrivateKey> load_base64(std::string_view base64,
                                                       const std::string& origin);
  /// Takes ownership of an EVP_PKEY* (genkey, tests); same checks. Throws ConfigError.
  static std::shared_ptr<const PrivateKey> adopt(void* evp_pkey, const std::string& origin);

  /// The DNS record p= value (RFC 6376 §3.6.1): base64 SubjectPublicKeyInfo DER for RSA, base64
  /// of the raw 32-byte public key for Ed25519 (RFC 8463 §4.2). Throws std::runtime_error.
  std::string public_key_base64() const;
  /// The k= value: "rsa" or "ed25519".
  std::string_view key_type_name() const;

  struct Token {  // lets make_shared reach the constructor; only PrivateKey can make one
   private:
    friend class PrivateKey;
    Token() = default;
  };
  PrivateKey(Token, void* pkey, Algorithm algorithm, int bits);
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;
  ~PrivateKey();
  Algorithm algorithm() const { return algorithm_; }
  int bits() const { return bits_; }
  void* evp_pkey() const { return pkey_; }  // EVP_PKEY*, owned here

 private:
  void* pkey_;
  Algorithm algorithm_;
  int bits_;
};

/// One signature to make: d= (signing domain identifier), s= (selector), the key.
struct SigningKey {
  std::string sdid;
  std::string selector;
  std::shared_ptr<const PrivateKey> key;
  /// i= (agent or user identifier, RFC 6376 §3.5), "" = none. Always sdid or a subdomain of it
  /// after the "@" (KeyStore::find drops one that conflicts with d=, as OpenDKIM does).
  std::string auid = {};
};

/// Which keys sign mail from which From: address.
class KeyStore {
 public:
  /// Single-domain shortcut: `domain` signs with `key` under `selector`.
  void add(std::string domain, std::string selector, std::shared_ptr<const PrivateKey> key);
  /// OpenDKIM KeyTable + SigningTable files; a path prefixed "refile:" is a wildcard table.
  /// Throws ConfigError (file:line: why), including a SigningTable line naming a key missing
  /// from the KeyTable and a KeyTable entry whose key file fails PrivateKey::load_file.
  void load_opendkim_tables(const std::string& key_table, const std::string& signing_table);

  /// Keys for a From: address ("local@domain", domain lower-cased): at most one RSA and one
  /// Ed25519 key (dual signing). With `sign_subdomains`, a parent domain's key signs mail from
  /// a subdomain (d= is the parent domain). Empty when no key applies.
  std::vector<SigningKey> find(std::string_view from_address, bool sign_subdomains) const;
  bool empty() const;

  struct Entry;  // defined in key_table.hpp

 private:
  std::vector<std::shared_ptr<Entry>> entries_;
};

}  // namespace postern::dkim
