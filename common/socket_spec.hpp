// socket_spec.hpp — listening socket addresses in libmilter's notation, used by every daemon's
// --socket: "inet:PORT@HOST", "inet6:PORT@HOST", "unix:/path" (also "local:/path").
// HOST may be omitted ("inet:8891" = all IPv4 addresses); an IPv6 HOST may be bracketed
// ("inet6:8891@[::1]", stored without brackets). Ports are decimal numbers, not service names.
// Parse errors throw ConfigError.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace postern {

struct SocketSpec {
  enum class Family { Inet, Inet6, Unix };
  Family family = Family::Inet;
  std::string host;   // numeric address or name; "" = any (inet/inet6 only)
  uint16_t port = 0;  // 1..65535 (inet/inet6 only)
  std::string path;   // unix only, absolute

  /// Parses libmilter notation. Throws ConfigError naming the spec and what is wrong
  /// (unknown family, port not a number in 1..65535, trailing junk, relative unix path).
  static SocketSpec parse(std::string_view spec);
  /// libmilter notation, as accepted by smfi_setconn ("inet:8891@127.0.0.1").
  std::string milter_notation() const;
  /// Postfix notation for main.cf ("inet:127.0.0.1:8891", "inet:[::1]:8891", "unix:/path").
  /// An any-address spec gives the loopback address, where a local Postfix would connect.
  std::string postfix_notation() const;
};

/// Binds and listens on `spec` with `backlog` pending connections; returns the listening fd
/// (close-on-exec, owned by the caller). A stale unix socket at the path is unlinked first
/// (only if it is a socket); TCP sockets get SO_REUSEADDR and TCP_NODELAY (accepted
/// connections inherit it on Linux). Throws std::system_error naming the spec.
int bind_listen(const SocketSpec& spec, int backlog);

}  // namespace postern
