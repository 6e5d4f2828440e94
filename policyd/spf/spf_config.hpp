// spf_config.hpp — postern-spf's option table and the typed, validated configuration built
// from it before anything listens. Errors throw postern::ConfigError naming the option.
#pragma once

#include <string>

#include "common/dns.hpp"
#include "common/options.hpp"
#include "policyd/spf/evaluator.hpp"
#include "policyd/spf/result_cache.hpp"
#include "policyd/spf/spf_policy.hpp"

namespace postern::spf {

/// --engine: our RFC 7208 evaluator, or libspf2 (for comparison; see libspf2_engine.hpp).
enum class EngineKind { Ours, Libspf2 };

struct SpfConfig {
  SpfPolicyConfig policy;
  EngineKind engine = EngineKind::Ours;
  dns::ResolverConfig resolver;
  size_t worker_threads = 8;
  double request_deadline_seconds = 20;  // past it: the server's fault action
  EvaluatorLimits limits;                // check_seconds from --check-timeout
  ResultCacheConfig cache;               // --cache-ttl, --cache-size
};

/// Adds --dns-server, --dns-timeout, --receiver, --<result>-action, --helo-fail-action,
/// --skip-networks, --skip-hostnames, --skip-sasl, --engine, --workers, --request-deadline,
/// --check-timeout, --cache-ttl, --cache-size.
void add_spf_options(po::options_description& options);

/// The option values → SpfConfig. `where` names an option's source for messages. Throws
/// ConfigError (bad action word, bad CIDR or host name, an --engine other than ours or
/// libspf2, a --check-timeout not below --request-deadline...).
SpfConfig build_spf_config(const DaemonOptions& options);

}  // namespace postern::spf
