// rcpt_config.hpp — postern-rcpt's option table and the typed, validated configuration built
// from it before anything listens. Errors throw postern::ConfigError naming the option.
#pragma once

#include <optional>
#include <string>

#include "common/options.hpp"
#include "policyd/rcpt/ldap_source.hpp"
#include "policyd/rcpt/memory_cache.hpp"
#include "policyd/rcpt/rcpt_policy.hpp"

namespace postern::rcpt {

struct RcptConfig {
  RcptPolicyConfig policy;
  std::string relay_domains;  // --relay-domains as written (DomainList::parse checked it)
  std::string access_table;   // --access-table path ("" = none)
  std::optional<LdapSourceConfig> ldap;  // set when --ldap-servers is
  CacheConfig cache;
  /// Redis (set when --redis-url is): the source, the relay domains, the shared cache.
  struct Redis {
    std::string url;
    std::string recipient_key = "VALI:%s";  // "" = not a recipient source
    std::string domain_key = "VDOM:%d";     // "" = relay domains from --relay-domains only
    bool shared_cache = false;              // --redis-cache: the caches live in Redis
    std::string cache_prefix = "postern:rcpt:";
    double timeout_seconds = 1;
    size_t pool_size = 8;
  };
  std::optional<Redis> redis;
  size_t worker_threads = 16;
  double request_deadline_seconds = 15;
};

/// Adds --relay-domains, --access-table, --final-action, --recipient-delimiter, the --ldap-*
/// options, the --redis-* options, --positive-ttl, --negative-ttl, --cache-size, --workers,
/// --request-deadline.
void add_rcpt_options(po::options_description& options);

/// The option values → RcptConfig (reads --ldap-bind-password-file). Throws ConfigError.
RcptConfig build_rcpt_config(const DaemonOptions& options);

}  // namespace postern::rcpt
