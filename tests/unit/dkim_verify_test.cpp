// dkim_verify_test.cpp — MessageVerifier (RFC 6376 §6) against an in-memory resolver: the
// RFC 8463 Appendix A message, our own MessageSigner's output (every canonicalization, dual
// signatures), tampering, key record cases, DNS faults and the signature cap.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <map>

#include "milters/dkim/base64.hpp"
#include "milters/dkim/keys.hpp"
#include "milters/dkim/signer.hpp"
#include "milters/dkim/verifier.hpp"

namespace postern::dkim {
namespace {

// TXT records per name; a name mapped to a Status answers with that status.
class FakeResolver : public dns::Resolver {
 public:
  std::map<std::string, std::vector<std::string>, std::less<>> txt;
  std::map<std::string, dns::Status, std::less<>> status;
  std::vector<std::string> queries;

  dns::Answer query(std::string_view name, dns::RrType type) override {
    queries.emplace_back(name);
    dns::Answer answer;
    if (auto s = status.find(name); s != status.end()) {
      answer.status = s->second;
      answer.why = "injected";
      return answer;
    }
    auto it = txt.find(name);
    answer.status = it == txt.end() ? dns::Status::NxDomain : dns::Status::NoError;
    if (it != txt.end() && type == dns::RrType::TXT) answer.txt = it->second;
    return answer;
  }
};

std::vector<SignatureResult> verify(dns::Resolver& resolver,
                                    const std::vector<HeaderField>& headers, std::string_view body,
                                    int64_t now, const VerifierConfig& config = {}) {
  MessageVerifier verifier(config, resolver);
  for (const HeaderField& f : headers) verifier.add_header(f.name, f.value);
  for (size_t i = 0; i < body.size(); i += 5) verifier.add_body(body.substr(i, 5));
  return verifier.finish(now);
}

std::string describe(const std::vector<SignatureResult>& results) {
  std::string out;
  for (const auto& r : results) {
    out += std::string(result_name(r.result)) + " (" + r.reason + ") d=" + r.sdid +
           " s=" + r.selector + "; ";
  }
  return out;
}

// ---- RFC 8463 Appendix A -----------------------------------------------------------------

constexpr char kRfcBody[] = "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n";

std::vector<HeaderField> rfc8463_message() {
  return {{"DKIM-Signature",
           " v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
           " d=football.example.com; i=@football.example.com;\r\n"
           " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
           " subject : date : message-id : from : subject : date;\r\n"
           " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
           " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
           " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw=="},
          {"DKIM-Signature",
           " v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
           " d=football.example.com; i=@football.example.com;\r\n"
           " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
           " date : message-id : from : subject : date;\r\n"
           " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
           " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3DhCVlUrSjV4BwcVcOF6+"
           "FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2JzdA+L10TeYt9BgDfQNZtKdN1WO//"
           "KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8="},
          {"From", " Joe SixPack <joe@football.example.com>"},
          {"To", " Suzie Q <suzie@shopping.example.net>"},
          {"Subject", " Is dinner ready?"},
          {"Date", " Fri, 11 Jul 2003 21:00:37 -0700 (PDT)"},
          {"Message-ID", " <20030712040037.46341.5F8J@football.example.com>"}};
}

void publish_rfc8463(FakeResolver& dns) {
  dns.txt["brisbane._domainkey.football.example.com"] = {
      "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="};
  dns.txt["test._domainkey.football.example.com"] = {
      "v=DKIM1; k=rsa; "
      "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
      "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYL"
      "zBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"};
}

TEST(VerifyRfc8463, BothSignaturesPass) {
  FakeResolver dns;
  publish_rfc8463(dns);
  auto results = verify(dns, rfc8463_message(), kRfcBody, 1528637909);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.result, DkimResult::Pass) << describe(results);
    EXPECT_EQ(r.sdid, "football.example.com");
    EXPECT_EQ(r.auid, "@football.example.com");
  }
  EXPECT_EQ(results[0].algorithm, "ed25519-sha256");
  EXPECT_EQ(results[0].selector, "brisbane");
  EXPECT_EQ(results[0].b_prefix, "/gCrinpc");
  EXPECT_EQ(results[1].algorithm, "rsa-sha256");
  EXPECT_EQ(results[1].b_prefix, "F45dVWDf");
}

