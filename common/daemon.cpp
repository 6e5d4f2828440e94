// daemon.cpp — the daemon skeleton: exit statuses, SIGHUP reload thread, readiness, the
// common fields of the server configs.
#include "common/daemon.hpp"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <libmilter/mfapi.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "common/config_error.hpp"
#include "common/log.hpp"
#include "common/process.hpp"

namespace {
// Set by a milter Daemon before smfi_main starts libmilter's signal thread.
std::atomic<bool> keep_signals_from_libmilter{false};
}  // namespace

// libmilter's signal thread sigwait()s SIGHUP, SIGTERM and SIGINT and stops the milter at
// once: its worker pool then serves no session again (messages in progress break) and its
// accept loop ends only at its next 5 s poll. A milter Daemon takes these signals itself
// (Daemon::serve_milter; postern-av's reloader takes SIGHUP), so this definition, which wins
// over libc's for libmilter (the executable is searched first), waits for the set without
// them: libmilter's signal thread then sleeps for good. Others are passed to the next
// definition (libc's, or a sanitizer's interceptor) unchanged.
extern "C" int sigwait(const sigset_t* set, int* sig) {
  using Sigwait = int (*)(const sigset_t*, int*);
  static const Sigwait next = reinterpret_cast<Sigwait>(dlsym(RTLD_NEXT, "sigwait"));
  if (next == nullptr) return ENOSYS;
  sigset_t rest = *set;
  if (keep_signals_from_libmilter.load()) {
    for (int taken : {SIGHUP, SIGTERM, SIGINT}) sigdelset(&rest, taken);
  }
  return next(&rest, sig);
}

namespace postern {
namespace {

sigset_t sighup_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  return set;
}

[[noreturn]] void throw_errno(const char* call) {
  throw std::system_error(errno, std::generic_category(), call);
}

// Messages in progress over all milter sessions.
class MessageCount {
 public:
  void begin() {
    std::lock_guard lock(mutex_);
    ++open_;
  }
  void end() {
    std::lock_guard lock(mutex_);
    if (--open_ == 0) idle_.notify_all();
  }
  int open() {
    std::lock_guard lock(mutex_);
    return open_;
  }
  /// True when none is open, within `seconds`.
  bool wait_idle(double seconds) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return open_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable idle_;
  int open_ = 0;
};

// The daemon's session, counted in a MessageCount from MAIL FROM to end of message or abort.
// While `draining` (a stop was asked), a new connection or message gets Tempfail instead.
class CountingSession final : public MilterSession {
 public:
  CountingSession(std::unique_ptr<MilterSession> inner, MessageCount& count,
                  const std::atomic<bool>& draining)
      : inner_(std::move(inner)), count_(count), draining_(draining) {}
  ~CountingSession() override { finish(); }
  CountingSession(const CountingSession&) = delete;
  CountingSession& operator=(const CountingSession&) = delete;

  MilterStatus on_connect(MilterContext& ctx, const ConnectInfo& info) override {
    if (draining_.load()) return MilterStatus::Tempfail;
    return inner_->on_connect(ctx, info);
  }
  MilterStatus on_helo(MilterContext& ctx, std::string_view name) override {
    return inner_->on_helo(ctx, name);
  }
  MilterStatus on_mail_from(MilterContext& ctx, std::string_view sender) override {
    if (!in_message_ && draining_.load()) return MilterStatus::Tempfail;
    if (!in_message_) count_.begin();
    in_message_ = true;
    return inner_->on_mail_from(ctx, sender);
  }
  MilterStatus on_rcpt_to(MilterContext& ctx, std::string_view recipient) override {
    return inner_->on_rcpt_to(ctx, recipient);
  }
  MilterStatus on_header(MilterContext& ctx, std::string_view name,
                         std::string_view value) override {
    return inner_->on_header(ctx, name, value);
  }
  MilterStatus on_end_of_header(MilterContext& ctx) override {
    return inner_->on_end_of_header(ctx);
  }
  MilterStatus on_body(MilterContext& ctx, std::string_view chunk) override {
    return inner_->on_body(ctx, chunk);
  }
  MilterStatus on_end_of_message(MilterContext& ctx) override {
    struct Finish {
      CountingSession* session;
      ~Finish() { session->finish(); }
    } finish_after{this};  // also when the session throws (milter.hpp: a TEMPFAIL)
    return inner_->on_end_of_message(ctx);
  }
  void on_abort(MilterContext& ctx) override {
    inner_->on_abort(ctx);
    finish();
  }

