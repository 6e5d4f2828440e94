// signer.cpp — DKIM-Signature generation (RFC 6376 §3.5, §3.7, §5.4; RFC 8463 §3).
#include "milters/dkim/signer.hpp"

#include <algorithm>
#include <stdexcept>

#include <openssl/sha.h>

#include "common/openssl.hpp"
#include "milters/dkim/base64.hpp"
#include "milters/dkim/digest.hpp"

namespace postern::dkim {
namespace {

// dkim-quoted-printable (RFC 6376 §2.11): octets outside 0x21..0x7E, ';' and '=' become =XX.
std::string dkim_quoted_printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (c > 0x20 && c < 0x7F && c != ';' && c != '=') {
      out += static_cast<char>(c);
    } else {
      out += '=';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

constexpr size_t kMaxLine = 78;  // RFC 5322 §2.1.1 SHOULD
constexpr std::string_view kFieldName = "DKIM-Signature";
constexpr size_t kMaxSignedFields = 1000;  // cap on stored header fields we may sign

struct FieldView {
  std::string_view name;
  std::string_view value;
};

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

// Field names as received may carry WSP before the colon ("B :"); h= compares the bare name.
std::string_view bare_name(std::string_view name) {
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  return name;
}

// The `nth` (0 = bottom-most) instance of `name`, or nullptr.
const FieldView* nth_from_bottom(const std::vector<FieldView>& fields, std::string_view name,
                                 size_t nth) {
  for (size_t i = fields.size(); i-- > 0;) {
    if (iequals(bare_name(fields[i].name), name) && nth-- == 0) return &fields[i];
  }
  return nullptr;
}

void append_signed_views(Canon canon, const std::vector<FieldView>& fields,
                         const std::vector<std::string>& names, std::string& out) {
  std::vector<std::pair<std::string_view, size_t>> used;  // name → instances taken
  for (const std::string& name : names) {
    auto it = std::find_if(used.begin(), used.end(),
                           [&](const auto& u) { return iequals(u.first, name); });
    if (it == used.end()) it = used.insert(used.end(), {name, 0});
    if (const FieldView* field = nth_from_bottom(fields, name, it->second++)) {
      canonicalize_header(canon, field->name, field->value, out);
    }
  }
}

// EVP_DigestSign with `md` (nullptr for Ed25519, which hashes internally: PureEdDSA).
std::string digest_sign(EVP_PKEY* pkey, const EVP_MD* md, std::string_view message) {
  EvpMdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, pkey) != 1) {
    throw std::runtime_error("EVP_DigestSignInit: " + openssl_error());
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(message.data());
  size_t size = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &size, bytes, message.size()) != 1) {
    throw std::runtime_error("EVP_DigestSign: " + openssl_error());
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, bytes,
                     message.size()) != 1) {
    throw std::runtime_error("EVP_DigestSign: " + openssl_error());
  }
  signature.resize(size);
  return signature;
}

// Builds a folded field value: tokens separated by SP, or by CRLF TAB when a line would pass
// 78 octets; `column` counts octets on the current line, "DKIM-Signature: " included.
class Folder {
 public:
  Folder() : column_(kFieldName.size() + 2) {}
  // A new tag: SP or a fold before it.
  void tag(std::string_view token) {
    if (!text_.empty()) separate(token.size(), " ");
    put(token);
  }
  // A continuation inside a tag value (h= names): no space, fold when needed.
  void piece(std::string_view token) {
    separate(token.size(), "");
    put(token);
  }
  const std::string& text() const { return text_; }

 private:
  void separate(size_t next, std::string_view space) {
    if (column_ + space.size() + next > kMaxLine && column_ > 1) {
      fold();
    } else {
      put(space);
    }
  }
  void fold() {
    text_ += "\r\n\t";
    column_ = 1;
  }
  void put(std::string_view token) {
    text_.append(token);
    column_ += token.size();
  }
  std::string text_;
  size_t column_;
};

}  // namespace

std::vector<std::string> default_signed_header_fields() {
  // RFC 6376 §5.4.1 recommended set, plus Message-ID, MIME-Version and the MIME content fields.
  return {"from",
          "reply-to",
          "subject",
          "date",
          "to",
          "cc",
          "resent-date",
          "resent-from",
          "resent-sender",
          "resent-to",
          "resent-cc",
          "in-reply-to",
          "references",
          "list-id",
          "list-help",
          "list-unsubscribe",
          "list-subscribe",
          "list-post",
          "list-owner",
          "list-archive",
          "message-id",
          "mime-version",
          "content-type",
          "content-transfer-encoding"};
}

