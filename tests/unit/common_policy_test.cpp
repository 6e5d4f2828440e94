// common_policy_test.cpp — the policy delegation protocol (Postfix SMTPD_POLICY_README): the
// incremental request parser (table-driven) and the server over real sockets in-process
// (a unix socket in a temp dir, 127.0.0.1 on a free port).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/config_error.hpp"
#include "common/metrics.hpp"
#include "common/policy.hpp"

namespace postern {
namespace {

using Attrs = std::vector<std::pair<std::string, std::string>>;
using State = PolicyRequestParser::State;

// ---- parser ----------------------------------------------------------------------------------

struct GoodCase {
  const char* name;
  std::string input;
  Attrs want;
};

TEST(PolicyRequestParser, ParsesGoodRequests) {
  const std::vector<GoodCase> cases = {
      {"lf",
       "request=smtpd_access_policy\nprotocol_state=RCPT\n\n",
       {{"request", "smtpd_access_policy"}, {"protocol_state", "RCPT"}}},
      {"crlf",
       "request=smtpd_access_policy\r\nsender=a@example.com\r\n\r\n",
       {{"request", "smtpd_access_policy"}, {"sender", "a@example.com"}}},
      {"mixed line ends", "a=1\r\nb=2\n\r\n", {{"a", "1"}, {"b", "2"}}},
      {"empty value",
       "sender=\nrecipient=b@example.com\n\n",
       {{"sender", ""}, {"recipient", "b@example.com"}}},
      {"= in value",
       "ccert_subject=CN=x,O=y\nsasl=a==b\n\n",
       {{"ccert_subject", "CN=x,O=y"}, {"sasl", "a==b"}}},
      {"names kept as given",
       "Client_Address=192.0.2.1\nx.y-z=1\n\n",
       {{"Client_Address", "192.0.2.1"}, {"x.y-z", "1"}}},
      {"spaces kept", "helo_name= mail .example \n\n", {{"helo_name", " mail .example "}}},
  };
  for (const auto& c : cases) {
    PolicyRequestParser parser;
    size_t consumed = 0;
    State state = parser.feed(c.input, consumed);
    ASSERT_EQ(state, State::Complete) << c.name << ": " << parser.error();
    EXPECT_EQ(consumed, c.input.size()) << c.name;
    EXPECT_EQ(parser.take().attributes(), c.want) << c.name;
  }
}

TEST(PolicyRequestParser, ByteByByteEqualsWhole) {
  std::string input = "request=smtpd_access_policy\r\nclient_address=192.0.2.7\r\n\r\n";
  PolicyRequestParser parser;
  for (size_t i = 0; i < input.size(); ++i) {
    size_t consumed = 0;
    State state = parser.feed(std::string_view(input).substr(i, 1), consumed);
    EXPECT_EQ(consumed, 1u);
    EXPECT_EQ(state, i + 1 == input.size() ? State::Complete : State::NeedMore) << "byte " << i;
  }
  PolicyRequest request = parser.take();
  EXPECT_EQ(request.get("client_address"), "192.0.2.7");
}

TEST(PolicyRequestParser, StopsAtEndOfEachRequest) {
  std::string input = "a=1\n\nb=2\n\n";
  PolicyRequestParser parser;
  size_t consumed = 0;
  ASSERT_EQ(parser.feed(input, consumed), State::Complete);
  EXPECT_EQ(consumed, 5u);
  EXPECT_EQ(parser.take().get("a"), "1");
  ASSERT_EQ(parser.feed(std::string_view(input).substr(5), consumed), State::Complete);
  PolicyRequest second = parser.take();
  EXPECT_EQ(second.get("b"), "2");
  EXPECT_FALSE(second.has("a"));
}

struct BadCase {
  const char* name;
  std::string input;
  std::string want_error;
};

TEST(PolicyRequestParser, RefusesBadRequests) {
  PolicyLimits limits;
  limits.max_line_bytes = 16;
  limits.max_attributes = 3;
  limits.max_request_bytes = 40;
  const std::vector<BadCase> cases = {
      {"no =", "a=1\nnoequals\n\n", "line 2: no '=' in attribute line"},
      {"empty name", "a=1\nb=2\n=3\n\n", "line 3: empty attribute name"},
      {"empty request", "\n", "line 1: empty request"},
      {"empty request crlf", "\r\n", "line 1: empty request"},
      {"repeated", "a=1\na=2\n\n", "line 2: attribute 'a' repeated"},
      {"NUL", std::string("a=1\nb=\0\n\n", 9), "line 2: NUL byte"},
      {"bare CR", "a=1\nb=x\ry\n\n", "line 2: CR inside a line"},
      {"CR CR LF", "a=x\r\r\n\n", "line 1: CR inside a line"},
      {"long line", "a=1\nb=0123456789abcdefXYZ\n\n", "line 2: line longer than 16 bytes"},
      {"long line no LF", "a=0123456789abcdefXYZ", "line 1: line longer than 16 bytes"},
      {"cap + CR ok but + x not", "a=0123456789abcde\r\n\n", "line 1: line longer than 16 bytes"},
      {"attributes", "a=1\nb=2\nc=3\nd=4\n\n", "line 4: more than 3 attributes"},
      {"request size", "a=0123456789abc\nb=0123456789abc\nc=0123456789abc\n\n",
       "line 3: request longer than 40 bytes"},
  };
  for (const auto& c : cases) {
    PolicyRequestParser parser(limits);
    size_t consumed = 0;
    EXPECT_EQ(parser.feed(c.input, consumed), State::Error) << c.name;
    EXPECT_EQ(parser.error(), c.want_error) << c.name;
    EXPECT_LE(consumed, c.input.size()) << c.name;
    EXPECT_EQ(parser.feed("a=1\n\n", consumed), State::Error) << c.name << ": error is final";
  }
}

TEST(PolicyRequestParser, LimitsAllowExactlyTheCap) {
  PolicyLimits limits;
  limits.max_line_bytes = 5;
  limits.max_attributes = 2;
  limits.max_request_bytes = 15;  // "a=123\r\nb=456\n\n" is 14
  PolicyRequestParser parser(limits);
  size_t consumed = 0;
  ASSERT_EQ(parser.feed("a=123\r\nb=456\n\n", consumed), State::Complete) << parser.error();
  EXPECT_EQ(parser.take().get("b"), "456");
}

TEST(PolicyRequest, GetSetHasSerialize) {
  PolicyRequest request;
  EXPECT_EQ(request.get("sender"), "");
  EXPECT_FALSE(request.has("sender"));
  request.set("sender", "");
  request.set("recipient", "a@example.com");
  request.set("sender", "b@example.com");
  EXPECT_TRUE(request.has("sender"));
  EXPECT_EQ(request.get("sender"), "b@example.com");
  EXPECT_EQ(request.serialize(), "sender=b@example.com\nrecipient=a@example.com\n\n");
}

// ---- server ----------------------------------------------------------------------------------

// A blocking client socket with a receive timeout.
class Client {
 public:
  static Client unix_socket(const std::string& path) {
    Client c(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    c.connect_to(&addr, sizeof addr);
    return c;
  }
  static Client tcp(uint16_t port) {
    Client c(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c.connect_to(&addr, sizeof addr);
    return c;
  }
  Client(Client&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }

  void send(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      done += static_cast<size_t>(n);
    }
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  /// One answer ("action=...\n\n" → "..."); "EOF" when the server closed, "TIMEOUT" after
  /// `seconds`.
  std::string answer(double seconds = 5) {
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    for (;;) {
      auto end = buffer_.find("\n\n");
      if (end != std::string::npos) {
        std::string reply = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        return reply.rfind("action=", 0) == 0 ? reply.substr(7) : "BAD:" + reply;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "TIMEOUT";
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return buffer_.empty() ? "EOF" : "BAD:" + buffer_;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  explicit Client(int fd) : fd_(fd) {}
  template <class Addr>
  void connect_to(const Addr* addr, size_t size) {
    if (fd_ < 0 ||
        ::connect(fd_, reinterpret_cast<const sockaddr*>(addr), static_cast<socklen_t>(size)) != 0)
      throw std::runtime_error("connect failed");
  }
  int fd_;
  std::string buffer_;
};

std::string request_for(const std::string& recipient, const std::string& extra = "") {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=" + recipient + "\n" + extra +
         "\n";
}

// The handler most tests use: echoes the recipient, sleeps on "slow", throws on "throw".
std::string echo_handler(const PolicyRequest& request) {
  std::string recipient(request.get("recipient"));
  if (recipient.rfind("slow", 0) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(800));
  if (recipient == "throw") throw std::runtime_error("backend down");
  if (recipient == "newline") return "DUNNO\nREJECT";
  return "DUNNO " + recipient;
}

// A PolicyServer running on its own thread for one test.
class RunningServer {
 public:
  RunningServer(PolicyServerConfig config, PolicyHandler handler)
      : server_(std::move(config), std::move(handler)),
        thread_([this] { status_ = server_.run(false); }) {}
  ~RunningServer() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }
  uint16_t port() const { return server_.port(); }

 private:
  PolicyServer server_;
  int status_ = -1;
  std::thread thread_;
};

class PolicyServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/postern-policy-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  PolicyServerConfig unix_config() {
    PolicyServerConfig config;
    config.name = "test";
    config.socket = SocketSpec::parse("unix:" + dir_ + "/policy.sock");
    config.request_deadline_seconds = 0.3;
    config.fault_action = "DEFER_IF_PERMIT 4.3.0 Service temporarily unavailable";
    return config;
  }
  PolicyServerConfig tcp_config() {
    PolicyServerConfig config = unix_config();
    config.socket = SocketSpec{};  // inet, port 0: any free port on 127.0.0.1
    config.socket.host = "127.0.0.1";
    return config;
  }
  std::string socket_path() const { return dir_ + "/policy.sock"; }
  // A new client connection to the unix_config() server.
  Client connect() const { return Client::unix_socket(socket_path()); }

  std::string dir_;
};

const std::string kFault = "DEFER_IF_PERMIT 4.3.0 Service temporarily unavailable";

TEST_F(PolicyServerTest, UnixSocketPersistentConnectionAndMode) {
  PolicyServerConfig config = unix_config();
  config.socket_mode = 0666;
  bool listening = false;
  config.on_listening = [&listening] { listening = true; };
  RunningServer server(config, echo_handler);
  EXPECT_TRUE(listening);
  auto perms = std::filesystem::status(socket_path()).permissions();
  EXPECT_EQ(perms, std::filesystem::perms(0666));
  Client client = connect();
  for (int i = 0; i < 5; ++i) {
    std::string rcpt = "r" + std::to_string(i) + "@example.com";
    client.send(request_for(rcpt));
    EXPECT_EQ(client.answer(), "DUNNO " + rcpt);
  }
}

TEST_F(PolicyServerTest, TcpCrlfRequests) {
  RunningServer server(tcp_config(), echo_handler);
  ASSERT_NE(server.port(), 0);
  Client client = Client::tcp(server.port());
  client.send("request=smtpd_access_policy\r\nrecipient=a@example.com\r\n\r\n");
  EXPECT_EQ(client.answer(), "DUNNO a@example.com");
  client.send(request_for("b@example.com"));
  EXPECT_EQ(client.answer(), "DUNNO b@example.com");
}

TEST_F(PolicyServerTest, FiftyConcurrentConnections) {
  PolicyServerConfig config = tcp_config();
  config.worker_threads = 4;
  RunningServer server(config, echo_handler);
  std::vector<Client> clients;
  for (int i = 0; i < 50; ++i) clients.push_back(Client::tcp(server.port()));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i)
      clients[i].send(request_for(std::to_string(i) + "-" + std::to_string(round)));
    for (int i = 0; i < 50; ++i) {
      EXPECT_EQ(clients[i].answer(), "DUNNO " + std::to_string(i) + "-" + std::to_string(round));
    }
  }
}

TEST_F(PolicyServerTest, SlowHandlerGetsFaultActionOthersServed) {
  PolicyServerConfig config = unix_config();
  config.worker_threads = 2;
  RunningServer server(config, echo_handler);
  Client slow = connect();
  Client fast = connect();
  auto start = std::chrono::steady_clock::now();
  slow.send(request_for("slow"));
  fast.send(request_for("fast@example.com"));
  EXPECT_EQ(fast.answer(), "DUNNO fast@example.com");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));
  EXPECT_EQ(slow.answer(), kFault);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(280));
  EXPECT_LT(took, std::chrono::milliseconds(700));
  // The connection stays usable and the late result is dropped, not sent.
  slow.send(request_for("after@example.com"));
  EXPECT_EQ(slow.answer(), "DUNNO after@example.com");
}

