// process.cpp — privilege drop and s6 readiness notification.
#include "common/process.hpp"

#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "common/config_error.hpp"

namespace postern {
namespace {

struct Account {
  std::string name;
  uid_t uid;
  gid_t gid;
};

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 10 && s.find_first_not_of("0123456789") == std::string::npos;
}

// getpwnam_r, then getpwuid_r for a numeric user. nullopt when no such account.
std::optional<Account> lookup(const std::string& user) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc == 0 && !found && all_digits(user)) {
    rc = ::getpwuid_r(static_cast<uid_t>(std::stoul(user)), &pw, buf.data(), buf.size(), &found);
  }
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "look up user '" + user + "'");
  if (!found) return std::nullopt;
  return Account{pw.pw_name, pw.pw_uid, pw.pw_gid};
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void switch_to(const Account& a) {
  if (::initgroups(a.name.c_str(), a.gid) != 0) throw_errno("initgroups for user '" + a.name + "'");
  if (::setgid(a.gid) != 0) throw_errno("setgid " + std::to_string(a.gid));
  if (::setuid(a.uid) != 0) throw_errno("setuid " + std::to_string(a.uid));
}

void verify_dropped(const Account& a) {
  if (::getuid() != a.uid || ::geteuid() != a.uid || ::getgid() != a.gid || ::getegid() != a.gid) {
    throw std::system_error(EPERM, std::generic_category(),
                            "privilege drop to '" + a.name + "' incomplete");
  }
  if (::setuid(0) == 0) {
    throw std::system_error(EPERM, std::generic_category(),
                            "could regain root after dropping to '" + a.name + "'");
  }
}

}  // namespace

void drop_privileges(const std::string& user) {
  if (user.empty()) return;
  auto account = lookup(user);
  if (!account) throw ConfigError("--user: unknown user '" + user + "'");
  if (account->uid == 0) throw ConfigError("--user: refusing to run as root ('" + user + "')");
  if (::getuid() == account->uid && ::geteuid() == account->uid) return;  // already there
  if (::geteuid() != 0) {
    throw std::system_error(EPERM, std::generic_category(),
                            "--user " + user + ": not started as root, cannot switch user");
  }
  switch_to(*account);
  verify_dropped(*account);
}

void give_to_user(const std::string& path, const std::string& user) {
  if (user.empty()) return;
  auto account = lookup(user);
  if (!account) throw ConfigError("--user: unknown user '" + user + "'");
  if (::chown(path.c_str(), account->uid, account->gid) != 0)
    throw_errno("chown " + path + " to " + user);
}

void notify_ready(int fd) {
  if (fd < 0) return;
  ssize_t n;
  do {
    n = ::write(fd, "\n", 1);
  } while (n < 0 && errno == EINTR);
  int saved = errno;
  ::close(fd);
  if (n != 1)
    throw std::system_error(saved, std::generic_category(), "readiness fd " + std::to_string(fd));
}

size_t usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<size_t>(n);
  }
  return std::max(1U, std::thread::hardware_concurrency());
}

}  // namespace postern
