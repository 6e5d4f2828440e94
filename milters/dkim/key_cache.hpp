// key_cache.hpp — loaded DKIM public keys shared by all verifications. Decoding p= into an
// OpenSSL key (d2i_PUBKEY through OpenSSL 3's decoders) costs about 1.1 M instructions, more
// than hashing and verifying a whole 10 KB message, and the same few keys sign most mail: so
// load_public_key()'s outcome is kept per key record content (k= and the p= octets, not the
// DNS name, so a rotated key is a new entry and never a stale hit).
// Bounded by an entry count; when full it starts over (a miss only costs one decode).
// Thread-safe. Nothing here throws but std::bad_alloc.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "milters/dkim/key_record.hpp"

namespace postern::dkim {

class PublicKeyCache {
 public:
  /// Keeps at most `capacity` outcomes (0: keep none, every load decodes).
  explicit PublicKeyCache(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  /// load_public_key(record), from the cache when this k=/p= was loaded before: a new
  /// reference to the same EVP_PKEY, which verification only reads (safe from several threads
  /// at once), or the same reason ("key too small", "bad public key").
  PublicKey load(const KeyRecord& record);

  /// Outcomes kept now (tests, metrics).
  size_t size() const;

  static constexpr size_t kDefaultCapacity = 1000;

 private:
  struct Entry {
    EvpPkey pkey;  // null when the key is unusable
    int bits = 0;
    std::string reason;
  };
  static PublicKey copy(const Entry& entry);

  size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // key: k= byte + p= octets
};

}  // namespace postern::dkim
