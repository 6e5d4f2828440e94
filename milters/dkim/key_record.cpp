// key_record.cpp — see key_record.hpp.
#include "milters/dkim/key_record.hpp"

#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>

#include "common/ascii.hpp"
#include "milters/dkim/base64.hpp"
#include "milters/dkim/tag_list.hpp"

namespace postern::dkim {
namespace {

constexpr size_t kEd25519KeyBytes = 32;

bool list_has(std::string_view value, std::string_view item) {
  auto items = split_colon_list(value);
  return std::any_of(items.begin(), items.end(),
                     [&](std::string_view i) { return iequals(i, item); });
}

std::string check_tags(const TagList& tags, KeyRecord& record) {
  if (const Tag* v = tags.find("v")) {
    if (&tags.tags.front() != v) return "key record v= is not the first tag";
    if (v->value != "DKIM1") return "key record v= is not DKIM1";
  }
  if (const Tag* k = tags.find("k")) {
    if (iequals(k->value, "rsa")) {
      record.key_type = KeyType::Rsa;
    } else if (iequals(k->value, "ed25519")) {
      record.key_type = KeyType::Ed25519;
    } else {
      return "unknown key type k=" + std::string(k->value.substr(0, 32));
    }
  }
  if (const Tag* h = tags.find("h"); h && !list_has(h->value, "sha256")) {
    return "key h= does not allow sha256";
  }
  if (const Tag* s = tags.find("s");
      s && !list_has(s->value, "*") && !list_has(s->value, "email")) {
    return "key is not for email (s=)";
  }
  if (const Tag* t = tags.find("t")) {
    record.testing = list_has(t->value, "y");
    record.strict_identity = list_has(t->value, "s");
  }
  return "";
}

EvpPkey load_rsa(const std::string& der) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* cursor = bytes;
  EvpPkey pkey(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(der.size())));
  if (pkey && cursor != bytes + der.size()) pkey.reset();  // trailing junk
  if (!pkey) {
    cursor = bytes;
    pkey.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &cursor, static_cast<long>(der.size())));
    if (pkey && cursor != bytes + der.size()) pkey.reset();
  }
  if (pkey && EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_RSA) pkey.reset();
  return pkey;
}

}  // namespace

KeyRecordParse parse_key_record(std::string_view txt) {
  KeyRecordParse parse;
  TagList tags = parse_tag_list(txt);
  if (!tags.ok()) {
    parse.reason = "bad key record: " + tags.error;
    return parse;
  }
  KeyRecord record;
  parse.reason = check_tags(tags, record);
  if (!parse.reason.empty()) return parse;
  const Tag* p = tags.find("p");
  if (!p) {
    parse.reason = "key record has no p=";
    return parse;
  }
  auto key = base64_decode(p->value);
  if (!key) {
    parse.reason = "bad base64 in key p=";
    return parse;
  }
  record.public_key = std::move(*key);
  parse.record = std::move(record);
  return parse;
}

PublicKey load_public_key(const KeyRecord& record) {
  PublicKey key;
  if (record.key_type == KeyType::Ed25519) {
    if (record.public_key.size() == kEd25519KeyBytes) {
      key.pkey.reset(EVP_PKEY_new_raw_public_key(
          EVP_PKEY_ED25519, nullptr,
          reinterpret_cast<const unsigned char*>(record.public_key.data()), kEd25519KeyBytes));
    }
    key.bits = 256;
  } else {
    key.pkey = load_rsa(record.public_key);
    if (key.pkey) key.bits = EVP_PKEY_get_bits(key.pkey.get());
  }
  ERR_clear_error();
  if (!key.pkey) {
    key.reason = "bad public key";
  } else if (record.key_type == KeyType::Rsa && key.bits < kMinVerifyRsaBits) {
    key.reason = "key too small";
  } else if (record.key_type == KeyType::Rsa && key.bits > kMaxVerifyRsaBits) {
    key.reason = "key too large";
  }
  if (!key.reason.empty()) key.pkey.reset();
  return key;
}

}  // namespace postern::dkim
