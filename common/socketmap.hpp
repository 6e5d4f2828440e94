// socketmap.hpp — Postfix's socketmap lookup protocol (socketmap_table(5)) and its server.
// A request is one netstring (http://cr.yp.to/proto/netstrings.txt) holding "name key"; the
// reply is one netstring holding "OK data", "NOTFOUND ", "TEMP reason", "TIMEOUT reason" or
// "PERM reason". Postfix keeps the connection open for further requests, one at a time.
// Postfix treats TEMP and TIMEOUT as a temporary lookup error (the SMTP client gets a 4xx)
// and PERM as a table configuration error (also a 4xx), so no fault here ever bounces mail.
// Bad input: a broken netstring or one over the limit closes the connection (precise log
// line); a well-framed request that is not "name key" or whose key is too long gets PERM.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "common/stream_server.hpp"

namespace postern {

/// Caps on what a client may send.
struct SocketmapLimits {
  size_t max_request_bytes = 100000;  // netstring payload ("name key"), bytes
  size_t max_key_bytes = 4096;        // the key part, bytes
};

/// Postfix's reply cap: data of an OK reply longer than this is refused by the client.
inline constexpr size_t kSocketmapMaxReplyBytes = 100000;

/// Incremental netstring parser ("12:hello world!,"): feed bytes as they arrive, take each
/// payload out. Errors (each says what and at which byte offset of the netstring): a length
/// that is empty, has a leading zero or a non-digit, a length over `max_payload_bytes`, and a
/// payload not followed by ','. An error is final. Nothing here throws but std::bad_alloc.
class NetstringParser {
 public:
  using State = StreamParser::State;  // NeedMore, Complete, Error
  explicit NetstringParser(size_t max_payload_bytes) : max_(max_payload_bytes) {}
  /// Consumes bytes from `data` up to the end of one netstring; `consumed` = bytes used
  /// (all of `data` on NeedMore).
  State feed(std::string_view data, size_t& consumed);
  /// The payload completed by the last feed(); the parser is then ready for the next one.
  std::string take();
  /// Why the last feed() returned Error; "" otherwise.
  const std::string& error() const { return error_; }

 private:
  State fail(std::string why);

  size_t max_;
  enum class Phase { Length, Payload, Comma, Done, Failed } phase_ = Phase::Length;
  std::string length_text_;
  size_t length_ = 0;
  size_t offset_ = 0;  // bytes of the current netstring consumed so far
  std::string payload_;
  std::string error_;
};

/// `payload` as a netstring: "<decimal length>:<payload>,".
std::string netstring(std::string_view payload);

/// A socketmap request, parsed.
struct SocketmapRequest {
  std::string name;  // the map name (before the first space)
  std::string key;   // everything after it, as sent (may hold spaces)
};

/// Splits a netstring payload "name key" at its first space. Returns "" and fills `request`,
/// or the reason it is not a request: "no space between map name and key", "empty map name",
/// "key of N bytes is longer than the limit of M", "NUL byte in the request".
std::string parse_socketmap_request(std::string_view payload, const SocketmapLimits& limits,
                                    SocketmapRequest& request);

/// One reply of socketmap_table(5).
struct SocketmapReply {
  enum class Status { Ok, NotFound, Temp, Timeout, Perm };
  Status status = Status::NotFound;
  std::string text;  // OK: the data; TEMP/TIMEOUT/PERM: the reason; NOTFOUND: unused

  static SocketmapReply ok(std::string data) { return {Status::Ok, std::move(data)}; }
  static SocketmapReply not_found() { return {Status::NotFound, {}}; }
  static SocketmapReply temp(std::string reason) { return {Status::Temp, std::move(reason)}; }
  static SocketmapReply perm(std::string reason) { return {Status::Perm, std::move(reason)}; }
  /// The reply as sent inside the netstring: "OK data", "NOTFOUND ", "TEMP reason", ...
  std::string to_string() const;
};

/// "OK", "NOTFOUND", "TEMP", "TIMEOUT", "PERM".
const char* status_name(SocketmapReply::Status status);

/// The daemon's lookup: map `name`, key `key` → reply. May throw (a fault: TEMP is sent).
/// Runs on the worker threads, several at once: it must be thread-safe.
using SocketmapHandler =
    std::function<SocketmapReply(const std::string& name, const std::string& key)>;

/// The socketmap server's settings: the stream server's (StreamServerConfig; lookups may
/// block on Redis or LDAP, so they run on the workers) with a shorter deadline (5 s: past it
/// "TEMP ..." and a log line), and the protocol's.
struct SocketmapServerConfig : StreamServerConfig {
  SocketmapServerConfig() { request_deadline_seconds = 5; }
  std::string name;  // daemon name for metric names ("tables" → postern_tables_socketmap_*)
  SocketmapLimits limits;
};

/// The socketmap server: the stream server (stream_server.hpp: threads, deadline, stop and
/// grace, port(), run(), stop()) speaking socketmap_table(5). Faults (handler throws, an OK
/// reply over kSocketmapMaxReplyBytes, deadline passed) answer "TEMP <reason>" and log
/// "socketmap-error"/"socketmap-timeout" (with map= and reply=); metrics
/// postern_<name>_socketmap_*, answers as replies_total{status}.
class SocketmapServer : public StreamServer {
 public:
  /// Binds config.socket, then calls config.on_listening. Throws ConfigError when the socket
  /// cannot be opened or `handler` is empty.
  SocketmapServer(SocketmapServerConfig config, SocketmapHandler handler);
};

}  // namespace postern
