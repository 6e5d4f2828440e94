// signature.cpp — see signature.hpp.
#include "milters/dkim/signature.hpp"

#include <algorithm>

#include "common/ascii.hpp"
#include "milters/dkim/base64.hpp"
#include "milters/dkim/tag_list.hpp"

namespace postern::dkim {
namespace {

constexpr size_t kSha256Bytes = 32;
constexpr size_t kMaxSignedHeaderFields = 256;
constexpr size_t kMaxDomainBytes = 253;

std::string strip_whitespace(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') out += c;
  }
  return out;
}

// Labels of letters, digits, '-' and '_' (selectors use '_'), 1..63 octets, no empty label.
bool is_domain_syntax(std::string_view name) {
  if (name.empty() || name.size() > kMaxDomainBytes) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

// 1*max_digits DIGIT, nothing else.
std::optional<uint64_t> parse_digits(std::string_view text, size_t max_digits) {
  if (text.empty() || text.size() > max_digits) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// dkim-quoted-printable (RFC 6376 §2.11): =XX decoded, FWS dropped.
std::optional<std::string> decode_quoted_printable(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c != '=') {
      out += c;
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int high = hex_value(text[i + 1]), low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

std::optional<Canon> parse_canon(std::string_view text) {
  if (iequals(text, "simple")) return Canon::Simple;
  if (iequals(text, "relaxed")) return Canon::Relaxed;
  return std::nullopt;
}

// Each step returns "" or the permerror reason.
class Parser {
 public:
  Parser(const TagList& tags, std::string_view raw, Signature& sig)
      : tags_(tags), raw_(raw), sig_(sig) {}

  std::string_view get(std::string_view name) const {
    const Tag* tag = tags_.find(name);
    return tag ? tag->value : std::string_view();
  }

  std::string required() const {
    if (!tags_.find("v")) return "missing v= tag";
    if (get("v") != "1") return "unsupported version v=" + std::string(get("v").substr(0, 16));
    for (const char* name : {"a", "b", "bh", "d", "h", "s"}) {
      if (!tags_.find(name)) return "missing " + std::string(name) + "= tag";
    }
    return "";
  }

  std::string identities() {
    sig_.sdid = to_lower(get("d"));
    sig_.selector = to_lower(get("s"));
    if (!is_domain_syntax(sig_.sdid)) return "d= is not a domain name";
    if (!is_domain_syntax(sig_.selector)) return "s= is not a selector";
    sig_.auid = "@" + sig_.sdid;
    if (!tags_.find("i")) return "";
    auto auid = decode_quoted_printable(get("i"));
    if (!auid) return "bad quoted-printable in i=";
    sig_.auid = *auid;
    size_t at = auid->rfind('@');
    if (at == std::string::npos) return "i= has no '@'";
    if (!domain_within(std::string_view(*auid).substr(at + 1), sig_.sdid)) {
      return "i= domain is not d= or a subdomain of it";
    }
    return "";
  }

  std::string hashes() {
    auto b = base64_decode(get("b"));
    if (!b) return "bad base64 in b=";
    if (b->empty()) return "empty b=";
    sig_.b = std::move(*b);
    sig_.b_text = strip_whitespace(get("b"));
    auto bh = base64_decode(get("bh"));
    if (!bh) return "bad base64 in bh=";
    if (bh->size() != kSha256Bytes) return "bh= is not a SHA-256 digest";
    sig_.body_hash = std::move(*bh);
    return "";
  }

  std::string canonicalization() {
    if (!tags_.find("c")) return "";
    std::string_view c = get("c");
    size_t slash = c.find('/');
    auto header = parse_canon(c.substr(0, slash));
    auto body = slash == std::string_view::npos ? std::optional<Canon>(Canon::Simple)
                                                : parse_canon(c.substr(slash + 1));
    if (!header || !body) return "unknown canonicalization c=" + std::string(c.substr(0, 32));
    sig_.canonicalization = {*header, *body};
    return "";
  }

  std::string header_fields() {
    bool from = false;
    for (std::string_view name : split_colon_list(get("h"))) {
      if (name.empty()) return "empty header field name in h=";
      if (sig_.signed_header_fields.size() >= kMaxSignedHeaderFields) return "h= too long";
      from = from || iequals(name, "from");
      sig_.signed_header_fields.push_back(to_lower(name));
    }
    return from ? "" : "h= does not include From";
  }

  std::string options() {
    if (tags_.find("q")) {
      auto methods = split_colon_list(get("q"));
      if (std::none_of(methods.begin(), methods.end(),
                       [](std::string_view m) { return iequals(m, "dns/txt"); })) {
        return "unsupported query method q=" + std::string(get("q").substr(0, 32));
      }
    }
    if (tags_.find("l")) {
      auto length = parse_digits(get("l"), 76);
      if (!length) return "l= is not a number";
      sig_.body_length = *length;
    }
    return times();
  }

  std::string times() {
    if (tags_.find("t")) {
      auto t = parse_digits(get("t"), 12);
      if (!t) return "t= is not a timestamp";
      sig_.timestamp = static_cast<int64_t>(*t);
    }
    if (tags_.find("x")) {
      auto x = parse_digits(get("x"), 12);
      if (!x) return "x= is not a timestamp";
      sig_.expiration = static_cast<int64_t>(*x);
    }
    if (sig_.timestamp && sig_.expiration && *sig_.expiration < *sig_.timestamp) {
      return "x= is before t=";
    }
    return "";
  }

  void strip_b() {
    const Tag* b = tags_.find("b");
    sig_.value_without_b = std::string(raw_.substr(0, b->value_begin));
    sig_.value_without_b.append(raw_.substr(b->value_end));
  }

 private:
  const TagList& tags_;
  std::string_view raw_;
  Signature& sig_;
};

}  // namespace

std::string_view result_name(DkimResult result) {
  switch (result) {
    case DkimResult::None:
      return "none";
    case DkimResult::Pass:
      return "pass";
    case DkimResult::Fail:
      return "fail";
    case DkimResult::Neutral:
      return "neutral";
    case DkimResult::Policy:
      return "policy";
    case DkimResult::Temperror:
      return "temperror";
    case DkimResult::Permerror:
      return "permerror";
  }
  return "permerror";
}

bool domain_within(std::string_view domain, std::string_view parent) {
  if (domain.size() < parent.size() || parent.empty()) return false;
  std::string_view tail = domain.substr(domain.size() - parent.size());
  if (!iequals(tail, parent)) return false;
  return domain.size() == parent.size() || domain[domain.size() - parent.size() - 1] == '.';
}

ParsedSignature parse_signature(std::string_view value) {
  ParsedSignature parsed;
  if (value.size() > kMaxSignatureBytes) {
    parsed.reason = "signature field too large";
    return parsed;
  }
  TagList tags = parse_tag_list(value);
  if (!tags.ok()) {
    parsed.reason = "bad tag-list: " + tags.error;
    return parsed;
  }
  Signature& sig = parsed.signature;
  Parser parser(tags, value, sig);
  sig.algorithm_text = to_lower(parser.get("a").substr(0, 32));
  sig.b_text = strip_whitespace(parser.get("b").substr(0, 1024));
  std::string reason = parser.required();
  if (reason.empty()) reason = parser.identities();
  if (reason.empty() && sig.algorithm_text == "rsa-sha1") {
    parsed.status = SignatureStatus::Fail;
    parsed.reason = "rsa-sha1 is not accepted (RFC 8301)";
    return parsed;
  }
  if (reason.empty()) {
    if (sig.algorithm_text == "rsa-sha256") {
      sig.algorithm = Algorithm::RsaSha256;
    } else if (sig.algorithm_text == "ed25519-sha256") {
      sig.algorithm = Algorithm::Ed25519Sha256;
    } else {
      reason = "unknown algorithm a=" + sig.algorithm_text;
    }
  }
  for (auto step :
       {&Parser::hashes, &Parser::canonicalization, &Parser::header_fields, &Parser::options}) {
    if (reason.empty()) reason = (parser.*step)();
  }
  if (!reason.empty()) {
    parsed.reason = std::move(reason);
    return parsed;
  }
  parser.strip_b();
  parsed.status = SignatureStatus::Ok;
  return parsed;
}

}  // namespace postern::dkim
