// dkim_verify_dkimpy_test.cpp — messages signed at test time by dkimpy (python3-dkim, an
// independent signer) verify with MessageVerifier: rsa-sha256 and ed25519-sha256, every
// canonicalization, l=, two signatures on one message. Skipped without /usr/bin/python3 + dkimpy.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "milters/dkim/base64.hpp"
#include "milters/dkim/keys.hpp"
#include "milters/dkim/verifier.hpp"

namespace postern::dkim {
namespace {

namespace fs = std::filesystem;

class FakeResolver : public dns::Resolver {
 public:
  std::map<std::string, std::string, std::less<>> txt;
  dns::Answer query(std::string_view name, dns::RrType) override {
    dns::Answer answer;
    auto it = txt.find(name);
    answer.status = it == txt.end() ? dns::Status::NxDomain : dns::Status::NoError;
    if (it != txt.end()) answer.txt = {it->second};
    return answer;
  }
};

// argv: message in, message out, key file, selector, algorithm, header canon, body canon, l
constexpr char kSignScript[] = R"(import sys
try:
    import dkim
except ImportError:
    sys.exit(77)
src, dst, keyfile, sel, algo, hc, bc, length = sys.argv[1:9]
msg = open(src, 'rb').read()
sig = dkim.sign(msg, sel.encode(), b'example.com', open(keyfile, 'rb').read().strip(),
                canonicalize=(hc.encode(), bc.encode()), signature_algorithm=algo.encode(),
                length=(length == '1'),
                include_headers=[b'from', b'to', b'subject', b'date', b'message-id'])
open(dst, 'wb').write(sig + msg)
)";

constexpr char kMessage[] =
    "From: Joe <joe@example.com>\r\n"
    "To: Suzie <suzie@example.net>,\r\n"
    "\tBob <bob@example.net>\r\n"
    "Subject:   dinner \t plans\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
    "Message-ID: <1@example.com>\r\n"
    "\r\n"
    "Hi.  \r\n"
    "\r\n"
    "We lost\t the game.\r\n"
    "\r\n"
    "\r\n";

struct Message {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Splits a CRLF message into fields (value after the colon, folds kept) and body.
Message split(const std::string& text) {
  Message m;
  size_t end = text.find("\r\n\r\n");
  std::string header = text.substr(0, end + 2);
  m.body = text.substr(end + 4);
  size_t at = 0;
  while (at < header.size()) {
    size_t line_end = header.find("\r\n", at);
    std::string line = header.substr(at, line_end - at);
    if (line[0] == ' ' || line[0] == '\t') {
      m.headers.back().second += "\r\n" + line;
    } else {
      size_t colon = line.find(':');
      m.headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
    }
    at = line_end + 2;
  }
  return m;
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class DkimpyVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
    char tmpl[] = "/tmp/postern-verify-dkimpy-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ / "sign.py") << kSignScript;
    EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
    EVP_PKEY* ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    ASSERT_TRUE(rsa && ed);
    write_rsa_pem(rsa, dir_ / "rsa.pem");
    unsigned char seed[32];
    size_t seed_size = sizeof seed;
    ASSERT_EQ(EVP_PKEY_get_raw_private_key(ed, seed, &seed_size), 1);
    std::ofstream(dir_ / "ed.key")
        << base64_encode(std::string(reinterpret_cast<char*>(seed), seed_size));
    auto rsa_key = PrivateKey::adopt(rsa, "rsa");
    auto ed_key = PrivateKey::adopt(ed, "ed");
    dns_.txt["rsa1._domainkey.example.com"] = "v=DKIM1; k=rsa; p=" + rsa_key->public_key_base64();
    dns_.txt["ed1._domainkey.example.com"] = "v=DKIM1; k=ed25519; p=" + ed_key->public_key_base64();
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  static void write_rsa_pem(EVP_PKEY* pkey, const fs::path& path) {
    BIO* bio = BIO_new(BIO_s_mem());
    ASSERT_EQ(
        PEM_write_bio_PrivateKey_traditional(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr), 1);
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::ofstream(path, std::ios::binary).write(data, size);
    BIO_free(bio);
  }

  // Signs `message` with dkimpy; returns the signed message, or "" with a skip when dkimpy
  // is missing.
  std::string dkimpy_sign(const std::string& message, const std::string& args) {
    std::ofstream(dir_ / "in.eml", std::ios::binary) << message;
    std::string command = "/usr/bin/python3 " + (dir_ / "sign.py").string() + " " +
                          (dir_ / "in.eml").string() + " " + (dir_ / "out.eml").string() + " " +
                          args + " > " + (dir_ / "log").string() + " 2>&1";
    int status = std::system(command.c_str());
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) return "";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read(dir_ / "log");
    return read(dir_ / "out.eml");
  }

