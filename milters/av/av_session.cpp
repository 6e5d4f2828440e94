// av_session.cpp — libmilter callbacks → MessageBuffer, Engine scan, decide(), action.
#include "milters/av/av_session.hpp"

#include <strings.h>

#include <chrono>

#include "common/log.hpp"

namespace postern::av {
namespace {

bool is_named(std::string_view name, std::string_view want) {
  return name.size() == want.size() && strncasecmp(name.data(), want.data(), want.size()) == 0;
}

}  // namespace

MilterStatus AvSession::on_connect(MilterContext&, const ConnectInfo& info) {
  outbound_client_ = config_.outbound_hosts.contains(info.client_address);
  return MilterStatus::Continue;
}

MilterStatus AvSession::on_mail_from(MilterContext& ctx, std::string_view) {
  reset_message();
  authenticated_ = !ctx.macro("{auth_authen}").value_or("").empty();
  return MilterStatus::Continue;
}

MilterStatus AvSession::on_header(MilterContext&, std::string_view name, std::string_view value) {
  if (is_named(name, "X-Virus-Scanned")) ++forged_scanned_;
  if (is_named(name, "X-Virus-Status")) ++forged_status_;
  message_.add_header(name, value);
  return MilterStatus::Continue;
}

MilterStatus AvSession::on_end_of_header(MilterContext&) {
  message_.end_header();
  return MilterStatus::Continue;
}

MilterStatus AvSession::on_body(MilterContext&, std::string_view chunk) {
  message_.add_body(chunk);
  // Past --max-size nothing more is kept: the rest of the body need not come.
  return message_.oversized() ? MilterStatus::Skip : MilterStatus::Continue;
}

MilterStatus AvSession::on_end_of_message(MilterContext& ctx) {
  try {
    MilterStatus status = finish(ctx);
    reset_message();
    return status;
  } catch (...) {
    metrics_.faults.inc();
    reset_message();
    throw;
  }
}

void AvSession::on_abort(MilterContext&) {
  reset_message();
}

// Scan (unless oversized), decide, apply, count and log.
MilterStatus AvSession::finish(MilterContext& ctx) {
  auto start = std::chrono::steady_clock::now();
  Verdict verdict = scan();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  bool headers = config_.add_headers && !outbound_client_ && !authenticated_;
  Action action = decide(verdict, config_.policy, headers);
  apply(ctx, action);
  metrics_.messages(action.result).inc();
  if (message_.spooled()) metrics_.spooled.inc();
  auto line = verdict.outcome == Outcome::Clean || verdict.outcome == Outcome::Virus ||
                      verdict.outcome == Outcome::Oversized
                  ? log::info("av-scan")
                  : log::warning("av-scan");
  line.kv("queue_id", ctx.macro("i").value_or(""))
      .kv("result", action.result)
      .kv("size", message_.size())
      .kv("seconds", seconds);
  if (verdict.outcome == Outcome::Virus) {
    line.kv("signature", verdict.signature)
        .kv("action", action.status == MilterStatus::Reject    ? "reject"
                      : action.status == MilterStatus::Discard ? "discard"
                      : !action.quarantine_reason.empty()      ? "quarantine"
                                                               : "accept");
  }
  if (!verdict.reason.empty()) line.kv("reason", verdict.reason);
  return action.status;
}

// The verdict for the message now in message_: no scan when oversized or without an engine.
Verdict AvSession::scan() {
  Verdict verdict;
  if (message_.oversized()) {
    verdict.outcome = Outcome::Oversized;
    return verdict;
  }
  std::shared_ptr<const Engine> engine = slot_.get();  // kept until this scan ends
  if (!engine) {
    verdict.outcome = Outcome::NoEngine;
    verdict.reason = "no engine loaded (database missing, empty or broken: see engine-load-failed)";
    return verdict;
  }
  auto start = std::chrono::steady_clock::now();
  ScanResult result =
      message_.spooled() ? engine->scan_fd(message_.fd()) : engine->scan_memory(message_.memory());
  metrics_.scan_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  switch (result.kind) {
    case ScanResult::Kind::Clean:
      verdict.outcome = Outcome::Clean;
      break;
    case ScanResult::Kind::Virus:
      verdict.outcome = Outcome::Virus;
      verdict.signature = result.signature;
      break;
    case ScanResult::Kind::Error:
      verdict.outcome = result.timeout ? Outcome::ScanTimeout : Outcome::ScanError;
      verdict.reason = result.error;
      break;
  }
  return verdict;
}

// Reply, forged X-Virus-* fields deleted (highest instance first) when ours are added, our
// fields added, hold queue.
void AvSession::apply(MilterContext& ctx, const Action& action) {
  if (!action.rcode.empty()) ctx.set_reply(action.rcode, action.xcode, action.text);
  if (!action.headers.empty()) {
    for (int i = forged_status_; i > 0; --i) ctx.change_header(i, "X-Virus-Status", "");
    for (int i = forged_scanned_; i > 0; --i) ctx.change_header(i, "X-Virus-Scanned", "");
  }
  for (const HeaderField& field : action.headers) ctx.add_header(field.name, field.value);
  if (!action.quarantine_reason.empty()) ctx.quarantine(action.quarantine_reason);
}

void AvSession::reset_message() {
  authenticated_ = false;
  message_.reset();
  forged_scanned_ = 0;
  forged_status_ = 0;
}

}  // namespace postern::av
