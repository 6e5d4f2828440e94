// dkim_session.hpp — the milter session of postern-dkim: one per SMTP connection. Thin: it
// collects the connection facts, header fields and body, asks SigningPolicy whether to sign
// and MessageSigner for the DKIM-Signature fields, and inserts them at the top of the header
// (RFC 6376 §5.6; smfi_insheader index 0). Unsigned mail passes with one log line saying why.
// Faults (OpenSSL, libmilter) throw; the adapter in common/milter.cpp turns them into TEMPFAIL.
// Counts every outcome, signature and fault in DkimMetrics.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/milter.hpp"
#include "milters/dkim/dkim_config.hpp"

namespace postern::dkim {

class DkimSession : public MilterSession {
 public:
  /// `config` and `metrics` are shared by all sessions and outlive them.
  DkimSession(const DkimConfig& config, const DkimMetrics& metrics)
      : config_(config), metrics_(metrics) {}
  MilterStatus on_connect(MilterContext& ctx, const ConnectInfo& info) override;
  MilterStatus on_mail_from(MilterContext& ctx, std::string_view sender) override;
  MilterStatus on_header(MilterContext& ctx, std::string_view name,
                         std::string_view value) override;
  MilterStatus on_end_of_header(MilterContext& ctx) override;
  MilterStatus on_body(MilterContext& ctx, std::string_view chunk) override;
  MilterStatus on_end_of_message(MilterContext& ctx) override;
  void on_abort(MilterContext& ctx) override;

 private:
  MilterStatus decide(MilterContext& ctx);
  MilterStatus sign(MilterContext& ctx);
  void reset_message();
  std::string queue_id(MilterContext& ctx);

  const DkimConfig& config_;
  const DkimMetrics& metrics_;
  std::string client_address_;
  // Per message.
  std::string auth_authen_;
  std::string queue_id_;
  std::vector<std::pair<std::string, std::string>> header_fields_;
  std::unique_ptr<MessageSigner> signer_;
  std::vector<SigningKey> keys_;
};

}  // namespace postern::dkim