TEST_F(PolicyServerTest, ThrowingHandlerAndBadActionGetFaultAction) {
  metrics::Registry registry;
  PolicyServerConfig config = unix_config();
  config.metrics = &registry;
  RunningServer server(config, echo_handler);
  Client client = connect();
  client.send(request_for("throw"));
  EXPECT_EQ(client.answer(), kFault);
  client.send(request_for("newline"));
  EXPECT_EQ(client.answer(), kFault);
  client.send(request_for("ok@example.com"));
  EXPECT_EQ(client.answer(), "DUNNO ok@example.com");
  std::string text = registry.render();
  EXPECT_NE(text.find("postern_test_policy_requests_total 3"), std::string::npos) << text;
  EXPECT_NE(text.find("postern_test_policy_faults_total{kind=\"error\"} 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("postern_test_policy_actions_total{action=\"DEFER_IF_PERMIT\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("postern_test_policy_actions_total{action=\"DUNNO\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("postern_test_policy_seconds_count 3"), std::string::npos) << text;
}

// A PolicyServer answering with echo_handler that records the threads its handler ran on;
// run() on a thread of its own, whose id is kept.
class RecordingServer {
 public:
  explicit RecordingServer(const PolicyServerConfig& config)
      : server_(config,
                [this](const PolicyRequest& request) {
                  {
                    std::lock_guard lock(mutex_);
                    threads_.insert(std::this_thread::get_id());
                  }
                  return echo_handler(request);
                }),
        runner_([this] {
          run_thread_ = std::this_thread::get_id();
          server_.run(false);
        }) {}
  ~RecordingServer() { stop(); }
  void stop() {
    if (!runner_.joinable()) return;
    server_.stop();
    runner_.join();
  }
  uint16_t port() const { return server_.port(); }
  /// After stop().
  std::set<std::thread::id> threads() const { return threads_; }
  std::thread::id run_thread() const { return run_thread_; }

 private:
  std::mutex mutex_;
  std::set<std::thread::id> threads_;
  PolicyServer server_;
  std::thread::id run_thread_;
  std::thread runner_;
};

// inline_requests: the handler runs on the thread that called run(), never on a worker;
// answers, pipelining order, faults and metrics are as on the workers.
TEST_F(PolicyServerTest, InlineHandlerRunsOnIoThreadInOrder) {
  metrics::Registry registry;
  PolicyServerConfig config = tcp_config();
  config.inline_requests = true;
  config.metrics = &registry;
  RecordingServer server(config);
  {
    Client a = Client::tcp(server.port());
    Client b = Client::tcp(server.port());
    std::string all;
    for (int i = 0; i < 20; ++i) all += request_for(std::to_string(i));
    a.send(all);
    b.send(request_for("throw") + request_for("newline") + request_for("b@example.com"));
    for (int i = 0; i < 20; ++i) EXPECT_EQ(a.answer(), "DUNNO " + std::to_string(i));
    EXPECT_EQ(b.answer(), kFault);
    EXPECT_EQ(b.answer(), kFault);
    EXPECT_EQ(b.answer(), "DUNNO b@example.com");
  }
  server.stop();
  ASSERT_EQ(server.threads().size(), 1U);
  EXPECT_EQ(*server.threads().begin(), server.run_thread());
  std::string text = registry.render();
  EXPECT_NE(text.find("postern_test_policy_requests_total 23"), std::string::npos) << text;
  EXPECT_NE(text.find("postern_test_policy_faults_total{kind=\"error\"} 2"), std::string::npos)
      << text;
}

// An inline handler cannot be preempted: one that runs past the deadline still gets the fault
// action (its result dropped), and the connection stays usable.
TEST_F(PolicyServerTest, InlineHandlerPastDeadlineGetsFaultAction) {
  metrics::Registry registry;
  PolicyServerConfig config = unix_config();
  config.inline_requests = true;
  config.metrics = &registry;
  RunningServer server(config, echo_handler);
  Client client = connect();
  auto start = std::chrono::steady_clock::now();
  client.send(request_for("slow"));
  EXPECT_EQ(client.answer(), kFault);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(780));
  client.send(request_for("after@example.com"));
  EXPECT_EQ(client.answer(), "DUNNO after@example.com");
  std::string text = registry.render();
  EXPECT_NE(text.find("postern_test_policy_faults_total{kind=\"timeout\"} 1"), std::string::npos)
      << text;
}

// io_threads > 1: connections are spread over the io threads round-robin (none on the thread
// that called run()); each connection's answers stay in order; metrics add up across threads.
TEST_F(PolicyServerTest, InlineHandlerOnSeveralIoThreads) {
  metrics::Registry registry;
  PolicyServerConfig config = tcp_config();
  config.inline_requests = true;
  config.io_threads = 3;
  config.metrics = &registry;
  RecordingServer server(config);
  {
    std::vector<Client> clients;
    for (int c = 0; c < 6; ++c) clients.push_back(Client::tcp(server.port()));
    for (int c = 0; c < 6; ++c) {
      std::string all;
      for (int i = 0; i < 20; ++i) all += request_for(std::to_string(c) + "." + std::to_string(i));
      clients[c].send(all);
    }
    for (int c = 0; c < 6; ++c) {
      for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(clients[c].answer(), "DUNNO " + std::to_string(c) + "." + std::to_string(i));
      }
    }
  }
  server.stop();
  EXPECT_EQ(server.threads().size(), 3U) << "six connections round-robin over three io threads";
  EXPECT_EQ(server.threads().count(server.run_thread()), 0U);
  std::string text = registry.render();
  EXPECT_NE(text.find("postern_test_policy_requests_total 120"), std::string::npos) << text;
  EXPECT_NE(text.find("postern_test_policy_connections 0"), std::string::npos) << text;
}

// Stopping with several io threads: requests in progress on any of them are answered, then
// every connection is closed and run() returns.
TEST_F(PolicyServerTest, StopWithSeveralIoThreadsAnswersRequestsInProgress) {
  PolicyServerConfig config = unix_config();
  config.request_deadline_seconds = 5;
  config.io_threads = 2;
  config.max_connections = 3;
  auto server = std::make_unique<RunningServer>(config, [](const PolicyRequest& request) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return "DUNNO late " + std::string(request.get("recipient"));
  });
  std::vector<Client> clients;
  for (int c = 0; c < 3; ++c) clients.push_back(Client::unix_socket(socket_path()));
  Client refused = Client::unix_socket(socket_path());
  EXPECT_EQ(refused.answer(), "EOF") << "max_connections counts across io threads";
  for (int c = 0; c < 3; ++c) clients[c].send(request_for(std::to_string(c)));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto stopping = std::async(std::launch::async, [&server] { server->stop(); });
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(clients[c].answer(), "DUNNO late " + std::to_string(c));
    EXPECT_EQ(clients[c].answer(), "EOF");
  }
  stopping.get();
}

