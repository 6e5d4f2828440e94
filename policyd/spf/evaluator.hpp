// evaluator.hpp — RFC 7208 check_host() (§4) over the shared resolver (common/dns.hpp).
// Record selection (§4.5), mechanisms (§5), redirect and exp (§6), macros (§7), the processing
// limits of §4.6.4 (10 DNS-querying terms, 2 void lookups, 10 MX and 10 PTR names) and the
// identities HELO (§2.3) and MAIL FROM (§2.4), and an overall time budget per check (§4.6.4
// leaves it to the verifier). Every outcome, DNS failures and a spent budget included, is a
// SpfOutcome value; nothing here throws for bad records or DNS trouble.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/cidr.hpp"
#include "common/dns.hpp"

namespace postern::spf {

/// RFC 7208 §2.6 results.
enum class SpfResult { None, Neutral, Pass, Fail, Softfail, Temperror, Permerror };

/// The RFC 8601 / RFC 7208 §9.1 word for a result: "pass", "softfail", "permerror"...
std::string_view result_name(SpfResult result);

/// What check_host() found: the result, the term that decided it and, for fail, the
/// explanation (§6.2).
struct SpfOutcome {
  SpfResult result = SpfResult::None;
  std::string mechanism;    // the matching term ("-all", "include:x.org"); "default" if none
  std::string problem;      // why, for none/temperror/permerror ("multiple SPF records")
  std::string explanation;  // fail only: the expanded exp= text, "" when none (§6.2)
  std::string domain;       // the <domain> checked first
};

/// The arguments of check_host() (§4.1) plus what macros need (§7.2).
struct CheckHostRequest {
  IpAddress client;    // IPv4-mapped IPv6 is treated as IPv4
  std::string domain;  // <domain>
  std::string sender;  // <sender>: local-part@domain (local-part "postmaster" if missing)
  std::string helo;    // %{h}
  std::string receiver = "unknown";  // %{r}
  int64_t timestamp = 0;             // %{t}, seconds since the epoch
};

/// The HELO identity (§2.3): <domain> = the HELO name, <sender> = postmaster@HELO.
CheckHostRequest helo_identity(const IpAddress& client, std::string_view helo);

/// The MAIL FROM identity (§2.4): the null sender becomes postmaster@HELO; a sender without a
/// local-part gets "postmaster" (§4.3).
CheckHostRequest mail_from_identity(const IpAddress& client, std::string_view mail_from,
                                    std::string_view helo);

/// True when `domain` (one trailing dot allowed) is a multi-label name of at most 253 octets
/// with labels of 1..63 octets (§4.3).
bool valid_domain(std::string_view domain);

/// An SPF implementation: ours, or (later) libspf2 behind the same call.
class SpfEngine {
 public:
  virtual ~SpfEngine() = default;
  /// check_host() of RFC 7208 §4. Blocking (DNS); safe from many threads at once.
  virtual SpfOutcome check_host(const CheckHostRequest& request) = 0;
};

/// §4.6.4 limits; the defaults are the RFC's.
struct EvaluatorLimits {
  unsigned dns_terms = 10;    // include, a, mx, ptr, exists, redirect
  unsigned void_lookups = 2;  // NXDOMAIN or empty answers
  unsigned mx_names = 10;     // per mx mechanism: more is a permerror
  unsigned ptr_names = 10;    // per ptr / %{p}: the rest are ignored
  /// Overall budget of one check_host() in seconds (§4.6.4 "SHOULD impose a limit on the
  /// total amount of elapsed time"); 0 = none. No DNS query is started once it is spent and
  /// the check ends in temperror "SPF check exceeded N s". A query started in time may
  /// still run up to the resolver's own per-query timeout past it.
  double check_seconds = 0;
};

/// A monotonic clock in seconds (any epoch); tests substitute a fake one.
using MonotonicClock = std::function<double()>;

/// std::chrono::steady_clock in seconds.
double steady_seconds();

/// Our RFC 7208 evaluator. Holds a reference to `resolver`, which must outlive it. `clock`
/// measures limits.check_seconds (read before each DNS query).
class Evaluator : public SpfEngine {
 public:
  explicit Evaluator(dns::Resolver& resolver, EvaluatorLimits limits = {},
                     MonotonicClock clock = steady_seconds)
      : resolver_(resolver), limits_(limits), clock_(std::move(clock)) {}
  /// check_host() of §4; temperror "SPF check exceeded N s" once limits.check_seconds is spent.
  SpfOutcome check_host(const CheckHostRequest& request) override;

 private:
  dns::Resolver& resolver_;
  EvaluatorLimits limits_;
  MonotonicClock clock_;
};

}  // namespace postern::spf
