// signing_policy.cpp — see signing_policy.hpp.
#include "milters/dkim/signing_policy.hpp"

#include "milters/dkim/from_address.hpp"

namespace postern::dkim {
namespace {

SigningPolicy::Decision skip(SkipReason skip_reason, std::string reason) {
  SigningPolicy::Decision decision;
  decision.reason = std::move(reason);
  decision.skip_reason = skip_reason;
  return decision;
}

std::string from_reason(const FromAddress& from) {
  switch (from.outcome) {
    case FromOutcome::Missing:
      return "no From:";
    case FromOutcome::Multiple:
      return from.reason;  // "several From: fields" / "... mailboxes"
    case FromOutcome::NoDomain:
      return "From: without a domain";
    case FromOutcome::Unparsable:
      return "unparsable From: (" + from.reason + ")";
    case FromOutcome::Ok:
      break;
  }
  return "";
}

SkipReason from_skip_reason(FromOutcome outcome) {
  switch (outcome) {
    case FromOutcome::Missing:
      return SkipReason::NoFrom;
    case FromOutcome::Multiple:
      return SkipReason::MultipleFrom;
    case FromOutcome::NoDomain:
      return SkipReason::FromWithoutDomain;
    case FromOutcome::Unparsable:
      return SkipReason::UnparsableFrom;
    case FromOutcome::Ok:
      break;
  }
  return SkipReason::None;
}

}  // namespace

std::string default_internal_hosts() {
  return "127.0.0.0/8, ::1/128, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7";
}

SigningPolicy::SigningPolicy(KeyStore keys, CidrList internal_hosts, bool sign_subdomains)
    : keys_(std::move(keys)),
      internal_hosts_(std::move(internal_hosts)),
      sign_subdomains_(sign_subdomains) {}

bool SigningPolicy::internal(std::string_view client_address, std::string_view auth_authen) const {
  return client_address.empty() || !auth_authen.empty() || internal_hosts_.contains(client_address);
}

SigningPolicy::Decision SigningPolicy::decide(std::string_view client_address,
                                              std::string_view auth_authen,
                                              const std::vector<std::string>& from_values) const {
  if (!internal(client_address, auth_authen)) {
    return skip(SkipReason::ExternalClient, "external client");
  }
  FromAddress from = parse_from(from_values);
  if (from.outcome != FromOutcome::Ok) {
    return skip(from_skip_reason(from.outcome), from_reason(from));
  }
  Decision decision;
  decision.keys = keys_.find(from.address, sign_subdomains_);
  if (decision.keys.empty()) return skip(SkipReason::NoKey, "no key for domain " + from.domain);
  decision.sign = true;
  return decision;
}

}  // namespace postern::dkim