  std::string rsa(const char* hc, const char* bc, bool length = false) {
    return (dir_ / "rsa.pem").string() + " rsa1 rsa-sha256 " + hc + " " + bc + " " +
           (length ? "1" : "0");
  }
  std::string ed(const char* hc, const char* bc, bool length = false) {
    return (dir_ / "ed.key").string() + " ed1 ed25519-sha256 " + hc + " " + bc + " " +
           (length ? "1" : "0");
  }

  std::vector<SignatureResult> verify(const std::string& text, std::string_view extra_body = "",
                                      const VerifierConfig& config = {}) {
    Message m = split(text);
    MessageVerifier verifier(config, dns_);
    for (const auto& [name, value] : m.headers) verifier.add_header(name, value);
    verifier.add_body(m.body);
    verifier.add_body(extra_body);
    return verifier.finish(std::time(nullptr));
  }

  fs::path dir_;
  FakeResolver dns_;
};

std::string describe(const std::vector<SignatureResult>& results) {
  std::string out;
  for (const auto& r : results) out += std::string(result_name(r.result)) + " " + r.reason + "; ";
  return out;
}

TEST_F(DkimpyVerify, EveryCanonicalizationBothAlgorithms) {
  for (const char* hc : {"simple", "relaxed"}) {
    for (const char* bc : {"simple", "relaxed"}) {
      for (bool use_ed : {false, true}) {
        std::string args = use_ed ? ed(hc, bc) : rsa(hc, bc);
        std::string signed_message = dkimpy_sign(kMessage, args);
        if (signed_message.empty()) GTEST_SKIP() << "no dkimpy";
        auto results = verify(signed_message);
        ASSERT_EQ(results.size(), 1u) << signed_message;
        EXPECT_EQ(results[0].result, DkimResult::Pass) << args << ": " << describe(results) << "\n"
                                                       << signed_message;
      }
    }
  }
}

TEST_F(DkimpyVerify, TwoSignaturesOnOneMessage) {
  std::string once = dkimpy_sign(kMessage, rsa("relaxed", "relaxed"));
  if (once.empty()) GTEST_SKIP() << "no dkimpy";
  std::string twice = dkimpy_sign(once, ed("simple", "simple"));
  auto results = verify(twice);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].algorithm, "ed25519-sha256");
  EXPECT_EQ(results[0].result, DkimResult::Pass) << describe(results);
  EXPECT_EQ(results[1].result, DkimResult::Pass) << describe(results);
}

TEST_F(DkimpyVerify, BodyLengthHonouredAndReported) {
  std::string signed_message = dkimpy_sign(kMessage, rsa("relaxed", "simple", true));
  if (signed_message.empty()) GTEST_SKIP() << "no dkimpy";
  auto results = verify(signed_message);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].result, DkimResult::Pass) << describe(results);
  ASSERT_TRUE(results[0].body_length.has_value());
  EXPECT_EQ(*results[0].body_length, results[0].body_octets);
  // Appended content is outside l=: still pass, unless unsigned tails are refused.
  results = verify(signed_message, "Buy now!\r\n");
  EXPECT_EQ(results[0].result, DkimResult::Pass) << describe(results);
  EXPECT_GT(results[0].body_octets, *results[0].body_length);
  VerifierConfig strict;
  strict.unsigned_tail_fails = true;
  results = verify(signed_message, "Buy now!\r\n", strict);
  EXPECT_EQ(results[0].result, DkimResult::Policy);
  EXPECT_EQ(results[0].reason, "unsigned body content after l=");
}

TEST_F(DkimpyVerify, TamperedDkimpyMessagesFail) {
  std::string signed_message = dkimpy_sign(kMessage, ed("relaxed", "relaxed"));
  if (signed_message.empty()) GTEST_SKIP() << "no dkimpy";
  std::string body_changed = signed_message;
  body_changed.replace(body_changed.find("lost"), 4, "won!");
  EXPECT_EQ(verify(body_changed).at(0).reason, "body hash mismatch");
  std::string subject_changed = signed_message;
  subject_changed.replace(subject_changed.find("dinner"), 6, "dessert");
  EXPECT_EQ(verify(subject_changed).at(0).reason, "signature did not verify");
}

}  // namespace
}  // namespace postern::dkim
