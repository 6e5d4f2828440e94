// dkim_auth_results_field_fuzz.cpp — the untrusted-field readers of auth_results_field.hpp on
// arbitrary bytes: the Authentication-Results authserv-id parser (RFC 8601 §2.2), the forged-
// field finder, and the Received-SPF parser behind spf_clause() (RFC 7208 §9.1). Must not
// crash, hang or throw; outputs are bounded by the input, an spf= clause is one line and
// starts "spf=", and our own field built from it stays within the fold rules.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "milters/dkim/auth_results_field.hpp"

namespace {

using namespace postern;

void check_ar_authserv_id(std::string_view value) {
  std::optional<std::string> id = dkim::ar_authserv_id(value);
  if (!id) return;
  if (id->size() > value.size()) std::abort();
  // Equal to itself, whatever the ASCII case: the forged-field finder must agree.
  std::vector<dkim::HeaderField> fields = {{"Authentication-Results", std::string(value)}};
  if (!id->empty()) {
    std::vector<int> forged = dkim::forged_ar_instances(fields, *id);
    if (forged != std::vector<int>{1}) std::abort();
  }
}

void check_spf_clause(const std::vector<dkim::HeaderField>& fields, std::string_view receiver,
                      size_t input_size) {
  std::optional<std::string> clause = dkim::spf_clause(fields, receiver);
  if (!clause) return;
  if (receiver.empty()) std::abort();
  if (clause->rfind("spf=", 0) != 0) std::abort();
  if (clause->find_first_of("\r\n") != std::string::npos) std::abort();
  // Quoting may double a few characters; anything far past that is unbounded growth.
  if (clause->size() > 2 * input_size + 64) std::abort();
  std::string value = dkim::build_ar_value("mx.example.net", {*clause, "dkim=none"});
  if (value.rfind(" mx.example.net;", 0) != 0) std::abort();
  if (value.find('\r') != std::string::npos) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  check_ar_authserv_id(text);

  // The whole input as our top-most Received-SPF field, for a fixed receiver.
  check_spf_clause({{"Received-SPF", text}, {"Received", "from x by y"}}, "mx.example.net", size);
  check_spf_clause({{"Received-SPF", text}}, "", size);

  // Split into fields at '\0' (name:value); the header splitter must cope with any shape,
  // any number of fields and any receiver taken from the data.
  std::vector<dkim::HeaderField> fields;
  size_t start = 0;
  while (start <= text.size() && fields.size() < 1000) {
    size_t end = text.find('\0', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line = std::string_view(text).substr(start, end - start);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      fields.push_back({std::string(line), ""});
    } else {
      fields.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
    }
    start = end + 1;
  }
  std::string receiver = fields.empty() ? "" : fields.front().value;
  check_spf_clause(fields, receiver, size);
  std::vector<int> forged = dkim::forged_ar_instances(fields, receiver);
  for (size_t i = 0; i < forged.size(); ++i) {
    if (forged[i] < 1 || static_cast<size_t>(forged[i]) > fields.size()) std::abort();
    if (i > 0 && forged[i] <= forged[i - 1]) std::abort();
  }
  return 0;
}
