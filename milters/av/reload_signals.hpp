// reload_signals.hpp — SIGHUP and SIGUSR2 as "reload the database" for postern-av.
// libmilter's signal thread sigwait()s SIGHUP, SIGTERM and SIGINT and stops the milter on
// SIGHUP. postern-av wants SIGHUP to reload (as s6-svc -h and most daemons mean it): the
// daemon skeleton (common/daemon.cpp) interposes sigwait() so libmilter never waits for these
// signals; SIGHUP (with SIGUSR2, clamd's reload signal) is read from a signalfd by the
// reloader, SIGTERM and SIGINT by Daemon::serve_milter.
#pragma once

#include "common/fd.hpp"

namespace postern::av {

/// Blocks SIGHUP, SIGUSR2, SIGTERM and SIGINT in the calling thread (call it in main before
/// any thread starts, so every thread inherits the mask and only sigwait/signalfd see them)
/// and returns a non-blocking signalfd for SIGHUP and SIGUSR2. Throws std::system_error.
Fd reload_signal_fd();

}  // namespace postern::av
