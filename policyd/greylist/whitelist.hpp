// whitelist.hpp — postgrey's whitelist files (postgrey 1.37 read_clients_whitelists,
// read_recipients_whitelists; Debian ships /etc/postgrey/whitelist_clients and
// whitelist_recipients). One entry per line; '#' starts a comment; blank lines are ignored.
//   clients:    /regex/ (on client_name, case-insensitive), a.b.c.d[/n], a.b.c (a /24),
//               a.b (a /16; postgrey 1.37 makes it a /24 by mistake), IPv6[/n], or a host or
//               domain name (matches the name and any name below it).
//   recipients: /regex/, user@domain and user@ (also matching user+extension@...), or a
//               domain (matches @domain and any subdomain).
// Regexes are ECMAScript (std::regex), which reads the Perl patterns in postgrey's lists the
// same way. A file that cannot be read, a bad regex or a line that is no entry throws
// ConfigError "FILE:LINE: why" (postgrey warns and goes on; we refuse to start or to reload).
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.hpp"

namespace postern::greylist {

/// Clients not greylisted: by verified name (client_name) or address.
class ClientWhitelist {
 public:
  /// Adds every entry of `text`; `source` names it in errors ("/etc/postgrey/whitelist_clients").
  void add(std::string_view text, const std::string& source);
  /// Reads and adds the file at `path`; a missing file named "*.local" is skipped (postgrey).
  void add_file(const std::string& path);
  /// True when `client_name` (case-insensitive; "unknown" never matches a name entry unless a
  /// regex says so) or `client_address` is listed. Inputs longer than 1024 bytes never match.
  bool matches(std::string_view client_name, std::string_view client_address) const;
  /// True when only the name entries and regexes match `client_name` (for --skip-clients).
  bool matches_name(std::string_view client_name) const;
  size_t size() const { return names_.size() + regexes_.size() + networks_.size(); }

 private:
  std::vector<std::string> names_;  // lower-case
  std::vector<std::regex> regexes_;
  std::vector<Cidr> networks_;
  // Whether a regex matches "unknown", the client_name Postfix sends for a client without a
  // verified name (most of them): found once in add(), so such requests run no regex.
  bool unknown_matches_ = false;
};

/// Recipients never greylisted.
class RecipientWhitelist {
 public:
  void add(std::string_view text, const std::string& source);
  void add_file(const std::string& path);
  /// True when `recipient` is listed (case-insensitive). Over 1024 bytes never matches.
  bool matches(std::string_view recipient) const;
  size_t size() const { return entries_.size() + regexes_.size(); }

 private:
  struct Entry {
    std::string user;    // lower-case; "" for a domain entry
    std::string domain;  // lower-case; "" for "user@"
  };
  std::vector<Entry> entries_;
  std::vector<std::regex> regexes_;
};

}  // namespace postern::greylist
