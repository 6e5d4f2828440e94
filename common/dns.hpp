// dns.hpp — the one DNS resolver every daemon shares (DKIM keys, SPF, DMARC, PTR checks).
// INTERFACE CONTRACT; implementation over libunbound in dns_unbound.cpp (caching; forwards to
// --dns-server HOST[@PORT] or reads /etc/resolv.conf). Blocking calls, safe from any number of
// threads at once; each query is bounded by the configured timeout, so a slow name never holds
// other connections (each milter connection / policy worker waits only for its own query).
// Outcomes (NXDOMAIN, no records) are values; only configuration errors throw.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.hpp"

namespace postern::dns {

enum class RrType : uint16_t { A = 1, CNAME = 5, PTR = 12, MX = 15, TXT = 16, AAAA = 28 };

/// How a query ended. NoError with no records is NODATA. ServFail/Timeout/Error are the
/// "temporary" outcomes (RFC 7208 temperror, RFC 6376 TEMPFAIL); NxDomain is definitive.
enum class Status { NoError, NxDomain, ServFail, Timeout, Error };

struct MxRecord {
  uint16_t preference = 0;
  std::string exchange;  // lower-case, no trailing dot
};

/// The answer to one query; only the field of the asked type is filled.
struct Answer {
  Status status = Status::Error;
  /// TXT: one entry per resource record, its character-strings concatenated with nothing in
  /// between (RFC 7208 §3.3, RFC 6376 §3.6.2.2); bytes as received.
  std::vector<std::string> txt;
  std::vector<IpAddress> addresses;  // A / AAAA
  std::vector<MxRecord> mx;          // MX, in answer order
  std::vector<std::string> names;    // PTR targets / CNAME target, lower-case, no trailing dot
  bool secure = false;               // DNSSEC-validated (when validation is on)
  /// Seconds the answer may be reused (the records' TTL, or the negative-answer TTL of an
  /// NXDOMAIN/NODATA); 0 when unknown or not to be reused. Temporary outcomes carry 0.
  uint32_t ttl = 0;
  std::string why;  // for logs when status != NoError ("timeout after 5 s")
};

/// What any resolver offers; tests substitute an in-memory one.
class Resolver {
 public:
  virtual ~Resolver() = default;
  /// Looks `name` (no trailing dot needed) up for `type`. Never throws for DNS outcomes.
  virtual Answer query(std::string_view name, RrType type) = 0;
};

struct ResolverConfig {
  /// "" = the servers in /etc/resolv.conf; else "HOST" or "HOST@PORT" (forward there, no
  /// recursion of our own). Loopback servers are allowed.
  std::string dns_server;
  /// Per-query limit in seconds (> 0).
  double timeout_seconds = 5;
  /// "" = no DNSSEC validation (Answer::secure stays false). Else a file of trust anchors, DS
  /// or DNSKEY records in zone-file format (Debian: /usr/share/dns/root.key): answers are
  /// validated (RFC 4035 §5) and a bogus one is Status::Error "DNSSEC bogus: ...". The servers
  /// asked must then pass DNSSEC records on (any DNSSEC-aware recursive resolver does).
  std::string trust_anchor_file;
};

/// libunbound resolver with its cache, shared by all threads. Throws ConfigError for a bad
/// --dns-server or an unreadable resolv.conf.
std::unique_ptr<Resolver> make_resolver(const ResolverConfig& config);

}  // namespace postern::dns
