// verifier.hpp — DKIM verification of one message (RFC 6376 §6; RFC 8301; RFC 8463 §3).
// Feed header fields in message order and the body in chunks, as to MessageSigner; finish()
// looks the keys up through dns::Resolver and returns one result per checked signature.
// Outcomes (bad signatures, missing keys, DNS failures) are values; an OpenSSL fault while
// hashing throws std::runtime_error.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/dns.hpp"
#include "milters/dkim/key_cache.hpp"
#include "milters/dkim/signature.hpp"

namespace postern::dkim {

/// How to verify; one per daemon, shared read-only by all sessions.
struct VerifierConfig {
  /// DKIM-Signature fields checked per message, from the top; the rest get no result. Each
  /// costs at most one DNS query (bounded by the resolver's timeout) and one verification.
  size_t max_signatures = 5;
  /// Seconds a signature may be past x= and still pass (clocks differ; RFC 6376 §3.5 x=).
  int64_t clock_skew_seconds = 300;
  /// With l=, body content after the signed length makes the result `policy` instead of
  /// `pass` (RFC 6376 §8.2: an attacker can append anything there).
  bool unsigned_tail_fails = false;
  /// Loaded public keys shared by all messages (thread-safe); null: decode p= every time.
  std::shared_ptr<PublicKeyCache> key_cache;
};

/// The verdict on one DKIM-Signature field, with what Authentication-Results reports.
struct SignatureResult {
  DkimResult result = DkimResult::Permerror;
  std::string reason;     // "" for pass; else "body hash mismatch", "key revoked", ...
  std::string sdid;       // d=
  std::string auid;       // i= (default "@" + d=)
  std::string selector;   // s=
  std::string algorithm;  // a= as written, lower-cased
  std::string b_prefix;   // first 8 characters of b= (header.b, RFC 6008)
  std::optional<uint64_t> body_length;  // l=, when present
  uint64_t body_octets = 0;             // canonical body octets (with l=: the unsigned tail)
  bool testing = false;                 // the key says t=y
};

/// Most header fields kept per message; a longer header makes every signature permerror.
inline constexpr size_t kMaxVerifyHeaderFields = 1000;
/// Most header octets kept per message (names + values); same consequence when exceeded.
inline constexpr size_t kMaxVerifyHeaderBytes = 1024 * 1024;

/// One message. Not thread-safe; one per milter session message. `config` and `resolver`
/// must outlive it.
class MessageVerifier {
 public:
  MessageVerifier(const VerifierConfig& config, dns::Resolver& resolver);
  ~MessageVerifier();
  MessageVerifier(const MessageVerifier&) = delete;
  MessageVerifier& operator=(const MessageVerifier&) = delete;

  /// One header field as received: `name` without the colon; `value` everything after the
  /// colon, leading whitespace included, folds as "\r\n" or bare "\n" plus WSP. All fields
  /// come before the first add_body().
  void add_header(std::string_view name, std::string_view value);
  /// A body chunk; lines end in CRLF or bare LF (taken as CRLF). Any split. Each body hash
  /// (one per distinct body canonicalization and l=) is computed once, as the body streams.
  void add_body(std::string_view chunk);
  /// Checks the first max_signatures DKIM-Signature fields (top first) at Unix time `now`
  /// (seconds). Empty when the message has none (Authentication-Results: dkim=none).
  /// Key lookup: `selector._domainkey.sdid` TXT; NXDOMAIN or no record → permerror "no key",
  /// SERVFAIL/timeout → temperror. Throws std::runtime_error only on an OpenSSL fault.
  std::vector<SignatureResult> finish(int64_t now);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::dkim
