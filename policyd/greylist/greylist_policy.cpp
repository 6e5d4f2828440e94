// greylist_policy.cpp — see greylist_policy.hpp.
#include "policyd/greylist/greylist_policy.hpp"

#include <charconv>
#include <ctime>
#include <optional>

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "policyd/greylist/spf_skip.hpp"

namespace postern::greylist {
namespace {

std::string rfc5322_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %T %Z", &tm);  // as postgrey
  return buf;
}

}  // namespace

std::string substitute(std::string text, char placeholder, std::string_view value) {
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] == '%' && text[i + 1] == placeholder) {
      text.replace(i, 2, value);
      break;
    }
  }
  return text;
}

GreylistPolicy::GreylistPolicy(PolicySettings settings, Greylister& greylister,
                               metrics::Registry* metrics, redis::OutageTracker* tracker)
    : settings_(std::move(settings)),
      greylister_(greylister),
      metrics_(metrics),
      tracker_(tracker) {
  if (metrics_) {
    store_errors_ = &metrics_->counter("postern_greylist_store_errors_total",
                                       "requests answered with the fault action: store fault");
    for (const char* o : {"greylisted", "passed", "client-whitelist", "recipient-whitelist",
                          "client-awl", "bad-client-address", "skip-sasl", "skip-network",
                          "skip-client", "skip-spf-pass", "not-applicable", "store-fault"}) {
      // every series registered at start (value 0); decide() only reads this map
      decisions_[o] = &metrics_->counter("postern_greylist_decisions_total",
                                         "greylisting decisions by outcome (also in --dry-run)",
                                         {{"outcome", o}});
    }
    if (settings_.skip_spf_pass) {
      for (const char* r :
           {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "error"}) {
        spf_results_[r] = &metrics_->counter("postern_greylist_spf_checks_total",
                                             "--skip-spf-pass checks by SPF result (RFC 7208 "
                                             "§2.6; error: not checked, e.g. a bad address)",
                                             {{"result", r}});
      }
    }
  }
}

void GreylistPolicy::count(std::string_view outcome) {
  auto it = decisions_.find(outcome);
  if (it != decisions_.end()) it->second->inc();
}

std::string GreylistPolicy::greylist_reply(int64_t seconds_left, std::string_view recipient) const {
  std::string text = substitute(settings_.greylist_text, 's', std::to_string(seconds_left));
  size_t at = recipient.rfind('@');
  text = substitute(text, 'r', at == std::string_view::npos ? recipient : recipient.substr(at + 1));
  return settings_.greylist_action + " " + text;
}

std::string GreylistPolicy::header_reply(int64_t delayed_seconds) const {
  std::string h = substitute(settings_.x_greylist_header, 't', std::to_string(delayed_seconds));
  h = substitute(h, 'v', settings_.version);
  h = substitute(h, 'd', rfc5322_date());
  h = substitute(h, 'h', settings_.hostname);
  return "PREPEND " + h;
}

std::string GreylistPolicy::decide(const PolicyRequest& request) {
  auto event = [this](std::string_view outcome) { count(outcome); };
  auto log_line = [&](log::Event& e) -> log::Event& {
    if (request.has("queue_id") && !request.get("queue_id").empty())
      e.kv("queue_id", request.get("queue_id"));
    e.kv("client_address", request.get("client_address"))
        .kv("client_name", request.get("client_name"));
    e.kv("sender", request.get("sender")).kv("recipient", request.get("recipient"));
    if (settings_.dry_run) e.kv("dry_run", true);
    return e;
  };
  // postgrey answers DUNNO when one of these is missing (e.g. not an smtpd_access_policy
  // request from the RCPT stage).
  for (const char* name : {"client_address", "client_name", "recipient", "sender"}) {
    if (!request.has(name)) {
      event("not-applicable");
      return "DUNNO";
    }
  }
  if (request.get("request") != "smtpd_access_policy") {
    event("not-applicable");
    return "DUNNO";
  }
  const char* skip = nullptr;
  if (settings_.skip_sasl && !request.get("sasl_username").empty()) {
    skip = "skip-sasl";
  } else if (settings_.skip_networks.contains(request.get("client_address"))) {
    skip = "skip-network";
  } else if (settings_.skip_clients &&
             settings_.skip_clients->matches_name(request.get("client_name"))) {
    skip = "skip-client";
  }
  if (skip) {
    event(skip);
    auto e = log::debug("greylist");
    log_line(e.kv("outcome", skip));
    return "DUNNO";
  }
  std::optional<SpfSkipVerdict> spf;
  if (settings_.skip_spf_pass) {
    spf = settings_.skip_spf_pass->check(request.get("client_address"), request.get("sender"),
                                         request.get("helo_name"));
    auto counter = spf_results_.find(spf->result);
    if (counter != spf_results_.end()) counter->second->inc();
    if (spf->skip) {
      event("skip-spf-pass");
      auto e = log::info("greylist");
      log_line(e.kv("outcome", "skip-spf-pass").kv("reason", "spf-pass"))
          .kv("helo", request.get("helo_name"))
          .kv("spf_mechanism", spf->mechanism);
      return "DUNNO";
    }
  }

  TripletRequest t{request.get("client_address"), request.get("client_name"), request.get("sender"),
                   request.get("recipient"), request.get("instance")};
  if (settings_.trust_test_time && request.has("policy_test_time")) {
    std::string_view text = request.get("policy_test_time");
    int64_t when = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), when);
    if (ec == std::errc() && end == text.data() + text.size() && when > 0) t.now = when;
  }
  Verdict v;
  try {
    v = greylister_.decide(t);
    if (tracker_) tracker_->success();
  } catch (const StoreError& e) {
    if (tracker_) tracker_->failure(e.what());
    if (store_errors_) store_errors_->inc();
    event("store-fault");
    auto line = log::debug("greylist-store-fault");
    log_line(line.kv("error", e.what()).kv("action", settings_.fault_action));
    return settings_.fault_action;
  }
  std::string_view outcome = outcome_name(v.outcome);
  event(outcome);
  std::string action = "DUNNO";
  if (v.outcome == Outcome::Greylisted) {
    action = greylist_reply(v.seconds_left, request.get("recipient"));
    auto e = log::info("greylist");
    log_line(e.kv("outcome", outcome).kv("reason", v.early_retry ? "early-retry" : "new"))
        .kv("seconds_left", v.seconds_left);
    if (spf) {
      e.kv("spf", spf->result);
      if (!spf->problem.empty()) e.kv("spf_problem", spf->problem);
    }
  } else if (v.outcome == Outcome::Passed && v.first_pass) {
    if (!settings_.x_greylist_header.empty()) action = header_reply(v.delayed_seconds);
    auto e = log::info("greylist");
    log_line(e.kv("outcome", outcome).kv("reason", "triplet found")).kv("delay", v.delayed_seconds);
  } else {
    auto e = log::debug("greylist");
    log_line(e.kv("outcome", outcome));
  }
  if (v.newly_auto_whitelisted) {
    log::info("greylist-auto-whitelisted")
        .kv("client_address", request.get("client_address"))
        .kv("client_name", request.get("client_name"));
  }
  return settings_.dry_run ? "DUNNO" : action;
}

}  // namespace postern::greylist
