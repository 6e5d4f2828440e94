// signer.hpp — DKIM signing of one message (RFC 6376 §3.5, §3.7, §5; RFC 8463 for Ed25519).
// INTERFACE CONTRACT (implementation: signer.cpp). Feed header fields in message order and the
// body in chunks, then finish() returns one DKIM-Signature field value per key.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "milters/dkim/canon.hpp"
#include "milters/dkim/keys.hpp"

namespace postern::dkim {

/// What to sign and how; one per daemon, shared read-only by all sessions.
struct SignerConfig {
  Canonicalization canonicalization{Canon::Relaxed, Canon::Relaxed};
  /// Header field names to sign when present (case-insensitive), RFC 6376 §5.4.1 set by default.
  std::vector<std::string> signed_header_fields;
  /// Names signed once more than they occur, so none can be added later (§8.15). Default {"from"}.
  std::vector<std::string> oversigned_header_fields;
  /// x= is t= plus this many seconds; nullopt = no x=.
  std::optional<int64_t> expire_seconds;
};

/// The RFC 6376 §5.4.1 recommended set plus Message-ID, MIME-Version and Content-* fields.
std::vector<std::string> default_signed_header_fields();

/// One message. Not thread-safe; one per milter session message.
class MessageSigner {
 public:
  /// `keys`: one or more (e.g. RSA and Ed25519 for dual signing). Throws std::runtime_error on an
  /// OpenSSL failure (a fault).
  MessageSigner(const SignerConfig& config, std::vector<SigningKey> keys);
  ~MessageSigner();
  MessageSigner(const MessageSigner&) = delete;
  MessageSigner& operator=(const MessageSigner&) = delete;

  /// One header field as received: `name` without the colon; `value` everything after the
  /// colon, leading whitespace included, folds as "\r\n" or bare "\n" plus WSP.
  void add_header(std::string_view name, std::string_view value);
  /// A body chunk; lines end in CRLF or bare LF (bare LF is treated as CRLF). Any split.
  void add_body(std::string_view chunk);
  /// Compute body hash and signatures. `now` is Unix time (seconds) for t=.
  /// Returns the DKIM-Signature field values (no "DKIM-Signature:" name, no trailing CRLF),
  /// folded with "\r\n\t", in the order of `keys`. Throws std::runtime_error on OpenSSL failure.
  std::vector<std::string> finish(int64_t now);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::dkim
