// dkim_keys_test.cpp — PrivateKey::load_file checks and KeyStore (shortcut, OpenDKIM tables).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/config_error.hpp"
#include "milters/dkim/key_table.hpp"
#include "milters/dkim/keys.hpp"
#include "tests/unit/config_error_of.hpp"

namespace postern::dkim {
namespace {

namespace fs = std::filesystem;

std::string pem_of(const char* type, size_t bits) {
  EVP_PKEY* pkey = bits ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, bits)
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  return pem;
}

class Keys : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/postern-keys-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path;
  }
  std::string error_of(const std::string& path) {
    return test_support::config_error_of([&] { PrivateKey::load_file(path); });
  }
  fs::path dir_;
};

TEST_F(Keys, LoadsRsaAndEd25519) {
  auto rsa = PrivateKey::load_file(write("r.pem", pem_of("RSA", 2048)));
  EXPECT_EQ(rsa->algorithm(), Algorithm::RsaSha256);
  EXPECT_EQ(rsa->bits(), 2048);
  auto ed = PrivateKey::load_file(write("e.pem", pem_of("ED25519", 0)));
  EXPECT_EQ(ed->algorithm(), Algorithm::Ed25519Sha256);
  EXPECT_EQ(algorithm_name(ed->algorithm()), "ed25519-sha256");
}

TEST_F(Keys, RefusesBadFiles) {
  std::string missing = (dir_ / "nope.pem").string();
  EXPECT_EQ(error_of(missing), "key file " + missing + ": no such file");
  std::string open = write("open.pem", pem_of("ED25519", 0), 0644);
  EXPECT_EQ(error_of(open),
            "key file " + open + " is readable by group or others (mode 0644); chmod 600");
  EXPECT_NE(error_of(write("w.pem", pem_of("ED25519", 0), 0620)).find("writable by group"),
            std::string::npos);
  EXPECT_NE(error_of(write("junk.pem", "not a key")).find("not a PEM private key"),
            std::string::npos);
  EXPECT_NE(error_of(write("small.pem", pem_of("RSA", 512))).find("512 bits"), std::string::npos);
  EXPECT_NE(error_of(write("x.pem", pem_of("X25519", 0))).find("unsupported key type"),
            std::string::npos);
  if (geteuid() != 0) {  // root reads anything
    EXPECT_NE(error_of(write("noread.pem", pem_of("ED25519", 0), 0200)).find("Permission denied"),
              std::string::npos);
  }
}

TEST_F(Keys, ShortcutAndSubdomains) {
  KeyStore store;
  EXPECT_TRUE(store.empty());
  auto ed = PrivateKey::load_pem(pem_of("ED25519", 0), "ed");
  auto rsa = PrivateKey::load_pem(pem_of("RSA", 1024), "rsa");
  store.add("Example.COM", "e1", ed);
  store.add("example.com", "r1", rsa);
  store.add("example.com", "r2", rsa);  // a second RSA key is never used
  auto keys = store.find("joe@example.com", false);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].selector, "e1");
  EXPECT_EQ(keys[1].selector, "r1");
  EXPECT_TRUE(store.find("joe@sub.example.com", false).empty());
  auto sub = store.find("joe@sub.example.com", true);
  ASSERT_EQ(sub.size(), 2u);
  EXPECT_EQ(sub[0].sdid, "example.com");
  EXPECT_TRUE(store.find("joe@notexample.com", true).empty());
}

TEST_F(Keys, OpendkimTables) {
  std::string ed_path = write("ed.pem", pem_of("ED25519", 0));
  std::string rsa_path = write("rsa.pem", pem_of("RSA", 1024));
  std::string key_table =
      write("KeyTable",
            "# comment\n\n"
            "ed   example.com:e2024:" +
                ed_path +
                "\n"
                "rsa  example.com:r2024:" +
                rsa_path +
                "   # trailing comment\n"
                "any  %:wild:" +
                rsa_path +
                "\n"
                "inline example.org:in:nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n");
  std::string signing = write("SigningTable",
                              "boss@example.com rsa\n"
                              "example.com ed\n"
                              ".example.com rsa\n"
                              "example.org inline\n");
  KeyStore store;
  store.load_opendkim_tables(key_table, signing);
  auto boss = store.find("boss@example.com", false);
  ASSERT_EQ(boss.size(), 2u);  // boss@ → rsa first, then the domain's ed key
  EXPECT_EQ(boss[0].selector, "r2024");
  EXPECT_EQ(boss[1].selector, "e2024");
  auto sub = store.find("x@a.example.com", false);
  ASSERT_EQ(sub.size(), 1u);
  EXPECT_EQ(sub[0].selector, "r2024");
  EXPECT_EQ(store.find("x@example.org", false).at(0).key->algorithm(), Algorithm::Ed25519Sha256);
  EXPECT_TRUE(store.find("x@other.net", false).empty());

  std::string refile = write("SigningTable.re", "*@sales.example.net any\n*@*.example.net ed\n");
  KeyStore wild;
  wild.load_opendkim_tables(key_table, "refile:" + refile);
  auto sales = wild.find("bob@sales.example.net", false);
  ASSERT_EQ(sales.size(), 2u);
  EXPECT_EQ(sales[0].sdid, "sales.example.net");  // "%" = the From: domain
  EXPECT_EQ(sales[0].selector, "wild");
  EXPECT_EQ(sales[1].selector, "e2024");
}

