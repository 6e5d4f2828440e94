// dkim_genkey_test.cpp — `postern-dkim genkey`: files, modes, record format, and a round trip
// (the printed p= verifies a signature made with the written private key).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "milters/dkim/base64.hpp"
#include "milters/dkim/genkey.hpp"
#include "milters/dkim/keys.hpp"
#include "milters/dkim/signer.hpp"

namespace postern::dkim {
namespace {

namespace fs = std::filesystem;

class Genkey : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/postern-genkey-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  int run(std::vector<std::string> args) {
    args.insert(args.begin(), "genkey");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    out_.str("");
    err_.str("");
    return run_genkey(static_cast<int>(argv.size()), argv.data(), out_, err_);
  }
  // Joins the quoted strings of the zone-file record into the TXT data.
  static std::string txt_of(const std::string& record) {
    std::string txt;
    std::regex quoted("\"([^\"]*)\"");
    for (std::sregex_iterator it(record.begin(), record.end(), quoted), end; it != end; ++it) {
      EXPECT_LE((*it)[1].length(), 255);
      txt += (*it)[1].str();
    }
    return txt;
  }
  // Verifies a signature of "hello" by the key in `dir_/sel.private` with the record's p=.
  void round_trip(const std::string& selector, bool ed25519) {
    auto key = PrivateKey::load_file((dir_ / (selector + ".private")).string());
    std::string txt = txt_of(out_.str());
    std::smatch m;
    ASSERT_TRUE(std::regex_search(txt, m, std::regex("p=([A-Za-z0-9+/=]+)")));
    std::string pub = *base64_decode(m[1].str());
    const auto* bytes = reinterpret_cast<const unsigned char*>(pub.data());
    EVP_PKEY* pkey = ed25519
                         ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes, pub.size())
                         : d2i_PUBKEY(nullptr, &bytes, static_cast<long>(pub.size()));
    ASSERT_NE(pkey, nullptr);
    std::string data = "hello";
    std::string signature = sign_header_data(*key, data);
    std::string message = data;
    if (ed25519) {  // RFC 8463: Ed25519 signs SHA-256(data)
      unsigned char digest[32];
      EVP_Digest(data.data(), data.size(), digest, nullptr, EVP_sha256(), nullptr);
      message.assign(reinterpret_cast<char*>(digest), 32);
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ASSERT_EQ(EVP_DigestVerifyInit(ctx, nullptr, ed25519 ? nullptr : EVP_sha256(), nullptr, pkey),
              1);
    EXPECT_EQ(EVP_DigestVerify(
                  ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                  reinterpret_cast<const unsigned char*>(message.data()), message.size()),
              1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
  }
  fs::path dir_;
  std::ostringstream out_, err_;
};

TEST_F(Genkey, RsaRoundTrip) {
  ASSERT_EQ(run({"--domain", "example.com", "--selector", "s1", "--out-dir", dir_.string()}), 0)
      << err_.str();
  std::string record = out_.str();
  EXPECT_TRUE(record.starts_with("s1._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; p="))
      << record;
  EXPECT_TRUE(record.ends_with(" )\n"));
  struct stat st {};
  ASSERT_EQ(stat((dir_ / "s1.private").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream txt(dir_ / "s1.txt");
  std::string written((std::istreambuf_iterator<char>(txt)), std::istreambuf_iterator<char>());
  EXPECT_EQ(written, record);
  EXPECT_EQ(PrivateKey::load_file((dir_ / "s1.private").string())->bits(), 2048);
  round_trip("s1", false);
}

TEST_F(Genkey, Ed25519RoundTrip) {
  ASSERT_EQ(run({"--domain", "example.com", "--selector", "ed", "--algorithm", "ed25519",
                 "--out-dir", dir_.string()}),
            0)
      << err_.str();
  EXPECT_NE(out_.str().find("k=ed25519; p="), std::string::npos);
  std::smatch m;
  std::string txt = txt_of(out_.str());
  ASSERT_TRUE(std::regex_search(txt, m, std::regex("p=([A-Za-z0-9+/=]+)")));
  EXPECT_EQ(m[1].length(), 44);  // 32 raw bytes
  round_trip("ed", true);
}

TEST_F(Genkey, LongRecordSplitAndNoOverwrite) {
  ASSERT_EQ(run({"--domain", "example.com", "--selector", "big", "--bits", "4096", "--out-dir",
                 dir_.string()}),
            0);
  std::string record = out_.str();
  EXPECT_GE(std::count(record.begin(), record.end(), '"'), 6);  // ≥ 3 strings
  round_trip("big", false);
  EXPECT_EQ(run({"--domain", "example.com", "--selector", "big", "--out-dir", dir_.string()}), 1);
  EXPECT_NE(err_.str().find("exists"), std::string::npos) << err_.str();
}

TEST_F(Genkey, UsageErrors) {
  EXPECT_EQ(run({"--selector", "s"}), 2);
  EXPECT_EQ(run({"--domain", "example.com", "--selector", "s", "--bits", "512"}), 2);
  EXPECT_EQ(run({"--domain", "example.com", "--selector", "s", "--algorithm", "dsa"}), 2);
  EXPECT_EQ(run({"--domain", "example.com", "--selector", "../x"}), 2);
  EXPECT_EQ(run({"--help"}), 0);
}

TEST(ZoneRecord, SplitsAt255) {
  std::string txt(600, 'a');
  std::string record = zone_file_record("s", "d.example", txt);
  EXPECT_EQ(record, "s._domainkey.d.example. IN TXT ( \"" + std::string(255, 'a') + "\" \"" +
                        std::string(255, 'a') + "\" \"" + std::string(90, 'a') + "\" )\n");
}

}  // namespace
}  // namespace postern::dkim
