// verifier.cpp — see verifier.hpp. Steps per signature follow RFC 6376 §6.1: parse (§6.1.1),
// key (§6.1.2), body hash then header hash and signature (§6.1.3).
#include "milters/dkim/verifier.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <stdexcept>

#include "common/ascii.hpp"
#include "common/openssl.hpp"
#include "milters/dkim/digest.hpp"
#include "milters/dkim/key_record.hpp"
#include "milters/dkim/signer.hpp"

namespace postern::dkim {
namespace {

constexpr size_t kMaxKeyRecords = 8;  // TXT records tried per key name (§3.6.2.2)
constexpr size_t kBPrefix = 8;        // header.b length (RFC 6008 §4)

bool is_signature_field(std::string_view name) {
  constexpr std::string_view kName = "dkim-signature";
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  return name.size() == kName.size() &&
         std::equal(name.begin(), name.end(), kName.begin(),
                    [](char a, char b) { return ascii_lower(a) == b; });
}

// RSASSA-PKCS1-v1_5 SHA-256 over `data`, or PureEdDSA over SHA-256(data) (RFC 8463 §3).
bool verify_signature(EVP_PKEY* pkey, Algorithm algorithm, std::string_view data,
                      std::string_view signature) {
  EvpMdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) throw std::runtime_error("EVP_MD_CTX_new: " + openssl_error());
  std::string digest;
  const EVP_MD* md = sha256_md();
  if (algorithm == Algorithm::Ed25519Sha256) {
    digest = sha256(data);
    data = digest;
    md = nullptr;
  }
  bool ok = EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                             data.size()) == 1;
  ERR_clear_error();
  return ok;
}

// One body hash: a body canonicalization and an optional l= limit.
struct BodyHash {
  Canon canon;
  std::optional<uint64_t> limit;
  EvpMdCtx ctx;
  uint64_t hashed = 0;
  std::string digest;

  BodyHash(Canon c, std::optional<uint64_t> l) : canon(c), limit(l), ctx(EVP_MD_CTX_new()) {
    if (!ctx || EVP_DigestInit_ex(ctx.get(), sha256_md(), nullptr) != 1) {
      throw std::runtime_error("EVP_DigestInit_ex: " + openssl_error());
    }
  }
  void update(std::string_view canonical) {
    if (limit)
      canonical = canonical.substr(
          0, static_cast<size_t>(std::min<uint64_t>(canonical.size(), *limit - hashed)));
    if (canonical.empty()) return;
    if (EVP_DigestUpdate(ctx.get(), canonical.data(), canonical.size()) != 1) {
      throw std::runtime_error("EVP_DigestUpdate: " + openssl_error());
    }
    hashed += canonical.size();
  }
  void finish() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned size = 0;
    if (EVP_DigestFinal_ex(ctx.get(), out, &size) != 1) {
      throw std::runtime_error("EVP_DigestFinal_ex: " + openssl_error());
    }
    digest.assign(reinterpret_cast<const char*>(out), size);
  }
};

struct Candidate {
  size_t field;  // index in the header
  ParsedSignature parsed;
  size_t body_hash = 0;  // index into the body hashes, when parsed Ok
};

// A key lookup's outcome: Pass = usable record.
struct KeyLookup {
  std::string name;
  DkimResult result = DkimResult::Permerror;
  std::string reason;
  KeyRecord record;
};

// The key checks of §6.1.2 steps 6-10 plus RFC 8301 sizes; "" when usable.
std::pair<DkimResult, std::string> check_key(const Signature& sig, const KeyRecord& record,
                                             PublicKeyCache* cache, PublicKey& key) {
  if (record.revoked()) return {DkimResult::Fail, "key revoked"};
  KeyType wanted = sig.algorithm == Algorithm::Ed25519Sha256 ? KeyType::Ed25519 : KeyType::Rsa;
  if (record.key_type != wanted) return {DkimResult::Permerror, "key type k= does not match a="};
  if (record.strict_identity) {
    std::string_view auid_domain(sig.auid);
    auid_domain.remove_prefix(auid_domain.rfind('@') + 1);
    if (!domain_within(auid_domain, sig.sdid) || auid_domain.size() != sig.sdid.size()) {
      return {DkimResult::Fail, "key t=s forbids an i= subdomain"};
    }
  }
  key = cache ? cache->load(record) : load_public_key(record);
  if (!key.pkey) {
    return {key.reason == "bad public key" ? DkimResult::Permerror : DkimResult::Fail, key.reason};
  }
  return {DkimResult::Pass, ""};
}

