// dkim_header_canon_fuzz.cpp — header and body canonicalization on arbitrary bytes.
// Checks: relaxed header output has no CR/LF except the final CRLF (names without CR/LF, as
// a milter gets them); body output is the same
// whether fed whole or in two chunks split at a fuzzer-chosen point.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "milters/dkim/canon.hpp"

using postern::dkim::BodyCanonicalizer;
using postern::dkim::Canon;

namespace {

std::string body_in_two(Canon canon, std::string_view body, size_t split) {
  BodyCanonicalizer c(canon);
  std::string out(c.update(body.substr(0, split)));
  out += c.update(body.substr(split));
  out += c.finish();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  size_t colon = input.find(':');
  // A milter never sees CR or LF in a field name (fields are split at line ends).
  std::string_view name = input.substr(0, std::min(colon, input.find_first_of("\r\n")));
  std::string_view value =
      colon == std::string_view::npos ? std::string_view() : input.substr(colon + 1);
  std::string out;
  postern::dkim::canonicalize_header(Canon::Relaxed, name, value, out);
  if (out.find_first_of("\r\n") != out.size() - 2) std::abort();
  out.clear();
  postern::dkim::canonicalize_header(Canon::Simple, name, value, out);
  size_t split = input.empty() ? 0 : (data[0] * 256u + data[1]) % (input.size() + 1);
  for (Canon canon : {Canon::Simple, Canon::Relaxed}) {
    if (body_in_two(canon, input, split) != postern::dkim::canonicalize_body(canon, input))
      std::abort();
  }
  return 0;
}
