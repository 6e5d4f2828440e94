// store.hpp — where greylisting state lives: triplets (first and last seen) and the clients'
// auto-whitelist counters. Implementations: LmdbStore (embedded, default) and RedisStore
// (shared by several gateways). Times are Unix seconds; every record carries its own expiry
// (expire_at), after which it is gone: LMDB sweeps it in the background, Redis by TTL.
// Faults (disk, map full, Redis down or slow) throw StoreError; the policy turns them into
// its fault action.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace postern::greylist {

/// A fault of the store (not an outcome): the request gets the configured fault action.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One triplet: when first seen in the current attempt and last seen (postgrey "first,last").
struct TripletRecord {
  int64_t first_seen = 0;
  int64_t last_seen = 0;
  int64_t expire_at = 0;  // gone at and after this time
};

/// One client address of the auto-whitelist: successful retries counted, last one's time.
struct ClientRecord {
  int64_t count = 0;
  int64_t last_seen = 0;
  int64_t expire_at = 0;
};

/// What one request reads before deciding.
struct StoreSnapshot {
  std::optional<TripletRecord> triplet;
  std::optional<ClientRecord> client;
};

/// What one request writes after deciding (either may be absent).
struct StoreUpdate {
  std::optional<std::pair<std::string, TripletRecord>> triplet;
  std::optional<std::pair<std::string, ClientRecord>> client;
};

class Store {
 public:
  virtual ~Store() = default;
  /// The records of `triplet_key` and (unless `client_key` is empty) `client_key` that have
  /// not expired at `now`. Thread-safe. Throws StoreError.
  virtual StoreSnapshot load(std::string_view triplet_key, std::string_view client_key,
                             int64_t now) = 0;
  /// Writes the records in `update` (replacing older ones). Thread-safe. Throws StoreError.
  virtual void save(const StoreUpdate& update) = 0;
  /// "lmdb:/var/lib/postern/greylist", "redis://127.0.0.1:6379/0" — for logs.
  virtual std::string describe() const = 0;
};

}  // namespace postern::greylist
