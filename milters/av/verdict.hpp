// verdict.hpp — what postern-av does with a message once the scan (or the lack of one) has
// given a verdict: the milter status, the SMTP reply, the X-Virus-Scanned / X-Virus-Status
// fields to add, and the hold-queue reason. Pure logic: no libmilter, no libclamav.
// Never loses mail: a scan error, a timeout and the lack of an engine are 4xx (TEMPFAIL),
// never a 5xx and never an accept of unscanned content (the oversize skip is the one accept
// without a scan, and it says so in X-Virus-Scanned when headers are on).
// Source: Postfix MILTER_README (reject, discard, quarantine = hold queue), RFC 3463 codes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/milter.hpp"

namespace postern::av {

/// --on-virus: what a hit does.
enum class VirusAction { Reject, Discard, Quarantine, Accept };
/// --oversize: what a message over --max-size gets.
enum class OversizeAction { Accept, Tempfail };

/// "reject|discard|quarantine|accept" → VirusAction; throws ConfigError otherwise.
VirusAction parse_virus_action(std::string_view text);
/// "accept|tempfail" → OversizeAction; throws ConfigError otherwise.
OversizeAction parse_oversize_action(std::string_view text);

/// The configured answers, shared by all sessions.
struct VerdictPolicy {
  VirusAction on_virus = VirusAction::Reject;
  OversizeAction on_oversize = OversizeAction::Accept;
  /// X-Virus-Scanned value for a scanned message, e.g. "ClamAV 1.4.6 (postern-av 0.1.0)".
  std::string scanner = "ClamAV";
};

/// What happened to the message before any action.
enum class Outcome { Clean, Virus, ScanError, ScanTimeout, Oversized, NoEngine };

struct Verdict {
  Outcome outcome = Outcome::ScanError;
  std::string signature;  // Virus: the signature name
  std::string reason;     // ScanError/NoEngine: for the log
};

/// One header field to add (value without the leading space).
struct HeaderField {
  std::string name;
  std::string value;
};

/// The answer to the MTA at end of message.
struct Action {
  MilterStatus status = MilterStatus::Continue;
  /// SMTP reply for Reject/Tempfail ("550", "5.7.1", "Virus found: X"); empty rcode = none.
  std::string rcode, xcode, text;
  std::vector<HeaderField> headers;
  /// Non-empty: move the message to the hold queue with this reason.
  std::string quarantine_reason;
  /// One word for logs and metrics: clean, infected, error, timeout, skipped, no-engine.
  std::string result;
};

/// The action for `verdict`. `add_headers`: X-Virus-Scanned/X-Virus-Status wanted for this
/// message (off for outbound mail). --on-virus accept always adds X-Virus-Status, so an
/// infected message is never passed on unmarked.
Action decide(const Verdict& verdict, const VerdictPolicy& policy, bool add_headers);

/// A signature name made safe for an SMTP reply and a header field: printable ASCII only
/// (others become '?'), at most 200 bytes.
std::string printable_signature(std::string_view signature);

}  // namespace postern::av
