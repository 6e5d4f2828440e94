// public_suffix.cpp — see public_suffix.hpp. libpsl(3), libpsl 0.21.
#include "milters/dkim/public_suffix.hpp"

#include <libpsl.h>

#include "common/config_error.hpp"

namespace postern::dkim {

std::string normalize_domain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  std::string out(domain);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

void PublicSuffixList::Deleter::operator()(psl_ctx_st* ctx) const noexcept {
  psl_free(ctx);
}

PublicSuffixList::PublicSuffixList(const std::string& path) : ctx_(psl_load_file(path.c_str())) {
  if (!ctx_) {
    throw ConfigError("public suffix list " + path +
                      ": cannot load it (missing or not a libpsl list; install `publicsuffix`)");
  }
}

PublicSuffixList::~PublicSuffixList() = default;

std::string PublicSuffixList::organizational_domain(std::string_view domain) const {
  std::string name = normalize_domain(domain);
  if (name.empty()) return name;
  // Points into `name`, or nullptr when `name` is a public suffix (or not a usable name).
  const char* registrable = psl_registrable_domain(ctx_.get(), name.c_str());
  return registrable ? std::string(registrable) : name;
}

bool PublicSuffixList::is_public_suffix(std::string_view domain) const {
  std::string name = normalize_domain(domain);
  return psl_is_public_suffix(ctx_.get(), name.c_str()) != 0;
}

}  // namespace postern::dkim
