// dkim_rfc8463_test.cpp — RFC 8463 Appendix A: with the published keys (A.2), message (A.1)
// and signature fields (A.3), we reproduce bh= and b= exactly for ed25519-sha256 and
// rsa-sha256 (both deterministic: PureEdDSA, RSASSA-PKCS1-v1_5).
#include <gtest/gtest.h>

#include "milters/dkim/keys.hpp"
#include "milters/dkim/signer.hpp"

namespace postern::dkim {
namespace {

// A.2: the Ed25519 secret key is the RFC 8032 §7.1 test 1 seed, base64.
constexpr char kEd25519Seed[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
constexpr char kEd25519Public[] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
constexpr char kRsaKey[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi\n"
    "Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM\n"
    "KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\n"
    "AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm\n"
    "6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe\n"
    "zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy\n"
    "6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc\n"
    "uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy\n"
    "WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd\n"
    "WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a\n"
    "licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst\n"
    "o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe\n"
    "uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL\n"
    "-----END RSA PRIVATE KEY-----\n";
// A.2 DNS record of the "test" selector.
constexpr char kRsaPublic[] =
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
    "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYL"
    "zBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

// A.1, fields as Postfix hands them to a milter: value after the colon, leading SP kept.
std::vector<HeaderField> rfc_headers() {
  return {{"From", " Joe SixPack <joe@football.example.com>"},
          {"To", " Suzie Q <suzie@shopping.example.net>"},
          {"Subject", " Is dinner ready?"},
          {"Date", " Fri, 11 Jul 2003 21:00:37 -0700 (PDT)"},
          {"Message-ID", " <20030712040037.46341.5F8J@football.example.com>"}};
}
constexpr char kBody[] = "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n";
const std::vector<std::string> kSignedFields = {"from",       "to",   "subject", "date",
                                                "message-id", "from", "subject", "date"};

constexpr char kBodyHash[] = "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=";

// A.3 DKIM-Signature values with b= emptied (the verifier's view, RFC 6376 §3.7), folds kept.
constexpr char kEd25519Template[] =
    " v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=";
constexpr char kEd25519B[] =
    "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";

constexpr char kRsaTemplate[] =
    " v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=";
constexpr char kRsaB[] =
    "F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9"
    "mPYQTnGdaSGsgeefOsk2JzdA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=";

TEST(Rfc8463, BodyHash) {
  EXPECT_EQ(body_hash(Canon::Relaxed, kBody), kBodyHash);
}

TEST(Rfc8463, Ed25519KeyMatchesPublishedPublicKey) {
  auto key = PrivateKey::load_base64(kEd25519Seed, "rfc8463 ed25519");
  EXPECT_EQ(key->algorithm(), Algorithm::Ed25519Sha256);
  EXPECT_EQ(key->public_key_base64(), kEd25519Public);
}

TEST(Rfc8463, RsaKeyMatchesPublishedPublicKey) {
  auto key = PrivateKey::load_pem(kRsaKey, "rfc8463 rsa");
  EXPECT_EQ(key->algorithm(), Algorithm::RsaSha256);
  EXPECT_EQ(key->bits(), 1024);
  EXPECT_EQ(key->public_key_base64(), kRsaPublic);
}

TEST(Rfc8463, Ed25519SignatureReproduced) {
  auto key = PrivateKey::load_base64(kEd25519Seed, "rfc8463 ed25519");
  std::string b =
      sign_with_template(*key, Canon::Relaxed, rfc_headers(), kSignedFields, kEd25519Template);
  EXPECT_EQ(b, kEd25519B) << "got " << b << ", want " << kEd25519B;
}

TEST(Rfc8463, RsaSignatureReproduced) {
  auto key = PrivateKey::load_pem(kRsaKey, "rfc8463 rsa");
  std::string b =
      sign_with_template(*key, Canon::Relaxed, rfc_headers(), kSignedFields, kRsaTemplate);
  EXPECT_EQ(b, kRsaB) << "got " << b << ", want " << kRsaB;
}

TEST(Rfc8463, SignedHeaderDataIsBottomUpAndOversigned) {
  std::string data;
  append_signed_headers(Canon::Relaxed, rfc_headers(), kSignedFields, data);
  EXPECT_EQ(data,
            "from:Joe SixPack <joe@football.example.com>\r\n"
            "to:Suzie Q <suzie@shopping.example.net>\r\n"
            "subject:Is dinner ready?\r\n"
            "date:Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
            "message-id:<20030712040037.46341.5F8J@football.example.com>\r\n");
}

}  // namespace
}  // namespace postern::dkim
