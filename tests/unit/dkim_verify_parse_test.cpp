// dkim_verify_parse_test.cpp — the verification parsers: tag-lists (RFC 6376 §3.2),
// DKIM-Signature fields (§3.5, RFC 8301), key records (§3.6.1, RFC 8463 §4.2) and the
// Authentication-Results dkim clause (RFC 8601 §2.2, §2.7.1).
#include <gtest/gtest.h>

#include "milters/dkim/auth_results.hpp"
#include "milters/dkim/key_record.hpp"
#include "milters/dkim/signature.hpp"
#include "milters/dkim/tag_list.hpp"

namespace postern::dkim {
namespace {

TEST(TagList, ParsesWithFoldsAndTrailingSemicolon) {
  TagList list = parse_tag_list(" a = 1 ;\r\n\tb=x y\r\n z ; c=; ");
  ASSERT_TRUE(list.ok()) << list.error;
  ASSERT_EQ(list.tags.size(), 3u);
  EXPECT_EQ(list.find("a")->value, "1");
  EXPECT_EQ(list.find("b")->value, "x y\r\n z");
  EXPECT_EQ(list.find("c")->value, "");
  EXPECT_EQ(list.find("A"), nullptr) << "tag names are case-sensitive";
}

TEST(TagList, Errors) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"", "empty tag-list"},
           {" ; ;", "empty tag-list"},
           {"a=1; a=2", "duplicate tag \"a\""},
           {"a=1; 9=2", "tag name must start with a letter"},
           {"a=1; b", "missing '=' after tag \"b\""},
           {"a=1; b c=2", "missing '=' after tag \"b\""},
           {"a=x\001y", "control character in value of tag \"a\""},
       }) {
    TagList list = parse_tag_list(c.text);
    EXPECT_EQ(list.error, c.error) << "text " << c.text;
  }
  std::string many;
  for (int i = 0; i < 100; ++i) many += "t" + std::to_string(i) + "=1;";
  EXPECT_EQ(parse_tag_list(many).error, "too many tags");
  EXPECT_EQ(parse_tag_list("a=" + std::string(kMaxTagListBytes, 'x')).error, "tag-list too large");
}

TEST(TagList, ValueOffsetsPointIntoText) {
  std::string text = "a=1; b= AB\r\n CD ; c=2";
  TagList list = parse_tag_list(text);
  const Tag* b = list.find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(text.substr(0, b->value_begin), "a=1; b=");
  EXPECT_EQ(text.substr(b->value_end), " ; c=2");
}

TEST(TagList, ColonList) {
  auto items = split_colon_list(" from : to\r\n :subject::");
  std::vector<std::string_view> want{"from", "to", "subject", "", ""};
  EXPECT_EQ(items, want);
}

constexpr char kGood[] =
    " v=1; a=rsa-sha256; c=relaxed/simple; d=Example.COM; i=joe=40sub.example.com;\r\n"
    "\ts=Sel1; t=1000; x=2000; l=42; q=dns/txt; z=From:x; h=From : To;\r\n"
    "\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    "\tb=AAAA\r\n\t BBBB ";

TEST(Signature, ParsesEveryTag) {
  ParsedSignature parsed = parse_signature(kGood);
  ASSERT_EQ(parsed.status, SignatureStatus::Ok) << parsed.reason;
  const Signature& sig = parsed.signature;
  EXPECT_EQ(sig.algorithm, Algorithm::RsaSha256);
  EXPECT_EQ(sig.canonicalization, (Canonicalization{Canon::Relaxed, Canon::Simple}));
  EXPECT_EQ(sig.sdid, "example.com");
  EXPECT_EQ(sig.auid, "joe@sub.example.com");
  EXPECT_EQ(sig.selector, "sel1");
  EXPECT_EQ(sig.timestamp, 1000);
  EXPECT_EQ(sig.expiration, 2000);
  EXPECT_EQ(sig.body_length, 42u);
  EXPECT_EQ(sig.signed_header_fields, (std::vector<std::string>{"from", "to"}));
  EXPECT_EQ(sig.b_text, "AAAABBBB");
  EXPECT_EQ(sig.body_hash.size(), 32u);
  // §3.7: only the b= value goes; folds before it and whitespace after it stay.
  EXPECT_EQ(sig.value_without_b,
            " v=1; a=rsa-sha256; c=relaxed/simple; d=Example.COM; i=joe=40sub.example.com;\r\n"
            "\ts=Sel1; t=1000; x=2000; l=42; q=dns/txt; z=From:x; h=From : To;\r\n"
            "\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
            "\tb= ");
}

