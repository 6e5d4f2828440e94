// redis.hpp — a synchronous Redis client over hiredis for the policy daemons' worker pools:
// URL parsing, a small connection pool (one connection per concurrent caller), connect and
// command timeouts, automatic reconnect, Sentinel master discovery and failover, and an
// outage tracker that logs one line when a backend goes down and one when it recovers.
// Faults (connection refused, timeout, protocol error, error reply) throw RedisError; callers
// map them to their fault action. Bad URLs throw ConfigError (what, where, why).
// Sources: Redis protocol (RESP), https://redis.io/docs/latest/develop/reference/sentinel-clients/
// (Sentinel client guidelines: ask SENTINEL get-master-addr-by-name, verify with ROLE,
// re-ask on connection errors and on READONLY).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace postern::metrics {
class Gauge;
class Counter;
}  // namespace postern::metrics

namespace postern::redis {

/// One host:port (TCP) or a unix socket path.
struct Endpoint {
  std::string host;       // TCP host name or address (IPv6 without brackets); "" for unix
  uint16_t port = 6379;   // TCP port
  std::string unix_path;  // unix socket path; "" for TCP
  /// "host:port", "[v6]:port" or "unix:/path" — for logs.
  std::string to_string() const;
};

/// A parsed Redis URL.
///   redis://[[user]:password@]host[:port][/db]      (port 6379, db 0 by default)
///   unix:/path/to/redis.sock[?db=N&password=P]     (also redis+unix:// and unix:// forms)
///   redis-sentinel://[:password@]host[:port][,host[:port]...]/mastername[/db]
///                                                   (sentinel port 26379 by default)
/// IPv6 hosts are written in brackets: redis://[::1]:6379/0.
struct Url {
  enum class Kind { Tcp, Unix, Sentinel };
  Kind kind = Kind::Tcp;
  Endpoint server;                  // Tcp and Unix: the server
  std::vector<Endpoint> sentinels;  // Sentinel: where to ask for the master
  std::string master_name;          // Sentinel: the monitored master's name
  std::string username;             // AUTH username (Redis 6 ACL); "" = default user
  std::string password;             // AUTH password; "" = no AUTH
  int db = 0;                       // SELECT db (0..) after connecting
  /// The URL without its password, for logs.
  std::string redacted() const;
};

/// Parses `text` as above. Throws ConfigError naming the part that is wrong, e.g.
/// "redis URL \"redis://h:x/0\": port \"x\" is not a number in 1..65535".
Url parse_url(std::string_view text);

/// A fault talking to Redis: cannot connect, timeout, connection lost, protocol error, an
/// error reply ("ERR ...", "READONLY ...", "NOAUTH ..."), or no master known to Sentinel.
class RedisError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One reply, converted from hiredis's redisReply (RESP2 types).
struct Reply {
  enum class Type { Nil, Status, String, Integer, Array };
  Type type = Type::Nil;
  std::string str;              // Status and String
  long long integer = 0;        // Integer
  std::vector<Reply> elements;  // Array

  bool is_nil() const { return type == Type::Nil; }
};

/// Client settings. Timeouts are in seconds (fractions allowed, > 0).
struct Options {
  double connect_timeout_seconds = 1.0;  // TCP/unix connect, per attempt (and per sentinel)
  double command_timeout_seconds = 1.0;  // each command's send + reply
  size_t pool_size = 4;                  // connections at most; callers beyond wait
  /// After a failed connect, commands fail at once for this long instead of trying again, so
  /// a dead backend costs callers nothing (0 = always try).
  double retry_interval_seconds = 0.5;
  std::string name = "redis";  // backend name in log lines ("greylist-store")
};

/// Logs "backend-down backend=NAME server=HOST:PORT reason=..." (warning) on the first failure
/// after a success (or at start) and "backend-up backend=NAME server=HOST:PORT down_seconds=..."
/// (info) on the first success after failures, the fields of the LDAP client's outage lines
/// (ldap.hpp); server= is left out when not given (a backend that is no server: LMDB). Sets an
/// optional 0/1 gauge and counts outages. Thread-safe.
class OutageTracker {
 public:
  explicit OutageTracker(std::string backend, metrics::Gauge* up = nullptr,
                         metrics::Counter* outages = nullptr);
  /// Records a failure of `server` ("" = none named); logs only on the transition up → down.
  void failure(std::string_view reason, std::string_view server = {});
  /// Records a success of `server`; logs only on the transition down → up.
  void success(std::string_view server = {});
  /// True while the last recorded event was a failure (lock-free: callers may ask per request).
  bool down() const;

 private:
  std::string backend_;
  metrics::Gauge* up_;
  metrics::Counter* outages_;
  mutable std::mutex mutex_;
  bool down_ = false;
  std::atomic<bool> down_flag_{false};  // down_, readable without the mutex
  std::chrono::steady_clock::time_point since_{};
};

class Connection;  // one hiredis context (redis.cpp)

/// A pooled, synchronous client. Thread-safe: each call borrows one connection for its
/// duration. The constructor does not connect (the daemon starts even with Redis down);
/// connections open on first use and reopen after any fault. With Sentinel the master is
/// asked for before connecting, checked with ROLE, and asked for again after a connection
/// fault or a READONLY reply (a failover); a command that got READONLY is retried once on
/// the new master. The first client ignores SIGPIPE process-wide when it is at its default
/// (hiredis writes with write(2); a server gone away must not kill the daemon). Set `tracker` to
/// log outages (not owned; must outlive the client).
class Client {
 public:
  Client(Url url, Options options, OutageTracker* tracker = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Runs one command, e.g. command({"SET", key, value, "PX", "1000"}). Throws RedisError on
  /// any fault, including an error reply.
  Reply command(const std::vector<std::string_view>& args);
  /// Runs several commands in one round trip (pipelined, not atomic; wrap in MULTI/EXEC for
  /// atomicity) and returns their replies in order. Throws RedisError if any fails.
  std::vector<Reply> pipeline(const std::vector<std::vector<std::string_view>>& commands);
  /// Where commands go now ("127.0.0.1:6379"; with Sentinel the last master found, or "").
  std::string current_server() const;
  const Url& url() const { return url_; }

 private:
  std::unique_ptr<Connection> borrow();
  void give_back(std::unique_ptr<Connection> connection);
  std::unique_ptr<Connection> open();
  Endpoint resolve_master();
  std::vector<Reply> run(const std::vector<std::vector<std::string_view>>& commands);

  Url url_;
  Options options_;
  OutageTracker* tracker_;
  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;  // connections lent out or idle, including slots being opened
  std::optional<Endpoint> master_;
  std::chrono::steady_clock::time_point connect_failed_at_{};
  std::string connect_error_;
  uint64_t generation_ = 0;  // bumped on each failover: older connections are dropped
};

}  // namespace postern::redis
