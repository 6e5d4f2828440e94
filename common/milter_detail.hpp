// milter_detail.hpp — the libmilter-free core of milter.cpp, exposed for unit tests: status
// mapping, exception → TEMPFAIL guard, connect-address decoding, protocol negotiation and
// header-value spacing. Not for daemon code.
#pragma once

#include <sys/socket.h>

#include <exception>
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

/// The value to send so the field reads "name:" + value (value starting with space/tab) or
/// "name: " + value; `leadspc` = SMFIP_HDR_LEADSPC negotiated (else the MTA adds a space).
std::string wire_header_value(const std::string& value, bool leadspc);

}  // namespace postern::detail
