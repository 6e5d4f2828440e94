// daemon.hpp — the skeleton every Postern daemon's main() hands off to, so main.cpp reads
// options → objects → run (STYLE.md "Shape of a daemon", after Postfix's postscreen main):
//   * daemon_main(): the exceptions that end a run → exit status and one line on stderr
//     (ConfigError → 78 EX_CONFIG, DaemonExit → its status, anything else → 1);
//   * Daemon: the option table (options.hpp) and logging, the metrics registry and /healthz,
//     the --metrics-listen server, readiness (privilege drop, --ready-fd, /healthz ready) once
//     the socket listens and any extra condition holds, SIGHUP → reload on a thread of its
//     own, and the common fields of the stream (policy, socketmap) and milter server configs.
// Signals: SIGTERM/SIGINT stop the server loop (the stream server's signal set; for a milter
// serve_milter(), which keeps them, and SIGHUP, from libmilter's signal thread by interposing
// sigwait()); SIGHUP is taken from them only for a daemon that reloads on it.
#pragma once

#include <signal.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "common/fd.hpp"
#include "common/metrics.hpp"
#include "common/metrics_server.hpp"
#include "common/milter.hpp"
#include "common/options.hpp"
#include "common/stream_server.hpp"

namespace postern {

/// A run ends with this exit status and message (printed as "<program>: <what>"), e.g. a
/// backend check under --check-config: DaemonExit(69, "LDAP check failed: ...") (EX_UNAVAILABLE).
class DaemonExit : public std::runtime_error {
 public:
  DaemonExit(int status, const std::string& what) : std::runtime_error(what), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

/// Runs `run` and returns its exit status; an exception it throws is printed to stderr as
/// "<program>: configuration error: WHY" (ConfigError, 78 = EX_CONFIG), "<program>: WHY"
/// (DaemonExit, its status) or "<program>: fatal: WHY" (any other std::exception, 1).
int daemon_main(const char* program, const std::function<int()>& run);

/// Who the daemon is.
struct DaemonSpec {
  std::string daemon;          // short name: POSTERN_<DAEMON>_* environment ("greylist")
  std::string program;         // executable name in logs and messages ("postern-greylist")
  std::string default_socket;  // --socket default, libmilter notation ("inet:10023@127.0.0.1")
  /// SIGHUP means "reload": blocked (and set to SIG_DFL) in the constructor, before any
  /// thread starts, so only reload_on_sighup()'s thread sees it. Otherwise SIGHUP is left
  /// alone (it stops a milter, kills a policy daemon).
  bool reloads_on_sighup = false;
  /// A milter: SIGTERM, SIGINT and SIGHUP are blocked in the constructor, before any thread
  /// starts, so that only serve_milter() takes them (and a reloader, SIGHUP); otherwise a
  /// thread started earlier (DNS, metrics) would get one and its default action would kill
  /// the process mid-message.
  bool milter = false;
};

/// Waits for SIGHUP and calls the reload function on its own thread, one call per signal
/// (signals that arrive during a call are merged into one more call). An exception from the
/// reload function is logged ("reload-error") and the thread waits on. Stops and joins on
/// destruction: destroy it before what the reload function uses.
class SighupReloader {
 public:
  /// Throws std::system_error when the signalfd, eventfd or thread cannot be made.
  explicit SighupReloader(std::function<void()> reload);
  ~SighupReloader();
  SighupReloader(const SighupReloader&) = delete;
  SighupReloader& operator=(const SighupReloader&) = delete;

 private:
  void loop();
  std::function<void()> reload_;
  Fd signal_fd_, stop_fd_;
  std::thread thread_;
};

/// One daemon process: construct first thing in run(), then options().add…, parse(), build
/// the daemon's objects, and run its server with stream_server()/milter_server() settings.
class Daemon {
 public:
  explicit Daemon(DaemonSpec spec);
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// The daemon's own option table: add to it before parse().
  po::options_description& options() { return options_.options(); }
  /// Reads flags, the environment (::environ) and --config, then starts logging (--log,
  /// --log-level) as `program`. Returns an exit status when the run is over (--help,
  /// --version), nullopt to go on. Throws ConfigError.
  std::optional<int> parse(int argc, const char* const argv[]);
  /// The parsed table (values, where()), and the options every daemon has.
  const DaemonOptions& parsed() const { return options_; }
  const CommonOptions& common() const { return options_.common(); }
  const std::string& program() const { return spec_.program; }

  metrics::Registry& registry() { return registry_; }
  metrics::Health& health() { return health_; }

  /// --check-config succeeded: prints "<program>: configuration OK" plus `detail` (e.g.
  /// ", 42 signatures in /var/lib/clamav") to stdout and returns 0, the exit status.
  int configuration_ok(std::string_view detail = {}) const;

  /// --metrics-listen: /metrics and /healthz on their own thread (log "metrics-listening"), or
  /// nullptr when off. Keep it below what the health checks use. Throws ConfigError.
  std::unique_ptr<metrics::MetricsServer> serve_metrics() const;

  /// Reload on SIGHUP (needs DaemonSpec::reloads_on_sighup). Keep the result below what
  /// `reload` uses. Throws std::logic_error without reloads_on_sighup.
  std::unique_ptr<SighupReloader> reload_on_sighup(std::function<void()> reload) const;

  /// Readiness waits for one more condition besides "listening" (postern-av: an engine
  /// loaded). Call before the server listens; call the returned function (thread-safe, any
  /// number of times) once the condition holds. With such a condition, readiness logs "ready".
  std::function<void()> add_ready_condition();

  /// What the server calls once its socket listens: drop to --user, then readiness (the
  /// newline on --ready-fd, /healthz ready) if nothing else is awaited.
  void listening();

  /// Settings every stream server (policy, socketmap) gets from the common options: socket,
  /// socket_mode, socket_owner (--user), metrics (registry()), on_listening (listening()).
  void fill_stream_server(StreamServerConfig& server);
  /// A milter server config with name (program), socket, unix_socket_mode, unix_socket_owner
  /// and on_listening: privilege drop, log "listening socket=...", then readiness.
  MilterServerConfig milter_server();
  /// run_milter() (milter.hpp) with a graceful, prompt stop. SIGTERM, SIGINT and (unless
  /// DaemonSpec::reloads_on_sighup) SIGHUP come here instead of libmilter's signal thread
  /// (whose stop abandons the sessions of its worker pool mid-message and ends its accept loop
  /// only at its next 5 s poll, listener.c MI_CHK_TIME). On one: log "milter-stopping
  /// signal=N messages=N"; new connections and new messages get Tempfail (Postfix: 4xx, the
  /// client retries); messages in progress (MAIL FROM to end of message or abort) finish, for
  /// at most `grace_seconds` (past it: log "milter-stop-timeout messages=N"; their connections
  /// break and Postfix applies milter_default_action); then smfi_stop() and a connection to
  /// the listening socket end the accept loop at once. Returns run_milter's status (0).
  int serve_milter(const MilterServerConfig& server, MilterSessionFactory factory,
                   double grace_seconds = 10);

 private:
  void condition_met(bool& met);  // under ready_mutex_: readiness once nothing is awaited

  DaemonSpec spec_;
  DaemonOptions options_;
  metrics::Registry registry_;
  metrics::Health health_;
  std::mutex ready_mutex_;
  int awaited_ = 1;  // conditions not met yet; "listening" is one
  bool listening_ = false;
  bool extra_conditions_ = false;
};

}  // namespace postern
