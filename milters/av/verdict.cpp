// verdict.cpp — verdict → milter action.
#include "milters/av/verdict.hpp"

#include "common/config_error.hpp"

namespace postern::av {
namespace {

void add_scan_headers(Action& action, const VerdictPolicy& policy, const std::string& status) {
  action.headers.push_back({"X-Virus-Scanned", policy.scanner});
  action.headers.push_back({"X-Virus-Status", status});
}

Action tempfail(std::string xcode, std::string text, std::string result) {
  Action action;
  action.status = MilterStatus::Tempfail;
  action.rcode = "451";
  action.xcode = std::move(xcode);
  action.text = std::move(text);
  action.result = std::move(result);
  return action;
}

Action on_virus(const Verdict& verdict, const VerdictPolicy& policy, bool add_headers) {
  std::string signature = printable_signature(verdict.signature);
  Action action;
  action.result = "infected";
  switch (policy.on_virus) {
    case VirusAction::Reject:
      action.status = MilterStatus::Reject;
      action.rcode = "550";
      action.xcode = "5.7.1";
      action.text = "Virus found: " + signature;
      break;
    case VirusAction::Discard:
      action.status = MilterStatus::Discard;
      break;
    case VirusAction::Quarantine:
      action.quarantine_reason = "Virus found: " + signature;
      if (add_headers) add_scan_headers(action, policy, "Infected (" + signature + ")");
      break;
    case VirusAction::Accept:
      add_scan_headers(action, policy, "Infected (" + signature + ")");
      break;
  }
  return action;
}

}  // namespace

VirusAction parse_virus_action(std::string_view text) {
  if (text == "reject") return VirusAction::Reject;
  if (text == "discard") return VirusAction::Discard;
  if (text == "quarantine") return VirusAction::Quarantine;
  if (text == "accept") return VirusAction::Accept;
  throw ConfigError("option --on-virus: '" + std::string(text) +
                    "' is not one of reject, discard, quarantine, accept");
}

OversizeAction parse_oversize_action(std::string_view text) {
  if (text == "accept") return OversizeAction::Accept;
  if (text == "tempfail") return OversizeAction::Tempfail;
  throw ConfigError("option --oversize: '" + std::string(text) +
                    "' is not one of accept, tempfail");
}

Action decide(const Verdict& verdict, const VerdictPolicy& policy, bool add_headers) {
  switch (verdict.outcome) {
    case Outcome::Clean: {
      Action action;
      action.result = "clean";
      if (add_headers) add_scan_headers(action, policy, "Clean");
      return action;
    }
    case Outcome::Virus:
      return on_virus(verdict, policy, add_headers);
    case Outcome::ScanError:
      return tempfail("4.3.0", "Virus scan failed, try again later", "error");
    case Outcome::ScanTimeout:
      return tempfail("4.3.0", "Virus scan timed out, try again later", "timeout");
    case Outcome::NoEngine:
      return tempfail("4.3.0", "Virus scanner not ready, try again later", "no-engine");
    case Outcome::Oversized: {
      if (policy.on_oversize == OversizeAction::Tempfail) {
        Action action = tempfail("4.3.4", "Message too large to scan, try again later", "");
        action.rcode = "452";
        action.result = "skipped";
        return action;
      }
      Action action;
      action.result = "skipped";
      if (add_headers) action.headers.push_back({"X-Virus-Scanned", "skipped (size)"});
      return action;
    }
  }
  return tempfail("4.3.0", "Virus scan failed, try again later", "error");  // not reached
}

std::string printable_signature(std::string_view signature) {
  std::string out;
  for (char c : signature.substr(0, 200)) {
    out += (c >= 0x21 && c <= 0x7e) ? c : '?';
  }
  return out.empty() ? "unnamed" : out;
}

}  // namespace postern::av
