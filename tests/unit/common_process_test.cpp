// common_process_test.cpp — readiness notification and privilege-drop argument checks.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <system_error>

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
