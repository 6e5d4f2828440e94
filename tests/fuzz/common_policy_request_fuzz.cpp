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
#include <string>
#include <string_view>

#include "chunked_feed.hpp"
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

using postern::fuzz::check;

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
  // Every request and the final error ("" when none), fed whole and in chunks.
  auto runs = postern::fuzz::feed_whole_and_chunked(
      data, size, [] { return PolicyRequestParser(fuzz_limits()); });
  if (!runs) return 0;
  const auto& [whole, pieces] = *runs;
  check(line_of(whole.error) == line_of(pieces.error));
  check(whole.items.size() == pieces.items.size());
  for (size_t i = 0; i < whole.items.size(); ++i) {
    check(whole.items[i].attributes() == pieces.items[i].attributes());
    check_round_trip(whole.items[i]);
  }
  return 0;
}