 private:
  void finish() {
    if (in_message_) count_.end();
    in_message_ = false;
  }
  std::unique_ptr<MilterSession> inner_;
  MessageCount& count_;
  const std::atomic<bool>& draining_;
  bool in_message_ = false;
};

// Opens a connection to the milter's own listening socket and hangs up, so that libmilter's
// accept loop returns from its poll and sees the stop. An any-address spec gets loopback.
void poke(const SocketSpec& spec) {
  if (spec.family == SocketSpec::Family::Unix) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (spec.path.size() >= sizeof address.sun_path) return;
    std::memcpy(address.sun_path, spec.path.c_str(), spec.path.size() + 1);
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() >= 0) {
      ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
    }
    return;
  }
  bool v6 = spec.family == SocketSpec::Family::Inet6;
  std::string host = spec.host.empty() ? (v6 ? "::1" : "127.0.0.1") : spec.host;
  addrinfo hints{};
  hints.ai_family = v6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(spec.port).c_str(), &hints, &found) != 0) return;
  Fd fd(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() >= 0) ::connect(fd.get(), found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);
}

}  // namespace

int daemon_main(const char* program, const std::function<int()>& run) {
  try {
    return run();
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s: configuration error: %s\n", program, e.what());
    return 78;  // EX_CONFIG
  } catch (const DaemonExit& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return e.status();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: fatal: %s\n", program, e.what());
    return 1;
  }
}

// ---- SighupReloader ----

SighupReloader::SighupReloader(std::function<void()> reload) : reload_(std::move(reload)) {
  sigset_t set = sighup_set();
  signal_fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (signal_fd_.get() < 0) throw_errno("signalfd");
  stop_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (stop_fd_.get() < 0) throw_errno("eventfd");
  thread_ = std::thread([this] { loop(); });
}

SighupReloader::~SighupReloader() {
  uint64_t one = 1;
  if (::write(stop_fd_.get(), &one, sizeof one) < 0) {
    // An eventfd write fails only on overflow, which one write cannot reach.
  }
  thread_.join();
}

