// dkim_signature_fuzz.cpp — DKIM-Signature field parsing on arbitrary bytes: must not crash,
// hang or throw; an Ok parse has the required tags decoded, h= naming From, and a value
// without b= that is the input minus exactly the b= value. Also formats the A-R clause.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "milters/dkim/auth_results.hpp"
#include "milters/dkim/signature.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postern::dkim;
  std::string value(reinterpret_cast<const char*>(data), size);
  ParsedSignature parsed = parse_signature(value);
  const Signature& sig = parsed.signature;
  if (parsed.status == SignatureStatus::Ok) {
    if (!parsed.reason.empty() || sig.sdid.empty() || sig.selector.empty()) std::abort();
    if (sig.body_hash.size() != 32 || sig.b.empty()) std::abort();
    bool from = false;
    for (const std::string& name : sig.signed_header_fields) from = from || name == "from";
    if (!from) std::abort();
    if (sig.value_without_b.size() >= value.size()) std::abort();
    if (!domain_within(sig.auid.substr(sig.auid.rfind('@') + 1), sig.sdid)) std::abort();
  } else if (parsed.reason.empty()) {
    std::abort();
  }
  SignatureResult result;
  result.result = parsed.status == SignatureStatus::Ok ? DkimResult::Pass : DkimResult::Permerror;
  result.reason = parsed.reason;
  result.sdid = sig.sdid;
  result.auid = sig.auid;
  result.selector = sig.selector;
  result.algorithm = sig.algorithm_text;
  result.b_prefix = sig.b_text.substr(0, 8);
  std::string clause = dkim_clause(result);
  for (char c : clause) {
    if (c == '\r' || c == '\n') std::abort();
  }
  return 0;
}
