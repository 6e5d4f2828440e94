// reloader.hpp — keeps an EngineSlot filled: loads the engine in a background thread at
// start, then again whenever the database directory changes (inotify: a file written,
// renamed, created or deleted there; reloaded once no event came for `settle_ms`, so a
// freshclam update is read once, complete) or a reload is requested (SIGHUP or SIGUSR2 through a
// signalfd, or request_reload()). The new engine is compiled while the old one keeps
// scanning, then swapped in atomically; scans in flight finish on the old one. A failed load
// keeps the old engine (or none) and reports why.
// Errors: inotify/eventfd failures at start throw std::system_error; a directory that cannot
// be watched (missing) is retried every few seconds and logged.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/fd.hpp"
#include "milters/av/engine.hpp"

namespace postern::av {

/// Why a load ran (for logs and metrics).
enum class LoadReason { Startup, Change, Request };
const char* reason_name(LoadReason reason);

class EngineReloader {
 public:
  struct Callbacks {
    /// After a new engine is in the slot (`seconds`: load + compile time).
    std::function<void(const Engine&, LoadReason, double seconds)> loaded;
    /// After a failed load; `kept_old`: an older engine still scans.
    std::function<void(const std::string& why, LoadReason, bool kept_old)> failed;
  };

  /// `slot` must outlive this object. `watch`: follow the directory with inotify.
  /// `signal_fd`: a signalfd whose readiness means "reload" (-1 = none; not owned).
  EngineReloader(EngineOptions options, EngineSlot& slot, Callbacks callbacks, bool watch,
                 int settle_ms, int signal_fd = -1);
  ~EngineReloader();
  EngineReloader(const EngineReloader&) = delete;
  EngineReloader& operator=(const EngineReloader&) = delete;

  /// Starts the thread; the first load begins at once.
  void start();
  /// Asks for a reload (thread-safe, async).
  void request_reload();
  /// Stops and joins the thread (a load in progress finishes first).
  void stop();

 private:
  void run();
  void load(LoadReason reason);
  bool add_watch();

  EngineOptions options_;
  EngineSlot& slot_;
  Callbacks callbacks_;
  bool watch_;
  int settle_ms_;
  int signal_fd_;
  Fd wake_;     // eventfd: request_reload() / stop()
  Fd inotify_;  // -1 unless watching
  bool watching_ = false;
  int watch_errno_ = 0;  // why the last inotify_add_watch failed
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reload_requested_{false};
  std::thread thread_;
};

}  // namespace postern::av
