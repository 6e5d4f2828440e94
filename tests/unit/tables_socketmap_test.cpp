// tables_socketmap_test.cpp — the socketmap protocol (socketmap_table(5)) in common/socketmap:
// the netstring parser (table-driven, byte by byte, limits, precise errors), request parsing,
// reply forms, and the server over a real TCP socket in-process (persistent connection,
// deadline → TEMP, throwing handler → TEMP, broken netstring closes the connection).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.hpp"
#include "common/socketmap.hpp"

namespace postern {
namespace {

using State = NetstringParser::State;

// Feeds all of `input`; returns the payloads completed and the final state.
State feed_all(NetstringParser& parser, std::string_view input, std::vector<std::string>& out) {
  State state = State::NeedMore;
  while (!input.empty()) {
    size_t used = 0;
    state = parser.feed(input, used);
    input.remove_prefix(used);
    if (state == State::Error) return state;
    if (state == State::Complete) out.push_back(parser.take());
  }
  return state;
}

TEST(Netstring, ParsesGoodNetstrings) {
  struct Case {
    std::string input;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"12:hello world!,", {"hello world!"}},
      {"0:,", {""}},
      {"3:a,b,1:c,", {"a,b", "c"}},
      {std::string("5:a\0b:,,", 8), {std::string("a\0b:,", 5)}},
      {"13:psa 192.0.2.1,", {"psa 192.0.2.1"}},
  };
  for (const Case& c : cases) {
    NetstringParser whole(1000), bytewise(1000);
    std::vector<std::string> got, got_bytewise;
    EXPECT_EQ(feed_all(whole, c.input, got), State::Complete) << c.input;
    EXPECT_EQ(got, c.want) << c.input;
    for (char ch : c.input) feed_all(bytewise, std::string_view(&ch, 1), got_bytewise);
    EXPECT_EQ(got_bytewise, c.want) << "byte by byte: " << c.input;
  }
}

TEST(Netstring, RefusesBadNetstringsWithPreciseErrors) {
  struct Case {
    std::string input;
    std::string want_error;
  };
  const std::vector<Case> cases = {
      {":abc,", "netstring: empty length before ':' at byte 0"},
      {"01:a,", "netstring: length has a leading zero"},
      {"1x:a,", "netstring: byte 1 of the length is not a digit or ':'"},
      {"-1:a,", "netstring: byte 0 of the length is not a digit or ':'"},
      {"3:abcd", "netstring: byte 5 after the payload of 3 bytes is not ','"},
      {"11:", "netstring: length 11... is over the limit of 10 bytes"},
      {"99999999999999999999999:", "netstring: length 99... is over the limit of 10 bytes"},
  };
  for (const Case& c : cases) {
    NetstringParser parser(10);
    std::vector<std::string> got;
    EXPECT_EQ(feed_all(parser, c.input, got), State::Error) << c.input;
    EXPECT_EQ(parser.error(), c.want_error) << c.input;
    size_t used = 0;
    EXPECT_EQ(parser.feed("1:a,", used), State::Error) << "an error is final";
  }
}

TEST(Netstring, LimitAllowsExactlyTheCap) {
  NetstringParser parser(10);
  std::vector<std::string> got;
  EXPECT_EQ(feed_all(parser, "10:0123456789,", got), State::Complete);
  EXPECT_EQ(got, std::vector<std::string>{"0123456789"});
  EXPECT_EQ(netstring("0123456789"), "10:0123456789,");
  EXPECT_EQ(netstring(""), "0:,");
}

TEST(SocketmapRequest, SplitsAtFirstSpaceAndChecksKeySize) {
  SocketmapLimits limits;
  limits.max_key_bytes = 8;
  SocketmapRequest request;
  EXPECT_EQ(parse_socketmap_request("valias sales@ex", limits, request), "");
  EXPECT_EQ(request.name, "valias");
  EXPECT_EQ(request.key, "sales@ex");
  EXPECT_EQ(parse_socketmap_request("hlo a b c", limits, request), "");
  EXPECT_EQ(request.key, "a b c") << "the key keeps its spaces";
  EXPECT_EQ(parse_socketmap_request("psa ", limits, request), "");
  EXPECT_EQ(request.key, "");
  EXPECT_EQ(parse_socketmap_request("psa", limits, request), "no space between map name and key");
  EXPECT_EQ(parse_socketmap_request(" key", limits, request), "empty map name");
  EXPECT_EQ(parse_socketmap_request("m 123456789", limits, request),
            "key of 9 bytes is longer than the limit of 8");
  EXPECT_EQ(parse_socketmap_request(std::string("m a\0b", 5), limits, request),
            "NUL byte in the request");
}

TEST(SocketmapReply, Forms) {
  EXPECT_EQ(SocketmapReply::ok("permit").to_string(), "OK permit");
  EXPECT_EQ(SocketmapReply::not_found().to_string(), "NOTFOUND ");
  EXPECT_EQ(SocketmapReply::temp("redis down").to_string(), "TEMP redis down");
  EXPECT_EQ(SocketmapReply::perm("unknown map 'x'").to_string(), "PERM unknown map 'x'");
  EXPECT_EQ((SocketmapReply{SocketmapReply::Status::Timeout, "slow"}).to_string(), "TIMEOUT slow");
}

// ---- server ----------------------------------------------------------------------------------

class SocketmapServerTest : public ::testing::Test {
 protected:
  void start(SocketmapHandler handler, double deadline = 2) {
    SocketmapServerConfig config;
    config.name = "test";
    config.socket = SocketSpec{};  // inet, port 0: any free port on 127.0.0.1
    config.request_deadline_seconds = deadline;
    config.worker_threads = 2;
    config.limits.max_request_bytes = 100;
    config.metrics = &registry_;
    server_ = std::make_unique<SocketmapServer>(config, std::move(handler));
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  int connect_client() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(server_->port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }
  static void send_all(int fd, const std::string& data) {
    ASSERT_EQ(::send(fd, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  // One netstring reply; "<closed>" when the server closed the connection first.
  static std::string read_reply(int fd) {
    NetstringParser parser(200000);
    char buf[512];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return "<closed>";
      size_t used = 0;
      if (parser.feed(std::string_view(buf, static_cast<size_t>(n)), used) ==
          NetstringParser::State::Complete) {
        return parser.take();
      }
    }
  }
  std::string ask(int fd, const std::string& request) {
    send_all(fd, netstring(request));
    return read_reply(fd);
  }

  metrics::Registry registry_;
  std::unique_ptr<SocketmapServer> server_;
  std::thread thread_;
};

SocketmapReply echo(const std::string& name, const std::string& key) {
  if (key == "missing") return SocketmapReply::not_found();
  return SocketmapReply::ok(name + ":" + key);
}

TEST_F(SocketmapServerTest, PersistentConnectionManyRequests) {
  start(echo);
  int fd = connect_client();
  EXPECT_EQ(ask(fd, "psa 192.0.2.1"), "OK psa:192.0.2.1");
  EXPECT_EQ(ask(fd, "psa missing"), "NOTFOUND ");
  EXPECT_EQ(ask(fd, "nospace"), "PERM no space between map name and key");
  EXPECT_EQ(ask(fd, "vali a@example.com"), "OK vali:a@example.com");
  ::close(fd);
  std::string text = registry_.render();
  EXPECT_NE(text.find("postern_test_socketmap_requests_total 4"), std::string::npos) << text;
  EXPECT_NE(text.find("postern_test_socketmap_replies_total{status=\"OK\"} 2"), std::string::npos)
      << text;
}

TEST_F(SocketmapServerTest, SlowAndThrowingLookupsAnswerTemp) {
  start(
      [](const std::string&, const std::string& key) {
        if (key == "slow") std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        if (key == "throw") throw std::runtime_error("backend exploded");
        if (key == "huge") return SocketmapReply::ok(std::string(kSocketmapMaxReplyBytes + 1, 'x'));
        return SocketmapReply::ok("fine");
      },
      0.3);
  int fd = connect_client();
  EXPECT_EQ(ask(fd, "m slow"), "TEMP lookup failed or timed out");
  EXPECT_EQ(ask(fd, "m throw"), "TEMP lookup failed or timed out");
  EXPECT_EQ(ask(fd, "m huge"), "TEMP lookup failed or timed out");
  EXPECT_EQ(ask(fd, "m ok"), "OK fine") << "the connection serves on after faults";
  ::close(fd);
}

TEST_F(SocketmapServerTest, BrokenOrOversizedNetstringClosesConnection) {
  start(echo);
  int fd = connect_client();
  send_all(fd, "5:psa x;");
  EXPECT_EQ(read_reply(fd), "<closed>");
  ::close(fd);
  fd = connect_client();
  send_all(fd, "101:");
  EXPECT_EQ(read_reply(fd), "<closed>");
  ::close(fd);
  fd = connect_client();
  EXPECT_EQ(ask(fd, "psa ok"), "OK psa:ok") << "other connections unaffected";
  ::close(fd);
}

}  // namespace
}  // namespace postern
