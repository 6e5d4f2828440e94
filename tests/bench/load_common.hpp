// load_common.hpp — what the load generators policy_load and socketmap_load share: opening a
// client connection from a Postfix-style socket spec, sending a whole request, and the
// summary line of latencies. Plain POSIX sockets, no Postern code (the clients must not share
// the servers' bugs).
#pragma once

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace load {

/// A connected stream socket for "unix:PATH" or "inet:HOST:PORT" (HOST may be "[v6]"), with
/// TCP_NODELAY on TCP; -1 when the spec is malformed or no address accepts the connection.
inline int connect_to(const std::string& spec) {
  if (spec.rfind("unix:", 0) == 0) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::string path = spec.substr(5);
    if (path.size() >= sizeof sa.sun_path) return -1;
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  if (spec.rfind("inet:", 0) != 0) return -1;
  std::string hp = spec.substr(5);
  auto colon = hp.rfind(':');
  if (colon == std::string::npos) return -1;
  std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return -1;
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd >= 0) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

/// Sends all of `data` (retrying short writes and EINTR); false when the connection fails.
inline bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

/// Prints the common part of the summary line, without a line end: "requests=N errors=N
/// seconds=S rps=R p50_ms=… p99_ms=… max_ms=…". `latency_us`: one send → reply time per
/// answered request, in microseconds (sorted here); percentiles are the nearest rank, 0 when
/// there are none. `seconds`: the run's wall time.
inline void print_summary(std::vector<uint32_t>& latency_us, long errors, double seconds) {
  std::sort(latency_us.begin(), latency_us.end());
  auto pct = [&](double p) -> double {
    if (latency_us.empty()) return 0.0;
    size_t i = static_cast<size_t>(p * static_cast<double>(latency_us.size() - 1) + 0.5);
    return latency_us[i] / 1000.0;
  };
  std::printf(
      "requests=%zu errors=%ld seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f "
      "max_ms=%.3f",
      latency_us.size(), errors, seconds, static_cast<double>(latency_us.size()) / seconds,
      pct(0.50), pct(0.99), latency_us.empty() ? 0.0 : latency_us.back() / 1000.0);
}

}  // namespace load