TEST(VerifyRfc8463, TamperedBodyAndHeader) {
  FakeResolver dns;
  publish_rfc8463(dns);
  auto results = verify(dns, rfc8463_message(), "Hi.\r\n\r\nWe won the game.\r\n", 1528637909);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.result, DkimResult::Fail);
    EXPECT_EQ(r.reason, "body hash mismatch");
  }
  auto headers = rfc8463_message();
  headers[4].value = " Is dinner ready??";
  results = verify(dns, headers, kRfcBody, 1528637909);
  for (const auto& r : results) {
    EXPECT_EQ(r.result, DkimResult::Fail);
    EXPECT_EQ(r.reason, "signature did not verify");
  }
}

TEST(VerifyRfc8463, RsaKeyIsFetchedOnceForTwoSignatures) {
  FakeResolver dns;
  publish_rfc8463(dns);
  auto headers = rfc8463_message();
  headers.insert(headers.begin(), headers[1]);
  auto results = verify(dns, headers, kRfcBody, 1528637909);
  ASSERT_EQ(results.size(), 3u) << describe(results);
  EXPECT_EQ(dns.queries.size(), 2u);
}

// ---- our own signer --------------------------------------------------------------------

std::shared_ptr<const PrivateKey> generate(const char* type, size_t bits) {
  EVP_PKEY* pkey = bits ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, bits)
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
  return PrivateKey::adopt(pkey, type);
}

const std::shared_ptr<const PrivateKey>& rsa_key() {
  static const auto key = generate("RSA", 2048);
  return key;
}

const std::shared_ptr<const PrivateKey>& ed_key() {
  static const auto key = generate("ED25519", 0);
  return key;
}

std::vector<HeaderField> basic_headers() {
  return {{"Received", " from a by b; Fri, 11 Jul 2003 21:00:00 -0700"},
          {"From", " Joe <joe@example.com>"},
          {"To", " Suzie <suzie@example.net>,\n\tBob <bob@example.net>"},
          {"Subject", " dinner   plans \r\n  tonight"},
          {"Date", " Fri, 11 Jul 2003 21:00:37 -0700"},
          {"Message-ID", " <1@example.com>"}};
}

constexpr char kBody[] = "Hi.  \n\nWe lost\tthe game.\n\n\n";
constexpr int64_t kNow = 1700000000;

struct Signed {
  std::vector<HeaderField> headers;
  std::string body = kBody;
};

Signed sign(std::vector<SigningKey> keys, Canonicalization c = {},
            std::optional<int64_t> expire = {}) {
  SignerConfig config;
  config.canonicalization = c;
  config.expire_seconds = expire;
  MessageSigner signer(config, std::move(keys));
  Signed message{basic_headers()};
  for (const HeaderField& f : message.headers) signer.add_header(f.name, f.value);
  signer.add_body(message.body);
  auto values = signer.finish(kNow);
  std::vector<HeaderField> top;
  for (const std::string& v : values) top.push_back({"DKIM-Signature", " " + v});
  message.headers.insert(message.headers.begin(), top.begin(), top.end());
  return message;
}

void publish(FakeResolver& dns, const std::string& name, const PrivateKey& key,
             std::string extra = "") {
  dns.txt[name + "._domainkey.example.com"] = {"v=DKIM1; k=" + std::string(key.key_type_name()) +
                                               "; " + extra + "p=" + key.public_key_base64()};
}

class VerifyOwn : public ::testing::Test {
 protected:
  void SetUp() override {
    publish(dns_, "rsa1", *rsa_key());
    publish(dns_, "ed1", *ed_key());
  }
  std::vector<SigningKey> dual() const {
    return {{"example.com", "rsa1", rsa_key()}, {"example.com", "ed1", ed_key()}};
  }
  FakeResolver dns_;
};

