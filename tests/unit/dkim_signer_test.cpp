// dkim_signer_test.cpp — the DKIM-Signature fields MessageSigner makes: tag order, folding,
// h= (oversigned From, bottom-up instances), x=, one body hash for dual signing.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <regex>

#include "milters/dkim/keys.hpp"
#include "milters/dkim/signer.hpp"

namespace postern::dkim {
namespace {

std::shared_ptr<const PrivateKey> ed25519() {
  return PrivateKey::load_base64("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", "test");
}
std::shared_ptr<const PrivateKey> rsa() {
  static auto key =
      PrivateKey::adopt(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}), "t");
  return key;
}

std::string tag(const std::string& value, const std::string& name) {
  std::string flat;
  for (char c : value) {
    if (c != '\r' && c != '\n' && c != '\t') flat += c;
  }
  std::smatch m;
  std::regex re("(^|; ?)" + name + "=([^;]*)");
  return std::regex_search(flat, m, re) ? m[2].str() : "<none>";
}

std::vector<std::string> sign(const SignerConfig& config, std::vector<SigningKey> keys,
                              const std::vector<HeaderField>& headers, std::string_view body) {
  MessageSigner signer(config, std::move(keys));
  for (const auto& f : headers) signer.add_header(f.name, f.value);
  signer.add_body(body);
  return signer.finish(1700000000);
}

const std::vector<HeaderField> kHeaders = {{"Received", " x"},       {"From", " a@example.com"},
                                           {"To", " b@example.net"}, {"To", " c@example.net"},
                                           {"Subject", " hi"},       {"X-Other", " no"}};

TEST(Signer, TagOrderAndValues) {
  SignerConfig config;
  config.expire_seconds = 86400;
  auto values = sign(config, {{"example.com", "sel", ed25519()}}, kHeaders, "body\r\n");
  ASSERT_EQ(values.size(), 1u);
  const std::string& v = values[0];
  EXPECT_TRUE(v.starts_with("v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com;")) << v;
  EXPECT_EQ(tag(v, "s"), "sel");
  EXPECT_EQ(tag(v, "t"), "1700000000");
  EXPECT_EQ(tag(v, "x"), "1700086400");
  EXPECT_EQ(tag(v, "h"), "from:from:subject:to:to");  // config order, From once more
  EXPECT_EQ(tag(v, "bh"), body_hash(Canon::Relaxed, "body\r\n"));
  size_t order[] = {v.find("v="), v.find("a="), v.find("c="), v.find("d="),  v.find("s="),
                    v.find("t="), v.find("x="), v.find("h="), v.find("bh="), v.find(" b=")};
  for (size_t i = 1; i < std::size(order); ++i) EXPECT_LT(order[i - 1], order[i]) << v;
}

TEST(Signer, AuidAfterSdidInQuotedPrintable) {
  SigningKey key{"example.com", "sel", ed25519(), "a;b=c d@mail.example.com"};
  std::string v = sign(SignerConfig{}, {key}, kHeaders, "").at(0);
  EXPECT_EQ(tag(v, "i"), "a=3Bb=3Dc=20d@mail.example.com") << v;
  EXPECT_LT(v.find("d="), v.find("i=")) << v;
  EXPECT_LT(v.find("i="), v.find("s=")) << v;
  std::string none = sign(SignerConfig{}, {{"example.com", "sel", ed25519()}}, kHeaders, "").at(0);
  EXPECT_EQ(tag(none, "i"), "<none>") << none;
}

TEST(Signer, NoExpireNoX) {
  auto values = sign(SignerConfig{}, {{"example.com", "sel", ed25519()}}, kHeaders, "");
  EXPECT_EQ(tag(values[0], "x"), "<none>");
}

TEST(Signer, LinesAtMost78AndFoldedWithCrlfTab) {
  SignerConfig config;
  config.signed_header_fields = default_signed_header_fields();
  config.oversigned_header_fields = {"subject", "to", "cc", "reply-to", "date"};
  auto values = sign(config, {{"a-rather-long-signing-domain.example.com", "selector2024", rsa()}},
                     kHeaders, "x\r\n");
  std::string field = "DKIM-Signature: " + values[0];
  size_t start = 0;
  int lines = 0;
  for (;;) {
    size_t end = field.find("\r\n", start);
    std::string line =
        field.substr(start, end == std::string::npos ? std::string::npos : end - start);
    EXPECT_LE(line.size(), 78u) << line;
    if (lines++ > 0) {
      EXPECT_EQ(line[0], '\t');
    }
    if (end == std::string::npos) break;
    start = end + 2;
  }
  EXPECT_GT(lines, 3);
}

TEST(Signer, DualSigningSharesBodyHash) {
  auto values = sign(SignerConfig{}, {{"example.com", "r", rsa()}, {"example.com", "e", ed25519()}},
                     kHeaders, "some body\r\n");
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(tag(values[0], "a"), "rsa-sha256");
  EXPECT_EQ(tag(values[1], "a"), "ed25519-sha256");
  EXPECT_EQ(tag(values[0], "bh"), tag(values[1], "bh"));
}

TEST(Signer, Ed25519IsDeterministic) {
  auto a = sign(SignerConfig{}, {{"example.com", "e", ed25519()}}, kHeaders, "z");
  auto b = sign(SignerConfig{}, {{"example.com", "e", ed25519()}}, kHeaders, "z");
  EXPECT_EQ(a, b);
}

TEST(Signer, SignatureMatchesTemplateSigning) {
  // finish() == sign_with_template() over the same field with b= emptied.
  SignerConfig config;
  config.canonicalization = {Canon::Simple, Canon::Simple};
  auto values = sign(config, {{"example.com", "e", ed25519()}}, kHeaders, "z\r\n");
  const std::string& v = values[0];
  size_t b = v.rfind("b=");
  std::string b_value;
  for (char c : v.substr(b + 2)) {
    if (c != '\r' && c != '\n' && c != '\t') b_value += c;
  }
  std::vector<std::string> h = {"from", "from", "subject", "to", "to"};
  EXPECT_EQ(sign_with_template(*ed25519(), Canon::Simple, kHeaders, h, " " + v.substr(0, b + 2)),
            b_value);
}

TEST(Signer, BottomUpInstances) {
  std::string data;
  append_signed_headers(Canon::Relaxed, kHeaders, {"to", "to", "to"}, data);
  EXPECT_EQ(data, "to:c@example.net\r\nto:b@example.net\r\n");
}

TEST(Signer, DefaultSignedFieldsIncludeRfc6376Set) {
  auto names = default_signed_header_fields();
  for (const char* want : {"from", "subject", "date", "to", "cc", "message-id", "mime-version",
                           "content-type", "content-transfer-encoding", "references"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
}

}  // namespace
}  // namespace postern::dkim
