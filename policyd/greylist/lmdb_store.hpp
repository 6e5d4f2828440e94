// lmdb_store.hpp — the embedded greylisting store: one LMDB environment (a file, or a
// directory holding data.mdb), two databases ("triplets", "clients"), records of three
// little-endian int64 (see store.hpp). Readers never block; LMDB serializes writers.
// Crash safety: LMDB's copy-on-write B-tree never leaves a torn database after a process
// crash. With sync_interval_seconds > 0 commits skip fsync (MDB_NOSYNC) and a background thread
// flushes every interval, so a power loss can lose that much recent state (a few triplets
// greylisted again); 0 makes every commit durable (fsync each, much slower).
// Expiry: the same background thread deletes expired records in batches of at most
// `sweep_batch` per write transaction, so a request waits at most one small batch.
// Errors (cannot open, map full, I/O) throw StoreError with LMDB's message.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/free.hpp"
#include "policyd/greylist/store.hpp"

namespace postern::greylist {

using MdbEnv = std::unique_ptr<MDB_env, Free<mdb_env_close>>;

struct LmdbOptions {
  std::string path;                         // file (created) or existing directory
  size_t map_size_bytes = size_t{1} << 30;  // most the database may grow to (1 GiB)
  double sync_interval_seconds = 1.0;       // 0: fsync on every commit
  double sweep_interval_seconds = 300;      // expiry sweeps this often (0: never)
  size_t sweep_batch = 1000;                // deletions per write transaction
};

class LmdbStore : public Store {
 public:
  using Clock = std::function<int64_t()>;  // Unix seconds, for the sweep
  /// Opens (creating) the environment; starts the sync/sweep thread. Throws StoreError.
  LmdbStore(LmdbOptions options, Clock clock);
  ~LmdbStore() override;
  LmdbStore(const LmdbStore&) = delete;
  LmdbStore& operator=(const LmdbStore&) = delete;

  StoreSnapshot load(std::string_view triplet_key, std::string_view client_key,
                     int64_t now) override;
  void save(const StoreUpdate& update) override;
  std::string describe() const override { return "lmdb:" + options_.path; }

  /// Deletes every record expired at `now`, batch by batch; returns how many. Thread-safe
  /// (the background thread calls it too). Throws StoreError.
  size_t sweep(int64_t now);
  /// Records in both databases (for metrics and tests).
  size_t count() const;
  /// Bytes of the database file in use (pages × page size).
  size_t used_bytes() const;
  /// Flushes to disk now (mdb_env_sync).
  void sync();

 private:
  void background();

  LmdbOptions options_;
  Clock clock_;
  MdbEnv env_;
  MDB_dbi triplets_ = 0, clients_ = 0;
  std::mutex sweep_mutex_;  // one sweep at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace postern::greylist
