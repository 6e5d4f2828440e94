// dkim_config.hpp — postern-dkim's own option table and the typed, validated configuration
// built from it before anything listens: keys loaded and checked, tables parsed, lists parsed.
// Errors throw postern::ConfigError (what, which option or file, why).
#pragma once

#include <memory>

#include "common/metrics.hpp"
#include "common/options.hpp"
#include "milters/dkim/signer.hpp"
#include "milters/dkim/signing_policy.hpp"

namespace postern::dkim {

/// Everything a session needs; built once, shared read-only by all sessions (threads).
struct DkimConfig {
  SignerConfig signer;
  std::unique_ptr<SigningPolicy> policy;
};

/// postern-dkim's metrics (README "Metrics"), registered once at startup; sessions on any
/// thread update them through these references (lock-free).
struct DkimMetrics {
  /// Registers every series (all at 0) in `registry`, which must outlive this object.
  explicit DkimMetrics(metrics::Registry& registry);

  /// postern_dkim_messages_total{result=...}: "signed", or the class of `reason` (not None).
  metrics::Counter& messages(SkipReason reason) const;
  /// postern_dkim_signatures_total{algorithm=...}: DKIM-Signature fields added.
  metrics::Counter& signatures(Algorithm algorithm) const;

  metrics::Counter& signed_messages;
  metrics::Counter& external_client;
  metrics::Counter& no_from;
  metrics::Counter& multiple_from;
  metrics::Counter& from_without_domain;
  metrics::Counter& unparsable_from;
  metrics::Counter& no_key;
  metrics::Counter& rsa_sha256;
  metrics::Counter& ed25519_sha256;
  /// postern_dkim_milter_errors_total{stage=...}: faults in a session step (TEMPFAIL).
  metrics::Counter& eoh_errors;
  metrics::Counter& body_errors;
  metrics::Counter& eom_errors;
  /// postern_dkim_signing_seconds: end-of-message entry to signatures inserted, in seconds.
  metrics::Histogram& signing_seconds;
};

/// Declare postern-dkim's options (keys, tables, internal hosts, canonicalization, headers).
void add_dkim_options(po::options_description& options);

/// Build and validate the configuration from parsed options. Throws ConfigError.
DkimConfig build_dkim_config(const po::variables_map& values);

}  // namespace postern::dkim
