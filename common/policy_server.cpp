// policy_server.cpp — the policy delegation server (see policy.hpp): the policy protocol's
// framing, fault action and names on the shared stream server (stream_server.hpp).
// Source: Postfix SMTPD_POLICY_README ("Protocol description", "Policy client/server
// configuration": smtpd_policy_service_max_idle, _timeout, _default_action).
#include <algorithm>
#include <cctype>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "common/config_error.hpp"
#include "common/policy.hpp"
#include "common/stream_server.hpp"

namespace postern {
namespace {

// The label for an action: its first word when it is a Postfix access(5) action or an SMTP
// code, else "other" (a handler cannot blow up the number of series).
std::string action_label(std::string_view action) {
  static const std::set<std::string, std::less<>> known = {
      "OK",      "REJECT", "DEFER",   "DEFER_IF_REJECT", "DEFER_IF_PERMIT", "DUNNO",
      "PREPEND", "HOLD",   "DISCARD", "FILTER",          "REDIRECT",        "BCC",
      "WARN",    "INFO"};
  std::string word(action.substr(0, action.find_first_of(" \t")));
  std::transform(word.begin(), word.end(), word.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  bool code = word.size() == 3 && std::all_of(word.begin(), word.end(),
                                              [](unsigned char c) { return std::isdigit(c); });
  return known.count(word) || code ? word : "other";
}

// Why an action cannot be sent as is; "" when it can.
std::string bad_action_reason(const std::string& action) {
  if (action.empty()) return "handler returned an empty action";
  if (action.find_first_of("\r\n") != std::string::npos)
    return "handler returned an action with a line break";
  return {};
}

// PolicyRequestParser as a StreamParser: each request becomes a call of the handler.
class PolicyStreamParser : public StreamParser {
 public:
  PolicyStreamParser(PolicyLimits limits, std::shared_ptr<const PolicyHandler> handler)
      : parser_(limits), handler_(std::move(handler)) {}
  State feed(std::string_view data, size_t& consumed) override {
    return parser_.feed(data, consumed);
  }
  StreamRequest take() override {
    auto request = std::make_shared<PolicyRequest>(parser_.take());
    std::string queue_id(request->get("queue_id"));
    return StreamRequest{[handler = handler_, request] { return (*handler)(*request); },
                         std::move(queue_id)};
  }
  const std::string& error() const override { return parser_.error(); }

 private:
  PolicyRequestParser parser_;
  std::shared_ptr<const PolicyHandler> handler_;
};

StreamProtocol policy_protocol(const PolicyServerConfig& config, PolicyHandler handler) {
  if (!handler) throw ConfigError("policy server " + config.name + ": no handler");
  auto shared = std::make_shared<const PolicyHandler>(std::move(handler));
  return StreamProtocol{
      .event = "policy",
      .metric_prefix = metric_name_prefix(config.name) + "_policy",
      .fault_answer = config.fault_action,
      .make_parser = [limits = config.limits,
                      shared] { return std::make_unique<PolicyStreamParser>(limits, shared); },
      .frame = [](const std::string& action) { return "action=" + action + "\n\n"; },
      .check_answer = bad_action_reason,
      .label = [](const std::string& action) { return action_label(action); },
  };
}

}  // namespace

PolicyServer::PolicyServer(PolicyServerConfig config, PolicyHandler handler)
    : StreamServer(StreamServerConfig(config), policy_protocol(config, std::move(handler))) {}

int run_policy_server(const PolicyServerConfig& config, PolicyHandler handler) {
  PolicyServer server(config, std::move(handler));
  return server.run(true);
}

}  // namespace postern