TEST_F(PolicyServerTest, ZeroIoThreadsIsConfigError) {
  PolicyServerConfig config = unix_config();
  config.io_threads = 0;
  EXPECT_THROW(PolicyServer(config, echo_handler), ConfigError);
}

TEST_F(PolicyServerTest, OversizedRequestClosesWithoutAnswer) {
  PolicyServerConfig config = tcp_config();
  config.limits.max_request_bytes = 1024;
  RunningServer server(config, echo_handler);
  Client client = Client::tcp(server.port());
  client.send(request_for("first@example.com"));
  EXPECT_EQ(client.answer(), "DUNNO first@example.com");
  std::string big = "request=smtpd_access_policy\n";
  for (int i = 0; i < 40; ++i) big += "x" + std::to_string(i) + "=" + std::string(40, 'v') + "\n";
  client.send(big + "\n");
  EXPECT_EQ(client.answer(), "EOF");
}

TEST_F(PolicyServerTest, MalformedRequestClosesWithoutAnswer) {
  RunningServer server(unix_config(), echo_handler);
  Client client = connect();
  client.send("request=smtpd_access_policy\nthis line has no equals sign\n\n");
  EXPECT_EQ(client.answer(), "EOF");
}

TEST_F(PolicyServerTest, PipelinedRequestsAnsweredInOrder) {
  PolicyServerConfig config = tcp_config();
  config.worker_threads = 4;
  config.request_deadline_seconds = 5;
  // Early requests take longest, so they finish last; answers must still come in order.
  RunningServer server(config, [](const PolicyRequest& request) {
    int n = std::atoi(std::string(request.get("recipient")).c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds((20 - n) * 5));
    return "DUNNO " + std::to_string(n);
  });
  Client client = Client::tcp(server.port());
  std::string all;
  for (int i = 0; i < 20; ++i) all += request_for(std::to_string(i));
  client.send(all);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(client.answer(), "DUNNO " + std::to_string(i));
}

