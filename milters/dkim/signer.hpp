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

/// One header field as the message carries it (see MessageSigner::add_header for the shapes).
struct HeaderField {
  std::string name;
  std::string value;
};

/// The header hash input of RFC 6376 §3.7 step 1 for `signed_header_fields` (h= names, in h=
/// order): each name takes the next unused instance of that field from the bottom of the
/// header up (§5.4.2); a name with no instance left contributes nothing (oversigning). Appends
/// the canonicalized fields, each ending in CRLF, to `out`.
void append_signed_headers(Canon header_canon, const std::vector<HeaderField>& headers,
                           const std::vector<std::string>& signed_header_fields, std::string& out);

/// The raw signature (RFC 6376 §3.7) of header hash input `data` (the signed fields plus the
/// canonicalized DKIM-Signature field with empty b=, no trailing CRLF). rsa-sha256:
/// RSASSA-PKCS1-v1_5 with SHA-256 over `data`; ed25519-sha256: PureEdDSA Ed25519 over the
/// 32-byte SHA-256 of `data` (RFC 8463 §3). Throws std::runtime_error on OpenSSL failure.
std::string sign_header_data(const PrivateKey& key, std::string_view data);

/// Lower-level signing for any DKIM-Signature layout (tests, the RFC 8463 vectors):
/// `signature_value` is the exact DKIM-Signature field value (after the colon, with its
/// folds) ending in an empty "b=". Returns the base64 b= value. Throws std::runtime_error.
std::string sign_with_template(const PrivateKey& key, Canon header_canon,
                               const std::vector<HeaderField>& headers,
                               const std::vector<std::string>& signed_header_fields,
                               std::string_view signature_value);

/// bh= of a whole body (base64 SHA-256 of its canonical form, RFC 6376 §3.7 step 2).
std::string body_hash(Canon body_canon, std::string_view body);

/// One message. Not thread-safe; one per milter session message. `config` must outlive it.
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
