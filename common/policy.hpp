// policy.hpp — Postfix's policy delegation protocol (SMTPD_POLICY_README) and the server every
// policy daemon runs. INTERFACE CONTRACT; implementation in policy_request.cpp (parser) and
// policy_server.cpp (Boost.Asio server). A request is "name=value" lines ended by an empty line;
// the reply is "action=..." and an empty line; Postfix keeps connections open and reuses them.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/socket_spec.hpp"

namespace postern {

namespace metrics {
class Registry;
}

/// One request's attributes, keeping Postfix's names (request, protocol_state, client_address,
/// helo_name, sender, recipient, queue_id, instance, sasl_username, ...).
class PolicyRequest {
 public:
  /// Value of attribute `name`, "" when absent (Postfix sends empty values as "name=").
  std::string_view get(std::string_view name) const;
  bool has(std::string_view name) const;
  void set(std::string name, std::string value);
  const std::vector<std::pair<std::string, std::string>>& attributes() const { return attrs_; }

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
class PolicyRequestParser {
 public:
  enum class State { NeedMore, Complete, Error };
  explicit PolicyRequestParser(PolicyLimits limits = {}) : limits_(limits) {}
  /// Consumes bytes from `data` up to the end of one request; sets `consumed`. On Complete,
  /// take() returns the request; on Error, error() says what and where (line number).
  State feed(std::string_view data, size_t& consumed);
  PolicyRequest take();
  const std::string& error() const { return error_; }

 private:
  PolicyLimits limits_;
  std::string line_;
  PolicyRequest current_;
  size_t lines_ = 0, bytes_ = 0;
  std::string error_;
};

/// The daemon's decision for one request: the text after "action=" ("DUNNO",
/// "PREPEND Received-SPF: pass ...", "DEFER_IF_PERMIT 4.7.1 ..."). May throw: a fault.
using PolicyHandler = std::function<std::string(const PolicyRequest&)>;

struct PolicyServerConfig {
  std::string name;  // daemon name for logs and metric names ("spf" -> postern_spf_*)
  SocketSpec socket;
  unsigned socket_mode = 0660;      // unix sockets
  std::string socket_owner;         // unix sockets: chown to this user before the drop
  size_t worker_threads = 4;        // handlers run here (they may block on DNS/LDAP/Redis)
  double request_deadline_seconds = 10;  // past it, answer fault_action and log
  /// Answer when the handler throws or misses the deadline: the daemon's documented fault
  /// behaviour, e.g. "DEFER_IF_PERMIT 4.3.0 Service temporarily unavailable" or "DUNNO".
  std::string fault_action = "DEFER_IF_PERMIT 4.3.0 Service temporarily unavailable";
  PolicyLimits limits;
  metrics::Registry* metrics = nullptr;  // requests, actions, latency, faults (optional)
  std::function<void()> on_listening;    // readiness, privilege drop
};

/// Listen and serve until SIGTERM/SIGINT; returns the exit status. Throws ConfigError when the
/// socket cannot be opened.
int run_policy_server(const PolicyServerConfig& config, PolicyHandler handler);

}  // namespace postern
