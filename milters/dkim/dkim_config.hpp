// dkim_config.hpp — postern-dkim's own option table (signing and verification) and the typed,
// validated configuration built from it before anything listens: keys loaded and checked,
// tables parsed, lists parsed, the DNS resolver made. Errors throw postern::ConfigError
// (what, which option or file, why).
#pragma once

#include <memory>
#include <string>

#include "common/dns.hpp"
#include "common/metrics.hpp"
#include "common/options.hpp"
#include "milters/dkim/dkim_mode.hpp"
#include "milters/dkim/dmarc.hpp"
#include "milters/dkim/dmarc_action.hpp"
#include "milters/dkim/public_suffix.hpp"
#include "milters/dkim/signer.hpp"
#include "milters/dkim/signing_policy.hpp"
#include "milters/dkim/verifier.hpp"

namespace postern::dkim {

/// Everything a session needs; built once, shared read-only by all sessions (threads).
struct DkimConfig {
  Mode mode = Mode::Both;
  SignerConfig signer;
  /// Always set; with --mode verify it holds no keys and only tells internal from external.
  std::unique_ptr<SigningPolicy> policy;
  /// Set when the mode verifies: --max-signatures, --clock-skew, --unsigned-tail.
  VerifierConfig verifier;
  /// Shared by all sessions (thread-safe); set when the mode verifies.
  std::unique_ptr<dns::Resolver> resolver;
  /// --verify-internal: also verify mail from internal clients.
  bool verify_internal = false;
  /// --authserv-id; "" = the Postfix {j} macro of each connection, else host_name.
  std::string authserv_id;
  /// This host's name: the authserv-id when neither --authserv-id nor {j} gives one.
  std::string host_name;
  /// --spf-receiver: receiver= our Received-SPF field must carry to become spf=; "" = off.
  std::string spf_receiver;
  /// --public-suffix-list, loaded once; set when the mode verifies and --dmarc is on.
  std::unique_ptr<PublicSuffixList> public_suffixes;
  /// DMARC (RFC 7489) over `resolver` and `public_suffixes`; set exactly when they are.
  std::unique_ptr<DmarcEvaluator> dmarc;
  /// --dmarc-reject, --dmarc-quarantine: what a DMARC fail may do (default: nothing).
  DmarcEnforcement dmarc_enforcement;
  /// --temperror: what a DKIM or DMARC temperror does to the message (default: accept).
  TemperrorAction temperror = TemperrorAction::Accept;
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
  /// postern_dkim_verify_total{result=...}: one per checked signature, "none" per message
  /// without any.
  metrics::Counter& verify(DkimResult result) const;
  /// postern_dkim_verify_seconds: end of message to Authentication-Results inserted (DNS
  /// included), in seconds.
  metrics::Histogram& verify_seconds;
  /// postern_dkim_dmarc_total{result=...}: one per message evaluated with --dmarc.
  metrics::Counter& dmarc(DmarcResult result) const;

 private:
  std::vector<metrics::Counter*> verify_results_;  // indexed by DkimResult
  std::vector<metrics::Counter*> dmarc_results_;   // indexed by DmarcResult
};

/// Declare postern-dkim's options: keys, tables, internal hosts, canonicalization, headers
/// (signing); mode, DNS, signature cap, clock skew, l= tail, authserv-id, Received-SPF trust,
/// DMARC (verification).
void add_dkim_options(po::options_description& options);

/// Declare the verification options alone (add_dkim_options calls it): --mode, --dns-server,
/// --dns-timeout, --max-signatures, --clock-skew, --unsigned-tail, --authserv-id,
/// --verify-internal, --spf-receiver, --dmarc, --public-suffix-list, --dmarc-reject,
/// --dmarc-quarantine, --temperror.
void add_verify_options(po::options_description& options);

/// Build and validate the configuration from parsed options. Throws ConfigError.
DkimConfig build_dkim_config(const po::variables_map& values);

}  // namespace postern::dkim
