// milter_detail.hpp — the libmilter-free core of milter.cpp, exposed for unit tests: status
// mapping, exception → TEMPFAIL guard, connect-address decoding, protocol negotiation and
// header-value spacing. Not for daemon code.
#pragma once

#include <pthread.h>
#include <sys/socket.h>

#include <ctime>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "common/milter.hpp"

namespace postern::detail {

/// SMFIS_* code for `status`. Skip gives SMFIS_SKIP only when `skip_allowed` (MTA offered
/// SMFIP_SKIP and we are in the body callback), else SMFIS_CONTINUE.
int to_smfis(MilterStatus status, bool skip_allowed);

/// Logs one "milter-error" line (queue_id from macro "i" when known, stage, reason) and
/// returns SMFIS_TEMPFAIL. Never throws.
int milter_fault(const char* stage, const MilterContext& ctx, std::string_view reason) noexcept;

/// Runs `callback()` (returning MilterStatus) for libmilter callback `stage` and returns its
/// SMFIS_* code; anything thrown becomes milter_fault(), i.e. SMFIS_TEMPFAIL.
template <class F>
int guarded_call(const char* stage, const MilterContext& ctx, F&& callback,
                 bool skip_allowed = false) noexcept {
  try {
    return to_smfis(callback(), skip_allowed);
  } catch (const std::exception& e) {
    return milter_fault(stage, ctx, e.what());
  } catch (...) {
    return milter_fault(stage, ctx, "unknown exception");
  }
}

/// guarded_call on a connection's session; a missing session (its creation failed) is a fault.
template <class F>
int guarded_session_call(const char* stage, MilterContext& ctx, MilterSession* session,
                         F&& callback, bool skip_allowed = false) noexcept {
  return guarded_call(
      stage, ctx,
      [&] {
        if (!session) throw MilterError("no session for this connection");
        return callback(*session);
      },
      skip_allowed);
}

/// ConnectInfo from xxfi_connect's arguments; hostaddr is NULL for a local connection.
ConnectInfo connect_info(const char* hostname, const sockaddr* hostaddr);

/// SMFIP_* protocol flags to request from the `offered` ones: HDR_LEADSPC, SKIP, NOUNKNOWN,
/// NODATA always; NOBODY, NOHELO, NORCPT when the config does not want those steps; NR_CONN,
/// NR_MAIL, NR_HDR, NR_BODY when it does not need those replies (statuses are then deferred).
unsigned long negotiate_steps(unsigned long offered, const MilterServerConfig& config);

/// What one MTA connection negotiated: the SMFIP_* steps asked for (an SMFIP_NR_* bit: the MTA
/// does not wait for that step's reply), and whether the MTA offered SMFIP_SKIP and
/// SMFIP_HDR_LEADSPC. The default (nothing negotiated) answers every step.
struct Negotiated {
  unsigned long steps = 0;
  bool skip_ok = false;
  bool leadspc = false;
};

/// The SMFIP_NR_* steps libmilter adds to the MTA's offer before xxfi_negotiate sees it
/// (engine.c st_optionneg, "fake_pflags": NR_CONN, _HELO, _MAIL, _RCPT, _DATA, _UNKN, _HDR,
/// _EOH, _BODY). Asked for but not offered by the MTA, such a step still gets a reply, which
/// libmilter forces to CONTINUE whatever the callback returned (engine.c sendreply).
inline constexpr unsigned long kLibmilterNoReplySteps = 0x000FF080UL;

/// The start of libmilter's struct smfi_str (libmilter.h, sendmail 8.14 to 8.18), which
/// libmilter does not export: enough to read the MTA's own offer.
struct LibmilterContextHead {
  pthread_t id;
  int sd;
  int dbg;
  time_t timeout;
  int state;
  void* smfi;
  int prot_vers;
  unsigned long aflags;
  unsigned long pflags;
  unsigned long pflags2mta;
  int prot_vers2mta;
  char** mac_ptr[7];  // MAX_MACROS_ENTRIES
  char* mac_buf[7];
  char* mac_list[7];
  char* reply;
  void* privdata;
  int mta_prot_vers;
  unsigned long mta_pflags;  // SMFIP_* the MTA offered
  unsigned long mta_aflags;  // SMFIF_* the MTA offered
};

/// The SMFIP_* steps the MTA itself offered, from libmilter's context `ctx` (an SMFICTX*)
/// during xxfi_negotiate(ctx, f0, f1, ...), while smfi_setpriv holds `privdata`. The layout
/// is trusted only when it proves itself: privdata where expected, the MTA's actions equal to
/// f0, its steps plus kLibmilterNoReplySteps equal to f1, a protocol version of 2 or more;
/// otherwise nullopt (the caller then asks for no SMFIP_NR_* step).
std::optional<unsigned long> mta_offered_steps(const void* ctx, const void* privdata,
                                               unsigned long f0, unsigned long f1);

/// The value to send so the field reads "name:" + value (value starting with space/tab) or
/// "name: " + value; `leadspc` = SMFIP_HDR_LEADSPC negotiated (else the MTA adds a space).
std::string wire_header_value(const std::string& value, bool leadspc);

}  // namespace postern::detail
