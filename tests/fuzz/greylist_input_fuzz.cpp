// greylist_input_fuzz.cpp — libFuzzer target for what postern-greylist reads from outside:
// the request attributes it normalizes (sender, client_address, recipient, client_name, split
// from the input at NUL bytes) and record values read back from a shared Redis (parse_record).
// Properties: nothing throws or crashes; normalize_sender is idempotent on its own output's
// shape (no '+' left in the local part); a network is itself an address that maps to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "policyd/greylist/normalize.hpp"
#include "policyd/greylist/redis_store.hpp"
#include "policyd/greylist/whitelist.hpp"

namespace {

const postern::greylist::ClientWhitelist& clients() {
  static const auto* w = [] {
    auto* list = new postern::greylist::ClientWhitelist;
    list->add(
        "example.org\n/^mail\\d+\\.example\\.net$/\n/"
        "^(?:smtp\\w*|postfix)[0-9]+-g[0-9]+\\.free\\.fr$/\n"
        "192.0.2.0/24\n2001:db8::/32\n",
        "fuzz");
    return list;
  }();
  return *w;
}

const postern::greylist::RecipientWhitelist& recipients() {
  static const auto* w = [] {
    auto* list = new postern::greylist::RecipientWhitelist;
    list->add("postmaster@\nabuse@example.com\nexample.net\n/^list-.*@/\n", "fuzz");
    return list;
  }();
  return *w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> fields;
  while (fields.size() < 3) {
    size_t nul = input.find('\0');
    fields.push_back(input.substr(0, nul));
    if (nul == std::string_view::npos) break;
    input = input.substr(nul + 1);
  }
  if (fields.size() == 3) fields.push_back(input);
  fields.resize(4);
  std::string_view sender = fields[0], address = fields[1], recipient = fields[2], name = fields[3];

  std::string normalized = postern::greylist::normalize_sender(sender, true);
  size_t at = normalized.find('@');
  if (at != std::string::npos && sender.find('@') != std::string_view::npos &&
      normalized.substr(0, at).find('+') != std::string::npos) {
    std::abort();  // the extension must be gone
  }
  for (bool by_host : {false, true}) {
    auto net = postern::greylist::client_network(address, {24, 64, by_host});
    if (net && postern::greylist::client_network(*net, {24, 64, by_host}) != net) std::abort();
  }
  postern::greylist::triplet_key(address, normalized, recipient);
  clients().matches(name, address);
  recipients().matches(recipient);
  postern::greylist::parse_record(sender);
  return 0;
}
