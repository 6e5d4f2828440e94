// av_message_test.cpp — MessageBuffer: RFC 5322 assembly with CRLF from milter callbacks,
// memory → private temp file past the threshold, --max-size truncation.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "milters/av/message.hpp"

namespace postern::av {
namespace {

std::string read_fd(int fd) {
  std::string out;
  char buf[4096];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::string contents(const MessageBuffer& m) {
  return m.spooled() ? read_fd(m.fd()) : std::string(m.memory());
}

SpoolLimits limits(uint64_t threshold, uint64_t max_size = 0) {
  SpoolLimits l;
  l.memory_threshold = threshold;
  l.max_size = max_size;
  l.tmp_dir = ::testing::TempDir();
  return l;
}

TEST(AvMessage, AssemblesHeaderAndBodyWithCrlf) {
  struct Case {
    std::string name, value, want;
  };
  const Case cases[] = {
      {"Subject", " hello", "Subject: hello\r\n"},
      {"X-Empty", "", "X-Empty:\r\n"},
      {"Received", " from a\n\tby b", "Received: from a\r\n\tby b\r\n"},  // Postfix's "\n" folds
      {"To", " a,\r\n b", "To: a,\r\n b\r\n"},                            // already CRLF
      {"X-Lf", "\n x", "X-Lf:\r\n x\r\n"},
  };
  for (const Case& c : cases) {
    MessageBuffer m(limits(1 << 20));
    m.add_header(c.name, c.value);
    EXPECT_EQ(contents(m), c.want) << "field " << c.name;
  }
  MessageBuffer m(limits(1 << 20));
  m.add_header("From", " a@example.com");
  m.end_header();
  m.add_body("line 1\r\nli");
  m.add_body("ne 2\r\n");
  EXPECT_EQ(contents(m), "From: a@example.com\r\n\r\nline 1\r\nline 2\r\n");
  EXPECT_FALSE(m.spooled());
  EXPECT_EQ(m.size(), contents(m).size());
}

TEST(AvMessage, SpoolsPastThresholdToAnUnnamedFile) {
  MessageBuffer m(limits(64));
  m.add_header("Subject", " spool me");
  m.end_header();
  EXPECT_FALSE(m.spooled());
  std::string body(1000, 'x');
  m.add_body(body);
  ASSERT_TRUE(m.spooled());
  EXPECT_TRUE(m.memory().empty());
  m.add_body("\r\nend\r\n");
  EXPECT_EQ(read_fd(m.fd()), "Subject: spool me\r\n\r\n" + body + "\r\nend\r\n");
  struct stat st {};
  ASSERT_EQ(::fstat(m.fd(), &st), 0);
  EXPECT_EQ(st.st_nlink, 0u) << "the spool file must have no name";
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int fd = m.fd();
  m.reset();
  EXPECT_FALSE(m.spooled());
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "reset() closes the spool file";
  EXPECT_EQ(m.size(), 0u);
  m.add_header("A", " b");
  EXPECT_EQ(contents(m), "A: b\r\n");
}

TEST(AvMessage, NothingLeftInTmpDir) {
  std::string dir = ::testing::TempDir() + "/av_message_spool";
  std::filesystem::create_directories(dir);
  SpoolLimits l = limits(8);
  l.tmp_dir = dir;
  {
    MessageBuffer m(l);
    m.add_body(std::string(100, 'y'));
    ASSERT_TRUE(m.spooled());
    EXPECT_TRUE(std::filesystem::is_empty(dir));
  }
  std::filesystem::remove_all(dir);
}

TEST(AvMessage, MaxSizeKeepsThePrefixAndMarksOversized) {
  for (uint64_t threshold : {uint64_t{1} << 20, uint64_t{10}}) {
    MessageBuffer m(limits(threshold, 50));
    m.add_header("Subject", " x");  // 12 bytes
    m.end_header();                 // 14
    m.add_body(std::string(30, 'a'));
    EXPECT_FALSE(m.oversized());
    m.add_body(std::string(30, 'b'));
    EXPECT_TRUE(m.oversized());
    m.add_body("more");
    EXPECT_EQ(m.size(), 78u);
    EXPECT_EQ(m.kept(), 50u);
    EXPECT_EQ(contents(m), "Subject: x\r\n\r\n" + std::string(30, 'a') + std::string(6, 'b'))
        << "threshold " << threshold;
  }
}

TEST(AvMessage, ExactlyMaxSizeIsNotOversized) {
  MessageBuffer m(limits(1 << 20, 10));
  m.add_body("0123456789");
  EXPECT_FALSE(m.oversized());
  m.add_body("");
  EXPECT_FALSE(m.oversized());
}

TEST(AvMessage, BadTmpDirThrows) {
  SpoolLimits l = limits(1);
  l.tmp_dir = "/nonexistent/postern-av";
  MessageBuffer m(l);
  EXPECT_THROW(m.add_body("xyz"), std::system_error);
}

}  // namespace
}  // namespace postern::av
