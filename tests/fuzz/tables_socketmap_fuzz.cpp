// tables_socketmap_fuzz.cpp — libFuzzer target for the socketmap request side (socketmap.hpp):
// NetstringParser over the bytes a socketmap client sends, then parse_socketmap_request on
// each payload, and the CIDR map's key generation (cidr_candidate_keys) on each key, as
// postern-tables runs them on untrusted input. The first byte picks a chunk size; the rest is
// fed in chunks of that size, as socket reads deliver it.
// Properties checked (abort on violation): consumed <= the bytes fed; chunked feeding gives the
// same payloads and the same error as feeding everything at once; every payload respects the
// limit and re-framed with netstring() parses back to itself; a parsed request's name is
// non-empty and without a space, its key within the key limit; candidate keys are none or
// 34/130; lookup_forms (forms=access with each parents= style, forms=virtual) starts with the
// (lowercased) key, has no duplicate and no empty form, and at most one form per '.', ':' or
// '@' of the key plus two (virtual: at most two).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chunked_feed.hpp"
#include "common/socketmap.hpp"
#include "policyd/tables/maps.hpp"

namespace {

using postern::NetstringParser;
using State = NetstringParser::State;
constexpr size_t kMaxPayload = 64;  // small, so the fuzzer reaches the cap quickly

using postern::fuzz::check;

void check_payload(const std::string& payload) {
  check(payload.size() <= kMaxPayload);
  NetstringParser again(kMaxPayload);
  std::string framed = postern::netstring(payload);
  size_t consumed = 0;
  check(again.feed(framed, consumed) == State::Complete && consumed == framed.size());
  check(again.take() == payload);
  postern::SocketmapLimits limits;
  limits.max_request_bytes = kMaxPayload;
  limits.max_key_bytes = 32;
  postern::SocketmapRequest request;
  if (!postern::parse_socketmap_request(payload, limits, request).empty()) return;
  check(!request.name.empty() && request.name.find(' ') == std::string::npos);
  check(request.key.size() <= limits.max_key_bytes);
  size_t keys = postern::tables::cidr_candidate_keys("P:", request.key).size();
  check(keys == 0 || keys == 34 || keys == 130);
  using postern::tables::AddressForms;
  using postern::tables::ParentStyle;
  size_t separators = 0;
  for (char c : request.key) separators += c == '.' || c == ':' || c == '@';
  for (int variant = 0; variant < 4; ++variant) {
    postern::tables::MapSpec spec;
    spec.forms = variant == 3 ? AddressForms::Virtual : AddressForms::Access;
    spec.parents = variant == 0   ? ParentStyle::Parent
                   : variant == 1 ? ParentStyle::Dot
                                  : ParentStyle::None;
    spec.lowercase = variant % 2 == 0;
    std::vector<std::string> forms = postern::tables::lookup_forms(spec, request.key);
    check(!forms.empty() && forms.size() <= separators + 2);
    check(spec.forms != AddressForms::Virtual || forms.size() <= 2);
    check(forms[0].size() == request.key.size());
    for (size_t i = 0; i < forms.size(); ++i) {
      check(!forms[i].empty() || request.key.empty());
      for (size_t j = 0; j < i; ++j) check(forms[i] != forms[j]);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto runs = postern::fuzz::feed_whole_and_chunked(data, size,
                                                    [] { return NetstringParser(kMaxPayload); });
  if (!runs) return 0;
  const auto& [whole, pieces] = *runs;
  check(whole.error == pieces.error);
  check(whole.items == pieces.items);
  for (const std::string& payload : whole.items) check_payload(payload);
  return 0;
}
