// dmarc.hpp — DMARC (RFC 7489) for postern-dkim: the policy record parser (§6.3, §6.4), policy
// discovery at _dmarc.<From domain> with fallback to the Organizational Domain (§6.6.3, with
// RFC 9091 np=), identifier alignment (§3.1), evaluation of DKIM and SPF results (§6.6.2,
// §6.6.4 pct=) and the Authentication-Results clause (RFC 8601 §2.7.x words, RFC 7489 §11.2
// policy.dmarc, OpenDMARC's "(p=… dis=…)" comment).
// This module returns what the Domain Owner asks for (the policy); the milter decides what to
// do with it (nothing, header, hold queue, 550 5.7.1). Untrusted input: sizes capped, outcomes
// are values with a reason, nothing here throws. DNS faults are DmarcResult::Temperror.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/dns.hpp"
#include "milters/dkim/from_address.hpp"
#include "milters/dkim/public_suffix.hpp"
#include "milters/dkim/verifier.hpp"

namespace postern::dkim {

/// The DMARC result in RFC 8601 / RFC 7489 §11.2 words.
enum class DmarcResult { None, Pass, Fail, Temperror, Permerror };

/// "none", "pass", "fail", "temperror", "permerror".
std::string_view result_name(DmarcResult result);

/// A Domain Owner's requested handling (p=, sp=, np=; RFC 7489 §6.3), also used for the
/// disposition a receiver took (dis= in the Authentication-Results comment).
enum class DmarcPolicy { None, Quarantine, Reject };

/// "none", "quarantine", "reject".
std::string_view policy_name(DmarcPolicy policy);

/// Identifier alignment mode (adkim=, aspf=; RFC 7489 §3.1): relaxed compares Organizational
/// Domains, strict compares the names exactly.
enum class Alignment { Relaxed, Strict };

/// One parsed DMARC policy record; names follow RFC 7489 §6.3 (and RFC 9091 §4.2 for np=).
struct DmarcRecord {
  DmarcPolicy policy = DmarcPolicy::None;           // p=
  std::optional<DmarcPolicy> subdomain_policy;      // sp=
  std::optional<DmarcPolicy> nonexistent_policy;    // np= (RFC 9091)
  Alignment dkim_alignment = Alignment::Relaxed;    // adkim=
  Alignment spf_alignment = Alignment::Relaxed;     // aspf=
  int percent = 100;                                // pct=, 0..100
  std::vector<std::string> aggregate_report_uris;   // rua=, valid URIs only (not used)
  std::vector<std::string> failure_report_uris;     // ruf=, valid URIs only (not used)
  std::vector<std::string> failure_options{"0"};    // fo=, each "0", "1", "d" or "s"
  std::vector<std::string> report_formats{"afrf"};  // rf=
  uint32_t report_interval = 86400;                 // ri=, seconds
  /// p= (or sp=) was missing or invalid but rua= named a valid URI, so the record is taken as
  /// p=none (RFC 7489 §6.6.3 step 6); `policy_problem` says what was wrong.
  bool policy_defaulted = false;
  std::string policy_problem;
};

enum class DmarcRecordStatus {
  Ok,        // a usable record (possibly policy_defaulted)
  NotDmarc,  // does not start with v=DMARC1: not a DMARC record, ignored (§6.6.3 step 3)
  Invalid    // starts with v=DMARC1 but breaks the §6.4 grammar: permerror
};

struct DmarcRecordParse {
  DmarcRecordStatus status = DmarcRecordStatus::NotDmarc;
  DmarcRecord record;  // meaningful when Ok
  std::string reason;  // why not Ok ("invalid p= value \"rejekt\"", "pct= above 100", ...)
};

/// Longest DMARC TXT record accepted, in bytes (longer ones are Invalid).
inline constexpr size_t kMaxDmarcRecordBytes = 8 * 1024;
/// Most URIs kept per rua=/ruf= (the rest are ignored).
inline constexpr size_t kMaxReportUris = 16;

/// Parses one TXT record (character-strings already joined) as a DMARC record (RFC 7489 §6.4,
/// the DKIM tag-list syntax of RFC 6376 §3.2). It must begin with "v=DMARC1" (WSP allowed
/// around '=', "DMARC1" case-sensitive). Tag names and the keywords of p/sp/np/adkim/aspf/fo
/// are case-insensitive (ABNF literals, RFC 5234 §2.3); tags may come in any order after v=;
/// unknown tags are ignored; a repeated tag is Invalid. Invalid: a bad value of p, sp, np,
/// adkim, aspf, pct (not 0..100 or trailing junk), fo, rf, ri — except that a missing or
/// invalid p= or invalid sp= with a valid rua= URI gives Ok with p=none (§6.6.3 step 6).
/// rua=/ruf= URIs that are not `scheme:rest[!size]` are dropped, not fatal.
DmarcRecordParse parse_dmarc_record(std::string_view text);

/// True when `authenticated` (DKIM d= or the SPF-checked domain) is aligned with the
/// RFC5322.From `from_domain` (RFC 7489 §3.1.1, §3.1.2): strict → equal names, relaxed → equal
/// Organizational Domains. Case-insensitive; one trailing dot ignored; empty never aligns.
bool aligned(std::string_view authenticated, std::string_view from_domain, Alignment mode,
             const PublicSuffixList& psl);

enum class DmarcDiscoveryStatus {
  Found,      // exactly one valid record, at `policy_domain`
  None,       // no DMARC record, or several (§6.6.3 step 5): DMARC does not apply
  Temperror,  // DNS fault (SERVFAIL, timeout) on a _dmarc query
  Permerror   // the one record found is Invalid
};

struct DmarcDiscovery {
  DmarcDiscoveryStatus status = DmarcDiscoveryStatus::None;
  DmarcRecord record;         // when Found
  std::string policy_domain;  // the domain whose _dmarc record was used (From or org domain)
  std::string reason;         // why not Found
};

/// RFC 7489 §6.6.3 policy discovery: TXT at "_dmarc." + from_domain; records not starting with
/// v=DMARC1 are discarded; when none remain (NXDOMAIN, NODATA, only other TXT) and the
/// Organizational Domain differs, TXT at "_dmarc." + org domain. Several DMARC records at the
/// name asked → None (no fallback); one Invalid record → Permerror (no fallback); a DNS fault
/// on either query → Temperror. At most two queries.
DmarcDiscovery discover_dmarc_policy(std::string_view from_domain, dns::Resolver& resolver,
                                     const PublicSuffixList& psl);

enum class DomainExistence { Exists, NonExistent, Temperror };

/// RFC 9091 §2.1: a domain is non-existent when A, AAAA and MX queries each answer NXDOMAIN or
/// NODATA. Stops at the first NXDOMAIN (the name has no records of any type) or the first
/// answer with records; a DNS fault gives Temperror. At most three queries.
DomainExistence domain_existence(std::string_view domain, dns::Resolver& resolver);

/// What evaluation needs about one message.
struct DmarcInput {
  /// The From: field(s), as parse_from() made them. Only FromOutcome::Ok is evaluated; several
  /// From mailboxes or fields (Multiple) are a permerror "several From addresses", the strict
  /// reading of RFC 7489 §6.6.1 that issue 3 asks for; Missing/NoDomain/Unparsable are a
  /// permerror with from.reason.
  FromAddress from;
  /// MessageVerifier::finish() results; only DkimResult::Pass counts (§4.2), an aligned
  /// Temperror can turn a would-be fail into temperror.
  std::vector<SignatureResult> dkim;
  /// The SPF result word (RFC 7208 §2.6: "pass", "fail", "temperror", …; case-insensitive),
  /// e.g. from a trusted Received-SPF field; "" when unknown.
  std::string spf_result;
  /// The domain SPF checked as mail_from: the RFC5321.MailFrom domain, or for a null
  /// reverse-path the HELO name (RFC 7208 §2.4). "" when unknown.
  std::string spf_domain;
};

/// Returns an integer in [0, 99], uniformly; drawn once per failing message whose policy has
/// pct < 100 (RFC 7489 §6.6.4). Called from many threads when shared.
using PercentSource = std::function<int()>;

/// The outcome of DMARC evaluation for one message.
struct DmarcVerdict {
  DmarcResult result = DmarcResult::None;
  std::string reason;                 // "" for pass; else why ("no DMARC record", "DKIM and SPF not
                                      // aligned", "several From addresses", DNS or record problem)
  std::string from_domain;            // RFC5322.From domain (header.from); "" when there is none
  std::string policy_domain;          // where the record was found ("" when none was)
  std::optional<DmarcRecord> record;  // the record used, when one was found and valid
  /// p=, sp= or np= as it applies to this From domain (§6.6.3, RFC 9091 §4.1); for pass the
  /// np= existence check is skipped and sp=/p= reported. None when there is no record.
  DmarcPolicy requested_policy = DmarcPolicy::None;
  /// What the Domain Owner asks for this message after pct= (RFC 7489 §11.2 policy.dmarc):
  /// requested_policy on a fail that pct= selects; one step lower (reject → quarantine →
  /// none) when pct= sampled it out; None for every result but fail.
  DmarcPolicy applied_policy = DmarcPolicy::None;
  bool sampled_out = false;   // pct= excluded this failing message from requested_policy
  bool dkim_aligned = false;  // an aligned DKIM pass exists (§6.6.2)
  bool spf_aligned = false;   // SPF passed for an aligned domain
  std::string aligned_sdid;   // d= of the first aligned passing signature
};

/// Evaluates DMARC for one message (RFC 7489 §6.6). One per daemon, shared by all sessions;
/// `psl` and `resolver` must outlive it. Thread-safe when `percent` is (the default is).
class DmarcEvaluator {
 public:
  /// `percent`: the pct= sampling source; empty → a per-thread std::mt19937 seeded from
  /// std::random_device. Tests inject a fixed one.
  DmarcEvaluator(const PublicSuffixList& psl, dns::Resolver& resolver, PercentSource percent = {});

