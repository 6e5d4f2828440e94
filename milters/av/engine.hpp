// engine.hpp — the libclamav scan engine of postern-av: compiled once from a database
// directory (.cvd/.cld/.cud and custom .ndb/.hdb/.hsb/.ldb/.yar ...), immutable afterwards and
// shared by every session (libclamav allows concurrent scans on one compiled engine), and the
// slot that holds the current engine so a reload can swap in a new one while scans in flight
// finish on the old one (shared_ptr).
// Errors: a database that cannot be loaded or compiled throws EngineError with libclamav's
// reason; a scan that fails is a ScanResult with kind Error (never an exception).
// Source: libclamav API (cl_init, cl_engine_new, cl_engine_set_num, cl_load,
// cl_engine_compile, cl_scandesc, cl_scanmap_callback), clamd.conf(5) for the limit defaults.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/clamav.hpp"

namespace postern::av {

/// Scan limits (clamd.conf names in brackets; defaults are clamd 1.4's).
struct EngineLimits {
  uint64_t max_scan_size = 400ull << 20;  // bytes scanned per message, in total [MaxScanSize]
  uint64_t max_file_size = 100ull << 20;  // bytes of one file/part/archive member [MaxFileSize]
  uint32_t max_recursion = 17;            // archive/MIME nesting depth [MaxRecursion]
  uint32_t max_files = 10000;             // files scanned inside one message [MaxFiles]
  uint32_t max_scan_time_ms = 120000;     // per message, in milliseconds [MaxScanTime]
};

/// Everything needed to build an engine.
struct EngineOptions {
  std::string database_dir = "/var/lib/clamav";
  /// Where libclamav writes the temporary files of a scan (decoded parts); "" = its default.
  std::string tmp_dir;
  EngineLimits limits;
  /// Load bytecode signatures (CL_DB_BYTECODE, part of CL_DB_STDOPT as clamd uses it).
  bool bytecode = true;
  /// Heuristic alerts (CL_SCAN_GENERAL_HEURISTICS), as clamscan and clamd do by default.
  bool heuristic_alerts = true;
};

/// A database that could not be loaded or compiled (what, which directory, libclamav's why).
struct EngineError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The result of one scan. Error covers libclamav failures, with `timeout` set for
/// CL_ETIMEOUT (--max-scan-time exceeded).
struct ScanResult {
  enum class Kind { Clean, Virus, Error };
  Kind kind = Kind::Error;
  std::string signature;  // Virus: the signature name, e.g. "Eicar-Signature"
  std::string error;      // Error: cl_strerror() text
  bool timeout = false;
};

/// One compiled engine. Thread-safe for scans; never changes after load().
class Engine {
 public:
  /// cl_init (once per process), cl_engine_new, the limits, cl_load(database_dir) and
  /// cl_engine_compile. Throws EngineError naming the directory and libclamav's reason; a
  /// directory holding no signature at all is an error too ("no signatures"), so an engine
  /// that exists always detects something.
  static std::shared_ptr<const Engine> load(const EngineOptions& options);

  /// Scans `data` (one whole message or file) from memory (cl_fmap_open_memory).
  ScanResult scan_memory(std::string_view data) const;
  /// Scans the file open on `fd` from offset 0 (cl_scandesc); fd stays open.
  ScanResult scan_fd(int fd) const;

  /// Signatures loaded (cl_load's count).
  unsigned signatures() const { return signatures_; }
  /// The database directory it was loaded from.
  const std::string& database_dir() const { return database_dir_; }

 private:
  Engine() = default;
  cl_scan_options scan_options() const;

  clamav::EngineHandle engine_;
  unsigned signatures_ = 0;
  std::string database_dir_;
  bool heuristic_alerts_ = true;
};

/// libclamav's version text ("1.4.6").
std::string clamav_version();

/// Holds the current engine (or none yet). get() and swap() are thread-safe: a caller keeps
/// the engine it got alive for as long as it holds the shared_ptr, whatever swap() does.
class EngineSlot {
 public:
  /// The current engine; nullptr when none has loaded.
  std::shared_ptr<const Engine> get() const {
    std::lock_guard lock(mutex_);
    return engine_;
  }
  /// Installs `engine` and returns the previous one (which the caller may drop).
  std::shared_ptr<const Engine> swap(std::shared_ptr<const Engine> engine) {
    std::lock_guard lock(mutex_);
    engine_.swap(engine);
    return engine;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Engine> engine_;
};

}  // namespace postern::av
