// normalize.cpp — triplet normalization (see normalize.hpp).
#include "policyd/greylist/normalize.hpp"

#include <vector>

#include "common/ascii.hpp"
#include "common/cidr.hpp"

namespace postern::greylist {
namespace {

bool is_word(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_lower_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t at = text.find(sep);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text = text.substr(at + 1);
  }
}

// Perl /^[0-9a-z]{10}/
bool starts_with_tag(std::string_view s) {
  if (s.size() < 10) return false;
  for (size_t i = 0; i < 10; ++i) {
    if (!is_lower_alnum(s[i])) return false;
  }
  return true;
}

// postgrey: split(/=/, $user) must give exactly three fields. Perl drops trailing empty fields.
std::string_view strip_batv(std::string_view user) {
  if (user.substr(0, 5) != "prvs=") return user;
  auto parts = split(user, '=');
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  if (parts.size() != 3) return user;
  bool tag1 = starts_with_tag(parts[1]), tag2 = starts_with_tag(parts[2]);
  if (tag1 && !tag2) return parts[2];
  if (tag2 && !tag1) return parts[1];
  return parts[2];
}

// SRS0=HHH=TT=domain=local and SRS1=HHH=forwarder==HHH=TT=domain=local (case-insensitive
// "SRS0"/"SRS1", separators '=', '+' or '-' after the tag as in libsrs2). Returns
// (local, domain) or nothing.
std::optional<std::pair<std::string_view, std::string_view>> strip_srs(std::string_view user) {
  if (user.size() < 5 || !iequals(user.substr(0, 3), "srs")) return std::nullopt;
  char kind = user[3];
  char sep = user[4];
  if ((kind != '0' && kind != '1') || (sep != '=' && sep != '+' && sep != '-')) return std::nullopt;
  std::string_view rest = user.substr(5);
  if (kind == '1') {
    size_t inner = rest.find("==");
    if (inner == std::string_view::npos) return std::nullopt;
    rest = rest.substr(inner + 2);
  }
  // HHH=TT=domain=local; local may itself hold '='.
  size_t a = rest.find('=');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = rest.find('=', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  size_t c = rest.find('=', b + 1);
  if (c == std::string_view::npos) return std::nullopt;
  std::string_view domain = rest.substr(b + 1, c - b - 1), local = rest.substr(c + 1);
  if (domain.empty() || local.empty()) return std::nullopt;
  return std::make_pair(local, domain);
}

// Perl s/\b\d+\b/#/g on ASCII text.
std::string replace_digit_words(std::string_view user) {
  std::string out;
  out.reserve(user.size());
  size_t i = 0;
  while (i < user.size()) {
    bool boundary_before = i == 0 || !is_word(user[i - 1]);
    if (is_digit(user[i]) && boundary_before) {
      size_t j = i;
      while (j < user.size() && is_digit(user[j])) ++j;
      if (j == user.size() || !is_word(user[j])) {
        out += '#';
        i = j;
        continue;
      }
      out.append(user.substr(i, j - i));  // digits glued to a word: keep them all
      i = j;
      continue;
    }
    out += user[i++];
  }
  return out;
}

}  // namespace

std::optional<std::string> client_network(std::string_view client_address,
                                          const NetworkOptions& options) {
  auto address = IpAddress::parse(client_address);
  if (!address) return std::nullopt;
  static constexpr uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (address->v6 && std::equal(mapped, mapped + 12, address->bytes.begin())) {
    IpAddress v4;
    std::copy(address->bytes.begin() + 12, address->bytes.end(), v4.bytes.begin());
    address = v4;
  }
  if (options.by_host) return address->to_string();
  unsigned bits = address->v6 ? 128 : 32;
  unsigned prefix = std::min(address->v6 ? options.ipv6_prefix : options.ipv4_prefix, bits);
  for (unsigned bit = prefix; bit < bits; ++bit) {
    address->bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  return address->to_string();
}

std::string normalize_sender(std::string_view sender, bool replace_digits) {
  size_t at = sender.find('@');
  if (at == std::string_view::npos) return std::string(sender);
  std::string_view user = sender.substr(0, at), domain = sender.substr(at + 1);
  if (auto srs = strip_srs(user)) {
    user = srs->first;
    domain = srs->second;
  } else {
    user = strip_batv(user);
  }
  user = user.substr(0, user.find('+'));
  std::string out = replace_digits ? replace_digit_words(user) : std::string(user);
  out += '@';
  out.append(domain);
  return out;
}

std::string triplet_key(std::string_view network, std::string_view normalized_sender,
                        std::string_view recipient) {
  std::string key;
  key.reserve(network.size() + normalized_sender.size() + recipient.size() + 2);
  key.append(network).append("/").append(normalized_sender).append("/").append(recipient);
  return to_lower(key);
}

}  // namespace postern::greylist
