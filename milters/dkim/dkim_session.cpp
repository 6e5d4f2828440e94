// dkim_session.cpp — libmilter callbacks → SigningPolicy / MessageSigner calls.
#include "milters/dkim/dkim_session.hpp"

#include <strings.h>

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

MilterStatus DkimSession::on_header(MilterContext&, std::string_view name,
                                    std::string_view value) {
  header_fields_.emplace_back(name, value);
  return MilterStatus::Continue;
}

MilterStatus DkimSession::on_end_of_header(MilterContext& ctx) {
  std::vector<std::string> from_values;
  for (const auto& [name, value] : header_fields_) {
    if (name.size() == 4 && strncasecmp(name.c_str(), "from", 4) == 0) from_values.push_back(value);
  }
  SigningPolicy::Decision decision =
      config_.policy->decide(client_address_, auth_authen_, from_values);
  if (!decision.sign) {
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

MilterStatus DkimSession::on_body(MilterContext&, std::string_view chunk) {
  if (signer_) signer_->add_body(chunk);
  return MilterStatus::Continue;
}

MilterStatus DkimSession::on_end_of_message(MilterContext& ctx) {
  if (!signer_) return MilterStatus::Continue;
  std::vector<std::string> signatures = signer_->finish(static_cast<int64_t>(std::time(nullptr)));
  // Insert in reverse so the first key's signature ends up on top.
  for (size_t i = signatures.size(); i-- > 0;) {
    ctx.insert_header(0, "DKIM-Signature", to_milter_folds(signatures[i]));
  }
  for (const SigningKey& key : keys_) {
    log::info("dkim-sign")
        .kv("queue_id", queue_id(ctx))
        .kv("sdid", key.sdid)
        .kv("selector", key.selector)
        .kv("algorithm", algorithm_name(key.key->algorithm()));
  }
  reset_message();
  return MilterStatus::Continue;
}

void DkimSession::on_abort(MilterContext&) { reset_message(); }

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
