// main.cpp — postern-dkim: the DKIM signing and verifying milter. Options → configuration →
// milter loop (common/daemon.hpp wires the rest: logging, metrics, readiness, exit statuses).
// `postern-dkim genkey ...` makes a key pair and prints its DNS record.
#include <cstring>
#include <memory>

#include "common/daemon.hpp"
#include "common/milter.hpp"
#include "milters/dkim/dkim_config.hpp"
#include "milters/dkim/dkim_session.hpp"
#include "milters/dkim/genkey.hpp"

#include <libmilter/mfapi.h>

using namespace postern;

namespace {

int run(int argc, const char* const argv[]) {
  Daemon daemon({.daemon = "dkim",
                 .program = "postern-dkim",
                 .default_socket = "inet:8891@127.0.0.1",
                 .milter = true});
  dkim::add_dkim_options(daemon.options());
  if (auto status = daemon.parse(argc, argv)) return *status;

  dkim::DkimConfig config = dkim::build_dkim_config(daemon.parsed().values());
  if (daemon.common().check_config) return daemon.configuration_ok();
  dkim::DkimMetrics dkim_metrics(daemon.registry());
  auto metrics_server = daemon.serve_metrics();

  MilterServerConfig server = daemon.milter_server();
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
  return daemon.serve_milter(server, [&config, &dkim_metrics] {
    return std::make_unique<dkim::DkimSession>(config, dkim_metrics);
  });
}

}  // namespace

int main(int argc, char* argv[]) {
  if (argc > 1 && std::strcmp(argv[1], "genkey") == 0) {
    return dkim::run_genkey(argc - 1, argv + 1);
  }
  return daemon_main("postern-dkim", [&] { return run(argc, argv); });
}
