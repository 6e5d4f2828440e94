// dkim_session.cpp — libmilter callbacks → SigningPolicy / MessageSigner calls.
#include "milters/dkim/dkim_session.hpp"

#include <strings.h>

#include <chrono>
#include <ctime>

#include "common/log.hpp"

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

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

MilterStatus DkimSession::on_connect(MilterContext&, const ConnectInfo& info) {
  client_address_ = info.client_address;
  return MilterStatus::Continue;
}

MilterStatus DkimSession::on_mail_from(MilterContext& ctx, std::string_view) {
  reset_message();
  auth_authen_ = ctx.macro("{auth_authen}").value_or("");
  return MilterStatus::Continue;
}

MilterStatus DkimSession::on_header(MilterContext&, std::string_view name, std::string_view value) {
  header_fields_.emplace_back(name, value);
  return MilterStatus::Continue;
}

MilterStatus DkimSession::on_end_of_header(MilterContext& ctx) {
  return counting_faults(metrics_.eoh_errors, [&] { return decide(ctx); });
}

MilterStatus DkimSession::on_body(MilterContext&, std::string_view chunk) {
  return counting_faults(metrics_.body_errors, [&] {
    if (signer_) signer_->add_body(chunk);
    return MilterStatus::Continue;
  });
}

MilterStatus DkimSession::on_end_of_message(MilterContext& ctx) {
  return counting_faults(metrics_.eom_errors, [&] { return sign(ctx); });
}

// End of header: the policy decides; unsigned mail is counted, logged and accepted.
MilterStatus DkimSession::decide(MilterContext& ctx) {
  std::vector<std::string> from_values;
  for (const auto& [name, value] : header_fields_) {
    if (name.size() == 4 && strncasecmp(name.c_str(), "from", 4) == 0) from_values.push_back(value);
  }
  SigningPolicy::Decision decision =
      config_.policy->decide(client_address_, auth_authen_, from_values);
  if (!decision.sign) {
    metrics_.messages(decision.skip_reason).inc();
    log::info("dkim-skip")
        .kv("queue_id", queue_id(ctx))
        .kv("client", client_address_.empty() ? "local" : client_address_)
        .kv("reason", decision.reason);
    reset_message();
    return MilterStatus::Accept;  // nothing more to do for this message
  }
  keys_ = decision.keys;
  signer_ = std::make_unique<MessageSigner>(config_.signer, keys_);
  for (const auto& [name, value] : header_fields_) signer_->add_header(name, value);
  header_fields_.clear();
  return MilterStatus::Continue;
}

// End of message: sign, insert the fields on top, count and log.
MilterStatus DkimSession::sign(MilterContext& ctx) {
  if (!signer_) return MilterStatus::Continue;
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
  reset_message();
  return MilterStatus::Continue;
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
}

std::string DkimSession::queue_id(MilterContext& ctx) {
  if (queue_id_.empty()) queue_id_ = ctx.macro("i").value_or("");
  return queue_id_;
}

}  // namespace postern::dkim
