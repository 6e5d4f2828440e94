// canon.cpp — RFC 6376 §3.4 canonicalization; see canon.hpp.
#include "milters/dkim/canon.hpp"

#include <algorithm>
#include <array>

#include "common/ascii.hpp"
#include "common/config_error.hpp"

namespace postern::dkim {
namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

Canon parse_one(std::string_view word, std::string_view whole) {
  if (iequals(word, "simple")) return Canon::Simple;
  if (iequals(word, "relaxed")) return Canon::Relaxed;
  throw ConfigError("canonicalization '" + std::string(whole) +
                    "': want simple or relaxed for header and body, as in relaxed/relaxed");
}

// Octets the body state machine must look at one by one; everything else is copied in runs.
using ByteClass = std::array<bool, 256>;

constexpr ByteClass make_special(bool relaxed) {
  ByteClass special{};
  special['\r'] = special['\n'] = true;
  if (relaxed) special[' '] = special['\t'] = true;
  return special;
}

constexpr ByteClass kSimpleSpecial = make_special(false);
constexpr ByteClass kRelaxedSpecial = make_special(true);

void header_simple(std::string_view name, std::string_view value, std::string& out) {
  out.append(name);
  out += ':';
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\n' && (i == 0 || value[i - 1] != '\r')) out += '\r';
    out += c;
  }
}

void header_relaxed(std::string_view name, std::string_view value, std::string& out) {
  while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
  while (!name.empty() && is_wsp(name.front())) name.remove_prefix(1);
  for (char c : name) out += ascii_lower(c);
  out += ':';
  bool pending_space = false;
  bool started = false;
  for (char c : value) {
    if (c == '\r' || c == '\n') continue;  // unfold (RFC 6376 §3.4.2 step 2)
    if (is_wsp(c)) {
      pending_space = started;
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    started = true;
    out += c;
  }
}

}  // namespace

std::string_view canon_name(Canon canon) {
  return canon == Canon::Simple ? "simple" : "relaxed";
}

Canonicalization Canonicalization::parse(std::string_view text) {
  size_t slash = text.find('/');
  Canonicalization result;
  result.header = parse_one(text.substr(0, slash), text);
  result.body =
      slash == std::string_view::npos ? Canon::Simple : parse_one(text.substr(slash + 1), text);
  return result;
}

std::string Canonicalization::to_string() const {
  std::string text(canon_name(header));
  text += '/';
  text += canon_name(body);
  return text;
}

void canonicalize_header_unterminated(Canon canon, std::string_view name, std::string_view value,
                                      std::string& out) {
  if (canon == Canon::Simple) {
    header_simple(name, value, out);
  } else {
    header_relaxed(name, value, out);
  }
}

void canonicalize_header(Canon canon, std::string_view name, std::string_view value,
                         std::string& out) {
  canonicalize_header_unterminated(canon, name, value, out);
  out += "\r\n";
}

std::string_view BodyCanonicalizer::update(std::string_view chunk) {
  out_.clear();
  feed(chunk);
  return drain();
}

std::string_view BodyCanonicalizer::finish() {
  out_.clear();
  if (pending_cr_) {  // a bare CR at the very end is content
    pending_cr_ = false;
    content("\r");
  }
  if (line_has_content_) end_line();
  if (canon_ == Canon::Simple && !any_output_) out_ += "\r\n";  // RFC 6376 §3.4.3
  empty_lines_ = 0;
  return drain();
}

void BodyCanonicalizer::reset() {
  out_.clear();
  length_ = 0;
  empty_lines_ = 0;
  line_has_content_ = pending_cr_ = pending_wsp_ = any_output_ = false;
}

std::string_view BodyCanonicalizer::drain() {
  length_ += out_.size();
  any_output_ = any_output_ || !out_.empty();
  return out_;
}

// The state machine: runs of ordinary octets are copied whole; CR, LF (and WSP when relaxed)
// are handled one at a time.
void BodyCanonicalizer::feed(std::string_view chunk) {
  const ByteClass& special = canon_ == Canon::Relaxed ? kRelaxedSpecial : kSimpleSpecial;
  size_t i = 0;
  while (i < chunk.size()) {
    char c = chunk[i];
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        end_line();
        ++i;
        continue;
      }
      content("\r");  // bare CR: ordinary content
    }
    if (!special[static_cast<unsigned char>(c)]) {
      size_t end = i + 1;
      while (end < chunk.size() && !special[static_cast<unsigned char>(chunk[end])]) ++end;
      content(chunk.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == '\r') {
      pending_cr_ = true;
    } else if (c == '\n') {
      end_line();
    } else {
      pending_wsp_ = true;  // relaxed only: WSP is special there
    }
    ++i;
  }
}

void BodyCanonicalizer::content(std::string_view run) {
  if (empty_lines_ > 0) {  // the held-back empty lines were not trailing after all
    for (; empty_lines_ > 0; --empty_lines_) out_ += "\r\n";
  }
  if (pending_wsp_) {
    out_ += ' ';
    pending_wsp_ = false;
  }
  out_.append(run);
  line_has_content_ = true;
}

void BodyCanonicalizer::end_line() {
  pending_wsp_ = false;  // relaxed: trailing WSP of a line goes
  if (line_has_content_) {
    out_ += "\r\n";
    line_has_content_ = false;
  } else {
    ++empty_lines_;
  }
}

std::string canonicalize_body(Canon canon, std::string_view body) {
  BodyCanonicalizer canonicalizer(canon);
  std::string result(canonicalizer.update(body));
  result.append(canonicalizer.finish());
  return result;
}

}  // namespace postern::dkim