TEST_F(VerifyOwn, AllCanonicalizationsDualSigned) {
  for (Canon h : {Canon::Simple, Canon::Relaxed}) {
    for (Canon b : {Canon::Simple, Canon::Relaxed}) {
      Signed m = sign(dual(), {h, b});
      auto results = verify(dns_, m.headers, m.body, kNow);
      ASSERT_EQ(results.size(), 2u);
      EXPECT_EQ(results[0].result, DkimResult::Pass) << describe(results);
      EXPECT_EQ(results[1].result, DkimResult::Pass) << describe(results);
      EXPECT_EQ(results[0].algorithm, "rsa-sha256");
      EXPECT_EQ(results[1].algorithm, "ed25519-sha256");
    }
  }
}

TEST_F(VerifyOwn, CrlfAndBareLfBodiesAreTheSame) {
  Signed m = sign(dual(), {Canon::Simple, Canon::Simple});
  auto results = verify(dns_, m.headers, "Hi.  \r\n\r\nWe lost\tthe game.\r\n\r\n\r\n", kNow);
  EXPECT_EQ(results.at(0).result, DkimResult::Pass) << describe(results);
}

TEST_F(VerifyOwn, Tampering) {
  for (Canon c : {Canon::Simple, Canon::Relaxed}) {
    Signed m = sign(dual(), {c, c});
    auto results = verify(dns_, m.headers, std::string(kBody) + "P.S.\n", kNow);
    EXPECT_EQ(results.at(0).reason, "body hash mismatch");
    EXPECT_EQ(results.at(1).result, DkimResult::Fail);
    auto headers = m.headers;
    headers[3].value = " Joe <joe@evil.example>";  // From
    results = verify(dns_, headers, m.body, kNow);
    EXPECT_EQ(results.at(0).reason, "signature did not verify");
    EXPECT_EQ(results.at(1).reason, "signature did not verify");
    // An added From: instance is caught by oversigning (§8.15).
    headers = m.headers;
    headers.push_back({"From", " Mallory <m@evil.example>"});
    results = verify(dns_, headers, m.body, kNow);
    EXPECT_EQ(results.at(0).reason, "signature did not verify");
    // Truncated b=.
    headers = m.headers;
    headers[0].value.resize(headers[0].value.size() - 8);
    results = verify(dns_, headers, m.body, kNow);
    EXPECT_NE(results.at(0).result, DkimResult::Pass);
  }
}

TEST_F(VerifyOwn, UnsignedHeadersMayChange) {
  Signed m = sign(dual());
  m.headers[2].value = " from elsewhere";  // Received: not signed
  m.headers.push_back({"X-Added", " later"});
  auto results = verify(dns_, m.headers, m.body, kNow);
  EXPECT_EQ(results.at(0).result, DkimResult::Pass) << describe(results);
}

TEST_F(VerifyOwn, RevokedKey) {
  dns_.txt["rsa1._domainkey.example.com"] = {"v=DKIM1; k=rsa; p="};
  Signed m = sign(dual());
  auto results = verify(dns_, m.headers, m.body, kNow);
  EXPECT_EQ(results.at(0).result, DkimResult::Fail);
  EXPECT_EQ(results.at(0).reason, "key revoked");
  EXPECT_EQ(results.at(1).result, DkimResult::Pass);
}

TEST_F(VerifyOwn, SmallRsaKey) {
  EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{512});
  ASSERT_NE(small, nullptr);
  unsigned char* der = nullptr;
  int size = i2d_PUBKEY(small, &der);
  ASSERT_GT(size, 0);
  std::string p = base64_encode(std::string(reinterpret_cast<char*>(der), size));
  OPENSSL_free(der);
  EVP_PKEY_free(small);
  dns_.txt["rsa1._domainkey.example.com"] = {"v=DKIM1; p=" + p};
  Signed m = sign(dual());
  auto results = verify(dns_, m.headers, m.body, kNow);
  EXPECT_EQ(results.at(0).result, DkimResult::Fail);
  EXPECT_EQ(results.at(0).reason, "key too small");
}