  /// §6.6.1 author domain → §6.6.3 discovery → §6.6.2 alignment of DKIM passes (adkim=) and
  /// SPF pass (aspf=) → pass if either aligns; else the policy (p/sp/np, RFC 9091 existence
  /// check only on this path) and pct= sampling → fail. DNS faults → temperror; so is a fail
  /// where an aligned DKIM signature or SPF itself was temperror. Up to 5 DNS queries.
  DmarcVerdict evaluate(const DmarcInput& input) const;

 private:
  // The no-aligned-pass path: temperror checks, np= (RFC 9091), pct= sampling (§6.6.4).
  DmarcVerdict fail(DmarcVerdict v, const DmarcInput& input) const;

  const PublicSuffixList& psl_;
  dns::Resolver& resolver_;
  PercentSource percent_;
};

/// The Authentication-Results resinfo (RFC 8601 §2.2, RFC 7489 §11.2), OpenDMARC's layout:
///   "dmarc=fail (p=reject dis=quarantine) header.from=example.com policy.dmarc=reject"
/// `disposition` is what the caller did (dis=). The comment appears when a record was used
/// (p= is requested_policy; "sp=" is not echoed); reason= for non-pass results with a reason;
/// header.from when known; policy.dmarc (applied_policy) always. No leading "; ", no folding.
std::string dmarc_clause(const DmarcVerdict& verdict, DmarcPolicy disposition);

}  // namespace postern::dkim
