// redis_server.hpp — test helper: a real redis-server listening only on a unix socket in a
// fresh temp dir (no TCP port, so tests run in parallel safely), stopped and removed by the
// destructor. kill() (SIGKILL) and start() again simulate an outage and a recovery.
// Throws std::runtime_error when redis-server cannot be started.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace postern::testing {

class RedisServer {
 public:
  /// `extra`: more "--option value" arguments for redis-server (e.g. {"--requirepass", "pw"}).
  explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    std::string templ = (std::filesystem::temp_directory_path() / "postern-redis-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = templ;
    start();
  }
  ~RedisServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::string socket_path() const { return dir_ + "/redis.sock"; }
  /// "unix:/tmp/postern-redis-XXXXXX/redis.sock"
  std::string url() const { return "unix:" + socket_path(); }

  /// Starts redis-server and waits (up to 10 s) until its socket accepts connections.
  void start() {
    std::vector<std::string> args = {"redis-server",
                                     "--port",
                                     "0",
                                     "--unixsocket",
                                     socket_path(),
                                     "--dir",
                                     dir_,
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--daemonize",
                                     "no",
                                     "--enable-debug-command",
                                     "yes",
                                     "--loglevel",
                                     "warning",
                                     "--logfile",
                                     dir_ + "/redis.log"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a test that crashed
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!accepts()) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("redis-server exited at start; see " + dir_ + "/redis.log");
      }
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("redis-server not ready");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  /// SIGKILL, as a crash would.
  void kill() { signal_and_wait(SIGKILL); }
  /// SIGTERM and wait.
  void stop() { signal_and_wait(SIGTERM); }

 private:
  void signal_and_wait(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    std::error_code ec;
    std::filesystem::remove(socket_path(), ec);
  }
  bool accepts() const {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = socket_path();
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    return ok;
  }

  std::vector<std::string> extra_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace postern::testing
