// lmdb_store.hpp — the embedded greylisting store: one LMDB environment (a file, or a
// directory holding data.mdb), two databases ("triplets", "clients"), records of three
// little-endian int64 (see store.hpp). Readers never block; LMDB serializes writers.
// Crash safety: LMDB's copy-on-write B-tree never leaves a torn database after a process
// crash. With sync_interval_seconds > 0 commits skip fsync and write through the map
// (MDB_NOSYNC | MDB_WRITEMAP) and a background thread flushes every interval, so an OS crash
// or power loss can lose that much recent state (a few triplets greylisted again) and, as
// LMDB documents for these modes, may leave the file damaged; 0 makes every commit durable
// (fsync each, much slower). At open every record is read once: a damaged file
// (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, or MDB_INVALID on a file with LMDB's magic) is renamed to
// FILE.damaged-<unix time> and the store starts empty (logged as greylist-store-damaged), since
// greylisting state is only a record of who retried. With MDB_WRITEMAP the file's size is the map
// size (sparse: the disk holds only the pages in use). Expiry: the same background thread deletes
// expired records in batches of at most `sweep_batch` per write transaction, so a request waits at
// most one small batch. Errors (cannot open, map full, I/O) throw StoreError with LMDB's message.
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
  /// Opens (creating) the environment, reads every record once (a damaged file is moved
  /// aside, see above), starts the sync/sweep thread. Throws StoreError when it cannot open
  /// (permissions, map size, LMDB version) or cannot move a damaged file aside.
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
  /// Where a damaged file found at open was moved ("" when none was).
  const std::string& quarantined() const { return quarantined_; }

 private:
  int open();  // (re)opens env_ and the databases, walks them: LMDB's rc
  // Closes env_, renames the data file `data`, removes the lock file; returns the new name.
  std::string quarantine(const std::string& data);
  void background();

  LmdbOptions options_;
  Clock clock_;
  bool subdir_ = false;  // options_.path is a directory (data.mdb, lock.mdb inside)
  std::string quarantined_;
  MdbEnv env_;
  MDB_dbi triplets_ = 0, clients_ = 0;
  std::mutex sweep_mutex_;  // one sweep at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace postern::greylist