SignatureResult describe(const Signature& sig) {
  SignatureResult r;
  r.sdid = sig.sdid;
  r.auid = sig.auid;
  r.selector = sig.selector;
  r.algorithm = sig.algorithm_text;
  r.b_prefix = sig.b_text.substr(0, kBPrefix);
  r.body_length = sig.body_length;
  return r;
}

}  // namespace

struct MessageVerifier::Impl {
  const VerifierConfig& config;
  dns::Resolver& resolver;
  std::vector<HeaderField> headers;
  size_t header_bytes = 0;
  bool header_overflow = false;
  bool prepared = false;
  std::vector<Candidate> candidates;
  std::optional<BodyCanonicalizer> canonicalizers[2];  // by Canon
  std::vector<BodyHash> body_hashes;
  std::vector<KeyLookup> keys;  // this message's lookups, by name

  Impl(const VerifierConfig& c, dns::Resolver& r) : config(c), resolver(r) {}

  static size_t canon_index(Canon canon) { return canon == Canon::Simple ? 0 : 1; }

  // Headers are complete: parse the signatures we will check and set up their body hashes.
  void prepare() {
    prepared = true;
    for (size_t i = 0; i < headers.size() && candidates.size() < config.max_signatures; ++i) {
      if (!is_signature_field(headers[i].name)) continue;
      Candidate candidate{i, parse_signature(headers[i].value)};
      if (candidate.parsed.status == SignatureStatus::Ok) {
        candidate.body_hash = body_hash_for(candidate.parsed.signature);
      }
      candidates.push_back(std::move(candidate));
    }
  }

  size_t body_hash_for(const Signature& sig) {
    Canon canon = sig.canonicalization.body;
    for (size_t i = 0; i < body_hashes.size(); ++i) {
      if (body_hashes[i].canon == canon && body_hashes[i].limit == sig.body_length) return i;
    }
    if (!canonicalizers[canon_index(canon)]) canonicalizers[canon_index(canon)].emplace(canon);
    body_hashes.emplace_back(canon, sig.body_length);
    return body_hashes.size() - 1;
  }

  void hash_canonical(Canon canon, std::string_view canonical) {
    for (BodyHash& hash : body_hashes) {
      if (hash.canon == canon) hash.update(canonical);
    }
  }

  void feed(std::string_view chunk) {
    for (Canon canon : {Canon::Simple, Canon::Relaxed}) {
      auto& canonicalizer = canonicalizers[canon_index(canon)];
      if (canonicalizer) hash_canonical(canon, canonicalizer->update(chunk));
    }
  }

  void finish_body() {
    for (Canon canon : {Canon::Simple, Canon::Relaxed}) {
      auto& canonicalizer = canonicalizers[canon_index(canon)];
      if (canonicalizer) hash_canonical(canon, canonicalizer->finish());
    }
    for (BodyHash& hash : body_hashes) hash.finish();
  }

  uint64_t body_octets(Canon canon) const {
    const auto& canonicalizer = canonicalizers[canon_index(canon)];
    return canonicalizer ? canonicalizer->length() : 0;
  }

  const KeyLookup& lookup(const Signature& sig) {
    std::string name = sig.selector + "._domainkey." + sig.sdid;
    for (const KeyLookup& key : keys) {
      if (key.name == name) return key;
    }
    KeyLookup key;
    key.name = name;
    dns::Answer answer = resolver.query(name, dns::RrType::TXT);
    if (answer.status == dns::Status::NxDomain ||
        (answer.status == dns::Status::NoError && answer.txt.empty())) {
      key.reason =
          answer.status == dns::Status::NxDomain ? "no key (NXDOMAIN)" : "no key (no TXT record)";
    } else if (answer.status != dns::Status::NoError) {
      key.result = DkimResult::Temperror;
      key.reason = "key lookup failed" + (answer.why.empty() ? "" : ": " + answer.why);
    } else {
      use_first_record(answer.txt, key);
    }
    keys.push_back(std::move(key));
    return keys.back();
  }

