// dkim_mode.cpp — see dkim_mode.hpp.
#include "milters/dkim/dkim_mode.hpp"

#include <string>

#include "common/config_error.hpp"

namespace postern::dkim {

Mode parse_mode(std::string_view text) {
  if (text == "sign" || text == "s") return Mode::Sign;
  if (text == "verify" || text == "v") return Mode::Verify;
  if (text == "both" || text == "sv" || text == "vs") return Mode::Both;
  throw ConfigError("option --mode: '" + std::string(text) +
                    "' is not sign, verify or both (s, v, sv)");
}

MessageWork plan_message(Mode mode, bool verify_internal, const SigningPolicy::Decision& decision) {
  bool external = !decision.sign && decision.skip_reason == SkipReason::ExternalClient;
  MessageWork work;
  work.sign = mode != Mode::Verify && decision.sign;
  work.verify = mode != Mode::Sign && (external || verify_internal);
  return work;
}

}  // namespace postern::dkim
