// auth_results_field.cpp — see auth_results_field.hpp.
#include "milters/dkim/auth_results_field.hpp"

#include <strings.h>

#include <array>

#include "common/ascii.hpp"
#include "milters/dkim/auth_results.hpp"

namespace postern::dkim {
namespace {

constexpr size_t kMaxLine = 78;
constexpr size_t kMaxCommentDepth = 32;
constexpr std::string_view kTspecials = "()<>@,;:\\\"/[]?=";

bool is_wsp(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool is_token_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7F && kTspecials.find(c) == std::string_view::npos;
}

// Reads untrusted text from left to right; every step is bounded by the text's length.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool done() const { return pos_ >= text_.size(); }
  char peek() const { return done() ? '\0' : text_[pos_]; }
  void skip() { ++pos_; }

  // Whitespace, folds and (nested) comments; false on an unterminated or too deep comment.
  bool skip_cfws() {
    while (!done()) {
      if (is_wsp(peek())) {
        skip();
      } else if (peek() == '(') {
        if (!skip_comment()) return false;
      } else {
        break;
      }
    }
    return true;
  }

  // A token or quoted-string (RFC 2045 value), unquoted; nullopt when there is none.
  std::optional<std::string> value() {
    if (peek() == '"') return quoted_string();
    size_t start = pos_;
    while (!done() && is_token_char(peek())) skip();
    if (pos_ == start) return std::nullopt;
    return std::string(text_.substr(start, pos_ - start));
  }

  // Up to (not including) the first WSP, ';' or '(' — an RFC 7208 dot-atom or similar.
  std::string word() {
    size_t start = pos_;
    while (!done() && !is_wsp(peek()) && peek() != ';' && peek() != '(') skip();
    return std::string(text_.substr(start, pos_ - start));
  }

  // Skips to just after the next ';' outside quotes and comments; false when there is none.
  bool skip_past_semicolon() {
    while (!done()) {
      if (peek() == '"') {
        if (!quoted_string()) return false;
      } else if (peek() == '(') {
        if (!skip_comment()) return false;
      } else if (peek() == ';') {
        skip();
        return true;
      } else {
        skip();
      }
    }
    return false;
  }

 private:
  bool skip_comment() {
    size_t depth = 0;
    while (!done()) {
      char c = peek();
      skip();
      if (c == '\\') {
        skip();
      } else if (c == '(') {
        if (++depth > kMaxCommentDepth) return false;
      } else if (c == ')') {
        if (--depth == 0) return true;
      }
    }
    return false;
  }

