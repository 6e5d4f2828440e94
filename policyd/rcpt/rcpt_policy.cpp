// rcpt_policy.cpp — the recipient decision (rcpt_policy.hpp).
#include "policyd/rcpt/rcpt_policy.hpp"

#include "common/ascii.hpp"
#include "common/config_error.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"

namespace postern::rcpt {

std::optional<FinalAction> parse_final_action(std::string_view text) {
  if (text == "defer") return FinalAction::Defer;
  if (text == "reject") return FinalAction::Reject;
  if (text == "dry-run") return FinalAction::DryRun;
  return std::nullopt;
}

DomainList DomainList::parse(std::string_view text) {
  DomainList list;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find_first_of(" ,\t\n", i);
    if (end == std::string_view::npos) end = text.size();
    std::string entry = to_lower(text.substr(i, end - i));
    i = end + 1;
    if (entry.empty()) continue;
    std::string_view name = entry.front() == '.' ? std::string_view(entry).substr(1) : entry;
    bool ok = !name.empty() && name.front() != '.' && name.back() != '.' &&
              name.find("..") == std::string_view::npos;
    for (char c : name) {
      ok = ok &&
           ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_');
    }
    if (!ok) throw ConfigError("'" + entry + "' is not a domain name (or .domain)");
    list.domains_.push_back(entry);
  }
  return list;
}

bool DomainList::contains(const std::string& domain) {
  for (const std::string& d : domains_) {
    if (d.front() == '.') {
      if (domain.size() > d.size() && domain.compare(domain.size() - d.size(), d.size(), d) == 0) {
        return true;
      }
    } else if (domain == d) {
      return true;
    }
  }
  return false;
}

std::optional<std::string> strip_extension(std::string_view address, std::string_view delimiters) {
  if (delimiters.empty()) return std::nullopt;
  size_t at = address.rfind('@');
  std::string_view local = address.substr(0, at);
  size_t cut = local.find_first_of(delimiters);
  if (cut == std::string_view::npos || cut == 0) return std::nullopt;
  std::string out(local.substr(0, cut));
  if (at != std::string_view::npos) out += address.substr(at);
  return out;
}

struct RcptPolicy::Metrics {
  metrics::Registry& registry;
  metrics::Counter& known;
  metrics::Counter& unknown;
  metrics::Counter& fault;
  metrics::Counter& table;
  metrics::Counter& skipped;
  metrics::Counter& cache_hit;
  metrics::Counter& cache_miss;
  explicit Metrics(metrics::Registry& r)
      : registry(r),
        known(answers(r, "known")),
        unknown(answers(r, "unknown")),
        fault(answers(r, "fault")),
        table(answers(r, "table")),
        skipped(answers(r, "not_relay_domain")),
        cache_hit(
            r.counter("postern_rcpt_cache_total", "Recipient cache lookups", {{"result", "hit"}})),
        cache_miss(r.counter("postern_rcpt_cache_total", "Recipient cache lookups",
                             {{"result", "miss"}})) {}
  static metrics::Counter& answers(metrics::Registry& r, const char* result) {
    return r.counter("postern_rcpt_answers_total", "Recipient decisions by outcome",
                     {{"result", result}});
  }
  std::vector<metrics::Counter*> source_known, source_unknown;  // parallel to sources_
  metrics::Counter& faults(const std::string& source) {
    return registry.counter("postern_rcpt_faults_total",
                            "Backend faults answered DEFER_IF_PERMIT 4.4.3", {{"source", source}});
  }
  metrics::Counter& lookups(const char* source, bool known_result) {
    return registry.counter("postern_rcpt_lookups_total", "Source lookups by answer",
                            {{"source", source}, {"result", known_result ? "known" : "unknown"}});
  }
};

RcptPolicy::RcptPolicy(RcptPolicyConfig config, RelayDomains& domains,
                       std::shared_ptr<const AccessTable> table, RecipientCache* cache,
                       std::vector<RecipientSource*> sources, metrics::Registry* metrics)
    : config_(std::move(config)),
      domains_(domains),
      table_(std::move(table)),
      cache_(cache),
      sources_(std::move(sources)) {
  if (metrics) {
    metrics_ = std::make_unique<Metrics>(*metrics);
    for (RecipientSource* s : sources_) {
      metrics_->faults(s->name());  // the series exist from the start
      metrics_->source_known.push_back(&metrics_->lookups(s->name(), true));
      metrics_->source_unknown.push_back(&metrics_->lookups(s->name(), false));
    }
  }
}

