// common_socket_spec_test.cpp — libmilter socket notation: parse, print, bind_listen.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <system_error>

#include "common/config_error.hpp"
#include "common/socket_spec.hpp"

namespace postern {
namespace {

using Family = SocketSpec::Family;

TEST(SocketSpecParse, Good) {
  struct Case {
    std::string spec;
    Family family;
    std::string host;
    uint16_t port;
    std::string path, milter, postfix;
  } cases[] = {
      {"inet:8891@127.0.0.1", Family::Inet, "127.0.0.1", 8891, "", "inet:8891@127.0.0.1",
       "inet:127.0.0.1:8891"},
      {"inet:8891", Family::Inet, "", 8891, "", "inet:8891", "inet:127.0.0.1:8891"},
      {"inet:1@localhost", Family::Inet, "localhost", 1, "", "inet:1@localhost",
       "inet:localhost:1"},
      {"inet:65535@0.0.0.0", Family::Inet, "0.0.0.0", 65535, "", "inet:65535@0.0.0.0",
       "inet:0.0.0.0:65535"},
      {"inet6:8891@::1", Family::Inet6, "::1", 8891, "", "inet6:8891@::1", "inet:[::1]:8891"},
      {"inet6:8891@[::1]", Family::Inet6, "::1", 8891, "", "inet6:8891@::1", "inet:[::1]:8891"},
      {"inet6:8891", Family::Inet6, "", 8891, "", "inet6:8891", "inet:[::1]:8891"},
      {"unix:/run/postern/dkim.sock", Family::Unix, "", 0, "/run/postern/dkim.sock",
       "unix:/run/postern/dkim.sock", "unix:/run/postern/dkim.sock"},
      {"local:/tmp/x", Family::Unix, "", 0, "/tmp/x", "unix:/tmp/x", "unix:/tmp/x"},
  };
  for (const auto& c : cases) {
    SocketSpec s = SocketSpec::parse(c.spec);
    EXPECT_EQ(s.family, c.family) << c.spec;
    EXPECT_EQ(s.host, c.host) << c.spec << ": got host " << s.host << ", want " << c.host;
    EXPECT_EQ(s.port, c.port) << c.spec << ": got port " << s.port << ", want " << c.port;
    EXPECT_EQ(s.path, c.path) << c.spec;
    EXPECT_EQ(s.milter_notation(), c.milter)
        << c.spec << ": got " << s.milter_notation() << ", want " << c.milter;
    EXPECT_EQ(s.postfix_notation(), c.postfix)
        << c.spec << ": got " << s.postfix_notation() << ", want " << c.postfix;
  }
}

TEST(SocketSpecParse, Bad) {
  struct Case {
    std::string spec, message_part;
  } cases[] = {
      {"", "expected inet:"},
      {"8891", "expected inet:"},
      {"tcp:8891", "unknown family 'tcp'"},
      {"inet:", "missing port"},
      {"inet:@127.0.0.1", "missing port"},
      {"inet:0", "not in 1..65535"},
      {"inet:65536", "not in 1..65535"},
      {"inet:123456", "not a number"},
      {"inet:88x1", "not a number"},
      {"inet:-1", "not a number"},
      {"inet:+80", "not a number"},
      {"inet:8891@", "empty host"},
      {"inet:8891@::1", "bad character"},
      {"inet:8891@127.0.0.1 ", "bad character"},
      {"inet:8891@host/x", "bad character"},
      {"unix:relative/path", "absolute"},
      {"unix:", "absolute"},
      {"unix:/" + std::string(200, 'a'), "longer than"},
  };
  for (const auto& c : cases) {
    try {
      SocketSpec::parse(c.spec);
      ADD_FAILURE() << "'" << c.spec << "': got success, want ConfigError containing "
                    << c.message_part;
    } catch (const ConfigError& e) {
      std::string got = e.what();
      EXPECT_NE(got.find(c.message_part), std::string::npos)
          << "got " << got << ", want it to contain " << c.message_part;
      EXPECT_NE(got.find("'" + c.spec + "'"), std::string::npos)
          << "got " << got << ", want the spec named";
    }
  }
}

// A loopback TCP socket bound to a kernel-chosen port, listening when `listening`.
int ephemeral_socket(bool listening) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0) return -1;
  if (listening) listen(fd, 4);
  return fd;
}

int bound_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

TEST(BindListen, TcpNodelayInheritedByAcceptedSocket) {
  // Find a free port by binding port 0 first, then bind through the spec.
  int probe = ephemeral_socket(false);
  ASSERT_GE(probe, 0);
  int port = bound_port(probe);
  close(probe);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  int listener = bind_listen(SocketSpec::parse("inet:" + std::to_string(port) + "@127.0.0.1"), 8);
  ASSERT_GE(listener, 0);
  int client = socket(AF_INET, SOCK_STREAM, 0);
  any.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  int accepted = accept(listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  int nodelay = 0;
  socklen_t len = sizeof nodelay;
  ASSERT_EQ(getsockopt(accepted, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  EXPECT_NE(nodelay, 0) << "got TCP_NODELAY off on the accepted socket, want on";
  close(accepted);
  close(client);
  close(listener);
}

TEST(BindListen, UnixReplacesStaleSocket) {
  std::string path = testing::TempDir() + "/postern-bind-test.sock";
  SocketSpec spec = SocketSpec::parse("unix:" + path);
  int first = bind_listen(spec, 4);
  close(first);  // leaves the socket file behind, as a crashed daemon would
  int second = bind_listen(spec, 4);
  EXPECT_GE(second, 0);
  close(second);
  unlink(path.c_str());
}

TEST(BindListen, PortInUseThrows) {
  int a = ephemeral_socket(true);
  ASSERT_GE(a, 0);
  int port = bound_port(a);
  EXPECT_THROW(bind_listen(SocketSpec::parse("inet:" + std::to_string(port) + "@127.0.0.1"), 4),
               std::system_error);
  close(a);
}

}  // namespace
}  // namespace postern
