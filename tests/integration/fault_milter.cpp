// fault_milter.cpp — test-only milter on common/milter.hpp whose session throws
// std::runtime_error at one chosen stage, so the integration tests can prove that a fault
// never crosses into libmilter: Postfix sees TEMPFAIL, the adapter logs "milter-error".
//
// usage: fault_milter --socket SPEC --stage connect|mail|header|eoh|body|eom
//                     [--step-replies yes|no] [--ready-fd FD]
//
// Which messages fault (all others pass untouched, so the process is seen to survive):
//   connect            the client address is 203.0.113.66 (XCLIENT ADDR=203.0.113.66)
//   mail ... eom       the envelope sender contains "fault"; "header" throws at the Subject:
//                      field, i.e. in the middle of the header, so with --step-replies no
//                      (SMFIP_NR_HDR) the fault is answered at end of header.
// Served by Daemon::serve_milter (common/daemon.hpp): SIGTERM stops it at once (a message in
// progress gets one second to finish), exit status 0.
// Logs to stderr. Exit status 2 on a usage error.
#include <strings.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "common/daemon.hpp"
#include "common/log.hpp"
#include "common/milter.hpp"
#include "common/process.hpp"
#include "common/socket_spec.hpp"

using namespace postern;

namespace {

constexpr std::string_view kFaultClient = "203.0.113.66";

enum class Stage { Connect, Mail, Header, Eoh, Body, Eom };

struct Options {
  std::string socket;
  Stage stage = Stage::Eom;
  bool step_replies = true;
  int ready_fd = -1;
};

bool parse_stage(std::string_view text, Stage& stage) {
  static constexpr std::pair<std::string_view, Stage> kStages[] = {
      {"connect", Stage::Connect}, {"mail", Stage::Mail}, {"header", Stage::Header},
      {"eoh", Stage::Eoh},         {"body", Stage::Body}, {"eom", Stage::Eom}};
  for (const auto& [name, value] : kStages) {
    if (text == name) {
      stage = value;
      return true;
    }
  }
  return false;
}

class FaultSession : public MilterSession {
 public:
  explicit FaultSession(Stage stage) : stage_(stage) {}

  MilterStatus on_connect(MilterContext&, const ConnectInfo& info) override {
    if (stage_ == Stage::Connect && info.client_address == kFaultClient) fault("connect");
    return MilterStatus::Continue;
  }
  MilterStatus on_mail_from(MilterContext&, std::string_view sender) override {
    armed_ = sender.find("fault") != std::string_view::npos;
    fault_if(Stage::Mail, "mail");
    return MilterStatus::Continue;
  }
  MilterStatus on_header(MilterContext&, std::string_view name, std::string_view) override {
    if (name.size() == 7 && strncasecmp(name.data(), "subject", 7) == 0)
      fault_if(Stage::Header, "header");
    return MilterStatus::Continue;
  }
  MilterStatus on_end_of_header(MilterContext&) override {
    fault_if(Stage::Eoh, "eoh");
    return MilterStatus::Continue;
  }
  MilterStatus on_body(MilterContext&, std::string_view) override {
    fault_if(Stage::Body, "body");
    return MilterStatus::Continue;
  }
  MilterStatus on_end_of_message(MilterContext&) override {
    fault_if(Stage::Eom, "eom");
    armed_ = false;
    return MilterStatus::Continue;
  }
  void on_abort(MilterContext&) override { armed_ = false; }

 private:
  [[noreturn]] static void fault(const char* stage) {
    throw std::runtime_error(std::string("injected fault at ") + stage);
  }
  void fault_if(Stage stage, const char* name) const {
    if (armed_ && stage_ == stage) fault(name);
  }

  Stage stage_;
  bool armed_ = false;
};

int usage(const char* why) {
  std::fprintf(stderr,
               "fault_milter: %s\nusage: fault_milter --socket SPEC "
               "--stage connect|mail|header|eoh|body|eom [--step-replies yes|no] "
               "[--ready-fd FD]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char* argv[]) {
  // First, before any thread: blocks the stop signals for serve_milter().
  Daemon daemon({.daemon = "fault_milter",
                 .program = "fault_milter",
                 .default_socket = "inet:8891@127.0.0.1",
                 .milter = true});
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) return usage("option without a value");
    std::string_view value = argv[++i];
    if (arg == "--socket") {
      options.socket = std::string(value);
    } else if (arg == "--stage") {
      if (!parse_stage(value, options.stage)) return usage("unknown stage");
    } else if (arg == "--step-replies") {
      if (value != "yes" && value != "no") return usage("--step-replies wants yes or no");
      options.step_replies = value == "yes";
    } else if (arg == "--ready-fd") {
      options.ready_fd = std::atoi(std::string(value).c_str());
    } else {
      return usage("unknown option");
    }
  }
  if (options.socket.empty()) return usage("--socket is required");
  try {
    log::init("fault_milter", log::Target::Stderr, log::Level::Info);
    MilterServerConfig server;
    server.name = "fault_milter";
    server.socket = SocketSpec::parse(options.socket);
    server.connect_replies = options.step_replies;
    server.mail_replies = options.step_replies;
    server.header_replies = options.step_replies;
    server.body_replies = options.step_replies;
    server.on_listening = [&options] { notify_ready(options.ready_fd); };
    Stage stage = options.stage;
    return daemon.serve_milter(
        server, [stage] { return std::make_unique<FaultSession>(stage); },
        /*grace_seconds=*/1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fault_milter: fatal: %s\n", e.what());
    return 1;
  }
}