void SighupReloader::loop() {
  for (;;) {
    pollfd fds[2] = {{signal_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log::error("reload-error").kv("error", "poll failed; SIGHUP no longer reloads");
      return;
    }
    if (fds[1].revents != 0) return;
    signalfd_siginfo info{};
    bool got = false;  // drain: signals pending together make one reload
    while (::read(signal_fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      got = true;
    }
    if (!got) continue;
    try {
      reload_();
    } catch (const std::exception& e) {
      log::error("reload-error").kv("error", e.what());
    }
  }
}

// ---- Daemon ----

Daemon::Daemon(DaemonSpec spec)
    : spec_(std::move(spec)), options_(spec_.daemon, spec_.program, spec_.default_socket) {
  if (spec_.reloads_on_sighup) {
    // Before any thread starts, so every thread inherits the mask; SIG_DFL because a blocked
    // signal left ignored by our parent would be discarded instead of pending for the signalfd.
    sigset_t set = sighup_set();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    ::signal(SIGHUP, SIG_DFL);
  }
  if (spec_.milter) {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
}

std::optional<int> Daemon::parse(int argc, const char* const argv[]) {
  if (auto status = options_.parse(argc, argv, environ)) return status;
  log::init(spec_.program, common().log_target, common().log_level);
  return std::nullopt;
}

int Daemon::configuration_ok(std::string_view detail) const {
  std::printf("%s: configuration OK%.*s\n", spec_.program.c_str(), static_cast<int>(detail.size()),
              detail.data());
  return 0;
}

std::unique_ptr<metrics::MetricsServer> Daemon::serve_metrics() const {
  return metrics::start_metrics_server(common().metrics_listen, registry_, health_);
}

std::unique_ptr<SighupReloader> Daemon::reload_on_sighup(std::function<void()> reload) const {
  if (!spec_.reloads_on_sighup) {
    throw std::logic_error("reload_on_sighup without DaemonSpec::reloads_on_sighup");
  }
  return std::make_unique<SighupReloader>(std::move(reload));
}

std::function<void()> Daemon::add_ready_condition() {
  std::lock_guard lock(ready_mutex_);
  ++awaited_;
  extra_conditions_ = true;
  auto met = std::make_shared<bool>(false);
  return [this, met] {
    std::lock_guard guard(ready_mutex_);
    condition_met(*met);
  };
}

void Daemon::listening() {
  drop_privileges(common().user);
  std::lock_guard lock(ready_mutex_);
  condition_met(listening_);
}

void Daemon::condition_met(bool& met) {
  if (met) return;
  met = true;
  if (--awaited_ != 0) return;
  notify_ready(common().ready_fd);
  health_.set_ready(true);
  if (extra_conditions_) log::info("ready");
}

void Daemon::fill_stream_server(StreamServerConfig& server) {
  server.socket = common().socket;
  server.socket_mode = common().socket_mode;
  server.socket_owner = common().user;
  server.metrics = &registry_;
  server.on_listening = [this] { listening(); };
}

MilterServerConfig Daemon::milter_server() {
  MilterServerConfig server;
  server.name = spec_.program;
  server.socket = common().socket;
  server.unix_socket_mode = common().socket_mode;
  server.unix_socket_owner = common().user;
  server.on_listening = [this] {
    drop_privileges(common().user);
    log::info("listening").kv("socket", common().socket.milter_notation());
    std::lock_guard lock(ready_mutex_);
    condition_met(listening_);
  };
  return server;
}

int Daemon::serve_milter(const MilterServerConfig& server, MilterSessionFactory factory,
                         double grace_seconds) {
  MessageCount messages;
  std::atomic<bool> draining{false};
  MilterSessionFactory counted = [&messages, &draining, factory = std::move(factory)] {
    return std::make_unique<CountingSession>(factory(), messages, draining);
  };
  // The stop signals (blocked since the constructor) come here, not to libmilter (sigwait
  // above); SIGHUP stops too unless the daemon reloads on it.
  sigset_t stop_set;
  sigemptyset(&stop_set);
  for (int sig : {SIGTERM, SIGINT}) sigaddset(&stop_set, sig);
  if (!spec_.reloads_on_sighup) sigaddset(&stop_set, SIGHUP);
  Fd signal_fd(::signalfd(-1, &stop_set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (signal_fd.get() < 0) throw_errno("signalfd");
  keep_signals_from_libmilter = true;
  std::atomic<bool> returned{false};
  // Waits for a stop signal; drains (new connections and messages get 4xx, those in progress
  // finish, at most grace_seconds); then smfi_stop() and pokes the listener until run_milter
  // returns. The jthread stops and joins also when run_milter throws.
  std::jthread stopper([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      pollfd fd{signal_fd.get(), POLLIN, 0};
      if (::poll(&fd, 1, 100) <= 0) continue;
      signalfd_siginfo info{};
      if (::read(signal_fd.get(), &info, sizeof info) != static_cast<ssize_t>(sizeof info))
        continue;
      draining = true;
      log::info("milter-stopping")
          .kv("signal", static_cast<int64_t>(info.ssi_signo))
          .kv("messages", messages.open());
      if (!messages.wait_idle(grace_seconds)) {
        log::warning("milter-stop-timeout").kv("messages", messages.open());
      }
      // smfi_stop() waits for the accept loop's lock, held through its 5 s poll: call it on
      // a thread of its own and wake the poll with connections until run_milter returns.
      std::thread halt([] { smfi_stop(); });
      while (!returned.load() && !stop.stop_requested()) {
        poke(server.socket);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      halt.join();
      return;
    }
  });
  int status = run_milter(server, std::move(counted));
  returned = true;
  stopper.request_stop();
  stopper.join();
  return status;
}

}  // namespace postern