TEST_F(VerifyOwn, KeyTypeMismatch) {
  dns_.txt["ed1._domainkey.example.com"] = dns_.txt["rsa1._domainkey.example.com"];
  Signed m = sign(dual());
  auto results = verify(dns_, m.headers, m.body, kNow);
  EXPECT_EQ(results.at(1).result, DkimResult::Permerror);
  EXPECT_EQ(results.at(1).reason, "key type k= does not match a=");
}

TEST_F(VerifyOwn, SeveralTxtRecordsFirstUsableWins) {
  auto good = dns_.txt["rsa1._domainkey.example.com"].at(0);
  dns_.txt["rsa1._domainkey.example.com"] = {"v=spf1 -all", good};
  Signed m = sign(dual());
  auto results = verify(dns_, m.headers, m.body, kNow);
  EXPECT_EQ(results.at(0).result, DkimResult::Pass) << describe(results);
  dns_.txt["rsa1._domainkey.example.com"] = {"v=spf1 -all"};
  results = verify(dns_, m.headers, m.body, kNow);
  EXPECT_EQ(results.at(0).result, DkimResult::Permerror);
  EXPECT_EQ(results.at(0).reason, "key record v= is not DKIM1");
}

TEST_F(VerifyOwn, Expiry) {
  Signed m = sign(dual(), {}, 60);
  EXPECT_EQ(verify(dns_, m.headers, m.body, kNow + 60).at(0).result, DkimResult::Pass);
  VerifierConfig config;  // 300 s of skew by default
  EXPECT_EQ(verify(dns_, m.headers, m.body, kNow + 360, config).at(0).result, DkimResult::Pass);
  auto results = verify(dns_, m.headers, m.body, kNow + 361, config);
  EXPECT_EQ(results.at(0).result, DkimResult::Fail);
  EXPECT_EQ(results.at(0).reason, "signature expired");
  config.clock_skew_seconds = 0;
  EXPECT_EQ(verify(dns_, m.headers, m.body, kNow + 61, config).at(0).reason, "signature expired");
}

TEST_F(VerifyOwn, StrictIdentityKey) {
  publish(dns_, "rsa1", *rsa_key(), "t=s; ");
  Signed sub = sign({{"example.com", "rsa1", rsa_key(), "joe@mail.example.com"}});
  auto results = verify(dns_, sub.headers, sub.body, kNow);
  EXPECT_EQ(results.at(0).result, DkimResult::Fail);
  EXPECT_EQ(results.at(0).reason, "key t=s forbids an i= subdomain");
  Signed exact = sign({{"example.com", "rsa1", rsa_key(), "joe@example.com"}});
  EXPECT_EQ(verify(dns_, exact.headers, exact.body, kNow).at(0).result, DkimResult::Pass);
}

TEST_F(VerifyOwn, TestingKeyTurnsFailuresNeutral) {
  publish(dns_, "ed1", *ed_key(), "t=y; ");
  Signed m = sign(dual());
  auto results = verify(dns_, m.headers, m.body, kNow);
  EXPECT_EQ(results.at(1).result, DkimResult::Pass);
  EXPECT_TRUE(results.at(1).testing);
  results = verify(dns_, m.headers, "changed\r\n", kNow);
  EXPECT_EQ(results.at(1).result, DkimResult::Neutral);
  EXPECT_EQ(results.at(1).reason, "body hash mismatch (key in testing mode)");
}

