// spf_config.hpp — postern-spf's option table and the typed, validated configuration built
// from it before anything listens. Errors throw postern::ConfigError naming the option.
#pragma once

#include <string>

#include "common/dns.hpp"
#include "common/options.hpp"
#include "policyd/spf/spf_policy.hpp"

namespace postern::spf {

struct SpfConfig {
  SpfPolicyConfig policy;
  dns::ResolverConfig resolver;
  size_t worker_threads = 8;
  double request_deadline_seconds = 20;  // past it: the server's fault action
};

/// Adds --dns-server, --dns-timeout, --receiver, --<result>-action, --helo-fail-action,
/// --skip-networks, --skip-sasl, --engine, --workers, --request-deadline.
void add_spf_options(po::options_description& options);

/// The option values → SpfConfig. `where` names an option's source for messages. Throws
/// ConfigError (bad action word, bad CIDR, --engine libspf2 which is not built yet...).
SpfConfig build_spf_config(const DaemonOptions& options);

}  // namespace postern::spf
