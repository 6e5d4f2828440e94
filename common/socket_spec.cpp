// socket_spec.cpp — libmilter socket notation: parsing, printing, binding.
#include "common/socket_spec.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "common/config_error.hpp"
#include "common/fd.hpp"

namespace postern {
namespace {

[[noreturn]] void fail(std::string_view spec, const std::string& why) {
  throw ConfigError("socket '" + std::string(spec) + "': " + why);
}

uint16_t parse_port(std::string_view spec, std::string_view text) {
  if (text.empty()) fail(spec, "missing port");
  if (text.size() > 5) fail(spec, "port '" + std::string(text) + "' is not a number in 1..65535");
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      fail(spec, "port '" + std::string(text) + "' is not a number in 1..65535");
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value < 1 || value > 65535)
    fail(spec, "port " + std::to_string(value) + " is not in 1..65535");
  return static_cast<uint16_t>(value);
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_' || c == ':';
}

std::string parse_host(std::string_view spec, std::string_view text, bool v6) {
  if (v6 && text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty()) fail(spec, "empty host after '@'");
  if (text.size() > 253) fail(spec, "host is longer than 253 characters");
  for (char c : text) {
    if (!is_host_char(c) || (c == ':' && !v6))
      fail(spec, "bad character in host '" + std::string(text) + "'");
  }
  return std::string(text);
}

SocketSpec parse_inet(std::string_view spec, std::string_view rest, bool v6) {
  SocketSpec out;
  out.family = v6 ? SocketSpec::Family::Inet6 : SocketSpec::Family::Inet;
  auto at = rest.find('@');
  out.port = parse_port(spec, rest.substr(0, at));
  if (at != std::string_view::npos) out.host = parse_host(spec, rest.substr(at + 1), v6);
  return out;
}

SocketSpec parse_unix(std::string_view spec, std::string_view path) {
  if (path.empty() || path.front() != '/') fail(spec, "unix socket path must be absolute");
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    fail(spec, "unix socket path is longer than " +
                   std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
  }
  if (path.find('\0') != std::string_view::npos) fail(spec, "NUL byte in unix socket path");
  SocketSpec out;
  out.family = SocketSpec::Family::Unix;
  out.path = std::string(path);
  return out;
}

[[noreturn]] void throw_errno(const SocketSpec& spec, const char* what) {
  throw std::system_error(errno, std::generic_category(),
                          std::string(what) + " " + spec.milter_notation());
}

void set_int_option(const SocketSpec& spec, int fd, int level, int name, const char* what) {
  int on = 1;
  if (::setsockopt(fd, level, name, &on, sizeof on) < 0) throw_errno(spec, what);
}

int listen_unix(const SocketSpec& spec, int backlog) {
  struct stat st {};
  if (::lstat(spec.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(spec.path.c_str());
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw_errno(spec, "socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  spec.path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0)
    throw_errno(spec, "bind");
  if (::listen(fd.get(), backlog) < 0) throw_errno(spec, "listen");
  return fd.release();
}

struct AddrInfoFree {
  void operator()(addrinfo* p) const noexcept { ::freeaddrinfo(p); }
};

int listen_inet(const SocketSpec& spec, int backlog) {
  addrinfo hints{};
  hints.ai_family = spec.family == SocketSpec::Family::Inet6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  std::string port = std::to_string(spec.port);
  int rc =
      ::getaddrinfo(spec.host.empty() ? nullptr : spec.host.c_str(), port.c_str(), &hints, &raw);
  if (rc != 0) {
    throw std::system_error(EADDRNOTAVAIL, std::generic_category(),
                            "resolve " + spec.milter_notation() + ": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, AddrInfoFree> list(raw);
  Fd fd(::socket(list->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw_errno(spec, "socket");
  set_int_option(spec, fd.get(), SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR on");
  set_int_option(spec, fd.get(), IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY on");
  if (::bind(fd.get(), list->ai_addr, list->ai_addrlen) < 0) throw_errno(spec, "bind");
  if (::listen(fd.get(), backlog) < 0) throw_errno(spec, "listen");
  return fd.release();
}

}  // namespace

SocketSpec SocketSpec::parse(std::string_view spec) {
  auto colon = spec.find(':');
  if (colon == std::string_view::npos)
    fail(spec, "expected inet:PORT@HOST, inet6:PORT@HOST or unix:/path");
  std::string_view family = spec.substr(0, colon);
  std::string_view rest = spec.substr(colon + 1);
  if (family == "inet") return parse_inet(spec, rest, false);
  if (family == "inet6") return parse_inet(spec, rest, true);
  if (family == "unix" || family == "local") return parse_unix(spec, rest);
  fail(spec, "unknown family '" + std::string(family) + "' (inet, inet6, unix)");
}

std::string SocketSpec::milter_notation() const {
  switch (family) {
    case Family::Unix:
      return "unix:" + path;
    case Family::Inet6:
      return "inet6:" + std::to_string(port) + (host.empty() ? "" : "@" + host);
    case Family::Inet:
      break;
  }
  return "inet:" + std::to_string(port) + (host.empty() ? "" : "@" + host);
}

std::string SocketSpec::postfix_notation() const {
  switch (family) {
    case Family::Unix:
      return "unix:" + path;
    case Family::Inet6: {
      std::string h = host.empty() ? std::string("::1") : host;
      if (h.find(':') != std::string::npos) h = "[" + h + "]";
      return "inet:" + h + ":" + std::to_string(port);
    }
    case Family::Inet:
      break;
  }
  return "inet:" + (host.empty() ? std::string("127.0.0.1") : host) + ":" + std::to_string(port);
}

int bind_listen(const SocketSpec& spec, int backlog) {
  if (spec.family == SocketSpec::Family::Unix) return listen_unix(spec, backlog);
  return listen_inet(spec, backlog);
}

}  // namespace postern
