// dkim_dkimpy_test.cpp — MessageSigner output checked by an independent verifier: messages
// signed here with fresh RSA-2048 and Ed25519 keys are verified by dkimpy (python3-dkim)
// through tests/unit/dkim_dkimpy_check.py. Skipped when /usr/bin/python3 has no dkimpy.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "milters/dkim/keys.hpp"
#include "milters/dkim/signer.hpp"

namespace postern::dkim {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string name;
  Canonicalization canonicalization;
  std::vector<HeaderField> headers;  // as a milter sees them (value after the colon)
  std::string body;                  // as fed to add_body (may use bare LF)
  std::optional<int64_t> expire;
};

std::shared_ptr<const PrivateKey> generate(const char* type, size_t bits) {
  EVP_PKEY* pkey = bits ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, bits)
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
  return PrivateKey::adopt(pkey, type);
}

// The message as it travels after Postfix: every line ending CRLF.
std::string to_crlf(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

std::vector<HeaderField> basic_headers(std::string from = " Joe <joe@example.com>") {
  return {{"Received", " from a by b; Fri, 11 Jul 2003 21:00:00 -0700"},
          {"From", from},
          {"To", " Suzie <suzie@example.net>"},
          {"Subject", " dinner"},
          {"Date", " Fri, 11 Jul 2003 21:00:37 -0700"},
          {"Message-ID", " <1@example.com>"},
          {"MIME-Version", " 1.0"},
          {"Content-Type", " text/plain; charset=utf-8"}};
}

std::vector<Case> cases() {
  const Canonicalization rr{Canon::Relaxed, Canon::Relaxed}, ss{Canon::Simple, Canon::Simple},
      rs{Canon::Relaxed, Canon::Simple}, sr{Canon::Simple, Canon::Relaxed};
  std::vector<Case> all;
  std::string plain = "Hi.\r\n\r\nWe lost the game.\r\n";
  for (auto [name, c] : {std::pair{"rr", rr}, {"ss", ss}, {"rs", rs}, {"sr", sr}}) {
    all.push_back({std::string("plain-") + name, c, basic_headers(), plain, {}});
    all.push_back({std::string("empty-") + name, c, basic_headers(), "", {}});
    all.push_back({std::string("trailing-") + name,
                   c,
                   basic_headers(),
                   "line with trailing space   \r\n\ttabbed  \t\r\n\r\n\r\n \r\n\r\n",
                   {}});
    all.push_back({std::string("barelf-") + name, c, basic_headers(), "a\nb  \n\n\nc\n\n", {}});
    all.push_back({std::string("8bit-") + name,
                   c,
                   basic_headers(),
                   "caf\xc3\xa9 \xe2\x82\xac 100\r\n\xff\xfe raw\r\n",
                   {}});
    auto folded = basic_headers();
    folded.push_back({"X-Long", " " + std::string(1500, 'x')});
    folded[3].value = " a subject\n\tfolded with LF\r\n  and CRLF  ";
    folded[2].value = " a@example.net,\n b@example.net,\n\tc@example.net";
    all.push_back({std::string("folded-") + name, c, folded, plain, {}});
    auto odd = basic_headers();
    odd[1].name = "fROM";
    odd[3].name = "SUBJECT";
    odd[5].name = "message-id";
    all.push_back({std::string("oddcase-") + name, c, odd, plain, {}});
  }
  auto twice = basic_headers();
  twice.push_back({"To", " second@example.net"});
  twice.push_back({"Reply-To", " r@example.com"});
  all.push_back({"multi-instance", rr, twice, "x\r\n", 3600});
  all.push_back({"nocrlf-end", sr, basic_headers(), "no newline at end", {}});
  return all;
}

class Dkimpy : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
    char tmpl[] = "/tmp/postern-dkimpy-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(Dkimpy, VerifiesOurSignatures) {
  auto rsa = generate("RSA", 2048);
  auto ed = generate("ED25519", 0);
  // The RSA signature also carries i= (a SigningTable signer field), which dkimpy checks
  // against d=.
  std::vector<SigningKey> keys{{"example.com", "rsa1", rsa, "bounce+x@mail.example.com"},
                               {"example.com", "ed1", ed}};
  std::ofstream(dir_ / "dns.txt") << "rsa1._domainkey.example.com.\tv=DKIM1; k=rsa; p="
                                  << rsa->public_key_base64() << "\n"
                                  << "ed1._domainkey.example.com.\tv=DKIM1; k=ed25519; p="
                                  << ed->public_key_base64() << "\n";
  int64_t now = std::time(nullptr);
  const std::vector<Case> all = cases();
  for (const Case& c : all) {
    SignerConfig config;
    config.canonicalization = c.canonicalization;
    config.expire_seconds = c.expire;
    MessageSigner signer(config, keys);
    std::string message;
    for (const HeaderField& f : c.headers) {
      signer.add_header(f.name, f.value);
      message += to_crlf(f.name + ":" + f.value) + "\r\n";
    }
    // Body in uneven chunks, as libmilter delivers it.
    for (size_t i = 0; i < c.body.size(); i += 7)
      signer.add_body(std::string_view(c.body).substr(i, 7));
    std::vector<std::string> signatures = signer.finish(now);
    ASSERT_EQ(signatures.size(), 2u);
    std::string top;
    for (const std::string& value : signatures) top += "DKIM-Signature: " + value + "\r\n";
    std::ofstream(dir_ / (c.name + ".eml"), std::ios::binary) << top << message << "\r\n"
                                                              << to_crlf(c.body);
  }
  std::string script = std::string(POSTERN_SOURCE_DIR) + "/tests/unit/dkim_dkimpy_check.py";
  std::string command = "/usr/bin/python3 " + script + " " + dir_.string() + " > " +
                        (dir_ / "out.txt").string() + " 2>&1";
  int status = std::system(command.c_str());
  std::ifstream in(dir_ / "out.txt");
  std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) GTEST_SKIP() << output;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  size_t passes = 0;
  for (size_t at = output.find(": pass"); at != std::string::npos;
       at = output.find(": pass", at + 1)) {
    ++passes;
  }
  EXPECT_EQ(passes, 2 * all.size()) << output;
}

// The checker itself must notice a broken signature (guards against a vacuous pass).
TEST_F(Dkimpy, DetectsTampering) {
  auto ed = generate("ED25519", 0);
  std::ofstream(dir_ / "dns.txt") << "ed1._domainkey.example.com.\tv=DKIM1; k=ed25519; p="
                                  << ed->public_key_base64() << "\n";
  SignerConfig config;
  MessageSigner signer(config, {{"example.com", "ed1", ed}});
  std::string message;
  for (const HeaderField& f : basic_headers()) {
    signer.add_header(f.name, f.value);
    message += f.name + ":" + f.value + "\r\n";
  }
  signer.add_body("original\r\n");
  std::string value = signer.finish(std::time(nullptr)).at(0);
  std::ofstream(dir_ / "t.eml", std::ios::binary) << "DKIM-Signature: " << value << "\r\n"
                                                  << message << "\r\ntampered\r\n";
  std::string script = std::string(POSTERN_SOURCE_DIR) + "/tests/unit/dkim_dkimpy_check.py";
  int status = std::system(
      ("/usr/bin/python3 " + script + " " + dir_.string() + " >/dev/null 2>&1").c_str());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) GTEST_SKIP() << "no dkimpy";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

}  // namespace
}  // namespace postern::dkim
