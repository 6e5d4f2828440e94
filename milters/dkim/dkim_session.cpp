// dkim_session.cpp — libmilter callbacks → SigningPolicy / MessageSigner / MessageVerifier calls.
#include "milters/dkim/dkim_session.hpp"

#include <strings.h>

#include <chrono>
#include <ctime>

#include "common/log.hpp"
#include "milters/dkim/auth_results.hpp"

namespace postern::dkim {
namespace {

// Postfix takes "\n" as the line separator in header values it receives from a milter.
std::string to_milter_folds(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c != '\r') out += c;
  }
  return out;
}

// Runs one session step; a fault is counted in `errors` and goes on to the adapter (TEMPFAIL).
template <class Step>
MilterStatus counting_faults(metrics::Counter& errors, Step&& step) {
  try {
    return step();
  } catch (...) {
    errors.inc();
    throw;
  }
}

bool is_named(const std::string& name, std::string_view want) {
  return name.size() == want.size() && strncasecmp(name.c_str(), want.data(), want.size()) == 0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

MilterStatus DkimSession::on_connect(MilterContext& ctx, const ConnectInfo& info) {
  client_address_ = info.client_address;
  // Postfix sends {j} ($myhostname) with the connect macros by default.
  authserv_id_ = config_.authserv_id;
  if (authserv_id_.empty()) authserv_id_ = ctx.macro("j").value_or("");
  if (authserv_id_.empty()) authserv_id_ = config_.host_name;
  return MilterStatus::Continue;
}

MilterStatus DkimSession::on_mail_from(MilterContext& ctx, std::string_view) {
  reset_message();
  auth_authen_ = ctx.macro("{auth_authen}").value_or("");
  return MilterStatus::Continue;
}

MilterStatus DkimSession::on_header(MilterContext&, std::string_view name, std::string_view value) {
  header_fields_.push_back({std::string(name), std::string(value)});
  return MilterStatus::Continue;
}

MilterStatus DkimSession::on_end_of_header(MilterContext& ctx) {
  return counting_faults(metrics_.eoh_errors, [&] { return decide(ctx); });
}

MilterStatus DkimSession::on_body(MilterContext&, std::string_view chunk) {
  return counting_faults(metrics_.body_errors, [&] {
    if (signer_) signer_->add_body(chunk);
    if (verifier_) verifier_->add_body(chunk);
    return MilterStatus::Continue;
  });
}

MilterStatus DkimSession::on_end_of_message(MilterContext& ctx) {
  return counting_faults(metrics_.eom_errors, [&] {
    // Verification first: it reads only what the client sent; our signatures go on top.
    MilterStatus status = verifier_ ? verify(ctx) : MilterStatus::Continue;
    if (signer_ && status == MilterStatus::Continue) sign(ctx);
    reset_message();
    return status;
  });
}

// End of header: the policy and the mode decide; a message with nothing to do is accepted
// (no more callbacks for it). Unsigned mail is counted and logged when the mode signs.
MilterStatus DkimSession::decide(MilterContext& ctx) {
  std::vector<std::string> from_values;
  for (const auto& [name, value] : header_fields_) {
    if (is_named(name, "from")) from_values.push_back(value);
  }
  SigningPolicy::Decision decision =
      config_.policy->decide(client_address_, auth_authen_, from_values);
  MessageWork work = plan_message(config_.mode, config_.verify_internal, decision);
  if (!decision.sign && config_.mode != Mode::Verify) {
    metrics_.messages(decision.skip_reason).inc();
    log::info("dkim-skip")
        .kv("queue_id", queue_id(ctx))
        .kv("client", client_address_.empty() ? "local" : client_address_)
        .kv("reason", decision.reason);
  }
  if (!work.any()) {
    reset_message();
    return MilterStatus::Accept;  // nothing more to do for this message
  }
  if (work.sign) start_signing(decision);
  if (work.verify) start_verifying();
  if (work.verify && config_.dmarc) from_values_ = std::move(from_values);
  header_fields_.clear();
  return MilterStatus::Continue;
}

void DkimSession::start_signing(const SigningPolicy::Decision& decision) {
  keys_ = decision.keys;
  signer_ = std::make_unique<MessageSigner>(config_.signer, keys_);
  for (const auto& [name, value] : header_fields_) signer_->add_header(name, value);
}

// The header is complete: note the forged Authentication-Results fields and our SPF result
// now, so only the verifier keeps header text until end of message.
void DkimSession::start_verifying() {
  verifier_ = std::make_unique<MessageVerifier>(config_.verifier, *config_.resolver);
  for (const auto& [name, value] : header_fields_) verifier_->add_header(name, value);
  forged_ar_ = forged_ar_instances(header_fields_, authserv_id_);
  spf_clause_ = spf_clause(header_fields_, config_.spf_receiver);
}

// End of message, signing: insert the fields on top, count and log.
void DkimSession::sign(MilterContext& ctx) {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::string> signatures = signer_->finish(static_cast<int64_t>(std::time(nullptr)));
  // Insert in reverse so the first key's signature ends up on top.
  for (size_t i = signatures.size(); i-- > 0;) {
    ctx.insert_header(0, "DKIM-Signature", to_milter_folds(signatures[i]));
  }
  metrics_.signing_seconds.observe(seconds_since(start));
  metrics_.signed_messages.inc();
  for (const SigningKey& key : keys_) {
    metrics_.signatures(key.key->algorithm()).inc();
    log::info("dkim-sign")
        .kv("queue_id", queue_id(ctx))
        .kv("sdid", key.sdid)
        .kv("selector", key.selector)
        .kv("algorithm", algorithm_name(key.key->algorithm()));
  }
}

// End of message, verifying: key lookups (blocking; each bounded by --dns-timeout), one log
// line and count per signature, DMARC last; then either the 451 4.7.5 of a temperror under
// --temperror tempfail or the 550 5.7.1 of an enforced p=reject (no header changes), or
// forged fields deleted, our Authentication-Results on top and, for an enforced
// p=quarantine, the hold queue.
MilterStatus DkimSession::verify(MilterContext& ctx) {
  auto start = std::chrono::steady_clock::now();
  std::vector<SignatureResult> results =
      verifier_->finish(static_cast<int64_t>(std::time(nullptr)));
  std::vector<std::string> clauses;
  for (const SignatureResult& r : results) {
    metrics_.verify(r.result).inc();
    log::info("dkim-verify")
        .kv("queue_id", queue_id(ctx))
        .kv("sdid", r.sdid)
        .kv("selector", r.selector)
        .kv("result", result_name(r.result))
        .kv("reason", r.reason);
    clauses.push_back(dkim_clause(r));
  }
  if (results.empty()) {
    metrics_.verify(DkimResult::None).inc();
    log::info("dkim-verify").kv("queue_id", queue_id(ctx)).kv("result", "none");
    clauses.push_back(dkim_none_clause());
  }
  if (spf_clause_) clauses.push_back(*spf_clause_);
  DmarcPolicy disposition = DmarcPolicy::None;
  DmarcVerdict verdict;
  std::optional<DmarcResult> dmarc_result;
  if (config_.dmarc) {
    clauses.push_back(dmarc(ctx, results, disposition, verdict));
    dmarc_result = verdict.result;
  }
  // Before a DMARC reject: the verdict may change once DNS answers.
  if (temperror_tempfails(config_.temperror, results, dmarc_result)) {
    metrics_.verify_seconds.observe(seconds_since(start));
    log::info("dkim-tempfail").kv("queue_id", queue_id(ctx)).kv("reason", "temperror");
    ctx.set_reply("451", "4.7.5", std::string(kTemperrorReplyText));
    return MilterStatus::Tempfail;
  }
  if (disposition == DmarcPolicy::Reject) {
    metrics_.verify_seconds.observe(seconds_since(start));
    ctx.set_reply("550", "5.7.1", dmarc_reject_text(verdict));
    return MilterStatus::Reject;
  }
  // Deleted from the highest instance down, so the lower instance numbers stay valid.
  for (auto it = forged_ar_.rbegin(); it != forged_ar_.rend(); ++it) {
    ctx.change_header(*it, "Authentication-Results", "");
  }
  ctx.insert_header(0, "Authentication-Results", build_ar_value(authserv_id_, clauses));
  if (disposition == DmarcPolicy::Quarantine) {
    ctx.quarantine("DMARC policy quarantine for " + verdict.from_domain);
  }
  metrics_.verify_seconds.observe(seconds_since(start));
  return MilterStatus::Continue;
}

// DMARC for the message (up to 5 DNS queries, each bounded by --dns-timeout): the verdict, the
// disposition enforcement allows, one "dmarc" log line and count; returns the dmarc= clause.
std::string DkimSession::dmarc(MilterContext& ctx, const std::vector<SignatureResult>& results,
                               DmarcPolicy& disposition, DmarcVerdict& verdict) {
  std::optional<SpfIdentity> spf;
  if (spf_clause_) spf = spf_identity(*spf_clause_);
  verdict = config_.dmarc->evaluate(dmarc_input(from_values_, results, spf));
  disposition = dmarc_disposition(verdict, config_.dmarc_enforcement);
  metrics_.dmarc(verdict.result).inc();
  log::info("dmarc")
      .kv("queue_id", queue_id(ctx))
      .kv("header.from", verdict.from_domain)
      .kv("result", result_name(verdict.result))
      .kv("policy", policy_name(verdict.applied_policy))
      .kv("disposition", policy_name(disposition))
      .kv("reason", verdict.reason);
  return dmarc_clause(verdict, disposition);
}

void DkimSession::on_abort(MilterContext&) {
  reset_message();
}

void DkimSession::reset_message() {
  auth_authen_.clear();
  queue_id_.clear();
  header_fields_.clear();
  signer_.reset();
  keys_.clear();
  verifier_.reset();
  forged_ar_.clear();
  spf_clause_.reset();
  from_values_.clear();
}

std::string DkimSession::queue_id(MilterContext& ctx) {
  if (queue_id_.empty()) queue_id_ = ctx.macro("i").value_or("");
  return queue_id_;
}

}  // namespace postern::dkim