void append_signed_headers(Canon header_canon, const std::vector<HeaderField>& headers,
                           const std::vector<std::string>& signed_header_fields, std::string& out) {
  std::vector<FieldView> views;
  views.reserve(headers.size());
  for (const HeaderField& field : headers) views.push_back({field.name, field.value});
  append_signed_views(header_canon, views, signed_header_fields, out);
}

std::string sign_header_data(const PrivateKey& key, std::string_view data) {
  auto* pkey = static_cast<EVP_PKEY*>(key.evp_pkey());
  if (key.algorithm() == Algorithm::Ed25519Sha256) return digest_sign(pkey, nullptr, sha256(data));
  return digest_sign(pkey, sha256_md(), data);
}

std::string sign_with_template(const PrivateKey& key, Canon header_canon,
                               const std::vector<HeaderField>& headers,
                               const std::vector<std::string>& signed_header_fields,
                               std::string_view signature_value) {
  std::string data;
  append_signed_headers(header_canon, headers, signed_header_fields, data);
  canonicalize_header_unterminated(header_canon, kFieldName, signature_value, data);
  return base64_encode(sign_header_data(key, data));
}

std::string body_hash(Canon body_canon, std::string_view body) {
  return base64_encode(sha256(canonicalize_body(body_canon, body)));
}

// ---------------------------------------------------------------------------------------------

struct MessageSigner::Impl {
  const SignerConfig& config;
  std::vector<SigningKey> keys;
  std::string arena;  // names and values of the fields we may sign, back to back
  struct Span {
    size_t name_offset, name_size, value_offset, value_size;
  };
  std::vector<Span> fields;
  BodyCanonicalizer body;
  EvpMdCtx body_digest;

  Impl(const SignerConfig& c, std::vector<SigningKey> k)
      : config(c),
        keys(std::move(k)),
        body(c.canonicalization.body),
        body_digest(EVP_MD_CTX_new()) {
    if (!body_digest || EVP_DigestInit_ex(body_digest.get(), sha256_md(), nullptr) != 1) {
      throw std::runtime_error("EVP_DigestInit_ex: " + openssl_error());
    }
  }

  const std::vector<std::string>& signed_names() const {
    static const std::vector<std::string> defaults = default_signed_header_fields();
    return config.signed_header_fields.empty() ? defaults : config.signed_header_fields;
  }

  bool wanted(std::string_view name) const {
    name = bare_name(name);
    const auto& names = signed_names();
    return oversigned(name) ||
           std::any_of(names.begin(), names.end(), [&](const auto& n) { return iequals(n, name); });
  }

  void hash_body(std::string_view canonical) {
    if (!canonical.empty() &&
        EVP_DigestUpdate(body_digest.get(), canonical.data(), canonical.size()) != 1) {
      throw std::runtime_error("EVP_DigestUpdate: " + openssl_error());
    }
  }

