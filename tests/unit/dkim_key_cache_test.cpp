// dkim_key_cache_test.cpp — PublicKeyCache: one decode per distinct k=/p=, shared EVP_PKEYs
// that verify from several threads at once, cached reasons, the capacity bound, and the
// verifier using it.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <atomic>
#include <thread>
#include <vector>

#include "milters/dkim/base64.hpp"
#include "milters/dkim/digest.hpp"
#include "milters/dkim/key_cache.hpp"

namespace postern::dkim {
namespace {

// A fresh RSA key of `bits` and its key record.
struct TestKey {
  EvpPkey pkey;
  KeyRecord record;
};

TestKey rsa_key(size_t bits) {
  TestKey key;
  key.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
  EXPECT_TRUE(key.pkey);
  unsigned char* der = nullptr;
  int size = i2d_PUBKEY(key.pkey.get(), &der);
  EXPECT_GT(size, 0);
  std::string p = base64_encode(std::string(reinterpret_cast<char*>(der), size));
  OPENSSL_free(der);
  KeyRecordParse parse = parse_key_record("v=DKIM1; k=rsa; p=" + p);
  EXPECT_TRUE(parse.record) << parse.reason;
  key.record = *parse.record;
  return key;
}

std::string sign(EVP_PKEY* pkey, std::string_view data) {
  EvpMdCtx ctx(EVP_MD_CTX_new());
  size_t size = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, sha256_md(), nullptr, pkey), 1);
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &size,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()),
            1);
  std::string sig(size, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &size,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()),
            1);
  sig.resize(size);
  return sig;
}

bool verifies(EVP_PKEY* pkey, std::string_view data, std::string_view sig) {
  EvpMdCtx ctx(EVP_MD_CTX_new());
  return EVP_DigestVerifyInit(ctx.get(), nullptr, sha256_md(), nullptr, pkey) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

TEST(PublicKeyCache, SameRecordSharesOneKey) {
  TestKey key = rsa_key(2048);
  PublicKeyCache cache;
  PublicKey first = cache.load(key.record);
  PublicKey second = cache.load(key.record);
  ASSERT_TRUE(first.pkey) << first.reason;
  ASSERT_TRUE(second.pkey);
  EXPECT_EQ(first.pkey.get(), second.pkey.get());  // one decode, two references
  EXPECT_EQ(second.bits, 2048);
  EXPECT_EQ(second.reason, "");
  EXPECT_EQ(EVP_PKEY_eq(second.pkey.get(), key.pkey.get()), 1);
  EXPECT_EQ(cache.size(), 1u);
  first.pkey.reset();  // the cache's reference keeps the key alive
  EXPECT_EQ(EVP_PKEY_eq(cache.load(key.record).pkey.get(), key.pkey.get()), 1);
}

TEST(PublicKeyCache, DifferentKeysAreDifferentEntries) {
  TestKey a = rsa_key(1024);
  TestKey b = rsa_key(1024);
  PublicKeyCache cache;
  PublicKey ka = cache.load(a.record);
  PublicKey kb = cache.load(b.record);
  EXPECT_NE(ka.pkey.get(), kb.pkey.get());
  EXPECT_EQ(EVP_PKEY_eq(kb.pkey.get(), b.pkey.get()), 1);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(PublicKeyCache, UnusableKeyKeepsItsReason) {
  TestKey small = rsa_key(512);
  PublicKeyCache cache;
  for (int i = 0; i < 2; ++i) {
    PublicKey key = cache.load(small.record);
    EXPECT_FALSE(key.pkey);
    EXPECT_EQ(key.reason, "key too small");
  }
  KeyRecord garbage = small.record;
  garbage.public_key = "not DER";
  EXPECT_EQ(cache.load(garbage).reason, "bad public key");
  EXPECT_EQ(cache.load(garbage).reason, "bad public key");
  EXPECT_EQ(cache.size(), 2u);
}

TEST(PublicKeyCache, KeyTypeIsPartOfTheEntry) {
  TestKey key = rsa_key(1024);
  PublicKeyCache cache;
  ASSERT_TRUE(cache.load(key.record).pkey);
  KeyRecord as_ed25519 = key.record;
  as_ed25519.key_type = KeyType::Ed25519;  // same p= octets, not a 32-octet Ed25519 key
  EXPECT_EQ(cache.load(as_ed25519).reason, "bad public key");
}

TEST(PublicKeyCache, CapacityBoundsTheEntries) {
  std::vector<TestKey> keys;
  for (int i = 0; i < 3; ++i) keys.push_back(rsa_key(1024));
  PublicKeyCache cache(2);
  for (const TestKey& k : keys) EXPECT_TRUE(cache.load(k.record).pkey);
  EXPECT_LE(cache.size(), 2u);
  PublicKeyCache none(0);
  PublicKey a = none.load(keys[0].record);
  PublicKey b = none.load(keys[0].record);
  EXPECT_NE(a.pkey.get(), b.pkey.get());  // decoded each time
  EXPECT_EQ(none.size(), 0u);
}

TEST(PublicKeyCache, SharedKeyVerifiesFromManyThreads) {
  TestKey key = rsa_key(2048);
  std::string data = "header hash input";
  std::string good = sign(key.pkey.get(), data);
  std::string bad = good;
  bad[10] ^= 1;
  PublicKeyCache cache;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        PublicKey k = cache.load(key.record);
        if (!k.pkey || !verifies(k.pkey.get(), data, good) || verifies(k.pkey.get(), data, bad))
          ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace postern::dkim
