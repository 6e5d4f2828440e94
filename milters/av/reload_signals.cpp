// reload_signals.cpp — the signal mask and the reload signalfd.
#include "milters/av/reload_signals.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <system_error>

namespace postern::av {

Fd reload_signal_fd() {
  sigset_t blocked;
  sigemptyset(&blocked);
  for (int sig : {SIGHUP, SIGUSR2, SIGTERM, SIGINT}) sigaddset(&blocked, sig);
  if (int rc = pthread_sigmask(SIG_BLOCK, &blocked, nullptr); rc != 0) {
    throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
  }
  sigset_t reload;
  sigemptyset(&reload);
  sigaddset(&reload, SIGHUP);
  sigaddset(&reload, SIGUSR2);
  Fd fd(::signalfd(-1, &reload, SFD_NONBLOCK | SFD_CLOEXEC));
  if (fd.get() < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
  return fd;
}

}  // namespace postern::av
