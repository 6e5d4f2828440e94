// from_address.cpp — lenient RFC 5322 mailbox-list parsing for the From: field.
// Two passes: split the value into top-level mailboxes (outside quotes, comments and angle
// brackets; group syntax "name: a, b;" unwrapped), then read the addr-spec of each.
#include "milters/dkim/from_address.hpp"
#include "common/ascii.hpp"

#include <algorithm>

namespace postern::dkim {
namespace {

constexpr size_t kMaxMailboxes = 1000;
constexpr int kMaxCommentDepth = 64;

bool is_wsp(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

FromAddress fail(FromOutcome outcome, std::string reason) {
  FromAddress result;
  result.outcome = outcome;
  result.reason = std::move(reason);
  return result;
}

// Copies `value` without comments (each replaced by one SP); false when unbalanced.
bool strip_comments(std::string_view value, std::string& out) {
  int depth = 0;
  bool quoted = false;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\\' && i + 1 < value.size() && (quoted || depth > 0)) {
      if (depth == 0) out.append(value.substr(i, 2));
      ++i;
    } else if (depth > 0) {
      if (c == '(' && ++depth > kMaxCommentDepth) return false;
      if (c == ')' && --depth == 0) out += ' ';
    } else if (c == '"') {
      quoted = !quoted;
      out += c;
    } else if (c == '(' && !quoted) {
      depth = 1;
    } else {
      out += c;
    }
  }
  return depth == 0 && !quoted;
}

// Splits at top-level ',' ';' and group ':' (outside quotes and <>); a group's display name
// (text before its ':') is dropped. Empty pieces are skipped.
bool split_mailboxes(std::string_view text, std::vector<std::string_view>& out) {
  bool quoted = false;
  bool angle = false;
  size_t start = 0;
  auto flush = [&](size_t end) {
    std::string_view piece = text.substr(start, end - start);
    if (std::any_of(piece.begin(), piece.end(), [](char c) { return !is_wsp(c); })) {
      out.push_back(piece);
    }
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '<') {
      if (angle) return false;
      angle = true;
    } else if (c == '>') {
      if (!angle) return false;
      angle = false;
    } else if (!angle && (c == ',' || c == ';')) {
      flush(i);
      start = i + 1;
    } else if (!angle && c == ':') {
      start = i + 1;  // group display name ends here
    }
    if (out.size() > kMaxMailboxes) return false;
  }
  if (quoted || angle) return false;
  flush(text.size());
  return true;
}

// The addr-spec of one mailbox: inside the last <...>, minus an obsolete route "@a,@b:".
std::string_view addr_spec_of(std::string_view mailbox) {
  size_t open = std::string_view::npos;
  bool quoted = false;
  for (size_t i = 0; i < mailbox.size(); ++i) {
    if (quoted && mailbox[i] == '\\')
      ++i;
    else if (mailbox[i] == '"')
      quoted = !quoted;
    else if (!quoted && mailbox[i] == '<')
      open = i;
  }
  if (open == std::string_view::npos) return mailbox;
  std::string_view inner = mailbox.substr(open + 1);
  inner = inner.substr(0, inner.find('>'));
  size_t first = inner.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && inner[first] == '@') {
    size_t colon = inner.find(':');
    inner = colon == std::string_view::npos ? std::string_view() : inner.substr(colon + 1);
  }
  return inner;
}

// Removes unquoted whitespace (obsolete CFWS around '.' and '@'); keeps quoted strings.
std::string squeeze(std::string_view spec) {
  std::string out;
  bool quoted = false;
  for (size_t i = 0; i < spec.size(); ++i) {
    char c = spec[i];
    if (quoted && c == '\\' && i + 1 < spec.size()) {
      out.append(spec.substr(i++, 2));
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && is_wsp(c)) continue;
    out += c;
  }
  return out;
}

size_t last_unquoted_at(std::string_view spec) {
  size_t at = std::string_view::npos;
  bool quoted = false;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (quoted && spec[i] == '\\')
      ++i;
    else if (spec[i] == '"')
      quoted = !quoted;
    else if (!quoted && spec[i] == '@')
      at = i;
  }
  return at;
}

bool valid_domain_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
         u >= 0x80;  // UTF-8 (RFC 6532)
}

FromAddress read_addr_spec(std::string_view mailbox) {
  std::string spec = squeeze(addr_spec_of(mailbox));
  if (spec.empty()) return fail(FromOutcome::Unparsable, "From: mailbox has no address");
  size_t at = last_unquoted_at(spec);
  if (at == std::string::npos) return fail(FromOutcome::NoDomain, "From: without a domain");
  std::string domain = spec.substr(at + 1);
  std::transform(domain.begin(), domain.end(), domain.begin(), ascii_lower);
  while (!domain.empty() && domain.back() == '.') domain.pop_back();
  if (domain.empty()) return fail(FromOutcome::NoDomain, "From: without a domain");
  if (domain.front() == '[')
    return fail(FromOutcome::NoDomain, "From: domain is an address literal");
  if (!std::all_of(domain.begin(), domain.end(), valid_domain_char) || domain.front() == '.' ||
      domain.find("..") != std::string::npos) {
    return fail(FromOutcome::Unparsable, "From: domain has invalid characters");
  }
  FromAddress result;
  result.outcome = FromOutcome::Ok;
  result.local_part = spec.substr(0, at);
  result.domain = domain;
  result.address = result.local_part + "@" + domain;
  if (result.local_part.empty()) return fail(FromOutcome::Unparsable, "From: empty local part");
  return result;
}

}  // namespace

FromAddress parse_from_value(std::string_view value) {
  if (value.size() > kMaxFromBytes) return fail(FromOutcome::Unparsable, "From: too long");
  std::string text;
  text.reserve(value.size());
  if (!strip_comments(value, text)) {
    return fail(FromOutcome::Unparsable, "From: unbalanced comment or quote");
  }
  std::vector<std::string_view> mailboxes;
  if (!split_mailboxes(text, mailboxes)) {
    return fail(FromOutcome::Unparsable, "From: unbalanced quote or angle bracket");
  }
  if (mailboxes.empty()) return fail(FromOutcome::Unparsable, "From: has no address");
  if (mailboxes.size() > 1) return fail(FromOutcome::Multiple, "several From: mailboxes");
  return read_addr_spec(mailboxes.front());
}

FromAddress parse_from(const std::vector<std::string>& from_values) {
  if (from_values.empty()) return fail(FromOutcome::Missing, "no From:");
  if (from_values.size() > 1) return fail(FromOutcome::Multiple, "several From: fields");
  return parse_from_value(from_values.front());
}

}  // namespace postern::dkim
