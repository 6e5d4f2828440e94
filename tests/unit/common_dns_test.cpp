// common_dns_test.cpp — the libunbound resolver (common/dns_unbound.cpp) against a real DNS
// server: tests/dns/zone_server.py on a free loopback port in 20000..32767, started once per
// process. Skipped when /usr/bin/python3 has no dnslib (Debian python3-dnslib). libunbound
// caches, so every check asks its own names.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/config_error.hpp"
#include "common/dns.hpp"

namespace fs = std::filesystem;
using postern::dns::Answer;
using postern::dns::RrType;
using postern::dns::Status;

namespace {

constexpr int thread_names = 64;

std::string long_text(std::size_t size) {
  std::string text;
  for (std::size_t i = 0; i < size; ++i) text += static_cast<char>('a' + i % 26);
  return text;
}

std::string zone_json() {
  std::string zone = R"({
  "a.test": {"A": ["192.0.2.1", "192.0.2.2"]},
  "aaaa.test": {"AAAA": ["2001:db8::1"]},
  "txt-split.test": {"TXT": [["v=spf1 ", "ip4:192.0.2.1 ", "-all"]]},
  "txt-multi.test": {"TXT": ["first", "second"]},
  "txt-null.test": {"TXT": [["v=spf1 ", "-all"], []]},
  "txt-only-null.test": {"TXT": [[]]},
  "txt-long.test": {"TXT": [")" +
                     long_text(2000) + R"("]},
  "mx.test": {"MX": [[20, "MX2.Example.TEST"], [10, "mx1.example.test"]]},
  "1.2.0.192.in-addr.arpa": {"PTR": ["Host.Example.Test"]},
  "alias.test": {"CNAME": "Target.test"},
  "target.test": {"TXT": ["target text"]},
  "alias-query.test": {"CNAME": "target.test"},
  "nodata.test": {"A": ["192.0.2.3"]},
  "deep.ent.test": {"A": ["192.0.2.4"]},
  "servfail.test": {"RCODE": "SERVFAIL"},
  "slow.test": {"TIMEOUT": true},
  "uncached.test": {"A": ["192.0.2.5"]},
  "dnssec.test": {"A": ["192.0.2.6"]},
)";
  for (int i = 0; i < thread_names; ++i)
    zone += "  \"t" + std::to_string(i) + ".test\": {\"A\": [\"198.51.100." + std::to_string(i) +
            "\"]},\n";
  zone += "  \"end.test\": {}\n}\n";
  return zone;
}

// tests/dns/zone_server.py as a child process; port read from its "READY <port>" line.
class ZoneServer {
 public:
  explicit ZoneServer(const fs::path& zone_file) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      std::string script = std::string(POSTERN_SOURCE_DIR) + "/tests/dns/zone_server.py";
      std::string zone = zone_file.string();
      ::execl("/usr/bin/python3", "python3", script.c_str(), "--zone", zone.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    port_ = read_port(out[0]);
    ::close(out[0]);
  }
  ZoneServer(const ZoneServer&) = delete;
  ZoneServer& operator=(const ZoneServer&) = delete;
  ~ZoneServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  int port() const { return port_; }

 private:
  // "READY 12345\n" within 10 s, else 0.
  static int read_port(int fd) {
    std::string line;
    pollfd p{fd, POLLIN, 0};
    while (line.find('\n') == std::string::npos && ::poll(&p, 1, 10000) == 1) {
      char buf[64];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    if (!line.starts_with("READY ")) return 0;
    return std::atoi(line.c_str() + 6);
  }

  pid_t pid_ = -1;
  int port_ = 0;
};

class DnsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("/usr/bin/python3 -c 'import dnslib' >/dev/null 2>&1") != 0) return;
    dir_ = fs::temp_directory_path() / ("postern-dns-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "zone.json") << zone_json();
    server_ = std::make_unique<ZoneServer>(dir_ / "zone.json");
  }
  static void TearDownTestSuite() {
    server_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  void SetUp() override {
    if (!server_) GTEST_SKIP() << "/usr/bin/python3 has no dnslib (python3-dnslib)";
    ASSERT_NE(server_->port(), 0) << "zone_server.py did not print READY";
    resolver_ = make(1);
  }

  static std::string server_address() { return "127.0.0.1@" + std::to_string(server_->port()); }

  static std::unique_ptr<postern::dns::Resolver> make(double timeout_seconds) {
    postern::dns::ResolverConfig config;
    config.dns_server = server_address();
    config.timeout_seconds = timeout_seconds;
    return postern::dns::make_resolver(config);
  }

  Answer query(std::string_view name, RrType type) { return resolver_->query(name, type); }
  // query() whose answer must be NoError (a failure names the query and why it failed).
  Answer answered(std::string_view name, RrType type) {
    Answer answer = query(name, type);
    EXPECT_EQ(answer.status, Status::NoError) << name << ": " << answer.why;
    return answer;
  }

  static inline std::unique_ptr<ZoneServer> server_;
  static inline fs::path dir_;
  std::unique_ptr<postern::dns::Resolver> resolver_;
};

