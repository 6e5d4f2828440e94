// common_dns_wire_fuzz.cpp — libFuzzer target for common/dns_wire.hpp, the decoders of rdata that
// comes from any DNS server on the Internet (TXT for SPF/DKIM/DMARC, MX, PTR/CNAME names, A/AAAA).
// Properties checked: no decoder reads past its input; a TXT text is never longer than its
// rdata; a decoded name is printable ASCII without upper case, from at most 255 octets; MX and
// PTR accept exactly the same name octets; every rdata answer_rdatas() returns for a whole
// message lies inside that message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/dns_wire.hpp"

namespace wire = postern::dns::wire;

namespace {

void check_name_text(std::string_view text) {
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f || (c >= 'A' && c <= 'Z')) std::abort();
  }
}

void check_name(wire::Bytes bytes) {
  std::size_t consumed = 0;
  auto name = wire::decode_name(bytes, consumed);
  if (!name) return;
  if (consumed == 0 || consumed > bytes.size() || consumed > 255) std::abort();
  check_name_text(*name);
}

void check_txt(wire::Bytes bytes) {
  auto text = wire::decode_txt(bytes);
  if (text && text->size() > bytes.size()) std::abort();
}

void check_mx(wire::Bytes bytes) {
  auto mx = wire::decode_mx(bytes);
  auto ptr = bytes.size() >= 2 ? wire::decode_name_rdata(bytes.subspan(2)) : std::nullopt;
  if (mx.has_value() != ptr.has_value()) std::abort();
  if (mx && mx->exchange != *ptr) std::abort();
}

void check_address(wire::Bytes bytes) {
  if (wire::decode_a(bytes).has_value() != (bytes.size() == 4)) std::abort();
  if (wire::decode_aaaa(bytes).has_value() != (bytes.size() == 16)) std::abort();
}

void check_message(wire::Bytes bytes) {
  auto rdatas = wire::answer_rdatas(bytes, 16);
  if (!rdatas) return;
  for (auto rdata : *rdatas) {
    if (!rdata.empty() &&
        (rdata.data() < bytes.data() || rdata.data() + rdata.size() > bytes.data() + bytes.size()))
      std::abort();
    check_txt(rdata);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  wire::Bytes bytes(data, size);
  check_name(bytes);
  check_txt(bytes);
  check_mx(bytes);
  check_address(bytes);
  check_message(bytes);
  return 0;
}
