// av_verdict_test.cpp — verdict → milter action for every outcome and --on-virus/--oversize
// setting; never a 5xx or an unmarked accept where the scan did not say clean.
#include <gtest/gtest.h>

#include "common/config_error.hpp"
#include "milters/av/verdict.hpp"

namespace postern::av {
namespace {

Verdict virus(std::string signature) {
  return Verdict{Outcome::Virus, std::move(signature), ""};
}

std::string header(const Action& a, const std::string& name) {
  for (const HeaderField& f : a.headers) {
    if (f.name == name) return f.value;
  }
  return "<none>";
}

VerdictPolicy policy(VirusAction on_virus, OversizeAction on_oversize = OversizeAction::Accept) {
  VerdictPolicy p;
  p.on_virus = on_virus;
  p.on_oversize = on_oversize;
  p.scanner = "ClamAV 1.4.6 (postern-av)";
  return p;
}

TEST(AvVerdict, CleanAddsHeadersOnlyWhenWanted) {
  Action a = decide(Verdict{Outcome::Clean, "", ""}, policy(VirusAction::Reject), true);
  EXPECT_EQ(a.status, MilterStatus::Continue);
  EXPECT_EQ(a.result, "clean");
  EXPECT_EQ(header(a, "X-Virus-Scanned"), "ClamAV 1.4.6 (postern-av)");
  EXPECT_EQ(header(a, "X-Virus-Status"), "Clean");
  Action outbound = decide(Verdict{Outcome::Clean, "", ""}, policy(VirusAction::Reject), false);
  EXPECT_TRUE(outbound.headers.empty());
  EXPECT_TRUE(outbound.rcode.empty());
}

TEST(AvVerdict, VirusActions) {
  Action reject = decide(virus("Eicar-Signature"), policy(VirusAction::Reject), true);
  EXPECT_EQ(reject.status, MilterStatus::Reject);
  EXPECT_EQ(reject.rcode + " " + reject.xcode + " " + reject.text,
            "550 5.7.1 Virus found: Eicar-Signature");
  EXPECT_TRUE(reject.headers.empty());
  EXPECT_EQ(reject.result, "infected");

  Action discard = decide(virus("X"), policy(VirusAction::Discard), true);
  EXPECT_EQ(discard.status, MilterStatus::Discard);
  EXPECT_TRUE(discard.rcode.empty());

  Action hold = decide(virus("X"), policy(VirusAction::Quarantine), true);
  EXPECT_EQ(hold.status, MilterStatus::Continue);
  EXPECT_EQ(hold.quarantine_reason, "Virus found: X");
  EXPECT_EQ(header(hold, "X-Virus-Status"), "Infected (X)");
  Action hold_outbound = decide(virus("X"), policy(VirusAction::Quarantine), false);
  EXPECT_EQ(hold_outbound.quarantine_reason, "Virus found: X");
  EXPECT_TRUE(hold_outbound.headers.empty());

  // accept always marks the message, even with headers off
  for (bool headers : {true, false}) {
    Action accept = decide(virus("X"), policy(VirusAction::Accept), headers);
    EXPECT_EQ(accept.status, MilterStatus::Continue);
    EXPECT_EQ(header(accept, "X-Virus-Status"), "Infected (X)") << "headers " << headers;
    EXPECT_TRUE(accept.quarantine_reason.empty());
  }
}

TEST(AvVerdict, FaultsAreTemporary) {
  struct Case {
    Outcome outcome;
    std::string result;
  };
  for (const Case& c : {Case{Outcome::ScanError, "error"}, Case{Outcome::ScanTimeout, "timeout"},
                        Case{Outcome::NoEngine, "no-engine"}}) {
    for (VirusAction on_virus : {VirusAction::Reject, VirusAction::Accept}) {
      Action a = decide(Verdict{c.outcome, "", "why"}, policy(on_virus), true);
      EXPECT_EQ(a.status, MilterStatus::Tempfail) << c.result;
      EXPECT_EQ(a.rcode, "451") << c.result;
      EXPECT_EQ(a.xcode.substr(0, 2), "4.") << c.result;
      EXPECT_EQ(a.result, c.result);
      EXPECT_TRUE(a.headers.empty());
    }
  }
}

TEST(AvVerdict, Oversized) {
  Action accept = decide(Verdict{Outcome::Oversized, "", ""}, policy(VirusAction::Reject), true);
  EXPECT_EQ(accept.status, MilterStatus::Continue);
  EXPECT_EQ(header(accept, "X-Virus-Scanned"), "skipped (size)");
  EXPECT_EQ(header(accept, "X-Virus-Status"), "<none>");
  EXPECT_EQ(accept.result, "skipped");
  Action tempfail = decide(Verdict{Outcome::Oversized, "", ""},
                           policy(VirusAction::Reject, OversizeAction::Tempfail), true);
  EXPECT_EQ(tempfail.status, MilterStatus::Tempfail);
  EXPECT_EQ(tempfail.rcode + " " + tempfail.xcode, "452 4.3.4");
}

TEST(AvVerdict, SignatureMadePrintable) {
  EXPECT_EQ(printable_signature("Win.Test.EICAR_HDB-1"), "Win.Test.EICAR_HDB-1");
  EXPECT_EQ(printable_signature("a b\r\n%c"), "a?b??%c");
  EXPECT_EQ(printable_signature(""), "unnamed");
  EXPECT_EQ(printable_signature(std::string(300, 's')).size(), 200u);
  Action a = decide(virus("bad\r\nsig"), policy(VirusAction::Reject), true);
  EXPECT_EQ(a.text, "Virus found: bad??sig");
}

TEST(AvVerdict, ParseActions) {
  EXPECT_EQ(parse_virus_action("reject"), VirusAction::Reject);
  EXPECT_EQ(parse_virus_action("discard"), VirusAction::Discard);
  EXPECT_EQ(parse_virus_action("quarantine"), VirusAction::Quarantine);
  EXPECT_EQ(parse_virus_action("accept"), VirusAction::Accept);
  EXPECT_THROW(parse_virus_action("Reject"), ConfigError);
  EXPECT_EQ(parse_oversize_action("accept"), OversizeAction::Accept);
  EXPECT_EQ(parse_oversize_action("tempfail"), OversizeAction::Tempfail);
  EXPECT_THROW(parse_oversize_action("reject"), ConfigError);
}

}  // namespace
}  // namespace postern::av
