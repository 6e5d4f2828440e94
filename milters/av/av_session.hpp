// av_session.hpp — the milter session of postern-av: one per SMTP connection. Thin: header
// fields and body chunks go into a MessageBuffer (memory, then a private temp file); at end
// of message the current engine (taken from the EngineSlot then, so a reload never disturbs
// a scan in flight) scans the whole message, decide() (verdict.hpp) maps the verdict to the
// action, and the action is applied: reply, X-Virus-* fields (forged ones from the client
// deleted first), hold queue. One "av-scan" log line per message. Faults (spool I/O,
// libmilter refusals) throw; the adapter in common/milter.cpp turns them into TEMPFAIL.
#pragma once

#include <string>

#include "common/milter.hpp"
#include "milters/av/av_config.hpp"
#include "milters/av/engine.hpp"
#include "milters/av/message.hpp"

namespace postern::av {

class AvSession : public MilterSession {
 public:
  /// `config`, `slot` and `metrics` are shared by all sessions and outlive them.
  AvSession(const AvConfig& config, const EngineSlot& slot, const AvMetrics& metrics)
      : config_(config), slot_(slot), metrics_(metrics), message_(config.spool) {}
  MilterStatus on_connect(MilterContext& ctx, const ConnectInfo& info) override;
  MilterStatus on_mail_from(MilterContext& ctx, std::string_view sender) override;
  MilterStatus on_header(MilterContext& ctx, std::string_view name,
                         std::string_view value) override;
  MilterStatus on_end_of_header(MilterContext& ctx) override;
  MilterStatus on_body(MilterContext& ctx, std::string_view chunk) override;
  MilterStatus on_end_of_message(MilterContext& ctx) override;
  void on_abort(MilterContext& ctx) override;

 private:
  MilterStatus finish(MilterContext& ctx);
  Verdict scan();
  void apply(MilterContext& ctx, const Action& action);
  void reset_message();

  const AvConfig& config_;
  const EngineSlot& slot_;
  const AvMetrics& metrics_;
  bool outbound_client_ = false;
  // Per message.
  bool authenticated_ = false;
  MessageBuffer message_;
  int forged_scanned_ = 0;  // X-Virus-Scanned fields the client sent
  int forged_status_ = 0;   // X-Virus-Status fields the client sent
};

}  // namespace postern::av
