// public_suffix.hpp — the Organizational Domain of a DNS name (RFC 7489 §3.2) from the Public
// Suffix List, through libpsl and the list Debian's `publicsuffix` package installs (no list of
// our own). Load once per daemon; lookups are read-only and safe from any number of threads.
// Bad input: any text is accepted; only loading the list can throw (ConfigError).
#pragma once

#include <memory>
#include <string>
#include <string_view>

struct psl_ctx_st;  // libpsl's psl_ctx_t; <libpsl.h> stays inside public_suffix.cpp

namespace postern::dkim {

/// Where Debian 12's `publicsuffix` package puts the compiled list (libpsl's distfile).
inline constexpr char kDebianPublicSuffixList[] =
    "/usr/share/publicsuffix/public_suffix_list.dafsa";

/// Lower-cases ASCII letters and drops one trailing dot: the form names are compared in
/// (RFC 7489 §3.1: "domain names ... compared case-insensitively").
std::string normalize_domain(std::string_view domain);

/// The Public Suffix List, owned (psl_free on destruction).
class PublicSuffixList {
 public:
  /// Loads a libpsl DAFSA or plain-text list (psl_load_file). Throws ConfigError saying which
  /// file and why when it cannot be read.
  explicit PublicSuffixList(const std::string& path = kDebianPublicSuffixList);
  ~PublicSuffixList();
  PublicSuffixList(const PublicSuffixList&) = delete;
  PublicSuffixList& operator=(const PublicSuffixList&) = delete;

  /// RFC 7489 §3.2: the public suffix that matches the most labels of `domain` plus one more
  /// label ("a.b.example.co.uk" → "example.co.uk"). Rules from both the ICANN and the private
  /// section apply (as in OpenDMARC: "foo.github.io" is its own organization). A name that is
  /// itself a public suffix ("co.uk") is its own Organizational Domain (§3.2 leaves it open).
  /// The result is normalized (normalize_domain); "" for an empty name.
  std::string organizational_domain(std::string_view domain) const;

  /// True when `domain` (normalized first) is a public suffix ("com", "co.uk", "github.io").
  bool is_public_suffix(std::string_view domain) const;

 private:
  struct Deleter {
    void operator()(psl_ctx_st* ctx) const noexcept;
  };
  std::unique_ptr<psl_ctx_st, Deleter> ctx_;
};

}  // namespace postern::dkim