  // Several TXT records: the first that parses as a key record is the key (§3.6.2.2 leaves
  // the choice to the verifier; dkimpy takes the first record outright).
  static void use_first_record(const std::vector<std::string>& txt, KeyLookup& key) {
    for (size_t i = 0; i < txt.size() && i < kMaxKeyRecords; ++i) {
      KeyRecordParse parse = parse_key_record(txt[i]);
      if (parse.record) {
        key.result = DkimResult::Pass;
        key.record = std::move(*parse.record);
        return;
      }
      if (i == 0) key.reason = std::move(parse.reason);
    }
  }

  // §3.7: the signed fields, then this DKIM-Signature field with b= emptied, no CRLF.
  std::string header_hash_input(const Candidate& c) const {
    const Signature& sig = c.parsed.signature;
    std::string data;
    append_signed_headers(sig.canonicalization.header, headers, sig.signed_header_fields, data);
    canonicalize_header_unterminated(sig.canonicalization.header, headers[c.field].name,
                                     sig.value_without_b, data);
    return data;
  }

  SignatureResult evaluate(const Candidate& c, int64_t now) {
    const Signature& sig = c.parsed.signature;
    SignatureResult r = describe(sig);
    auto set = [&r](DkimResult result, std::string reason) {
      r.result = result;
      r.reason = std::move(reason);
      if (r.testing && result != DkimResult::Pass) {
        r.result = DkimResult::Neutral;
        r.reason += " (key in testing mode)";
      }
      return r;
    };
    if (c.parsed.status != SignatureStatus::Ok) {
      return set(
          c.parsed.status == SignatureStatus::Fail ? DkimResult::Fail : DkimResult::Permerror,
          c.parsed.reason);
    }
    if (header_overflow) return set(DkimResult::Permerror, "header too large");
    r.body_octets = body_octets(sig.canonicalization.body);
    if (sig.expiration && now > *sig.expiration + config.clock_skew_seconds) {
      return set(DkimResult::Fail, "signature expired");
    }
    const KeyLookup& key = lookup(sig);
    if (key.result != DkimResult::Pass) return set(key.result, key.reason);
    r.testing = key.record.testing;
    PublicKey public_key;
    if (auto [result, reason] = check_key(sig, key.record, config.key_cache.get(), public_key);
        result != DkimResult::Pass) {
      return set(result, reason);
    }
    if (sig.body_length && *sig.body_length > r.body_octets) {
      return set(DkimResult::Fail, "l= is longer than the body");
    }
    if (body_hashes[c.body_hash].digest != sig.body_hash) {
      return set(DkimResult::Fail, "body hash mismatch");
    }
    if (!verify_signature(public_key.pkey.get(), sig.algorithm, header_hash_input(c), sig.b)) {
      return set(DkimResult::Fail, "signature did not verify");
    }
    if (sig.body_length && *sig.body_length < r.body_octets && config.unsigned_tail_fails) {
      return set(DkimResult::Policy, "unsigned body content after l=");
    }
    return set(DkimResult::Pass, "");
  }
};

MessageVerifier::MessageVerifier(const VerifierConfig& config, dns::Resolver& resolver)
    : impl_(std::make_unique<Impl>(config, resolver)) {}

MessageVerifier::~MessageVerifier() = default;

void MessageVerifier::add_header(std::string_view name, std::string_view value) {
  if (impl_->prepared) return;
  impl_->header_bytes += name.size() + value.size();
  if (impl_->headers.size() >= kMaxVerifyHeaderFields ||
      impl_->header_bytes > kMaxVerifyHeaderBytes) {
    impl_->header_overflow = true;
    return;
  }
  impl_->headers.push_back({std::string(name), std::string(value)});
}

void MessageVerifier::add_body(std::string_view chunk) {
  if (!impl_->prepared) impl_->prepare();
  impl_->feed(chunk);
}

std::vector<SignatureResult> MessageVerifier::finish(int64_t now) {
  if (!impl_->prepared) impl_->prepare();
  impl_->finish_body();
  std::vector<SignatureResult> results;
  for (const Candidate& candidate : impl_->candidates) {
    results.push_back(impl_->evaluate(candidate, now));
  }
  return results;
}

}  // namespace postern::dkim