TEST_F(Keys, SigningTableSignerBecomesAuid) {
  std::string rsa_path = write("rsa.pem", pem_of("RSA", 1024));
  std::string key_table = write("KeyTable", "rsa example.com:r1:" + rsa_path +
                                                "\n"
                                                "any %:r2:" +
                                                rsa_path + "\n");
  std::string signing = write("SigningTable.re",
                              "*@mail.example.com rsa @mail.example.com\n"  // subdomain of d=: kept
                              "*@example.com rsa bounces@example.com\n"
                              "*@example.net rsa @example.net\n"  // conflicts with d=
                              "*@example.org any @%\n");          // "%" = From: domain
  KeyStore store;
  store.load_opendkim_tables(key_table, "refile:" + signing);
  struct Case {
    std::string from, want_sdid, want_auid;
  } cases[] = {
      {"a@mail.example.com", "example.com", "@mail.example.com"},
      {"a@example.com", "example.com", "bounces@example.com"},
      {"a@example.net", "example.com", ""},
      {"a@example.org", "example.org", "@example.org"},
  };
  for (const Case& c : cases) {
    auto keys = store.find(c.from, false);
    ASSERT_EQ(keys.size(), 1u) << c.from;
    EXPECT_EQ(keys[0].sdid, c.want_sdid) << c.from;
    EXPECT_EQ(keys[0].auid, c.want_auid)
        << c.from << ": got i=" << keys[0].auid << ", want " << c.want_auid;
  }
  EXPECT_EQ(signing_identity("@Sub.Example.com", "x", "example.com"), "@Sub.Example.com");
  EXPECT_EQ(signing_identity("@notexample.com", "x", "example.com"), "");
  EXPECT_EQ(signing_identity("no-at-sign", "x", "example.com"), "");
}

TEST_F(Keys, TableErrorsSayFileAndLine) {
  std::string ed_path = write("ed.pem", pem_of("ED25519", 0));
  std::string key_table = write("KeyTable", "ed example.com:e:" + ed_path + "\nbad line here\n");
  std::string signing = write("SigningTable", "example.com ed\n");
  try {
    KeyStore().load_opendkim_tables(key_table, signing);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(key_table + ":2: ", 0), 0u) << e.what();
  }
  std::string good_table = write("KeyTable2", "ed example.com:e:" + ed_path + "\n");
  std::string missing = write("SigningTable2", "\n# c\nexample.com nokey\n");
  try {
    KeyStore().load_opendkim_tables(good_table, missing);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              missing + ":3: key 'nokey' is not in the KeyTable " + good_table);
  }
  std::string open_key = write("open.pem", pem_of("ED25519", 0), 0644);
  std::string bad_key = write("KeyTable3", "k example.com:e:" + open_key + "\n");
  EXPECT_THROW(KeyStore().load_opendkim_tables(bad_key, signing), ConfigError);
}

TEST(KeyTableLine, Parses) {
  KeyTableLine line;
  std::string error;
  EXPECT_EQ(parse_key_table_line("k Example.com:sel:./k.pem\r", line, error), LineKind::Record);
  EXPECT_EQ(line.sdid, "example.com");
  EXPECT_EQ(line.selector, "sel");
  EXPECT_TRUE(line.is_path);
  EXPECT_EQ(parse_key_table_line("   # only a comment", line, error), LineKind::Blank);
  EXPECT_EQ(parse_key_table_line("k example.com:sel", line, error), LineKind::Error);
  EXPECT_EQ(parse_key_table_line("k a:b:c extra", line, error), LineKind::Error);
  SigningTableLine s;
  EXPECT_EQ(parse_signing_table_line("*@Example.com key user@example.com", s, error),
            LineKind::Record);
  EXPECT_EQ(s.pattern, "*@example.com");
  EXPECT_EQ(s.signer, "user@example.com");
  EXPECT_EQ(parse_signing_table_line("lonely", s, error), LineKind::Error);
}

TEST(Wildcard, Matches) {
  EXPECT_TRUE(wildcard_match("*@example.com", "Joe@Example.com"));
  EXPECT_TRUE(wildcard_match("*", ""));
  EXPECT_TRUE(wildcard_match("a*b*c", "aXbYc"));
  EXPECT_FALSE(wildcard_match("*@example.com", "joe@example.com.evil"));
  EXPECT_FALSE(wildcard_match("a*b", "ac"));
}

}  // namespace
}  // namespace postern::dkim
