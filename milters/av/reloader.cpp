// reloader.cpp — background engine loads: inotify, signalfd and eventfd in one poll loop.
#include "milters/av/reloader.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <system_error>

#include "common/log.hpp"

namespace postern::av {
namespace {

constexpr uint32_t kWatchMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;
constexpr int kRewatchMs = 2000;  // retry interval while the directory cannot be watched

// Reads and discards whatever is readable on a non-blocking fd.
void drain(int fd) {
  char buf[4096];
  while (::read(fd, buf, sizeof buf) > 0) {
  }
}

// True when an inotify batch says the watched directory itself went away.
bool read_events(int fd) {
  alignas(inotify_event) char buf[8192];
  bool gone = false;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + i);
      if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) gone = true;
      i += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  return gone;
}

}  // namespace

const char* reason_name(LoadReason reason) {
  switch (reason) {
    case LoadReason::Startup:
      return "startup";
    case LoadReason::Change:
      return "change";
    case LoadReason::Request:
      return "request";
  }
  return "unknown";
}

EngineReloader::EngineReloader(EngineOptions options, EngineSlot& slot, Callbacks callbacks,
                               bool watch, int settle_ms, int signal_fd)
    : options_(std::move(options)),
      slot_(slot),
      callbacks_(std::move(callbacks)),
      watch_(watch),
      settle_ms_(settle_ms),
      signal_fd_(signal_fd),
      wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (wake_.get() < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  if (watch_) {
    inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (inotify_.get() < 0) throw std::system_error(errno, std::generic_category(), "inotify");
  }
}

EngineReloader::~EngineReloader() {
  stop();
}

void EngineReloader::start() {
  thread_ = std::thread([this] { run(); });
}

void EngineReloader::request_reload() {
  reload_requested_.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
}

void EngineReloader::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
  thread_.join();
}

bool EngineReloader::add_watch() {
  if (!watch_ || watching_) return watching_;
  if (::inotify_add_watch(inotify_.get(), options_.database_dir.c_str(), kWatchMask) >= 0) {
    watching_ = true;
    log::info("database-watch").kv("dir", options_.database_dir);
  } else {
    watch_errno_ = errno;
  }
  return watching_;
}

void EngineReloader::run() {
  bool logged_unwatched = false;
  add_watch();
  load(LoadReason::Startup);
  // A change is loaded once the directory has been quiet for settle_ms.
  bool change_pending = false;
  auto last_event = std::chrono::steady_clock::now();
  while (!stopping_.load()) {
    if (watch_ && !watching_ && add_watch()) {
      change_pending = true;  // the directory (re)appeared: its contents may be new
      last_event = std::chrono::steady_clock::now();
    }
    if (watch_ && !watching_ && !logged_unwatched) {
      log::warning("database-watch-failed")
          .kv("dir", options_.database_dir)
          .kv("reason", std::system_category().message(watch_errno_))
          .kv("retry_ms", kRewatchMs);
      logged_unwatched = true;
    }
    int timeout = (watch_ && !watching_) ? kRewatchMs : -1;
    if (change_pending) {
      auto quiet = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - last_event)
                       .count();
      if (quiet >= settle_ms_) {
        change_pending = false;
        load(LoadReason::Change);
        continue;
      }
      timeout = static_cast<int>(settle_ms_ - quiet);
    }
    pollfd fds[3] = {
        {wake_.get(), POLLIN, 0}, {inotify_.get(), POLLIN, 0}, {signal_fd_, POLLIN, 0}};
    int rc = ::poll(fds, 3, timeout);
    if (rc < 0 && errno != EINTR) {
      log::error("reloader-poll").kv("reason", std::system_category().message(errno));
      return;
    }
    if (fds[0].revents & POLLIN) drain(wake_.get());
    if (stopping_.load()) break;
    if (fds[1].revents & POLLIN) {
      if (read_events(inotify_.get())) {
        watching_ = false;  // directory gone or moved: watch again when it is back
        logged_unwatched = false;
      }
      change_pending = true;
      last_event = std::chrono::steady_clock::now();
    }
    bool requested = reload_requested_.exchange(false);
    if (signal_fd_ >= 0 && (fds[2].revents & POLLIN)) {
      signalfd_siginfo info;
      while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      }
      requested = true;
    }
    if (requested) {
      change_pending = false;
      load(LoadReason::Request);
    }
  }
}

void EngineReloader::load(LoadReason reason) {
  auto start = std::chrono::steady_clock::now();
  try {
    std::shared_ptr<const Engine> engine = Engine::load(options_);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const Engine& ref = *engine;
    std::shared_ptr<const Engine> old = slot_.swap(std::move(engine));
    log::info("engine-loaded")
        .kv("dir", options_.database_dir)
        .kv("signatures", ref.signatures())
        .kv("seconds", seconds)
        .kv("reason", reason_name(reason))
        .kv("replaced", old != nullptr);
    old.reset();  // freed here unless a scan still holds it (then by that scan's session)
    if (callbacks_.loaded) callbacks_.loaded(ref, reason, seconds);
  } catch (const std::exception& e) {
    bool kept_old = slot_.get() != nullptr;
    log::error("engine-load-failed")
        .kv("dir", options_.database_dir)
        .kv("reason", reason_name(reason))
        .kv("why", e.what())
        .kv("engine", kept_old ? "old engine kept" : "none: every message is tempfailed");
    if (callbacks_.failed) callbacks_.failed(e.what(), reason, kept_old);
  }
}

}  // namespace postern::av
