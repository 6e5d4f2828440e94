// common_daemon_test.cpp — the daemon skeleton (common/daemon.hpp): exit statuses and their
// stderr lines, option parsing hand-off, readiness (--ready-fd, /healthz) with and without an
// extra condition, the server config fields, and the SIGHUP reload thread with a real signal.
#include "common/daemon.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/config_error.hpp"

namespace postern {
namespace {

DaemonSpec test_spec(bool reloads = false) {
  return DaemonSpec{"test", "postern-test", "inet:10099@127.0.0.1", reloads};
}

// A pipe whose write end is passed as --ready-fd; read() tells what readiness wrote.
struct ReadyPipe {
  int fds[2] = {-1, -1};
  ReadyPipe() { EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0); }
  ~ReadyPipe() { ::close(fds[0]); }
  std::string arg() const { return std::to_string(fds[1]); }
  std::string read() const {
    char buf[16];
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
};

void parse(Daemon& daemon, std::vector<std::string> args) {
  args.insert(args.begin(), "postern-test");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  ASSERT_EQ(daemon.parse(static_cast<int>(argv.size()), argv.data()), std::nullopt);
}

TEST(DaemonMain, ReturnsTheRunStatus) {
  EXPECT_EQ(daemon_main("postern-test", [] { return 0; }), 0);
  EXPECT_EQ(daemon_main("postern-test", [] { return 3; }), 3);
}

TEST(DaemonMain, MapsExceptionsToExitStatusAndOneStderrLine) {
  struct Case {
    std::function<int()> run;
    int status;
    std::string line;
  };
  const std::vector<Case> cases = {
      {[]() -> int { throw ConfigError("option --delay: 'x' is not a number"); }, 78,
       "postern-test: configuration error: option --delay: 'x' is not a number\n"},
      {[]() -> int { throw DaemonExit(69, "LDAP check failed: down"); }, 69,
       "postern-test: LDAP check failed: down\n"},
      {[]() -> int { throw std::runtime_error("boom"); }, 1, "postern-test: fatal: boom\n"},
  };
  for (const Case& c : cases) {
    testing::internal::CaptureStderr();
    int status = daemon_main("postern-test", c.run);
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(status, c.status) << "got " << status << ", want " << c.status << " for " << c.line;
    EXPECT_EQ(err, c.line);
  }
}

TEST(Daemon, ParseEndsTheRunForHelpAndThrowsOnBadOptions) {
  Daemon daemon(test_spec());
  daemon.options().add_options()("delay", po::value<int>()->default_value(300), "seconds");
  const char* help[] = {"postern-test", "--help"};
  testing::internal::CaptureStdout();
  EXPECT_EQ(daemon.parse(2, help), std::optional<int>(0));
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("--delay"), std::string::npos) << out;

