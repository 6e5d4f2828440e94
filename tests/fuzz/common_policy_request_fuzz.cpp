// common_policy_request_fuzz.cpp — libFuzzer target for PolicyRequestParser (policy.hpp): the
// bytes a policy client sends (Postfix SMTPD_POLICY_README). The first byte picks a chunk size;
// the rest is fed in chunks of that size, as reads from a socket would deliver it.
// Properties checked (abort on violation): consumed <= the bytes fed; chunked feeding gives the
// same requests, and an error on the same line, as feeding everything at once (which cap is
// named may differ: a line can cross the line cap in one chunking and the request cap in the
// other); every Complete request respects the
// limits, and serialized then parsed again gives the same attributes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/policy.hpp"

namespace {

using postern::PolicyLimits;
using postern::PolicyRequest;
using postern::PolicyRequestParser;
using State = PolicyRequestParser::State;

// Small limits so the fuzzer reaches every cap quickly.
PolicyLimits fuzz_limits() {
  PolicyLimits limits;
  limits.max_line_bytes = 64;
  limits.max_attributes = 8;
  limits.max_request_bytes = 256;
  return limits;
}

void check(bool ok) {
  if (!ok) std::abort();
}

// Every request and the final error ("" when none) from feeding `text` in `chunk`-byte pieces.
struct Run {
  std::vector<PolicyRequest> requests;
  std::string error;
};

Run parse_all(std::string_view text, size_t chunk) {
  Run run;
  PolicyRequestParser parser(fuzz_limits());
  for (size_t at = 0; at < text.size(); at += chunk) {
    std::string_view piece = text.substr(at, chunk);
    while (!piece.empty()) {
      size_t consumed = 0;
      State state = parser.feed(piece, consumed);
      check(consumed <= piece.size());
      if (state == State::Error) {
        check(!parser.error().empty());
        run.error = parser.error();
        return run;
      }
      check(state == State::Complete || consumed == piece.size());
      if (state == State::Complete) run.requests.push_back(parser.take());
      piece.remove_prefix(consumed);
    }
  }
  return run;
}

void check_round_trip(const PolicyRequest& request) {
  PolicyLimits limits = fuzz_limits();
  check(!request.attributes().empty());
  check(request.attributes().size() <= limits.max_attributes);
  std::string text = request.serialize();
  check(text.size() <= limits.max_request_bytes);
  PolicyRequestParser parser(limits);
  size_t consumed = 0;
  check(parser.feed(text, consumed) == State::Complete);
  check(consumed == text.size());
  check(parser.take().attributes() == request.attributes());
}

// "line 3: ..." -> "line 3"; "" for no error.
std::string line_of(const std::string& error) {
  return error.substr(0, error.find(':'));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = data[0] % 17 + 1;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  Run whole = parse_all(text, text.size() + 1);
  Run pieces = parse_all(text, chunk);
  check(line_of(whole.error) == line_of(pieces.error));
  check(whole.requests.size() == pieces.requests.size());
  for (size_t i = 0; i < whole.requests.size(); ++i) {
    check(whole.requests[i].attributes() == pieces.requests[i].attributes());
    check_round_trip(whole.requests[i]);
  }
  return 0;
}