  std::optional<std::string> quoted_string() {
    skip();  // the opening quote
    std::string out;
    while (!done()) {
      char c = peek();
      skip();
      if (c == '"') return out;
      if (c == '\\') {
        if (done()) return std::nullopt;
        c = peek();
        skip();
      }
      out += c;
    }
    return std::nullopt;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

bool is_spf_result(std::string_view word) {
  static constexpr std::array<std::string_view, 7> kResults = {
      "pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"};
  for (std::string_view r : kResults) {
    if (iequals(word, r)) return true;
  }
  return false;
}

// RFC 7208 §9.1 key-value-list after the result and its comment: key=value pairs separated by
// ';' (values: dot-atom or quoted-string). Unknown keys are kept too; the last one wins.
struct ReceivedSpf {
  std::string result;
  std::string envelope_from;
  std::string helo;
  std::string receiver;
  bool has_envelope_from = false;
};

std::optional<ReceivedSpf> parse_received_spf(std::string_view value) {
  Cursor in(value);
  ReceivedSpf spf;
  if (!in.skip_cfws()) return std::nullopt;
  spf.result = in.word();
  if (!is_spf_result(spf.result)) return std::nullopt;
  if (!in.skip_cfws()) return std::nullopt;
  while (!in.done()) {
    std::string key;
    while (!in.done() && is_token_char(in.peek())) {
      key += in.peek();
      in.skip();
    }
    if (!in.skip_cfws() || in.peek() != '=') return std::nullopt;
    in.skip();
    if (!in.skip_cfws()) return std::nullopt;
    std::optional<std::string> val =
        in.peek() == '"' ? in.value() : std::optional<std::string>(in.word());
    if (!val) return std::nullopt;
    if (iequals(key, "envelope-from")) {
      spf.envelope_from = *val;
      spf.has_envelope_from = true;
    } else if (iequals(key, "helo")) {
      spf.helo = *val;
    } else if (iequals(key, "receiver")) {
      spf.receiver = *val;
    }
    if (!in.skip_cfws()) return std::nullopt;
    if (in.done()) break;
    if (in.peek() != ';') return std::nullopt;
    in.skip();
    if (!in.skip_cfws()) return std::nullopt;
  }
  return spf;
}

// Splits a clause at the spaces between its properties ("dkim=pass", "header.d=x", ...).
// Quoted values (reason="...") keep their spaces.
std::vector<std::string> clause_words(std::string_view clause) {
  std::vector<std::string> words;
  std::string word;
  bool quoted = false;
  bool escaped = false;
  for (char c : clause) {
    if (escaped) {
      escaped = false;
    } else if (quoted && c == '\\') {
      escaped = true;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ' ' && !quoted) {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
      continue;
    }
    word += c;
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

// Appends `word` to `out`, where the current line holds `column` octets: on the same line
// after a space when it fits, else on a new "\n\t" line.
void append_word(std::string& out, size_t& column, const std::string& word) {
  if (column + 1 + word.size() <= kMaxLine) {
    out += ' ';
    column += 1;
  } else {
    out += "\n\t";
    column = 8;  // a tab counts as up to 8 columns
  }
  out += word;
  column += word.size();
}

}  // namespace

std::optional<std::string> ar_authserv_id(std::string_view value) {
  Cursor in(value);
  if (!in.skip_cfws()) return std::nullopt;
  std::optional<std::string> id = in.value();
  if (!id || id->empty()) return std::nullopt;
  return id;
}

std::vector<int> forged_ar_instances(const std::vector<HeaderField>& fields,
                                     std::string_view authserv_id) {
  std::vector<int> instances;
  int instance = 0;
  for (const auto& [name, value] : fields) {
    if (!iequals(name, "Authentication-Results")) continue;
    ++instance;
    std::optional<std::string> id = ar_authserv_id(value);
    if (id && iequals(*id, authserv_id)) instances.push_back(instance);
  }
  return instances;
}

std::optional<std::string> spf_clause(const std::vector<HeaderField>& fields,
                                      std::string_view receiver) {
  if (receiver.empty()) return std::nullopt;
  for (const auto& [name, value] : fields) {
    if (iequals(name, "Received")) return std::nullopt;  // only fields above Postfix's own
    if (!iequals(name, "Received-SPF")) continue;
    std::optional<ReceivedSpf> spf = parse_received_spf(value);
    if (!spf || !iequals(spf->receiver, receiver)) return std::nullopt;
    std::string clause = "spf=" + to_lower(spf->result);
    if (spf->has_envelope_from && !spf->envelope_from.empty()) {
      clause += " smtp.mailfrom=" + ar_pvalue(spf->envelope_from);
    } else if (!spf->helo.empty()) {
      clause += " smtp.helo=" + ar_pvalue(spf->helo);
    }
    return clause;
  }
  return std::nullopt;
}

std::string build_ar_value(std::string_view authserv_id, const std::vector<std::string>& clauses) {
  std::string out;
  size_t column = std::string_view("Authentication-Results:").size();
  append_word(out, column, std::string(authserv_id) + ";");
  for (size_t i = 0; i < clauses.size(); ++i) {
    std::vector<std::string> words = clause_words(clauses[i]);
    if (words.empty()) continue;
    if (i + 1 < clauses.size()) words.back() += ';';
    // A clause starts on a new line unless it fits whole on the current one.
    size_t whole = 0;
    for (const std::string& w : words) whole += w.size() + 1;
    if (column + whole > kMaxLine && column > 8) {
      out += "\n\t";
      column = 8;
      out += words.front();
      column += words.front().size();
      words.erase(words.begin());
    }
    for (const std::string& w : words) append_word(out, column, w);
  }
  return out;
}

}  // namespace postern::dkim
