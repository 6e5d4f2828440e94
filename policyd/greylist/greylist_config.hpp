// greylist_config.hpp — postern-greylist's option table (postgrey's option names where they
// exist) and the typed, validated configuration built from it before anything listens.
// Errors throw postern::ConfigError naming the option and its source.
#pragma once

#include <string>
#include <vector>

#include "common/dns.hpp"
#include "common/options.hpp"
#include "common/redis.hpp"
#include "policyd/greylist/greylist_policy.hpp"
#include "policyd/greylist/greylister.hpp"
#include "policyd/greylist/lmdb_store.hpp"
#include "policyd/spf/evaluator.hpp"
#include "policyd/spf/result_cache.hpp"

namespace postern::greylist {

struct GreylistConfig {
  GreylistSettings greylist;
  PolicySettings policy;
  enum class StoreKind { Lmdb, Redis } store_kind = StoreKind::Lmdb;
  LmdbOptions lmdb;              // --store lmdb:PATH, --store-map-size, --store-sync-interval
  redis::Url redis;              // --store redis://... | redis-sentinel://... | unix:...
  redis::Options redis_options;  // --store-timeout
  std::string redis_prefix;      // --redis-prefix
  std::vector<std::string> whitelist_clients_files;     // --whitelist-clients
  std::vector<std::string> whitelist_recipients_files;  // --whitelist-recipients
  std::vector<std::string> skip_clients_files;          // --skip-clients
  /// --skip-spf-pass: SPF (policyd/spf's evaluator) for the MAIL FROM identity; pass skips.
  bool skip_spf_pass = false;
  dns::ResolverConfig resolver;      // --dns-server, --dns-timeout (postern-spf's names)
  spf::EvaluatorLimits spf_limits;   // check_seconds from --spf-check-timeout
  spf::ResultCacheConfig spf_cache;  // --spf-cache-ttl, --spf-cache-size
  size_t worker_threads = 4;         // 8 by default with --skip-spf-pass (workers wait on DNS)
  size_t io_threads = 0;             // --io-threads; 0: automatic (see main.cpp)
  double request_deadline_seconds = 5;
};

/// Adds the greylisting options to `options`.
void add_greylist_options(po::options_description& options);

/// The option values → GreylistConfig (whitelist files are only named here; load_whitelists
/// reads them). Throws ConfigError.
GreylistConfig build_greylist_config(const DaemonOptions& options);

/// Reads the whitelist files of `config`. Throws ConfigError "FILE:LINE: why".
std::shared_ptr<const Whitelists> load_whitelists(const GreylistConfig& config);

/// Parses postgrey's --retry-window: "N" days or "Nh" hours → seconds. Throws ConfigError.
int64_t parse_retry_window(const std::string& text);

}  // namespace postern::greylist
