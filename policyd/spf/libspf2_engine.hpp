// libspf2_engine.hpp — check_host() by libspf2 1.2.10 (--engine libspf2), over our resolver.
// The second engine of issue 4: kept for the differential test against ours
// (tests/unit/spf_differential_test.cpp), not for production. libspf2's DNS layer is a custom
// SPF_dns_server_t whose lookup asks our dns::Resolver, so both engines see the same answers.
// Faithful to the library: its known faults (lax record parser, /0 prefixes refused, no void
// lookup limit, IPv4-mapped clients, loopback clients always pass) are left as they are.
// Outcomes are values; only allocation failure throws (std::bad_alloc).
#pragma once

#include <memory>

#include "common/dns.hpp"
#include "policyd/spf/evaluator.hpp"

namespace postern::spf {

/// libspf2 behind the SpfEngine interface. Thread-safety: an SPF_server_t is not documented as
/// safe for concurrent use, so each check borrows one from a small pool (created on demand,
/// at most one per concurrently checking thread) and gives it back; no server is ever used by
/// two threads at once. Holds a reference to `resolver`, which must outlive the engine.
class Libspf2Engine : public SpfEngine {
 public:
  /// Routes libspf2's warning/info/debug messages to our log at debug level (once per
  /// process). Throws std::bad_alloc if libspf2 cannot allocate.
  explicit Libspf2Engine(dns::Resolver& resolver);
  ~Libspf2Engine() override;
  Libspf2Engine(const Libspf2Engine&) = delete;
  Libspf2Engine& operator=(const Libspf2Engine&) = delete;

  /// check_host() (RFC 7208 §4) by SPF_request_query_mailfrom() for
  /// local-part(request.sender)@request.domain. libspf2's "(invalid)" result is mapped the
  /// way a libspf2-based service must: SPF_E_DNS_ERROR among its errors → temperror, else
  /// permerror. `mechanism` is "libspf2" (the library does not say which term matched);
  /// `problem` holds libspf2's error messages; `explanation` its exp= text for fail.
  /// %{t} is libspf2's own clock, not request.timestamp. Safe from many threads at once.
  SpfOutcome check_host(const CheckHostRequest& request) override;

 private:
  struct Pool;
  std::unique_ptr<Pool> pool_;
};

}  // namespace postern::spf