  Daemon bad(test_spec());
  const char* unknown[] = {"postern-test", "--no-such-option"};
  EXPECT_THROW(bad.parse(2, unknown), ConfigError);
}

TEST(Daemon, ParseGivesTheCommonAndDaemonOptions) {
  Daemon daemon(test_spec());
  daemon.options().add_options()("delay", po::value<int>()->default_value(300), "seconds");
  parse(daemon, {"--delay", "60", "--socket", "unix:/tmp/x.sock", "--socket-mode", "0600"});
  EXPECT_EQ(daemon.parsed().values()["delay"].as<int>(), 60);
  EXPECT_EQ(daemon.common().socket.path, "/tmp/x.sock");
  EXPECT_EQ(daemon.common().socket_mode, 0600u);
  EXPECT_EQ(daemon.program(), "postern-test");
}

TEST(Daemon, ConfigurationOkPrintsOneLine) {
  Daemon daemon(test_spec());
  testing::internal::CaptureStdout();
  EXPECT_EQ(daemon.configuration_ok(), 0);
  EXPECT_EQ(daemon.configuration_ok(", 3 signatures in /db"), 0);
  EXPECT_EQ(
      testing::internal::GetCapturedStdout(),
      "postern-test: configuration OK\npostern-test: configuration OK, 3 signatures in /db\n");
}

TEST(Daemon, ListeningMakesTheDaemonReadyOnce) {
  ReadyPipe ready;
  Daemon daemon(test_spec());
  parse(daemon, {"--ready-fd", ready.arg()});
  EXPECT_FALSE(daemon.health().ready());
  daemon.listening();
  EXPECT_TRUE(daemon.health().ready());
  EXPECT_EQ(ready.read(), "\n");
  daemon.listening();  // a second call neither writes nor throws (the fd is closed)
  EXPECT_EQ(ready.read(), "");
}

TEST(Daemon, ReadinessWaitsForEveryCondition) {
  // Both orders: listening first (postern-av with a slow engine load) and condition first.
  for (bool listening_first : {true, false}) {
    ReadyPipe ready;
    Daemon daemon(test_spec());
    parse(daemon, {"--ready-fd", ready.arg()});
    auto engine_loaded = daemon.add_ready_condition();
    if (listening_first) {
      daemon.listening();
    } else {
      engine_loaded();
      engine_loaded();  // idempotent: still waits for listening
    }
    EXPECT_FALSE(daemon.health().ready()) << "listening_first=" << listening_first;
    EXPECT_EQ(ready.read(), "");
    if (listening_first) {
      engine_loaded();
    } else {
      daemon.listening();
    }
    EXPECT_TRUE(daemon.health().ready()) << "listening_first=" << listening_first;
    EXPECT_EQ(ready.read(), "\n");
    engine_loaded();
    EXPECT_EQ(ready.read(), "");
  }
}

TEST(Daemon, StreamServerGetsTheCommonOptions) {
  ReadyPipe ready;
  Daemon daemon(test_spec());
  parse(daemon,
        {"--socket", "unix:/run/p.sock", "--socket-mode", "0666", "--ready-fd", ready.arg()});
  StreamServerConfig server;
  daemon.fill_stream_server(server);
  EXPECT_EQ(server.socket.path, "/run/p.sock");
  EXPECT_EQ(server.socket_mode, 0666u);
  EXPECT_EQ(server.socket_owner, "");
  EXPECT_EQ(server.metrics, &daemon.registry());
  ASSERT_TRUE(server.on_listening);
  server.on_listening();
  EXPECT_TRUE(daemon.health().ready());
  EXPECT_EQ(ready.read(), "\n");
}

TEST(Daemon, MilterServerGetsNameSocketAndReadiness) {
  ReadyPipe ready;
  Daemon daemon(test_spec());
  parse(daemon, {"--socket", "inet:10098@127.0.0.1", "--ready-fd", ready.arg()});
  MilterServerConfig server = daemon.milter_server();
  EXPECT_EQ(server.name, "postern-test");
  EXPECT_EQ(server.socket.milter_notation(), "inet:10098@127.0.0.1");
  EXPECT_EQ(server.unix_socket_mode, 0660u);
  ASSERT_TRUE(server.on_listening);
  server.on_listening();
  EXPECT_TRUE(daemon.health().ready());
  EXPECT_EQ(ready.read(), "\n");
}

TEST(Daemon, ServeMetricsIsOffWithoutMetricsListen) {
  Daemon daemon(test_spec());
  parse(daemon, {});
  EXPECT_EQ(daemon.serve_metrics(), nullptr);
}

TEST(Daemon, ReloadOnSighupNeedsTheSpecFlag) {
  Daemon daemon(test_spec(false));
  EXPECT_THROW(daemon.reload_on_sighup([] {}), std::logic_error);
}

// Counts reloads; waits for the n-th with a generous timeout (a loaded CI machine).
struct ReloadCounter {
  std::mutex mutex;
  std::condition_variable changed;
  int calls = 0;
  void hit() {
    std::lock_guard lock(mutex);
    ++calls;
    changed.notify_all();
  }
  bool wait_for(int n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), [&] { return calls >= n; });
  }
};

TEST(Daemon, SighupReloadsOnItsThreadAndSurvivesAFailedReload) {
  Daemon daemon(test_spec(true));  // blocks SIGHUP in this thread before the reloader starts
  ReloadCounter counter;
  std::atomic<bool> fail_first{true};
  auto reloader = daemon.reload_on_sighup([&] {
    counter.hit();
    if (fail_first.exchange(false)) throw ConfigError("whitelist: bad line 3");
  });
  ASSERT_EQ(::kill(::getpid(), SIGHUP), 0);  // blocked everywhere: only the signalfd sees it
  ASSERT_TRUE(counter.wait_for(1)) << "no reload after the first SIGHUP";
  ASSERT_EQ(::kill(::getpid(), SIGHUP), 0);
  ASSERT_TRUE(counter.wait_for(2)) << "no reload after a failed one";
  auto started = std::chrono::steady_clock::now();
  reloader.reset();  // stops at once, without waiting for a signal
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_EQ(counter.calls, 2);
}

}  // namespace
}  // namespace postern
