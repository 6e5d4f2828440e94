// ldap_source.hpp — postern-rcpt's LDAP / Active Directory source: a recipient exists when the
// query filter, expanded for its address like Postfix's ldap_table(5) query_filter (%s %u %d,
// values escaped per RFC 4515), finds at least one entry under the search base. The default
// filter is Active Directory's: persons, groups and public folders whose proxyAddresses holds
// "smtp:<address>" (proxyAddresses matches case-insensitively: "SMTP:" primary and "smtp:"
// secondary addresses, any case of the address). Faults (common/ldap.hpp LdapError) become
// SourceFault; the client logs one line per outage.
#pragma once

#include <memory>
#include <string>

#include "common/ldap.hpp"
#include "policyd/rcpt/recipient_source.hpp"

namespace postern::rcpt {

/// Active Directory: users, groups and public folders by any of their SMTP addresses.
inline constexpr const char* default_ad_filter =
    "(&(|(objectClass=person)(objectClass=group)(objectClass=publicFolder))"
    "(proxyAddresses=smtp:%s))";

struct LdapSourceConfig {
  ldap::ClientConfig client;
  std::string search_base;
  ldap::Scope scope = ldap::Scope::Subtree;
  std::string query_filter = default_ad_filter;
};

class LdapSource : public RecipientSource {
 public:
  /// Throws ConfigError (bad filter pattern, bad client configuration). No network here.
  explicit LdapSource(LdapSourceConfig config);
  const char* name() const override { return "ldap"; }
  /// One search (no attributes, size limit 1). A key the filter cannot be expanded for (%d
  /// without a domain, ...) does not exist. Throws SourceFault.
  bool exists(const std::string& address) override;
  ldap::Client& client() { return client_; }

 private:
  LdapSourceConfig config_;
  ldap::Client client_;
};

}  // namespace postern::rcpt
