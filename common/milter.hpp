// milter.hpp — a C++ adapter over libmilter (Sendmail milter protocol v6, as Postfix speaks it).
// One MilterSession object per SMTP connection, made by a factory at connect and destroyed at
// close. Callbacks return a Status; libmilter never sees an exception: any std::exception
// (or anything else) thrown by a session becomes SMFIS_TEMPFAIL plus one log line.
// Source: libmilter API (smfi_register, xxfi_*), Postfix MILTER_README.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/socket_spec.hpp"

struct smfi_str;  // libmilter's SMFICTX

namespace postern {

/// What a callback tells the MTA (maps 1:1 onto SMFIS_*).
/// Skip (from on_body only): send no more body chunks for this message; SMFIS_SKIP when the
/// MTA negotiated it, otherwise Continue (chunks keep coming).
enum class MilterStatus { Continue, Accept, Reject, Discard, Tempfail, Skip };

/// The connection handle a session gets in each callback: macros and message modifications.
/// Valid only during the callback it was passed to. Modification calls are allowed only in
/// on_eom (libmilter's rule); they throw MilterError if libmilter refuses.
class MilterContext {
 public:
  explicit MilterContext(smfi_str* ctx) : ctx_(ctx) {}
  /// Value of a macro such as "i" (queue id), "{auth_authen}", "j"; nullopt when not sent
  /// (or, in unit tests, when there is no libmilter context: ctx == nullptr).
  std::optional<std::string> macro(const char* name) const;
  /// Header values are the text after the colon. The field appears as "name:" + value when
  /// value starts with a space or tab, else as "name: " + value (whatever SMFIP_HDR_LEADSPC
  /// state was negotiated). `value` may hold "\n\t" folds.
  /// Insert a header field at `index` (0 = top of the header).
  void insert_header(int index, const std::string& name, const std::string& value);
  /// Append a header field at the end of the header.
  void add_header(const std::string& name, const std::string& value);
  /// Change (or with an empty value, delete) the `index`-th (1-based) field called `name`.
  void change_header(int index, const std::string& name, const std::string& value);
  /// Set the SMTP reply used with Reject/Tempfail, e.g. ("550", "5.7.1", "Virus found").
  /// '%' in text is escaped for libmilter; CR/LF make libmilter refuse (MilterError).
  void set_reply(const std::string& rcode, const std::string& xcode, const std::string& text);
  /// Move the message to Postfix's hold queue with a reason.
  void quarantine(const std::string& reason);
  smfi_str* raw() const { return ctx_; }

