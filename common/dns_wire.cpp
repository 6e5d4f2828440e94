// dns_wire.cpp — rdata decoders for dns_wire.hpp: bounds checked at every step.
#include "common/dns_wire.hpp"

#include <arpa/nameser.h>
#include <resolv.h>

#include <algorithm>

namespace postern::dns::wire {
namespace {

constexpr std::size_t max_name_octets = 255;  // RFC 1035 §2.3.4, wire form incl. length octets
constexpr uint8_t label_type_mask = 0xc0;     // 11 = pointer, 01/10 = reserved (RFC 6891)

// Appends one label octet in presentation form (RFC 1035 §5.1), lower-cased.
void append_label_octet(std::string& out, uint8_t c) {
  if (c >= 'A' && c <= 'Z') {
    out += static_cast<char>(c - 'A' + 'a');
  } else if (c == '.' || c == '\\') {
    out += '\\';
    out += static_cast<char>(c);
  } else if (c > 0x20 && c < 0x7f) {
    out += static_cast<char>(c);
  } else {
    out += '\\';
    out += static_cast<char>('0' + c / 100);
    out += static_cast<char>('0' + c / 10 % 10);
    out += static_cast<char>('0' + c % 10);
  }
}

}  // namespace

std::optional<std::string> decode_name(Bytes wire, std::size_t& consumed) {
  std::string text;
  std::size_t pos = 0;
  while (true) {
    if (pos >= wire.size() || pos >= max_name_octets) return std::nullopt;
    uint8_t length = wire[pos++];
    if (length == 0) break;
    if (length & label_type_mask) return std::nullopt;
    if (length > wire.size() - pos) return std::nullopt;
    if (!text.empty()) text += '.';
    for (std::size_t i = 0; i < length; ++i) append_label_octet(text, wire[pos + i]);
    pos += length;
  }
  if (pos > max_name_octets) return std::nullopt;
  consumed = pos;
  return text;
}

std::optional<std::string> decode_name_rdata(Bytes rdata) {
  std::size_t consumed = 0;
  auto name = decode_name(rdata, consumed);
  if (!name || consumed != rdata.size()) return std::nullopt;
  return name;
}

std::optional<std::string> decode_txt(Bytes rdata) {
  std::string text;
  std::size_t pos = 0;
  while (pos < rdata.size()) {
    std::size_t length = rdata[pos++];
    if (length > rdata.size() - pos) return std::nullopt;
    text.append(reinterpret_cast<const char*>(rdata.data() + pos), length);
    pos += length;
  }
  return text;
}

std::optional<MxRecord> decode_mx(Bytes rdata) {
  if (rdata.size() < 3) return std::nullopt;
  auto exchange = decode_name_rdata(rdata.subspan(2));
  if (!exchange) return std::nullopt;
  MxRecord mx;
  mx.preference = static_cast<uint16_t>(rdata[0] << 8 | rdata[1]);
  mx.exchange = std::move(*exchange);
  return mx;
}

std::optional<IpAddress> decode_a(Bytes rdata) {
  if (rdata.size() != 4) return std::nullopt;
  IpAddress address;
  std::copy(rdata.begin(), rdata.end(), address.bytes.begin());
  return address;
}

std::optional<IpAddress> decode_aaaa(Bytes rdata) {
  if (rdata.size() != 16) return std::nullopt;
  IpAddress address;
  address.v6 = true;
  std::copy(rdata.begin(), rdata.end(), address.bytes.begin());
  return address;
}

std::optional<std::vector<Bytes>> answer_rdatas(Bytes message, uint16_t type) {
  if (message.size() > 65535) return std::nullopt;  // RFC 1035 §4.2.2: 16-bit length
  ns_msg msg;
  if (::ns_initparse(message.data(), static_cast<int>(message.size()), &msg) != 0)
    return std::nullopt;
  if (ns_msg_getflag(msg, ns_f_rcode) != ns_r_noerror) return std::nullopt;
  std::vector<Bytes> rdatas;
  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr;
    if (::ns_parserr(&msg, ns_s_an, i, &rr) != 0) return std::nullopt;
    if (ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in) continue;
    rdatas.emplace_back(ns_rr_rdata(rr), ns_rr_rdlen(rr));
  }
  return rdatas;
}

}  // namespace postern::dns::wire