std::vector<std::string> address_texts(const Answer& answer) {
  std::vector<std::string> texts;
  for (const auto& a : answer.addresses) texts.push_back(a.to_string());
  std::sort(texts.begin(), texts.end());
  return texts;
}

TEST_F(DnsTest, A) {
  Answer answer = answered("a.test", RrType::A);
  EXPECT_EQ(address_texts(answer), (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
  EXPECT_FALSE(answer.addresses.at(0).v6);
}

TEST_F(DnsTest, Aaaa) {
  Answer answer = answered("aaaa.test.", RrType::AAAA);
  EXPECT_EQ(address_texts(answer), std::vector<std::string>{"2001:db8::1"});
  EXPECT_TRUE(answer.addresses.at(0).v6);
}

TEST_F(DnsTest, TxtStringsOfOneRecordAreJoined) {
  Answer answer = answered("txt-split.test", RrType::TXT);
  EXPECT_EQ(answer.txt, std::vector<std::string>{"v=spf1 ip4:192.0.2.1 -all"});
}

TEST_F(DnsTest, TxtRecordsKeptApart) {
  Answer answer = answered("txt-multi.test", RrType::TXT);
  std::sort(answer.txt.begin(), answer.txt.end());
  EXPECT_EQ(answer.txt, (std::vector<std::string>{"first", "second"}));
}

// A TXT record with no character-strings (rdlength 0) beside a normal one: libunbound itself
// reports SERVFAIL for it (dns_unbound.cpp, salvaged_from_packet); we want the records.
TEST_F(DnsTest, TxtWithNoStringsIsAnEmptyText) {
  Answer answer = answered("txt-null.test", RrType::TXT);
  std::sort(answer.txt.begin(), answer.txt.end());
  EXPECT_EQ(answer.txt, (std::vector<std::string>{"", "v=spf1 -all"}));
  Answer alone = answered("txt-only-null.test", RrType::TXT);
  EXPECT_EQ(alone.txt, std::vector<std::string>{""});
}

TEST_F(DnsTest, TxtOverUdpSizeComesOverTcp) {
  Answer answer = answered("txt-long.test", RrType::TXT);
  ASSERT_EQ(answer.txt.size(), 1u);
  EXPECT_EQ(answer.txt[0], long_text(2000));
}

TEST_F(DnsTest, MxPreferencesAndLowerCaseExchanges) {
  Answer answer = answered("MX.test", RrType::MX);
  ASSERT_EQ(answer.mx.size(), 2u);
  std::sort(answer.mx.begin(), answer.mx.end(),
            [](const auto& x, const auto& y) { return x.preference < y.preference; });
  EXPECT_EQ(answer.mx[0].preference, 10);
  EXPECT_EQ(answer.mx[0].exchange, "mx1.example.test");
  EXPECT_EQ(answer.mx[1].preference, 20);
  EXPECT_EQ(answer.mx[1].exchange, "mx2.example.test");
}

TEST_F(DnsTest, Ptr) {
  Answer answer = answered("1.2.0.192.in-addr.arpa", RrType::PTR);
  EXPECT_EQ(answer.names, std::vector<std::string>{"host.example.test"});
}

TEST_F(DnsTest, CnameFollowedForTxt) {
  Answer answer = answered("alias.test", RrType::TXT);
  EXPECT_EQ(answer.txt, std::vector<std::string>{"target text"});
}

TEST_F(DnsTest, CnameQueryGivesTarget) {
  Answer answer = answered("alias-query.test", RrType::CNAME);
  EXPECT_EQ(answer.names, std::vector<std::string>{"target.test"});
}

TEST_F(DnsTest, NxDomain) {
  Answer answer = query("missing.test", RrType::TXT);
  EXPECT_EQ(answer.status, Status::NxDomain);
  EXPECT_TRUE(answer.txt.empty());
}

TEST_F(DnsTest, NoDataIsNoErrorWithoutRecords) {
  Answer answer = answered("nodata.test", RrType::TXT);
  EXPECT_TRUE(answer.txt.empty());
}

TEST_F(DnsTest, EmptyNonTerminalIsNoData) {
  Answer answer = answered("ent.test", RrType::A);
  EXPECT_TRUE(answer.addresses.empty());
}

TEST_F(DnsTest, ServFail) {
  resolver_ = make(5);
  Answer answer = query("servfail.test", RrType::TXT);
  EXPECT_EQ(answer.status, Status::ServFail) << answer.why;
}

TEST_F(DnsTest, SilentServerTimesOutOnTime) {
  auto start = std::chrono::steady_clock::now();
  Answer answer = query("slow.test", RrType::TXT);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(answer.status, Status::Timeout);
  EXPECT_EQ(answer.why, "timeout after 1 s");
  EXPECT_GE(took.count(), 0.9);
  EXPECT_LT(took.count(), 2.0);
  // The resolver still answers after a timeout.
  EXPECT_EQ(query("uncached.test", RrType::A).status, Status::NoError);
}

TEST_F(DnsTest, ManyThreadsAtOnce) {
  resolver_ = make(10);
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (int k = 0; k < thread_names; ++k) {
          int i = (t * 8 + k) % thread_names;  // threads start at different names
          Answer answer = resolver_->query("t" + std::to_string(i) + ".test", RrType::A);
          if (answer.status == Status::NoError && answer.addresses.size() == 1 &&
              answer.addresses[0].to_string() == "198.51.100." + std::to_string(i))
            ++answered;
          else
            ADD_FAILURE() << "t" << i << ".test: status " << static_cast<int>(answer.status)
                          << " why '" << answer.why << "' addresses " << answer.addresses.size();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(answered.load(), 8 * 3 * thread_names);
}

// A trust anchor for "test." (a made-up DS) while the server signs nothing: libunbound finds no
// DNSKEY for test., so every answer below it is bogus — proof that answers are validated.
TEST_F(DnsTest, TrustAnchorValidatesAnswers) {
  fs::path anchor = dir_ / "test-anchor.ds";
  std::ofstream(anchor) << "test. 3600 IN DS 12345 13 2 "
                           "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n";
  postern::dns::ResolverConfig config;
  config.dns_server = server_address();
  config.timeout_seconds = 2;
  config.trust_anchor_file = anchor.string();
  Answer answer = postern::dns::make_resolver(config)->query("dnssec.test", RrType::A);
  EXPECT_EQ(answer.status, Status::Error);
  EXPECT_TRUE(answer.why.starts_with("DNSSEC bogus")) << answer.why;
  EXPECT_FALSE(answer.secure);
  // Without the anchor the same name resolves (insecure).
  Answer plain = answered("dnssec.test", RrType::A);
  EXPECT_FALSE(plain.secure);
}

TEST_F(DnsTest, BadNameIsError) {
  EXPECT_EQ(query("", RrType::A).status, Status::Error);
  EXPECT_EQ(query(std::string("a\0b.test", 8), RrType::A).status, Status::Error);
}

TEST(DnsConfig, BadServerOrTimeoutIsConfigError) {
  for (const char* server : {"not-an-ip", "127.0.0.1@0", "127.0.0.1@65536", "127.0.0.1@",
                             "127.0.0.1@53x", "127.0.0.1@+53", "IPv6:::1", "@53", "1.2.3.4:53"}) {
    postern::dns::ResolverConfig config;
    config.dns_server = server;
    EXPECT_THROW(postern::dns::make_resolver(config), postern::ConfigError) << server;
  }
  for (double timeout : {0.0, -1.0}) {
    postern::dns::ResolverConfig config;
    config.dns_server = "127.0.0.1";
    config.timeout_seconds = timeout;
    EXPECT_THROW(postern::dns::make_resolver(config), postern::ConfigError) << timeout;
  }
}

TEST(DnsConfig, TrustAnchorFileMustBeReadableAndValid) {
  postern::dns::ResolverConfig config;
  config.dns_server = "127.0.0.1";
  config.trust_anchor_file = "/nonexistent/root.key";
  try {
    postern::dns::make_resolver(config);
    ADD_FAILURE() << "no ConfigError for a missing trust anchor file";
  } catch (const postern::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'/nonexistent/root.key': cannot read"), std::string::npos)
        << e.what();
  }
  fs::path garbage =
      fs::temp_directory_path() / ("postern-dns-anchor-" + std::to_string(::getpid()) + ".key");
  std::ofstream(garbage) << "this is not a zone file\n";
  config.trust_anchor_file = garbage.string();
  EXPECT_THROW(postern::dns::make_resolver(config), postern::ConfigError);
  fs::remove(garbage);
  if (fs::exists("/usr/share/dns/root.key")) {  // Debian's dns-root-data
    config.trust_anchor_file = "/usr/share/dns/root.key";
    EXPECT_NO_THROW(postern::dns::make_resolver(config));
  }
}

TEST(DnsConfig, GoodServersAccepted) {
  for (const char* server : {"127.0.0.1", "127.0.0.1@5353", "::1", "::1@53", "[::1]@53"}) {
    postern::dns::ResolverConfig config;
    config.dns_server = server;
    EXPECT_NO_THROW(postern::dns::make_resolver(config)) << server;
  }
}

}  // namespace
