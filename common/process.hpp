// process.hpp — what a daemon does to its own process after binding: drop privileges and tell
// the supervisor it is ready (s6 notification-fd protocol: a newline written, fd closed).
// Errors throw std::system_error / ConfigError with the user name or fd.
#pragma once

#include <cstddef>
#include <string>

namespace postern {

/// setgroups/setgid/setuid to `user` (name or numeric uid) and refuse to stay root.
/// No-op when `user` is empty. Throws ConfigError for an unknown user, std::system_error
/// when a call fails.
void drop_privileges(const std::string& user);

/// chown `path` to `user`'s uid and primary gid (before the privilege drop, e.g. a unix
/// socket). No-op when `user` is empty. Throws ConfigError for an unknown user,
/// std::system_error when chown fails.
void give_to_user(const std::string& path, const std::string& user);

/// CPUs this process may run on (sched_getaffinity(2): a container's cpuset, taskset), at
/// least 1; std::thread::hardware_concurrency() when the mask cannot be read.
size_t usable_cpus();

/// Write "\n" to `fd` and close it (s6 readiness). No-op for fd < 0.
/// Throws std::system_error when the write fails.
void notify_ready(int fd);

}  // namespace postern
