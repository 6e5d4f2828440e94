// main.cpp — postern-dkim: the DKIM signing and verifying milter. Options → configuration →
// milter loop.
// `postern-dkim genkey ...` makes a key pair and prints its DNS record.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "common/config_error.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/metrics_server.hpp"
#include "common/milter.hpp"
#include "common/options.hpp"
#include "common/process.hpp"
#include "milters/dkim/dkim_config.hpp"
#include "milters/dkim/dkim_session.hpp"
#include "milters/dkim/genkey.hpp"

#include <libmilter/mfapi.h>

using namespace postern;

namespace {

// --metrics-listen: serve /metrics and /healthz on their own thread; nullptr when off.
// Throws ConfigError when the address cannot be bound.
std::unique_ptr<metrics::MetricsServer> start_metrics(const CommonOptions& common,
                                                      const metrics::Registry& registry,
                                                      const metrics::Health& health) {
  if (common.metrics_listen.empty()) return nullptr;
  auto server = std::make_unique<metrics::MetricsServer>(common.metrics_listen, registry, health);
  log::info("metrics-listening").kv("address", common.metrics_listen);
  return server;
}

int run(int argc, const char* const argv[]) {
  DaemonOptions options("dkim", "postern-dkim", "inet:8891@127.0.0.1");
  dkim::add_dkim_options(options.options());
  if (auto status = options.parse(argc, argv, environ)) return *status;
  const CommonOptions& common = options.common();
  log::init("postern-dkim", common.log_target, common.log_level);

  dkim::DkimConfig config = dkim::build_dkim_config(options.values());
  if (common.check_config) {
    std::printf("postern-dkim: configuration OK\n");
    return 0;
  }
  metrics::Registry registry;
  metrics::Health health;
  dkim::DkimMetrics dkim_metrics(registry);
  auto metrics_server = start_metrics(common, registry, health);

  MilterServerConfig server;
  server.name = "postern-dkim";
  server.socket = common.socket;
  // Add DKIM-Signature and Authentication-Results; delete forged Authentication-Results;
  // with --dmarc-quarantine, put DMARC-failing mail on hold (Postfix offers SMFIF_QUARANTINE).
  server.flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
  if (config.dmarc && config.dmarc_enforcement.quarantine) server.flags |= SMFIF_QUARANTINE;
  server.wants_helo = false;  // connect ({j}), MAIL (auth), header and body are enough
  server.wants_rcpt = false;
  // The steps before end of header always continue: no round trip for them. End of header
  // replies (Accept ends the work on a message with nothing to do); end of message carries
  // the signatures and the Authentication-Results field.
  server.connect_replies = false;
  server.mail_replies = false;
  server.header_replies = false;
  server.body_replies = false;
  server.unix_socket_mode = common.socket_mode;
  server.unix_socket_owner = common.user;
  server.on_listening = [&common, &health] {
    drop_privileges(common.user);
    notify_ready(common.ready_fd);
    health.set_ready(true);
    log::info("listening").kv("socket", common.socket.milter_notation());
  };
  return run_milter(server, [&config, &dkim_metrics] {
    return std::make_unique<dkim::DkimSession>(config, dkim_metrics);
  });
}

}  // namespace

int main(int argc, char* argv[]) {
  if (argc > 1 && std::strcmp(argv[1], "genkey") == 0) {
    return dkim::run_genkey(argc - 1, argv + 1);
  }
  try {
    return run(argc, argv);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "postern-dkim: configuration error: %s\n", e.what());
    return 78;  // EX_CONFIG
  } catch (const std::exception& e) {
    std::fprintf(stderr, "postern-dkim: fatal: %s\n", e.what());
    return 1;
  }
}
