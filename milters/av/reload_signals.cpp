// reload_signals.cpp — the signal mask, the reload signalfd and the sigwait() interposer.
#include "milters/av/reload_signals.hpp"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <system_error>

// Our definition wins over libc's for libmilter (the executable is searched first); it calls
// the next definition (libc's, or a sanitizer's interceptor) with SIGHUP taken out of the set.
extern "C" int sigwait(const sigset_t* set, int* sig) {
  using Sigwait = int (*)(const sigset_t*, int*);
  static const Sigwait next = reinterpret_cast<Sigwait>(dlsym(RTLD_NEXT, "sigwait"));
  if (next == nullptr) return ENOSYS;
  sigset_t without_hup = *set;
  sigdelset(&without_hup, SIGHUP);
  return next(&without_hup, sig);
}

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