 private:
  smfi_str* ctx_;
};

/// libmilter refused an operation (smfi_* returned MI_FAILURE). A fault: becomes TEMPFAIL.
struct MilterError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Connection facts given at connect time.
struct ConnectInfo {
  std::string hostname;        // client host name as the MTA knows it ("[1.2.3.4]" if unknown)
  std::string client_address;  // numeric address, "" for a local (non-IP) connection
  uint16_t client_port = 0;
};

/// One per SMTP connection. Override what you need; defaults continue.
/// Header values arrive with their leading whitespace kept (SMFIP_HDR_LEADSPC) and with
/// folds as the MTA sent them (Postfix: "\n" plus the continuation whitespace).
class MilterSession {
 public:
  virtual ~MilterSession() = default;
  virtual MilterStatus on_connect(MilterContext&, const ConnectInfo&) {
    return MilterStatus::Continue;
  }
  virtual MilterStatus on_helo(MilterContext&, std::string_view) { return MilterStatus::Continue; }
  /// A new message starts (MAIL FROM). argv[0] is the sender address with angle brackets.
  virtual MilterStatus on_mail_from(MilterContext&, std::string_view) {
    return MilterStatus::Continue;
  }
  virtual MilterStatus on_rcpt_to(MilterContext&, std::string_view) {
    return MilterStatus::Continue;
  }
  virtual MilterStatus on_header(MilterContext&, std::string_view, std::string_view) {
    return MilterStatus::Continue;
  }
  virtual MilterStatus on_end_of_header(MilterContext&) { return MilterStatus::Continue; }
  /// A body chunk (CRLF line ends as Postfix sends them), possibly split anywhere.
  virtual MilterStatus on_body(MilterContext&, std::string_view) { return MilterStatus::Continue; }
  virtual MilterStatus on_end_of_message(MilterContext&) { return MilterStatus::Continue; }
  /// The current message was aborted (RSET, client gone); the connection may go on.
  virtual void on_abort(MilterContext&) {}
};

/// What the server registers with libmilter.
struct MilterServerConfig {
  std::string name;  // filter name, e.g. "postern-dkim"
  SocketSpec socket;
  /// SMFIF_* flags the filter needs (e.g. SMFIF_ADDHDRS | SMFIF_CHGHDRS).
  unsigned long flags = 0;
  /// Called once the socket is bound and listening (readiness, privilege drop).
  std::function<void()> on_listening;
  /// libmilter's listen backlog and per-command timeout (seconds).
  int backlog = 128;
  int timeout_seconds = 7210;
  /// When the session does not want body chunks (e.g. verify-only filters), skip them.
  bool wants_body = true;
  /// Whether the MTA should send HELO and each RCPT TO (SMFIP_NOHELO / SMFIP_NORCPT otherwise).
  bool wants_helo = true;
  bool wants_rcpt = true;
  /// false: the MTA does not wait for the reply to that step (SMFIP_NR_CONN, _MAIL, _HDR,
  /// _BODY), saving one round trip each time. A non-Continue status (or a fault) of such a step
  /// is then answered at the next step that replies (end of header, end of message); a connect
  /// step that did not continue gives its status to every message of the connection.
  /// Asked for only when the MTA offers that step (Postfix: milter_protocol 6), decided per
  /// MTA connection; otherwise the step replies as if true.
  bool connect_replies = true;
  bool mail_replies = true;
  bool header_replies = true;
  bool body_replies = true;
  /// Unix sockets only: mode set on the socket file, and an account ("" = leave as created)
  /// that becomes its owner and group, both before on_listening (i.e. before the privilege drop).
  /// Postfix must be able to connect: make it a member of the group, or use a 0666 socket in a
  /// directory only it can traverse.
  unsigned unix_socket_mode = 0660;
  std::string unix_socket_owner;
};

using MilterSessionFactory = std::function<std::unique_ptr<MilterSession>()>;

/// Bind, call on_listening, and run libmilter's loop until SIGTERM/SIGINT/SIGHUP-stop
/// (libmilter notices within ~5 s). Call once per process: libmilter state is global.
/// A TCP listening socket gets TCP_NODELAY so accepted connections inherit it (no Nagle stalls).
/// A unix socket gets unix_socket_mode/unix_socket_owner before on_listening (the privilege
/// drop); a stale socket file at the path is removed first (smfi_opensocket(true)).
/// Negotiation (per MTA connection) asks, of what the MTA offered, for SMFIP_HDR_LEADSPC,
/// SMFIP_SKIP, SMFIP_NOUNKNOWN, SMFIP_NODATA, SMFIP_NOBODY/_NOHELO/_NORCPT when not wanted and
/// SMFIP_NR_CONN/_MAIL/_HDR/_BODY for the *_replies that are false. libmilter shows the filter
/// every SMFIP_NR_* step as offered (it would fake the reply as CONTINUE, losing a verdict), so
/// the MTA's own offer is read from libmilter's context; when that cannot be checked, no
/// SMFIP_NR_* step is asked for (log "milter-negotiate", once). If the MTA does not
/// offer every action in `flags`, the filter declines that connection (log line
/// "milter-negotiate"; Postfix applies milter_default_action).
/// Returns the process exit status (0 after a clean stop). Throws MilterError when the socket
/// cannot be opened (with the spec and errno text).
int run_milter(const MilterServerConfig& config, MilterSessionFactory factory);

}  // namespace postern
