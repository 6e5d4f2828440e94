// main.cpp — postern-av: the ClamAV milter with libclamav in-process. Options → configuration
// → engine reloader (background) + milter loop (common/daemon.hpp wires the rest: logging,
// metrics, readiness, exit statuses). Readiness (--ready-fd, /healthz) once the socket listens
// and an engine is loaded; until an engine is there every message is tempfailed. SIGHUP and
// SIGUSR2 (clamd's) reload the database (reload_signals.hpp); SIGTERM and SIGINT stop
// (libmilter's signal handling; Daemon::serve_milter makes the stop prompt and lets the
// messages in progress finish).
#include <memory>
#include <string>

#include "common/daemon.hpp"
#include "common/fd.hpp"
#include "common/milter.hpp"
#include "milters/av/av_config.hpp"
#include "milters/av/av_session.hpp"
#include "milters/av/engine.hpp"
#include "milters/av/reload_signals.hpp"
#include "milters/av/reloader.hpp"

#include <libmilter/mfapi.h>

using namespace postern;

namespace {

// --check-config: the database loads and compiles; else "postern-av: WHY", exit 1.
int check_config(const Daemon& daemon, const av::AvConfig& config) {
  try {
    auto engine = av::Engine::load(config.engine);
    return daemon.configuration_ok(", " + std::to_string(engine->signatures()) + " signatures in " +
                                   config.engine.database_dir);
  } catch (const av::EngineError& e) {
    throw DaemonExit(1, e.what());
  }
}

int run(int argc, const char* const argv[]) {
  Daemon daemon({.daemon = "av",
                 .program = "postern-av",
                 .default_socket = "inet:7357@127.0.0.1",
                 .reloads_on_sighup = true,
                 .milter = true});
  av::add_av_options(daemon.options());
  if (auto status = daemon.parse(argc, argv)) return *status;

  av::AvConfig config = av::build_av_config(daemon.parsed().values());
  if (daemon.common().check_config) return check_config(daemon, config);

  Fd signal_fd = av::reload_signal_fd();  // before any thread starts
  av::AvMetrics av_metrics(daemon.registry());
  av::EngineSlot slot;
  daemon.health().add_check("engine", [&slot] {
    return slot.get() ? metrics::Health::CheckResult{}
                      : metrics::Health::CheckResult{false, "no engine loaded"};
  });
  auto metrics_server = daemon.serve_metrics();
  auto engine_loaded = daemon.add_ready_condition();  // ready: listening and an engine loaded

  av::EngineReloader::Callbacks callbacks;
  callbacks.loaded = [&](const av::Engine& engine, av::LoadReason, double seconds) {
    av_metrics.loads_ok.inc();
    av_metrics.signatures.set(engine.signatures());
    av_metrics.load_seconds.set(seconds);
    engine_loaded();
  };
  callbacks.failed = [&](const std::string&, av::LoadReason, bool) {
    av_metrics.loads_failed.inc();
  };
  av::EngineReloader reloader(config.engine, slot, callbacks, config.watch_database,
                              config.reload_settle_ms, signal_fd.get());
  reloader.start();

  MilterServerConfig server = daemon.milter_server();
  // X-Virus-* fields added and forged ones deleted; --on-virus quarantine → hold queue.
  server.flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
  if (config.policy.on_virus == av::VirusAction::Quarantine) server.flags |= SMFIF_QUARANTINE;
  server.wants_helo = false;
  server.wants_rcpt = false;
  // Only end of message decides: no round trip for the steps before it.
  server.connect_replies = false;
  server.mail_replies = false;
  server.header_replies = false;
  server.body_replies = false;
  int status = daemon.serve_milter(server, [&config, &slot, &av_metrics] {
    return std::make_unique<av::AvSession>(config, slot, av_metrics);
  });
  reloader.stop();
  return status;
}

}  // namespace

int main(int argc, char* argv[]) {
  return daemon_main("postern-av", [&] { return run(argc, argv); });
}