TEST(Signature, DefaultsAndBInTheMiddle) {
  ParsedSignature parsed = parse_signature(
      "v=1; a=ed25519-sha256; b=\n AAAA; d=example.com; s=s; h=from; "
      "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
  ASSERT_EQ(parsed.status, SignatureStatus::Ok) << parsed.reason;
  EXPECT_EQ(parsed.signature.algorithm, Algorithm::Ed25519Sha256);
  EXPECT_EQ(parsed.signature.canonicalization, (Canonicalization{Canon::Simple, Canon::Simple}));
  EXPECT_EQ(parsed.signature.auid, "@example.com");
  EXPECT_EQ(parsed.signature.value_without_b,
            "v=1; a=ed25519-sha256; b=; d=example.com; s=s; h=from; "
            "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
}

std::string with(std::string_view drop, std::string_view extra) {
  std::string out;
  for (std::string tag : {"v=1", "a=rsa-sha256", "d=example.com", "s=sel", "h=from:to",
                          "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=", "b=AAAA"}) {
    if (tag.substr(0, tag.find('=')) == drop) continue;
    out += tag + "; ";
  }
  return out + std::string(extra);
}

TEST(Signature, Reasons) {
  struct Case {
    std::string value;
    SignatureStatus status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {with("", ""), SignatureStatus::Ok, ""},
      {with("v", ""), SignatureStatus::Permerror, "missing v= tag"},
      {with("v", "v=2"), SignatureStatus::Permerror, "unsupported version v=2"},
      {with("bh", ""), SignatureStatus::Permerror, "missing bh= tag"},
      {with("h", ""), SignatureStatus::Permerror, "missing h= tag"},
      {with("", "v=1"), SignatureStatus::Permerror, "bad tag-list: duplicate tag \"v\""},
      {with("a", "a=rsa-sha1"), SignatureStatus::Fail, "rsa-sha1 is not accepted (RFC 8301)"},
      {with("a", "a=hmac-sha256"), SignatureStatus::Permerror, "unknown algorithm a=hmac-sha256"},
      {with("b", "b=A!A"), SignatureStatus::Permerror, "bad base64 in b="},
      {with("b", "b="), SignatureStatus::Permerror, "empty b="},
      {with("bh", "bh=AAAA"), SignatureStatus::Permerror, "bh= is not a SHA-256 digest"},
      {with("", "c=fancy"), SignatureStatus::Permerror, "unknown canonicalization c=fancy"},
      {with("d", "d=exa mple.com"), SignatureStatus::Permerror, "d= is not a domain name"},
      {with("s", "s=a..b"), SignatureStatus::Permerror, "s= is not a selector"},
      {with("h", "h=to:subject"), SignatureStatus::Permerror, "h= does not include From"},
      {with("h", "h=from::to"), SignatureStatus::Permerror, "empty header field name in h="},
      {with("", "i=joe@other.com"), SignatureStatus::Permerror,
       "i= domain is not d= or a subdomain of it"},
      {with("", "i=joe@badexample.com"), SignatureStatus::Permerror,
       "i= domain is not d= or a subdomain of it"},
      {with("", "i=joe"), SignatureStatus::Permerror, "i= has no '@'"},
      {with("", "i=@mail.example.com"), SignatureStatus::Ok, ""},
      {with("", "q=http"), SignatureStatus::Permerror, "unsupported query method q=http"},
      {with("", "l=12a"), SignatureStatus::Permerror, "l= is not a number"},
      {with("", "l=99999999999999999999999"), SignatureStatus::Permerror, "l= is not a number"},
      {with("", "t=20; x=10"), SignatureStatus::Permerror, "x= is before t="},
      {with("", "t=1234567890123"), SignatureStatus::Permerror, "t= is not a timestamp"},
      {with("", "z=anything|here"), SignatureStatus::Ok, ""},
      {std::string(kMaxSignatureBytes + 1, 'a'), SignatureStatus::Permerror,
       "signature field too large"},
  };
  for (const Case& c : cases) {
    ParsedSignature parsed = parse_signature(c.value);
    EXPECT_EQ(parsed.status, c.status) << c.value << ": got reason " << parsed.reason;
    EXPECT_EQ(parsed.reason, c.reason) << c.value;
  }
}

TEST(Signature, FailureKeepsIdentitiesForReports) {
  ParsedSignature parsed = parse_signature(with("a", "a=rsa-sha1"));
  EXPECT_EQ(parsed.signature.sdid, "example.com");
  EXPECT_EQ(parsed.signature.selector, "sel");
  EXPECT_EQ(parsed.signature.algorithm_text, "rsa-sha1");
  EXPECT_EQ(parsed.signature.b_text, "AAAA");
}

TEST(KeyRecord, Parses) {
  KeyRecordParse parse = parse_key_record(
      "v=DKIM1; k=ed25519; h=sha1:sha256; s=email; t=y:s; n=note; "
      "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
  ASSERT_TRUE(parse.record) << parse.reason;
  EXPECT_EQ(parse.record->key_type, KeyType::Ed25519);
  EXPECT_TRUE(parse.record->testing);
  EXPECT_TRUE(parse.record->strict_identity);
  EXPECT_EQ(parse.record->public_key.size(), 32u);
  PublicKey key = load_public_key(*parse.record);
  EXPECT_TRUE(key.pkey) << key.reason;
}

TEST(KeyRecord, Reasons) {
  struct Case {
    const char* txt;
    const char* reason;  // "" = usable
  };
  for (const Case& c : std::initializer_list<Case>{
           {"p=", ""},
           {"k=rsa; p=", ""},
           {"k=ed25519; p=AAAA; v=DKIM1", "key record v= is not the first tag"},
           {"v=DKIM2; p=AAAA", "key record v= is not DKIM1"},
           {"v=DKIM1; k=dsa; p=AAAA", "unknown key type k=dsa"},
           {"v=DKIM1; h=sha1; p=AAAA", "key h= does not allow sha256"},
           {"v=DKIM1; s=web; p=AAAA", "key is not for email (s=)"},
           {"v=DKIM1; s=web:*; p=AAAA", ""},
           {"v=DKIM1; k=rsa", "key record has no p="},
           {"v=DKIM1; p=A#AA", "bad base64 in key p="},
           {"v=DKIM1; p=AAAA; p=BBBB", "bad key record: duplicate tag \"p\""},
           {"garbage", "bad key record: missing '=' after tag \"garbage\""},
       }) {
    KeyRecordParse parse = parse_key_record(c.txt);
    EXPECT_EQ(parse.reason, c.reason) << c.txt;
    EXPECT_EQ(parse.record.has_value(), std::string_view(c.reason).empty()) << c.txt;
  }
  EXPECT_TRUE(parse_key_record("v=DKIM1; p=").record->revoked());
}

TEST(KeyRecord, BadKeyBytes) {
  KeyRecord ed{KeyType::Ed25519, std::string(31, 'x')};
  EXPECT_EQ(load_public_key(ed).reason, "bad public key");
  KeyRecord rsa{KeyType::Rsa, "not DER"};
  EXPECT_EQ(load_public_key(rsa).reason, "bad public key");
}

TEST(AuthResults, PassClause) {
  SignatureResult r;
  r.result = DkimResult::Pass;
  r.sdid = "example.com";
  r.auid = "joe.x@example.com";
  r.selector = "sel1";
  r.algorithm = "rsa-sha256";
  r.b_prefix = "abc+/12=";
  EXPECT_EQ(dkim_clause(r),
            "dkim=pass header.d=example.com header.i=joe.x@example.com header.s=sel1 "
            "header.a=rsa-sha256 header.b=\"abc+/12=\"");
  r.result = DkimResult::Fail;
  r.reason = "body hash mismatch";
  r.auid = "@example.com";
  r.b_prefix = "abcdefgh";
  EXPECT_EQ(dkim_clause(r),
            "dkim=fail reason=\"body hash mismatch\" header.d=example.com header.i=@example.com "
            "header.s=sel1 header.a=rsa-sha256 header.b=abcdefgh");
}

TEST(AuthResults, QuotesUntrustedText) {
  EXPECT_EQ(ar_value("plain-token"), "plain-token");
  EXPECT_EQ(ar_value(""), "\"\"");
  EXPECT_EQ(ar_value("a \"b\" \\c\r\nd"), "\"a \\\"b\\\" \\\\c  d\"");
  EXPECT_EQ(ar_pvalue("\"odd local\"@example.com"), "\"\\\"odd local\\\"@example.com\"");
  EXPECT_EQ(ar_pvalue("a;b.example"), "\"a;b.example\"");
  EXPECT_EQ(ar_value(std::string(1000, 'x')).size(), 256u);
  SignatureResult none;
  none.result = DkimResult::None;
  EXPECT_EQ(dkim_clause(none), "dkim=none");
  SignatureResult bare;  // permerror before anything parsed
  bare.reason = "bad tag-list: empty tag-list";
  EXPECT_EQ(dkim_clause(bare), "dkim=permerror reason=\"bad tag-list: empty tag-list\"");
}

}  // namespace
}  // namespace postern::dkim
