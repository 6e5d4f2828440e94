// stream_server.hpp — the request/answer stream server under the policy server (policy.hpp)
// and the socketmap server (socketmap.hpp): Boost.Asio, one io thread, persistent connections
// with pipelined requests answered in order, a worker pool for handlers that block (DNS, LDAP,
// Redis), a per-request deadline that answers the protocol's fault answer, idle and connection
// caps, metrics. The protocol (framing, fault answer, names in logs and metrics) is a
// StreamProtocol; the server knows no protocol.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/socket_spec.hpp"

namespace postern {

namespace metrics {
class Registry;
}

/// One request read off a connection, ready to run: `work` runs on a worker thread and returns
/// the answer (unframed); it may throw (a fault). `log_value` names the request in fault logs
/// under StreamProtocol::log_key (the policy queue_id, the socketmap map name); may be "".
struct StreamRequest {
  std::function<std::string()> work;
  std::string log_value;
};

/// Incremental request parser, one per connection. Nothing here may throw except
/// std::bad_alloc.
class StreamParser {
 public:
  enum class State { NeedMore, Complete, Error };
  virtual ~StreamParser() = default;
  /// Consumes bytes from `data` up to the end of one request; sets `consumed` (all of `data`
  /// on NeedMore). On Complete, take() returns the request; an Error is final.
  virtual State feed(std::string_view data, size_t& consumed) = 0;
  /// The request completed by the last feed().
  virtual StreamRequest take() = 0;
  /// Why the last feed() returned Error (what and where); "" otherwise.
  virtual const std::string& error() const = 0;
};

/// What makes the stream server speak one protocol.
struct StreamProtocol {
  std::string event;          // log event prefix: "policy" → policy-timeout, policy-error, ...
  std::string metric_prefix;  // "postern_spf_policy" → postern_spf_policy_requests_total, ...
  std::string log_key = "queue_id";     // key of StreamRequest::log_value in fault logs
  std::string answer_key = "action";    // key of the answer in fault logs
  std::string answer_label = "action";  // label of <metric_prefix>_<answers_metric>
  std::string answers_metric = "actions_total";
  std::string fault_answer;  // the answer on a fault (handler threw, deadline passed)
  std::function<std::unique_ptr<StreamParser>()> make_parser;
  /// The bytes sent for an answer ("action=DUNNO\n\n", a netstring).
  std::function<std::string(const std::string& answer)> frame;
  /// Why an answer cannot be sent as is ("" when it can): then it counts as a fault.
  std::function<std::string(const std::string& answer)> check_answer;
  /// The metric label value for an answer; a small fixed set ("other" for the rest).
  std::function<std::string(const std::string& answer)> label;
};

struct StreamServerConfig {
  SocketSpec socket;
  unsigned socket_mode = 0660;           // unix sockets
  std::string socket_owner;              // unix sockets: chown to this user before the drop
  size_t worker_threads = 4;             // handlers run here
  double request_deadline_seconds = 10;  // past it, answer the fault answer and log
  metrics::Registry* metrics = nullptr;  // requests, answers, latency, faults (optional)
  std::function<void()> on_listening;    // readiness, privilege drop
  double idle_timeout_seconds = 330;     // no request in progress, nothing read or written
  size_t max_connections = 500;          // one more is accepted and closed at once
  /// (Addition) Run each request on the io thread as it is read, not on the worker pool: for
  /// handlers that never block (memory-mapped lookups), it saves two thread hand-offs per
  /// request. An inline request cannot be preempted: the deadline then only bounds queued
  /// work — a request whose run took longer than the deadline is answered with the fault
  /// answer (log "<event>-timeout"), and it delays every other connection while it runs.
  bool inline_requests = false;
  /// (Addition) Threads that serve connections, each connection on one of them (round-robin
  /// at accept): with inline_requests, more than one lets handlers use more than one core
  /// (they must then be thread-safe, as worker handlers are). 1..64.
  size_t io_threads = 1;
};

/// The server; PolicyServer (policy.hpp) and SocketmapServer (socketmap.hpp) are this server
/// made with their protocol and add no state. Threads: the caller of run() owns the listening
/// socket; connections are served by config.io_threads io threads (with 1, the caller of run()
/// serves them too); requests run on config.worker_threads workers, or inline on the io
/// threads. Per request: its answer, or the fault answer (log "<event>-error") when it throws
/// or its answer fails check_answer, or (log "<event>-timeout") when it has not returned
/// within the request deadline of being read (its late result is dropped). Answers on one
/// connection go out in request order. A malformed or oversized request logs
/// "<event>-bad-request" and closes the connection without an answer.
/// Metrics (with config.metrics), named <metric_prefix>_: requests_total,
/// <answers_metric>{<answer_label>} (answers sent, by StreamProtocol::label),
/// faults_total{kind="error"|"timeout"|"bad_request"}, seconds (a histogram: request read to
/// answer queued), connections (a gauge).
class StreamServer {
 public:
  /// Binds config.socket (a unix socket gets config.socket_mode and config.socket_owner), then
  /// calls config.on_listening. Throws ConfigError when the socket cannot be opened.
  StreamServer(StreamServerConfig config, StreamProtocol protocol);
  /// Stops the workers, waiting for requests still running to return.
  ~StreamServer();
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  /// The bound TCP port (useful with port 0 in tests); 0 for a unix socket.
  uint16_t port() const;
  /// Serves on the calling thread until stop() (or SIGTERM/SIGINT when `stop_on_signals`).
  /// On stop: no new connections or requests; requests in progress are answered (at the
  /// latest at their deadline) while the grace period (the request deadline + 1 s) lasts.
  /// Returns 0. Call once.
  int run(bool stop_on_signals = false);
  /// Asks run() to stop as above. Thread-safe; no effect once stopped.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Metric names allow [a-zA-Z0-9_:]: "postern-spf" → "postern_spf", "spf" → "postern_spf".
std::string metric_name_prefix(const std::string& daemon_name);

}  // namespace postern
