// spf_skip.cpp — see spf_skip.hpp.
#include "policyd/greylist/spf_skip.hpp"

#include <exception>

#include "common/cidr.hpp"

namespace postern::greylist {

SpfPassCheck::SpfPassCheck(spf::SpfEngine& engine, std::string receiver,
                           std::function<int64_t()> now)
    : engine_(engine), receiver_(std::move(receiver)), now_(std::move(now)) {}

SpfSkipVerdict SpfPassCheck::check(std::string_view client_address, std::string_view sender,
                                   std::string_view helo_name) const {
  SpfSkipVerdict v;
  auto client = IpAddress::parse(client_address);
  if (!client) {
    v.result = "error";
    v.problem = "client_address is not an IP address";
    return v;
  }
  try {
    spf::CheckHostRequest r = spf::mail_from_identity(*client, sender, helo_name);
    r.receiver = receiver_;
    r.timestamp = now_ ? now_() : 0;
    spf::SpfOutcome outcome = engine_.check_host(r);
    v.skip = outcome.result == spf::SpfResult::Pass;
    v.result = std::string(spf::result_name(outcome.result));
    v.mechanism = std::move(outcome.mechanism);
    v.problem = std::move(outcome.problem);
  } catch (const std::exception& e) {
    v = SpfSkipVerdict{};
    v.result = "error";
    v.problem = e.what();
  }
  return v;
}

}  // namespace postern::greylist
