// metrics_server.hpp — the --metrics-listen HTTP/1.1 endpoint every daemon shares: GET /metrics
// (Prometheus text format 0.0.4 from a metrics::Registry) and GET /healthz (200 "ok\n" or 503
// with the reasons, from a metrics::Health). Other paths 404, other methods 405.
// Runs on its own thread (Boost.Asio/Beast); keep-alive; requests capped (8 KiB header, 1 KiB
// body), idle connections closed after 60 s, at most 64 connections at a time. A bad or broken
// connection is closed and never stops the server.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/metrics.hpp"

namespace postern::metrics {

/// HOST and PORT of a --metrics-listen value.
struct ListenAddress {
  std::string host;  // IPv4/IPv6 literal (brackets removed) or a name
  uint16_t port = 0;
};

/// "127.0.0.1:9101", "[::1]:9101", "::1:9101" (last colon splits), "localhost:9101".
/// Port 0..65535 (0: any free port, for tests). Throws postern::ConfigError otherwise.
ListenAddress parse_listen_address(const std::string& text);

/// The answer to one request, before HTTP framing.
struct HttpAnswer {
  unsigned status = 200;
  std::string content_type;
  std::string body;
};

/// Routing, without sockets: `method` as sent ("GET"), `target` the request target
/// ("/metrics?x" is /metrics). Runs health checks for /healthz. Never throws a check's error.
HttpAnswer answer_request(std::string_view method, std::string_view target,
                          const Registry& registry, const Health& health);

class MetricsServer {
 public:
  /// Resolves and binds `listen` (see parse_listen_address; a name binds its first address
  /// that works) and starts serving on a new thread. The thread blocks all signals, so signal
  /// handling (libmilter's sigwait thread) is unaffected. `registry` and `health` must outlive
  /// the server. Throws postern::ConfigError when the address is bad or cannot be bound:
  /// "cannot listen on 127.0.0.1:9101: Address already in use".
  MetricsServer(const std::string& listen, const Registry& registry, const Health& health);
  /// Stops: closes the listener and every connection, joins the thread.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// The bound port (useful when asked for port 0).
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// --metrics-listen: a MetricsServer on `listen` plus one "metrics-listening" log line, or
/// nullptr when `listen` is empty (metrics off). Throws like the MetricsServer constructor.
std::unique_ptr<MetricsServer> start_metrics_server(const std::string& listen,
                                                    const Registry& registry, const Health& health);

}  // namespace postern::metrics