RcptPolicy::~RcptPolicy() = default;

void RcptPolicy::set_table(std::shared_ptr<const AccessTable> table) {
  std::lock_guard lock(table_mutex_);
  table_ = std::move(table);
}

std::shared_ptr<const AccessTable> RcptPolicy::table() const {
  std::lock_guard lock(table_mutex_);
  return table_;
}

RcptPolicy::Known RcptPolicy::lookup(const std::string& address) {
  if (cache_) {
    try {
      if (auto hit = cache_->get(address)) {
        if (metrics_) metrics_->cache_hit.inc();
        return *hit ? Known::Yes : Known::No;
      }
    } catch (const SourceFault&) {
      // A shared cache that is down only costs a source lookup (its client logs the outage).
    }
    if (metrics_) metrics_->cache_miss.inc();
  }
  bool known = false;
  for (size_t i = 0; i < sources_.size() && !known; ++i) {
    known = sources_[i]->exists(address);  // SourceFault propagates: nothing is cached
    if (metrics_) (known ? metrics_->source_known : metrics_->source_unknown)[i]->inc();
  }
  if (cache_) {
    try {
      cache_->put(address, known);
    } catch (const SourceFault&) {
    }
  }
  return known ? Known::Yes : Known::No;
}

std::string RcptPolicy::unknown(const PolicyRequest& request, const std::string& address) {
  if (metrics_) metrics_->unknown.inc();
  const char* action = config_.final_action == FinalAction::Reject  ? reject_action
                       : config_.final_action == FinalAction::Defer ? defer_action
                                                                    : "DUNNO";
  log::info("rcpt-unknown")
      .kv("queue_id", request.get("queue_id"))
      .kv("recipient", address)
      .kv("client", request.get("client_address"))
      .kv("action", config_.final_action == FinalAction::DryRun ? "dry-run" : action);
  return action;
}

std::string RcptPolicy::answer(const PolicyRequest& request, const std::string& address) {
  std::optional<std::string> stripped = strip_extension(address, config_.recipient_delimiter);
  if (auto t = table()) {
    auto verdict = t->lookup(address);
    if ((!verdict || verdict->kind == TableVerdict::Kind::Dunno) && stripped) {
      verdict = t->lookup(*stripped);
    }
    if (verdict && verdict->kind != TableVerdict::Kind::Dunno) {
      if (metrics_) metrics_->table.inc();
      log::debug("rcpt-table")
          .kv("queue_id", request.get("queue_id"))
          .kv("recipient", address)
          .kv("key", verdict->key);
      return verdict->kind == TableVerdict::Kind::Known ? "DUNNO" : verdict->action;
    }
  }
  if (lookup(address) == Known::Yes || (stripped && lookup(*stripped) == Known::Yes)) {
    if (metrics_) metrics_->known.inc();
    return "DUNNO";
  }
  return unknown(request, address);
}

std::string RcptPolicy::decide(const PolicyRequest& request) {
  if (!iequals(request.get("protocol_state"), "RCPT")) return "DUNNO";
  std::string address = to_lower(request.get("recipient"));
  size_t at = address.rfind('@');
  if (address.empty() || at == std::string::npos || at == 0) return "DUNNO";
  std::string domain = address.substr(at + 1);
  try {
    if (!domains_.contains(domain)) {
      if (metrics_) metrics_->skipped.inc();
      return "DUNNO";
    }
    return answer(request, address);
  } catch (const SourceFault& e) {
    if (metrics_) {
      metrics_->fault.inc();
      metrics_->faults(e.source()).inc();
    }
    log::debug("rcpt-fault")
        .kv("queue_id", request.get("queue_id"))
        .kv("recipient", address)
        .kv("source", e.source())
        .kv("error", e.what());
    return fault_action;
  }
}

}  // namespace postern::rcpt
