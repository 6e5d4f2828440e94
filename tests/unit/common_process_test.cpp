// common_process_test.cpp — readiness notification, privilege-drop argument checks, usable CPUs.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <system_error>
#include <thread>

#include "common/config_error.hpp"
#include "common/process.hpp"

namespace postern {
namespace {

TEST(NotifyReady, WritesNewlineAndCloses) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  notify_ready(fds[1]);
  char buf[4] = {};
  ssize_t n = read(fds[0], buf, sizeof buf);  // EOF after the newline: the write end is closed
  EXPECT_EQ(n, 1) << "got " << n << " bytes, want 1";
  EXPECT_EQ(buf[0], '\n');
  EXPECT_EQ(read(fds[0], buf, sizeof buf), 0) << "want EOF: notify_ready must close the fd";
  EXPECT_EQ(fcntl(fds[1], F_GETFD), -1) << "want the write end closed";
  close(fds[0]);
}

TEST(NotifyReady, NegativeFdIsNoOp) {
  EXPECT_NO_THROW(notify_ready(-1));
}

TEST(NotifyReady, BadFdThrows) {
  int fd = open("/dev/null", O_RDONLY);
  EXPECT_THROW(notify_ready(fd), std::system_error);  // read-only: write fails
}

TEST(DropPrivileges, Arguments) {
  EXPECT_NO_THROW(drop_privileges(""));
  EXPECT_THROW(drop_privileges("no-such-user-postern-test"), ConfigError);
  EXPECT_THROW(drop_privileges("root"), ConfigError);
  EXPECT_THROW(drop_privileges("0"), ConfigError);
}

}  // namespace
}  // namespace postern

// usable_cpus() follows the affinity mask (taskset, a container's cpuset), not the machine.
TEST(UsableCpus, FollowsTheAffinityMask) {
  cpu_set_t all;
  ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  EXPECT_EQ(postern::usable_cpus(), static_cast<size_t>(CPU_COUNT(&all)));
  size_t in_thread = 0;
  std::thread([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &all)) {
        CPU_SET(cpu, &one);
        break;
      }
    }
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);  // this thread only
    in_thread = postern::usable_cpus();
  }).join();
  EXPECT_EQ(in_thread, 1U);
}