  std::string finish_body_hash() {
    hash_body(body.finish());
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned size = 0;
    if (EVP_DigestFinal_ex(body_digest.get(), digest, &size) != 1) {
      throw std::runtime_error("EVP_DigestFinal_ex: " + openssl_error());
    }
    return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), size));
  }

  std::vector<FieldView> views() const {
    std::vector<FieldView> out;
    out.reserve(fields.size());
    std::string_view all(arena);
    for (const Span& s : fields) {
      out.push_back(
          {all.substr(s.name_offset, s.name_size), all.substr(s.value_offset, s.value_size)});
    }
    return out;
  }

  size_t count(const std::vector<FieldView>& present, std::string_view name) const {
    return static_cast<size_t>(
        std::count_if(present.begin(), present.end(),
                      [&](const FieldView& f) { return iequals(bare_name(f.name), name); }));
  }

  bool oversigned(std::string_view name) const {
    const auto& over = config.oversigned_header_fields;
    return iequals(name, "from") ||
           std::any_of(over.begin(), over.end(), [&](const auto& n) { return iequals(n, name); });
  }

  // h=: each configured name once per instance present, oversigned names once more (§8.15).
  std::vector<std::string> header_list(const std::vector<FieldView>& present) const {
    std::vector<std::string> unique;
    auto add_unique = [&](std::string_view name) {
      std::string lowered = to_lower(name);
      if (std::find(unique.begin(), unique.end(), lowered) == unique.end())
        unique.push_back(lowered);
    };
    for (const auto& name : signed_names()) add_unique(name);
    add_unique("from");
    for (const auto& name : config.oversigned_header_fields) add_unique(name);
    std::vector<std::string> list;
    for (const std::string& name : unique) {
      size_t times = count(present, name) + (oversigned(name) ? 1 : 0);
      list.insert(list.end(), times, name);
    }
    return list;
  }

  // The DKIM-Signature value up to and including the empty "b=" (our tag order).
  std::string template_for(const SigningKey& key, int64_t now, const std::vector<std::string>& h,
                           const std::string& bh) const {
    Folder folder;
    folder.tag("v=1;");
    folder.tag("a=" + std::string(algorithm_name(key.key->algorithm())) + ";");
    folder.tag("c=" + config.canonicalization.to_string() + ";");
    folder.tag("d=" + key.sdid + ";");
    if (!key.auid.empty()) folder.tag("i=" + dkim_quoted_printable(key.auid) + ";");
    folder.tag("s=" + key.selector + ";");
    folder.tag("t=" + std::to_string(now) + ";");
    if (config.expire_seconds && *config.expire_seconds > 0) {
      folder.tag("x=" + std::to_string(now + *config.expire_seconds) + ";");
    }
    for (size_t i = 0; i < h.size(); ++i) {
      std::string piece = (i == 0 ? "h=" : "") + h[i] + (i + 1 == h.size() ? ";" : ":");
      i == 0 ? folder.tag(piece) : folder.piece(piece);
    }
    folder.tag("bh=" + bh + ";");
    folder.tag("b=");
    return folder.text();
  }

  std::string sign_one(const SigningKey& key, int64_t now, const std::vector<std::string>& h,
                       const std::string& bh, const std::string& header_data) const {
    std::string value = template_for(key, now, h, bh);
    std::string data = header_data;
    // Postfix inserts the field as "DKIM-Signature: " + value: hash it in that form (§3.7).
    canonicalize_header_unterminated(config.canonicalization.header, kFieldName, " " + value, data);
    std::string b = base64_encode(sign_header_data(*key.key, data));
    size_t last_line = value.rfind('\n');
    size_t column = last_line == std::string::npos ? kFieldName.size() + 2 + value.size()
                                                   : value.size() - last_line - 1;
    return value + fold_signature(b, column);
  }

  static std::string fold_signature(std::string_view b, size_t column) {
    std::string out;
    while (!b.empty()) {
      if (column >= kMaxLine) {
        out += "\r\n\t";
        column = 1;
      }
      size_t room = kMaxLine - column;
      out.append(b.substr(0, room));
      column += std::min(room, b.size());
      b.remove_prefix(std::min(room, b.size()));
    }
    return out;
  }
};

MessageSigner::MessageSigner(const SignerConfig& config, std::vector<SigningKey> keys)
    : impl_(std::make_unique<Impl>(config, std::move(keys))) {}

MessageSigner::~MessageSigner() = default;

void MessageSigner::add_header(std::string_view name, std::string_view value) {
  if (!impl_->wanted(name) || impl_->fields.size() >= kMaxSignedFields) return;
  Impl::Span span{impl_->arena.size(), name.size(), impl_->arena.size() + name.size(),
                  value.size()};
  impl_->arena.append(name);
  impl_->arena.append(value);
  impl_->fields.push_back(span);
}

void MessageSigner::add_body(std::string_view chunk) {
  impl_->hash_body(impl_->body.update(chunk));
}

std::vector<std::string> MessageSigner::finish(int64_t now) {
  std::string bh = impl_->finish_body_hash();  // one body hash serves every key
  std::vector<FieldView> present = impl_->views();
  std::vector<std::string> h = impl_->header_list(present);
  std::string header_data;
  append_signed_views(impl_->config.canonicalization.header, present, h, header_data);
  std::vector<std::string> values;
  for (const SigningKey& key : impl_->keys)
    values.push_back(impl_->sign_one(key, now, h, bh, header_data));
  return values;
}

}  // namespace postern::dkim
