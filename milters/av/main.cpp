// main.cpp — postern-av: the ClamAV milter with libclamav in-process. Options → configuration
// → engine reloader (background) + milter loop. Readiness (--ready-fd, /healthz) once the
// socket listens and an engine is loaded; until an engine is there every message is
// tempfailed. SIGHUP and SIGUSR2 (clamd's) reload the database (reload_signals.hpp); SIGTERM
// and SIGINT stop (libmilter's signal handling).
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <mutex>

#include "common/config_error.hpp"
#include "common/fd.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/metrics_server.hpp"
#include "common/milter.hpp"
#include "common/options.hpp"
#include "common/process.hpp"
#include "milters/av/av_config.hpp"
#include "milters/av/av_session.hpp"
#include "milters/av/engine.hpp"
#include "milters/av/reload_signals.hpp"
#include "milters/av/reloader.hpp"

#include <libmilter/mfapi.h>

using namespace postern;

namespace {

// Ready = listening and an engine loaded, whichever comes last; told once to --ready-fd.
class Readiness {
 public:
  Readiness(int ready_fd, metrics::Health& health) : ready_fd_(ready_fd), health_(health) {}
  void listening() { update(&listening_); }
  void engine_loaded() { update(&engine_); }

 private:
  void update(bool* flag) {
    std::lock_guard lock(mutex_);
    *flag = true;
    if (!listening_ || !engine_ || notified_) return;
    notified_ = true;
    notify_ready(ready_fd_);
    health_.set_ready(true);
    log::info("ready");
  }
  std::mutex mutex_;
  int ready_fd_;
  metrics::Health& health_;
  bool listening_ = false, engine_ = false, notified_ = false;
};

int check_config(const av::AvConfig& config) {
  auto engine = av::Engine::load(config.engine);  // EngineError: reported by main()
  std::printf("postern-av: configuration OK, %u signatures in %s\n", engine->signatures(),
              config.engine.database_dir.c_str());
  return 0;
}

int run(int argc, const char* const argv[]) {
  DaemonOptions options("av", "postern-av", "inet:7357@127.0.0.1");
  av::add_av_options(options.options());
  if (auto status = options.parse(argc, argv, environ)) return *status;
  const CommonOptions& common = options.common();
  log::init("postern-av", common.log_target, common.log_level);

  av::AvConfig config = av::build_av_config(options.values());
  if (common.check_config) return check_config(config);

  Fd signal_fd = av::reload_signal_fd();  // before any thread starts
  metrics::Registry registry;
  metrics::Health health;
  av::AvMetrics av_metrics(registry);
  av::EngineSlot slot;
  health.add_check("engine", [&slot] {
    return slot.get() ? metrics::Health::CheckResult{}
                      : metrics::Health::CheckResult{false, "no engine loaded"};
  });
  auto metrics_server = metrics::start_metrics_server(common.metrics_listen, registry, health);
  Readiness readiness(common.ready_fd, health);

  av::EngineReloader::Callbacks callbacks;
  callbacks.loaded = [&](const av::Engine& engine, av::LoadReason, double seconds) {
    av_metrics.loads_ok.inc();
    av_metrics.signatures.set(engine.signatures());
    av_metrics.load_seconds.set(seconds);
    readiness.engine_loaded();
  };
  callbacks.failed = [&](const std::string&, av::LoadReason, bool) {
    av_metrics.loads_failed.inc();
  };
  av::EngineReloader reloader(config.engine, slot, callbacks, config.watch_database,
                              config.reload_settle_ms, signal_fd.get());
  reloader.start();

  MilterServerConfig server;
  server.name = "postern-av";
  server.socket = common.socket;
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
  server.unix_socket_mode = common.socket_mode;
  server.unix_socket_owner = common.user;
  server.on_listening = [&common, &readiness] {
    drop_privileges(common.user);
    log::info("listening").kv("socket", common.socket.milter_notation());
    readiness.listening();
  };
  int status = run_milter(server, [&config, &slot, &av_metrics] {
    return std::make_unique<av::AvSession>(config, slot, av_metrics);
  });
  reloader.stop();
  return status;
}

}  // namespace

int main(int argc, char* argv[]) {
  try {
    return run(argc, argv);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "postern-av: configuration error: %s\n", e.what());
    return 78;  // EX_CONFIG
  } catch (const av::EngineError& e) {
    std::fprintf(stderr, "postern-av: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "postern-av: fatal: %s\n", e.what());
    return 1;
  }
}
