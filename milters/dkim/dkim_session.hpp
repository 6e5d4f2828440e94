// dkim_session.hpp — the milter session of postern-dkim: one per SMTP connection. Thin: it
// collects the connection facts, header fields and body; at end of header SigningPolicy and
// plan_message (dkim_mode.hpp) decide whether the message is signed, verified, both or left
// alone (Accept: no more callbacks for it). Signing: MessageSigner's DKIM-Signature fields go
// at the top of the header (RFC 6376 §5.6; smfi_insheader index 0). Verifying:
// MessageVerifier's results become one Authentication-Results field at the top (RFC 8601),
// after the fields claiming our authserv-id are deleted (§5); with --dmarc it ends in a dmarc=
// clause from DmarcEvaluator (From: values kept from end of header, the DKIM results, the
// trusted spf= identity), and dmarc_disposition may reject (550 5.7.1) or hold the message.
// Unsigned mail gets a log line saying why. Faults (OpenSSL, libmilter) throw; the adapter in
// common/milter.cpp turns them into TEMPFAIL. DNS outcomes are not faults: a key lookup that fails
// is dkim=temperror. Counts every outcome, signature, verification and fault in DkimMetrics.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/milter.hpp"
#include "milters/dkim/auth_results_field.hpp"
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
  void start_signing(const SigningPolicy::Decision& decision);
  void start_verifying();
  void sign(MilterContext& ctx);
  MilterStatus verify(MilterContext& ctx);
  std::string dmarc(MilterContext& ctx, const std::vector<SignatureResult>& results,
                    DmarcPolicy& disposition, DmarcVerdict& verdict);
  void reset_message();
  std::string queue_id(MilterContext& ctx);

  const DkimConfig& config_;
  const DkimMetrics& metrics_;
  std::string client_address_;
  std::string authserv_id_;  // --authserv-id, else {j} at connect, else the host name
  // Per message.
  std::string auth_authen_;
  std::string queue_id_;
  std::vector<HeaderField> header_fields_;
  std::unique_ptr<MessageSigner> signer_;
  std::vector<SigningKey> keys_;
  std::unique_ptr<MessageVerifier> verifier_;
  std::vector<int> forged_ar_;             // Authentication-Results instances to delete
  std::optional<std::string> spf_clause_;  // from our own Received-SPF, when trusted
  std::vector<std::string> from_values_;   // From: values, kept for DMARC when verifying
};

}  // namespace postern::dkim