TEST_F(PolicyServerTest, HalfClosedClientStillAnswered) {
  RunningServer server(unix_config(), echo_handler);
  Client client = connect();
  client.send(request_for("a@example.com") + request_for("b@example.com"));
  client.shutdown_write();
  EXPECT_EQ(client.answer(), "DUNNO a@example.com");
  EXPECT_EQ(client.answer(), "DUNNO b@example.com");
  EXPECT_EQ(client.answer(), "EOF");
}

TEST_F(PolicyServerTest, MaxConnectionsRefusesTheNext) {
  PolicyServerConfig config = unix_config();
  config.max_connections = 2;
  RunningServer server(config, echo_handler);
  Client a = connect();
  Client b = connect();
  a.send(request_for("a"));
  b.send(request_for("b"));
  EXPECT_EQ(a.answer(), "DUNNO a");
  EXPECT_EQ(b.answer(), "DUNNO b");
  Client c = connect();  // accepted and closed at once: no send
  EXPECT_EQ(c.answer(), "EOF");
}

TEST_F(PolicyServerTest, IdleConnectionClosed) {
  PolicyServerConfig config = unix_config();
  config.idle_timeout_seconds = 0.2;
  RunningServer server(config, echo_handler);
  Client client = connect();
  client.send(request_for("a"));
  EXPECT_EQ(client.answer(), "DUNNO a");
  EXPECT_EQ(client.answer(2), "EOF");
}

TEST_F(PolicyServerTest, StopAnswersRequestsInProgress) {
  PolicyServerConfig config = unix_config();
  config.request_deadline_seconds = 5;
  auto server = std::make_unique<RunningServer>(config, [](const PolicyRequest&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return std::string("DUNNO late");
  });
  Client client = connect();
  client.send(request_for("a"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto stopping = std::async(std::launch::async, [&server] { server->stop(); });
  EXPECT_EQ(client.answer(), "DUNNO late");
  EXPECT_EQ(client.answer(), "EOF");
  stopping.get();
}

TEST_F(PolicyServerTest, BadSocketIsConfigError) {
  PolicyServerConfig config = unix_config();
  config.socket.path = dir_ + "/no/such/dir/policy.sock";
  EXPECT_THROW(PolicyServer(config, echo_handler), ConfigError);
}

}  // namespace
}  // namespace postern
