// policy.hpp — Postfix's policy delegation protocol (SMTPD_POLICY_README) and the server every
// policy daemon runs. INTERFACE CONTRACT; implementation in policy_request.cpp (parser) and
// policy_server.cpp (the protocol on the stream server, stream_server.hpp). A request is
// "name=value" lines ended by an empty line; the reply is "action=..." and an empty line; Postfix
// keeps connections open and reuses them. Source: Postfix SMTPD_POLICY_README ("Protocol
// description").
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/stream_server.hpp"

namespace postern {

/// One request's attributes, keeping Postfix's names (request, protocol_state, client_address,
/// helo_name, sender, recipient, queue_id, instance, sasl_username, ...).
class PolicyRequest {
 public:
  /// Value of attribute `name`, "" when absent (Postfix sends empty values as "name=").
  std::string_view get(std::string_view name) const;
  /// True when attribute `name` was sent (even with an empty value).
  bool has(std::string_view name) const;
  /// Sets attribute `name`: replaces its value when present, else appends it (order kept).
  void set(std::string name, std::string value);
  /// Every attribute in the order received.
  const std::vector<std::pair<std::string, std::string>>& attributes() const { return attrs_; }
  /// (Addition) The request in protocol form: "name=value\n" per attribute, then "\n". For
  /// clients and tests; the parser reads it back to the same attributes when no name holds '='
  /// or a line break and no value holds a line break.
  std::string serialize() const;

 private:
  std::vector<std::pair<std::string, std::string>> attrs_;
};

/// Caps on what a client may send; a request over any of them is refused (log line, connection
/// closed, no action sent — so Postfix answers with its own default, never a silent accept).
struct PolicyLimits {
  size_t max_line_bytes = 4096;
  size_t max_attributes = 100;
  size_t max_request_bytes = 65536;
};

/// Incremental parser: feed bytes as they arrive, take complete requests out.
/// Lines end in "\n" or "\r\n"; an attribute line is "name=value" split at the first '='
/// (values may hold '='); an empty line ends the request. Errors (each names the line number,
/// 1-based within the request): a line without '=', an empty name, a NUL byte, a CR that
/// does not end the line, a repeated name, an empty request, and any PolicyLimits cap exceeded
/// (line bytes without the line end, attribute count, request bytes with line ends). An error is
/// final: feed() keeps returning Error. Nothing here throws except std::bad_alloc.
class PolicyRequestParser {
 public:
  using State = StreamParser::State;  // NeedMore, Complete, Error
  explicit PolicyRequestParser(PolicyLimits limits = {}) : limits_(limits) {}
  /// Consumes bytes from `data` up to the end of one request; sets `consumed` (bytes used,
  /// <= data.size(); all of it on NeedMore). On Complete, take() returns the request and the
  /// next feed() starts a new one; on Error, error() says what and where (line number).
  State feed(std::string_view data, size_t& consumed);
  /// The request completed by the last feed(); leaves the parser ready for the next one.
  PolicyRequest take();
  /// Why the last feed() returned Error ("line 3: no '=' in attribute line"); "" otherwise.
  const std::string& error() const { return error_; }

 private:
  State end_of_line();  // line_ holds a whole line: end the request or add an attribute

  PolicyLimits limits_;
  std::string line_;
  PolicyRequest current_;
  size_t lines_ = 0, bytes_ = 0;
  std::string error_;
};

/// The daemon's decision for one request: the text after "action=" ("DUNNO",
/// "PREPEND Received-SPF: pass ...", "DEFER_IF_PERMIT 4.7.1 ..."). May throw: a fault.
/// Runs on the worker threads, several at once: it must be thread-safe. An empty action or
/// one holding a line break counts as a fault (it would corrupt the protocol).
using PolicyHandler = std::function<std::string(const PolicyRequest&)>;

/// The policy server's settings: the stream server's (StreamServerConfig: socket, threads,
/// deadline, limits on idle time and connections, metrics, ...) and the policy protocol's.
/// Two defaults come from Postfix: idle_timeout_seconds 330, a little longer than Postfix's own
/// smtpd_policy_service_max_idle (300 s); past max_connections (500) a connection is accepted
/// and closed, and Postfix applies smtpd_policy_service_default_action (a 4xx by default).
/// Handlers may block on DNS, LDAP or Redis on the worker threads; inline_requests is only for
/// a handler that never blocks.
struct PolicyServerConfig : StreamServerConfig {
  std::string name;  // daemon name for logs and metric names ("spf" -> postern_spf_*)
  /// Answer when the handler throws, returns a bad action or misses the deadline: the daemon's
  /// documented fault behaviour, e.g. "DEFER_IF_PERMIT 4.3.0 Service temporarily unavailable"
  /// or "DUNNO".
  std::string fault_action = "DEFER_IF_PERMIT 4.3.0 Service temporarily unavailable";
  PolicyLimits limits;
};

/// (Addition) The policy server: the stream server (stream_server.hpp: threads, deadline,
/// stop and grace, port(), run(), stop()) speaking the policy protocol. The answer is
/// "action=<handler's action>\n\n", or config.fault_action on a fault. Logs "policy-error",
/// "policy-timeout" (with queue_id= and action=), "policy-bad-request"; metrics
/// postern_<name>_policy_*, answers as actions_total{action} (the action's first word when it
/// is a Postfix access(5) action or an SMTP code, else "other"). run_policy_server() is this
/// plus SIGTERM/SIGINT handling.
class PolicyServer : public StreamServer {
 public:
  /// Binds config.socket, then calls config.on_listening. Throws ConfigError when the socket
  /// cannot be opened or `handler` is empty.
  PolicyServer(PolicyServerConfig config, PolicyHandler handler);
};

/// Listen and serve until SIGTERM/SIGINT; returns the exit status. Throws ConfigError when the
/// socket cannot be opened.
int run_policy_server(const PolicyServerConfig& config, PolicyHandler handler);

}  // namespace postern
