// dkim_dmarc_record_fuzz.cpp — the DMARC record parser (RFC 7489 §6.4) and policy discovery on
// arbitrary bytes: must not crash, hang or throw; an Ok record has no reason and values in
// range, a non-Ok one says why; the same bytes served as the only _dmarc TXT record give the
// matching discovery status; the Authentication-Results clause stays one line.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "milters/dkim/dmarc.hpp"

namespace {

using namespace postern;

class OneRecordResolver : public dns::Resolver {
 public:
  std::string record;
  dns::Answer query(std::string_view name, dns::RrType type) override {
    dns::Answer answer;
    answer.status = name == "_dmarc.example.com" ? dns::Status::NoError : dns::Status::NxDomain;
    if (answer.status == dns::Status::NoError && type == dns::RrType::TXT) {
      answer.txt.push_back(record);
    }
    return answer;
  }
};

void check_record(const dkim::DmarcRecordParse& parse) {
  using dkim::DmarcRecordStatus;
  if ((parse.status == DmarcRecordStatus::Ok) != parse.reason.empty()) std::abort();
  if (parse.status != DmarcRecordStatus::Ok) return;
  const dkim::DmarcRecord& r = parse.record;
  if (r.percent < 0 || r.percent > 100) std::abort();
  if (r.aggregate_report_uris.size() > dkim::kMaxReportUris) std::abort();
  if (r.failure_report_uris.size() > dkim::kMaxReportUris) std::abort();
  if (r.policy_defaulted &&
      (r.policy != dkim::DmarcPolicy::None || r.aggregate_report_uris.empty())) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dkim::PublicSuffixList psl;
  std::string text(reinterpret_cast<const char*>(data), size);
  dkim::DmarcRecordParse parse = dkim::parse_dmarc_record(text);
  check_record(parse);

  OneRecordResolver resolver;
  resolver.record = text;
  dkim::DmarcDiscovery found = dkim::discover_dmarc_policy("mail.example.com", resolver, psl);
  using S = dkim::DmarcDiscoveryStatus;
  S want = parse.status == dkim::DmarcRecordStatus::Ok        ? S::Found
           : parse.status == dkim::DmarcRecordStatus::Invalid ? S::Permerror
                                                              : S::None;
  if (found.status != want) std::abort();

  dkim::DmarcEvaluator evaluator(psl, resolver, [] { return 0; });
  dkim::FromAddress from;
  from.outcome = dkim::FromOutcome::Ok;
  from.domain = "example.com";
  dkim::DmarcVerdict verdict = evaluator.evaluate({from, {}, "pass", text});
  std::string clause = dkim::dmarc_clause(verdict, dkim::DmarcPolicy::None);
  if (clause.find_first_of("\r\n") != std::string::npos) std::abort();
  dkim::aligned(text, "example.com", dkim::Alignment::Relaxed, psl);
  return 0;
}
