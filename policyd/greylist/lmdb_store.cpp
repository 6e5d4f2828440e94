// lmdb_store.cpp — LMDB-backed greylisting store (see lmdb_store.hpp).
#include "policyd/greylist/lmdb_store.hpp"

#include <openssl/sha.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/log.hpp"

namespace postern::greylist {
namespace {

[[noreturn]] void fail(const char* what, int rc) {
  throw StoreError(std::string("lmdb ") + what + ": " + mdb_strerror(rc));
}

void check(const char* what, int rc) {
  if (rc != MDB_SUCCESS) fail(what, rc);
}

/// A transaction aborted unless committed.
class Txn {
 public:
  Txn(MDB_env* env, unsigned flags) {
    check("begin transaction", mdb_txn_begin(env, nullptr, flags, &txn_));
  }
  ~Txn() {
    if (txn_) mdb_txn_abort(txn_);
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  MDB_txn* get() const { return txn_; }
  void commit() {
    MDB_txn* t = txn_;
    txn_ = nullptr;
    check("commit", mdb_txn_commit(t));
  }

 private:
  MDB_txn* txn_ = nullptr;
};

struct Packed {
  int64_t v[3];
};

Packed unpack(const MDB_val& val) {
  Packed p{};
  if (val.mv_size == sizeof p) std::memcpy(&p, val.mv_data, sizeof p);
  return p;
}

MDB_val key_val(std::string_view key) {
  return MDB_val{key.size(), const_cast<char*>(key.data())};
}

// LMDB keys are at most 511 bytes: a longer key is stored as its first 400 bytes, '#' and the
// hex SHA-256 of the whole key (so a very long sender or recipient is still greylisted once,
// not forever).
std::string storable_key(std::string_view key) {
  if (key.size() <= 400) return std::string(key);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(key.substr(0, 400));
  out += '#';
  for (unsigned char b : digest) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::optional<Packed> get(MDB_txn* txn, MDB_dbi dbi, std::string_view key, int64_t now) {
  if (key.empty()) return std::nullopt;
  std::string stored = storable_key(key);
  MDB_val k = key_val(stored), v;
  int rc = mdb_get(txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check("get", rc);
  Packed p = unpack(v);
  if (p.v[2] <= now) return std::nullopt;  // expired, not swept yet
  return p;
}

void put(MDB_txn* txn, MDB_dbi dbi, std::string_view key, const Packed& p) {
  if (key.empty()) return;
  std::string stored = storable_key(key);
  MDB_val k = key_val(stored);
  MDB_val v{sizeof p, const_cast<Packed*>(&p)};
  check("put", mdb_put(txn, dbi, &k, &v, 0));
}

// True when `path` holds LMDB's meta page magic (0xBEEFC0DE after the 16-byte page header)
// in one of its two meta pages (at 0 or one page of 4096 bytes in): the file is LMDB's.
bool has_lmdb_magic(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char page[4096 + 20];
  size_t n = std::fread(page, 1, sizeof page, f);
  std::fclose(f);
  const unsigned char magic[4] = {0xDE, 0xC0, 0xEF, 0xBE};  // little-endian uint32
  for (size_t at : {size_t{16}, size_t{4096 + 16}}) {
    if (n >= at + 4 && std::memcmp(page + at, magic, 4) == 0) return true;
  }
  return false;
}

// Walks every record of `dbi` (each page read once); returns LMDB's first error or
// MDB_SUCCESS. A record of the wrong size counts as MDB_CORRUPTED.
int walk(MDB_txn* txn, MDB_dbi dbi) {
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn, dbi, &cursor);
  if (rc != MDB_SUCCESS) return rc;
  MDB_val k, v;
  for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
    if (v.mv_size != sizeof(Packed)) {
      rc = MDB_CORRUPTED;
      break;
    }
  }
  mdb_cursor_close(cursor);
  return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

}  // namespace

LmdbStore::LmdbStore(LmdbOptions options, Clock clock)
    : options_(std::move(options)), clock_(std::move(clock)) {
  struct stat st {};
  subdir_ = ::stat(options_.path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  std::string data = subdir_ ? options_.path + "/data.mdb" : options_.path;
  int rc = open();
  // MDB_INVALID also means "not an LMDB file at all": only a file with LMDB's magic is moved.
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
      (rc == MDB_INVALID && has_lmdb_magic(data))) {
    // Greylisting state is a cache of who retried: losing it delays some mail once, while
    // a damaged file would fail every request into the fault action until someone repairs it.
    quarantined_ = quarantine(data);
    log::warning("greylist-store-damaged")
        .kv("store", describe())
        .kv("error", mdb_strerror(rc))
        .kv("moved_to", quarantined_)
        .kv("action", "started empty");
    rc = open();
  }
  if (rc != MDB_SUCCESS) {
    throw StoreError("lmdb open " + options_.path + ": " + mdb_strerror(rc));
  }
  if (options_.sync_interval_seconds > 0 || options_.sweep_interval_seconds > 0) {
    thread_ = std::thread([this] { background(); });
  }
}

int LmdbStore::open() {
  env_.reset();
  MDB_env* raw = nullptr;
  check("create environment", mdb_env_create(&raw));
  env_.reset(raw);
  check("set map size", mdb_env_set_mapsize(raw, options_.map_size_bytes));
  check("set max databases", mdb_env_set_maxdbs(raw, 2));
  unsigned flags = MDB_NOTLS;
  if (!subdir_) flags |= MDB_NOSUBDIR;
  // Without a sync per commit, write through the map: a commit is then memory writes and no
  // pwrite() of each dirty page (about a fifth of a request's CPU on ext4). The durability
  // is the same (the last sync_interval_seconds may be lost to an OS crash); a torn file is
  // caught by the walk below at the next start.
  if (options_.sync_interval_seconds > 0) flags |= MDB_NOSYNC | MDB_WRITEMAP;
  int rc = mdb_env_open(raw, options_.path.c_str(), flags, 0600);
  if (rc != MDB_SUCCESS) return rc;
  MDB_txn* txn = nullptr;
  if ((rc = mdb_txn_begin(raw, nullptr, 0, &txn)) != MDB_SUCCESS) return rc;
  rc = mdb_dbi_open(txn, "triplets", MDB_CREATE, &triplets_);
  if (rc == MDB_SUCCESS) rc = mdb_dbi_open(txn, "clients", MDB_CREATE, &clients_);
  if (rc == MDB_SUCCESS) rc = walk(txn, triplets_);
  if (rc == MDB_SUCCESS) rc = walk(txn, clients_);
  if (rc != MDB_SUCCESS) {
    mdb_txn_abort(txn);
    return rc;
  }
  return mdb_txn_commit(txn);
}

std::string LmdbStore::quarantine(const std::string& data) {
  env_.reset();
  std::string lock = subdir_ ? options_.path + "/lock.mdb" : options_.path + "-lock";
  std::string moved = data + ".damaged-" + std::to_string(::time(nullptr));
  if (std::rename(data.c_str(), moved.c_str()) != 0) {
    throw StoreError("lmdb " + data +
                     " is damaged and cannot be moved aside: " + std::strerror(errno));
  }
  std::remove(lock.c_str());
  return moved;
}

LmdbStore::~LmdbStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  mdb_env_sync(env_.get(), 1);
}

StoreSnapshot LmdbStore::load(std::string_view triplet_key, std::string_view client_key,
                              int64_t now) {
  Txn txn(env_.get(), MDB_RDONLY);
  StoreSnapshot out;
  if (auto p = get(txn.get(), triplets_, triplet_key, now)) {
    out.triplet = TripletRecord{p->v[0], p->v[1], p->v[2]};
  }
  if (!client_key.empty()) {
    if (auto p = get(txn.get(), clients_, client_key, now)) {
      out.client = ClientRecord{p->v[0], p->v[1], p->v[2]};
    }
  }
  return out;
}

void LmdbStore::save(const StoreUpdate& update) {
  if (!update.triplet && !update.client) return;
  Txn txn(env_.get(), 0);
  if (update.triplet) {
    const auto& r = update.triplet->second;
    put(txn.get(), triplets_, update.triplet->first,
        Packed{{r.first_seen, r.last_seen, r.expire_at}});
  }
  if (update.client) {
    const auto& r = update.client->second;
    put(txn.get(), clients_, update.client->first, Packed{{r.count, r.last_seen, r.expire_at}});
  }
  txn.commit();
}

size_t LmdbStore::sweep(int64_t now) {
  std::lock_guard sweeping(sweep_mutex_);
  size_t deleted = 0;
  for (MDB_dbi dbi : {triplets_, clients_}) {
    std::string resume;  // key to continue from in the next batch
    bool done = false;
    while (!done) {
      Txn txn(env_.get(), 0);
      MDB_cursor* cursor = nullptr;
      check("open cursor", mdb_cursor_open(txn.get(), dbi, &cursor));
      MDB_val k, v;
      int rc;
      if (resume.empty()) {
        rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
      } else {
        k = key_val(resume);
        rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
      }
      size_t batch = 0, scanned = 0;
      while (rc == MDB_SUCCESS && batch < options_.sweep_batch &&
             scanned < 20 * options_.sweep_batch) {
        ++scanned;
        if (unpack(v).v[2] <= now) {
          rc = mdb_cursor_del(cursor, 0);
          if (rc != MDB_SUCCESS) break;
          ++batch;
          rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);  // after a delete: the next record
          continue;
        }
        rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
      }
      if (rc == MDB_SUCCESS) {
        resume.assign(static_cast<const char*>(k.mv_data), k.mv_size);
      } else if (rc == MDB_NOTFOUND) {
        done = true;
      } else {
        mdb_cursor_close(cursor);
        fail("sweep", rc);
      }
      mdb_cursor_close(cursor);
      txn.commit();
      deleted += batch;
      if (!done) std::this_thread::yield();  // let waiting writers in between batches
    }
  }
  return deleted;
}

size_t LmdbStore::count() const {
  Txn txn(env_.get(), MDB_RDONLY);
  size_t n = 0;
  for (MDB_dbi dbi : {triplets_, clients_}) {
    MDB_stat st;
    check("stat", mdb_stat(txn.get(), dbi, &st));
    n += st.ms_entries;
  }
  return n;
}

size_t LmdbStore::used_bytes() const {
  MDB_envinfo info;
  MDB_stat st;
  check("env info", mdb_env_info(env_.get(), &info));
  check("env stat", mdb_env_stat(env_.get(), &st));
  return (info.me_last_pgno + 1) * st.ms_psize;
}

void LmdbStore::sync() {
  check("sync", mdb_env_sync(env_.get(), 1));
}

void LmdbStore::background() {
  using clock = std::chrono::steady_clock;
  auto next_sync = clock::now(), next_sweep = clock::now();
  auto dur = [](double s) {
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(s));
  };
  if (options_.sync_interval_seconds > 0) next_sync += dur(options_.sync_interval_seconds);
  if (options_.sweep_interval_seconds > 0) next_sweep += dur(options_.sweep_interval_seconds);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    auto wake_at = clock::time_point::max();
    if (options_.sync_interval_seconds > 0) wake_at = std::min(wake_at, next_sync);
    if (options_.sweep_interval_seconds > 0) wake_at = std::min(wake_at, next_sweep);
    wake_.wait_until(lock, wake_at, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    auto now = clock::now();
    try {
      if (options_.sweep_interval_seconds > 0 && now >= next_sweep) {
        auto started = clock::now();
        size_t n = sweep(clock_());
        double took = std::chrono::duration<double>(clock::now() - started).count();
        if (n > 0)
          log::info("greylist-sweep").kv("deleted", static_cast<uint64_t>(n)).kv("seconds", took);
        next_sweep = clock::now() + dur(options_.sweep_interval_seconds);
      }
      if (options_.sync_interval_seconds > 0 && now >= next_sync) {
        sync();
        next_sync = clock::now() + dur(options_.sync_interval_seconds);
      }
    } catch (const StoreError& e) {
      log::warning("greylist-store-maintenance").kv("store", describe()).kv("error", e.what());
      next_sync = clock::now() + dur(std::max(options_.sync_interval_seconds, 1.0));
      next_sweep = clock::now() + dur(std::max(options_.sweep_interval_seconds, 1.0));
    }
    lock.lock();
  }
}

}  // namespace postern::greylist
