// redis_store.hpp — the shared greylisting store: every gateway behind one MX points at the
// same Redis (redis://, unix:, or redis-sentinel:// for failover; see common/redis.hpp).
// Keys: PREFIX "t:" triplet key and PREFIX "c:" client address; values "a,b,expire_at"
// (triplet first,last; client count,last), written with SET ... EX so Redis expires them
// (the TTL is expire_at - last seen). One round trip to read (pipelined GETs), one to write.
// Redis faults (down, timeout, error reply) throw StoreError.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/redis.hpp"
#include "policyd/greylist/store.hpp"

namespace postern::greylist {

class RedisStore : public Store {
 public:
  /// `client` is not owned and must outlive the store. `prefix` begins every key.
  RedisStore(redis::Client& client, std::string prefix = "postern:greylist:");

  StoreSnapshot load(std::string_view triplet_key, std::string_view client_key,
                     int64_t now) override;
  void save(const StoreUpdate& update) override;
  std::string describe() const override { return client_.url().redacted(); }

 private:
  redis::Client& client_;
  std::string prefix_;
};

/// "a,b,c" → three integers; nullopt for anything else (a foreign or damaged value is ignored,
/// as if absent). Exposed for the fuzz target: values come from a shared server.
std::optional<std::array<int64_t, 3>> parse_record(std::string_view value);

}  // namespace postern::greylist
