// canon.hpp — DKIM header and body canonicalization (RFC 6376 §3.4, errata 1384 and 4926 on
// empty bodies). simple/relaxed; the body side streams: feed chunks, then finish().
// Bad input: any octets are accepted; nothing here throws except Canonicalization::parse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace postern::dkim {

enum class Canon { Simple, Relaxed };

/// "simple" / "relaxed".
std::string_view canon_name(Canon canon);

/// The c= pair: header_canon/body_canon.
struct Canonicalization {
  Canon header = Canon::Relaxed;
  Canon body = Canon::Relaxed;
  /// "relaxed/simple", "simple" (body defaults to simple, RFC 6376 §3.5 c=). Case-insensitive.
  /// Throws postern::ConfigError on anything else.
  static Canonicalization parse(std::string_view text);
  /// The c= tag value, always both halves ("relaxed/relaxed").
  std::string to_string() const;
  bool operator==(const Canonicalization&) const = default;
};

/// Appends one canonicalized header field plus CRLF to `out` (RFC 6376 §3.4.1/§3.4.2).
/// `name` without the colon; `value` everything after the colon, folds as "\r\n" or "\n" + WSP.
/// simple: name and value kept, every fold written with CRLF. relaxed: name lower-cased and
/// trimmed, value unfolded, WSP runs → one SP, leading/trailing WSP removed.
void canonicalize_header(Canon canon, std::string_view name, std::string_view value,
                         std::string& out);

/// Same without the final CRLF: the form in which the DKIM-Signature field itself is hashed
/// (RFC 6376 §3.7).
void canonicalize_header_unterminated(Canon canon, std::string_view name, std::string_view value,
                                      std::string& out);

/// Streaming body canonicalizer (RFC 6376 §3.4.3/§3.4.4). Lines may end in CRLF or bare LF
/// (taken as CRLF); a chunk may split anywhere, even between CR and LF. The output of each call
/// is a view of an internal buffer, valid until the next call: hash it in one block.
class BodyCanonicalizer {
 public:
  explicit BodyCanonicalizer(Canon canon) : canon_(canon) {}
  /// Canonical bytes that `chunk` completes; trailing empty lines are held back.
  std::string_view update(std::string_view chunk);
  /// The remaining canonical bytes: simple ends a non-empty body with CRLF and turns an empty
  /// body into "\r\n"; relaxed adds CRLF to an unterminated last line, empty body → "".
  std::string_view finish();
  /// Canonical octets produced so far (the would-be l= value).
  uint64_t length() const { return length_; }
  /// Start over for another message, keeping the buffer's capacity.
  void reset();

 private:
  void feed(std::string_view chunk);
  void content(std::string_view run);
  void end_line();
  std::string_view drain();

  Canon canon_;
  std::string out_;
  uint64_t length_ = 0;
  size_t empty_lines_ = 0;  // CRLFs of empty lines not yet written (maybe trailing)
  bool line_has_content_ = false;
  bool pending_cr_ = false;   // a CR ended the previous chunk or run
  bool pending_wsp_ = false;  // relaxed: WSP seen on this line, not yet written
  bool any_output_ = false;
};

/// Whole-body helper: the canonical form of `body` (tests, tools).
std::string canonicalize_body(Canon canon, std::string_view body);

}  // namespace postern::dkim
