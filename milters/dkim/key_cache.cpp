// key_cache.cpp — see key_cache.hpp.
#include "milters/dkim/key_cache.hpp"

namespace postern::dkim {

PublicKey PublicKeyCache::copy(const Entry& entry) {
  PublicKey key;
  if (entry.pkey && EVP_PKEY_up_ref(entry.pkey.get()) == 1) key.pkey.reset(entry.pkey.get());
  key.bits = entry.bits;
  key.reason = entry.reason;
  if (entry.pkey && !key.pkey) key.reason = "bad public key";  // up_ref failed: unusable
  return key;
}

PublicKey PublicKeyCache::load(const KeyRecord& record) {
  std::string id(1, record.key_type == KeyType::Ed25519 ? 'e' : 'r');
  id += record.public_key;
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(id); it != entries_.end()) return copy(it->second);
  }
  PublicKey key = load_public_key(record);  // outside the lock: decoding is the slow part
  if (capacity_ == 0) return key;
  Entry entry;
  entry.bits = key.bits;
  entry.reason = key.reason;
  if (key.pkey && EVP_PKEY_up_ref(key.pkey.get()) == 1) entry.pkey.reset(key.pkey.get());
  if (key.pkey && !entry.pkey) return key;  // could not share it: do not keep it
  std::lock_guard lock(mutex_);
  if (entries_.size() >= capacity_) entries_.clear();
  entries_.try_emplace(std::move(id), std::move(entry));
  return key;
}

size_t PublicKeyCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace postern::dkim
