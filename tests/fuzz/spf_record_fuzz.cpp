// spf_record_fuzz.cpp — SPF record parser, macro expander and check_host() on arbitrary bytes:
// must not crash, hang or throw. The input is the record served for every TXT query of a fake
// resolver (A, MX and PTR answers fixed), so includes and redirects recurse into it up to the
// §4.6.4 limit; it is also expanded as explanation text.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "policyd/spf/evaluator.hpp"
#include "policyd/spf/macro.hpp"
#include "policyd/spf/record.hpp"

namespace {

using namespace postern;

class EchoResolver : public dns::Resolver {
 public:
  explicit EchoResolver(std::string record) : record_(std::move(record)) {}
  dns::Answer query(std::string_view name, dns::RrType type) override {
    dns::Answer a;
    a.status = name.size() % 7 == 0 ? dns::Status::NxDomain : dns::Status::NoError;
    switch (type) {
      case dns::RrType::TXT:
        a.txt = {record_};
        break;
      case dns::RrType::A:
        a.addresses = {*IpAddress::parse("192.0.2.1")};
        break;
      case dns::RrType::AAAA:
        a.addresses = {*IpAddress::parse("2001:db8::1")};
        break;
      case dns::RrType::MX:
        a.mx = {{10, "mx.example.com"}, {20, ""}};
        break;
      case dns::RrType::PTR:
        a.names = {"mail.example.com", "x"};
        break;
      default:
        break;
    }
    return a;
  }

 private:
  std::string record_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  spf::ParsedRecord parsed = spf::parse_record(text);
  if (!parsed.record && parsed.error.empty() && spf::is_spf_record(text)) std::abort();

  spf::MacroContext context;
  context.client = *IpAddress::parse("2001:db8::cb01");
  context.sender = "a.b@example.com";
  context.local_part = "a.b";
  context.sender_domain = context.domain = "example.com";
  spf::MacroExpansion e = spf::expand_macros(text, context, spf::MacroUse::Explanation);
  if (e.ok != spf::check_macro_string(text, spf::MacroUse::Explanation).empty()) std::abort();

  EchoResolver resolver(text);
  spf::Evaluator evaluator(resolver);
  for (const char* client : {"192.0.2.1", "2001:db8::1"}) {
    spf::SpfOutcome o = evaluator.check_host(
        spf::mail_from_identity(*IpAddress::parse(client), "user@example.com", "helo.example"));
    if (!o.explanation.empty() && o.result != spf::SpfResult::Fail) std::abort();
  }
  return 0;
}
