// ldap_source.cpp — the LDAP recipient source (ldap_source.hpp).
#include "policyd/rcpt/ldap_source.hpp"

namespace postern::rcpt {

LdapSource::LdapSource(LdapSourceConfig config)
    : config_(std::move(config)), client_(config_.client) {
  ldap::check_filter_pattern(config_.query_filter);
}

bool LdapSource::exists(const std::string& address) {
  auto filter = ldap::expand_filter(config_.query_filter, address);
  if (!filter) return false;
  ldap::SearchRequest request;
  request.base = config_.search_base;
  request.scope = config_.scope;
  request.filter = std::move(*filter);
  request.attributes = {"1.1"};  // RFC 4511 §4.5.1.8: no attributes, DNs only
  request.size_limit = 1;
  try {
    return !client_.search(request).empty();
  } catch (const ldap::LdapError& e) {
    throw SourceFault("ldap", e.what());
  }
}

}  // namespace postern::rcpt