TEST_F(VerifyOwn, DnsOutcomes) {
  Signed m = sign(dual());
  struct Case {
    dns::Status status;
    DkimResult result;
    const char* reason;
  };
  for (const Case& c : std::initializer_list<Case>{
           {dns::Status::ServFail, DkimResult::Temperror, "key lookup failed: injected"},
           {dns::Status::Timeout, DkimResult::Temperror, "key lookup failed: injected"},
           {dns::Status::Error, DkimResult::Temperror, "key lookup failed: injected"},
           {dns::Status::NxDomain, DkimResult::Permerror, "no key (NXDOMAIN)"},
       }) {
    dns_.status["rsa1._domainkey.example.com"] = c.status;
    auto results = verify(dns_, m.headers, m.body, kNow);
    EXPECT_EQ(results.at(0).result, c.result) << describe(results);
    EXPECT_EQ(results.at(0).reason, c.reason);
    EXPECT_EQ(results.at(1).result, DkimResult::Pass);
  }
  dns_.status.clear();
  dns_.txt["rsa1._domainkey.example.com"] = {};
  EXPECT_EQ(verify(dns_, m.headers, m.body, kNow).at(0).reason, "no key (no TXT record)");
}

TEST_F(VerifyOwn, NoSignatureIsNoResult) {
  auto results = verify(dns_, basic_headers(), kBody, kNow);
  EXPECT_TRUE(results.empty());
  EXPECT_TRUE(dns_.queries.empty());
}

TEST_F(VerifyOwn, OnlyTheFirstNSignaturesAreChecked) {
  std::vector<SigningKey> keys;
  for (int i = 0; i < 4; ++i) {
    keys.push_back({"example.com", "rsa1", rsa_key()});
    keys.push_back({"example.com", "ed1", ed_key()});
  }
  Signed m = sign(keys);
  auto results = verify(dns_, m.headers, m.body, kNow);
  EXPECT_EQ(results.size(), 5u);
  for (const auto& r : results) EXPECT_EQ(r.result, DkimResult::Pass) << describe(results);
  VerifierConfig two;
  two.max_signatures = 2;
  EXPECT_EQ(verify(dns_, m.headers, m.body, kNow, two).size(), 2u);
}

TEST_F(VerifyOwn, ThousandBrokenSignaturesAreBounded) {
  auto headers = basic_headers();
  for (int i = 0; i < 1000; ++i) headers.insert(headers.begin(), {"DKIM-Signature", " v=1; a"});
  auto results = verify(dns_, headers, kBody, kNow);
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(results[0].result, DkimResult::Permerror);
  EXPECT_EQ(results[0].reason, "bad tag-list: missing '=' after tag \"a\"");
  EXPECT_TRUE(dns_.queries.empty());
}

TEST_F(VerifyOwn, TooManyHeaderFieldsIsPermerror) {
  Signed m = sign(dual());
  for (size_t i = 0; i < kMaxVerifyHeaderFields; ++i) m.headers.push_back({"X-Junk", " x"});
  auto results = verify(dns_, m.headers, m.body, kNow);
  EXPECT_EQ(results.at(0).result, DkimResult::Permerror);
  EXPECT_EQ(results.at(0).reason, "header too large");
}

TEST_F(VerifyOwn, Rsa1AndMissingFromAreReported) {
  Signed m = sign(dual());
  auto headers = m.headers;
  size_t at = headers[0].value.find("a=rsa-sha256");
  headers[0].value.replace(at, 12, "a=rsa-sha1");
  auto results = verify(dns_, headers, m.body, kNow);
  EXPECT_EQ(results.at(0).result, DkimResult::Fail);
  EXPECT_EQ(results.at(0).reason, "rsa-sha1 is not accepted (RFC 8301)");
  EXPECT_EQ(results.at(0).algorithm, "rsa-sha1");
  headers = m.headers;
  ASSERT_NE(headers[1].value.find("h=from:from:"), std::string::npos) << headers[1].value;
  for (at = headers[1].value.find("from:"); at != std::string::npos;
       at = headers[1].value.find("from:")) {
    headers[1].value.erase(at, 5);
  }
  results = verify(dns_, headers, m.body, kNow);
  EXPECT_EQ(results.at(1).result, DkimResult::Permerror);
  EXPECT_EQ(results.at(1).reason, "h= does not include From");
}

}  // namespace
}  // namespace postern::dkim
