// common_metrics_test.cpp — the metrics registry (exact text format 0.0.4 output, escaping,
// name checks, concurrent increments), health, routing, and the HTTP server on loopback
// spoken to with a plain socket client.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/config_error.hpp"
#include "common/metrics.hpp"
#include "common/metrics_server.hpp"

namespace postern::metrics {
namespace {

TEST(MetricsRegistry, CounterWithLabels) {
  Registry registry;
  Counter& signed_rsa = registry.counter("postern_dkim_messages_total", "Messages seen.",
                                         {{"result", "signed"}, {"algorithm", "rsa-sha256"}});
  Counter& external = registry.counter("postern_dkim_messages_total", "Messages seen.",
                                       {{"result", "external_client"}});
  signed_rsa.inc();
  signed_rsa.inc(2);
  external.inc();
  EXPECT_EQ(&registry.counter("postern_dkim_messages_total", "Messages seen.",
                              {{"result", "external_client"}}),
            &external);
  EXPECT_EQ(registry.render(),
            "# HELP postern_dkim_messages_total Messages seen.\n"
            "# TYPE postern_dkim_messages_total counter\n"
            "postern_dkim_messages_total{result=\"signed\",algorithm=\"rsa-sha256\"} 3\n"
            "postern_dkim_messages_total{result=\"external_client\"} 1\n");
}

TEST(MetricsRegistry, FamiliesSortedGaugeWithoutLabels) {
  Registry registry;
  registry.gauge("b_gauge", "A gauge.").set(-2.5);
  registry.counter("a_total", "A counter.").inc();
  EXPECT_EQ(registry.render(),
            "# HELP a_total A counter.\n# TYPE a_total counter\na_total 1\n"
            "# HELP b_gauge A gauge.\n# TYPE b_gauge gauge\nb_gauge -2.5\n");
}

TEST(MetricsRegistry, Histogram) {
  Registry registry;
  Histogram& h = registry.histogram("op_seconds", "Time per op.", {0.01, 0.1, 1}, {{"op", "sign"}});
  for (double v : {0.005, 0.01, 0.05, 2.0}) h.observe(v);
  h.observe(NAN);  // ignored
  EXPECT_EQ(registry.render(),
            "# HELP op_seconds Time per op.\n"
            "# TYPE op_seconds histogram\n"
            "op_seconds_bucket{op=\"sign\",le=\"0.01\"} 2\n"
            "op_seconds_bucket{op=\"sign\",le=\"0.1\"} 3\n"
            "op_seconds_bucket{op=\"sign\",le=\"1\"} 3\n"
            "op_seconds_bucket{op=\"sign\",le=\"+Inf\"} 4\n"
            "op_seconds_sum{op=\"sign\"} 2.065\n"
            "op_seconds_count{op=\"sign\"} 4\n");
}

TEST(MetricsRegistry, HistogramWithoutLabels) {
  Registry registry;
  registry.histogram("t_seconds", "T.", {1}).observe(0.5);
  EXPECT_EQ(registry.render(),
            "# HELP t_seconds T.\n# TYPE t_seconds histogram\n"
            "t_seconds_bucket{le=\"1\"} 1\nt_seconds_bucket{le=\"+Inf\"} 1\n"
            "t_seconds_sum 0.5\nt_seconds_count 1\n");
}

TEST(MetricsRegistry, Escaping) {
  Registry registry;
  registry.counter("x_total", "Back\\slash and\nnewline \"kept\".", {{"v", "a\"b\\c\nd"}}).inc();
  EXPECT_EQ(registry.render(),
            "# HELP x_total Back\\\\slash and\\nnewline \"kept\".\n"
            "# TYPE x_total counter\n"
            "x_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsRegistry, FormatValue) {
  struct Case {
    double value;
    const char* want;
  } cases[] = {{0, "0"},           {1, "1"},           {0.0005, "0.0005"},
               {0.00005, "5e-05"}, {-2.5, "-2.5"},     {123456789012, "123456789012"},
               {1e21, "1e+21"},    {INFINITY, "+Inf"}, {-INFINITY, "-Inf"},
               {NAN, "NaN"}};
  for (const Case& c : cases) EXPECT_EQ(format_value(c.value), c.want) << "value " << c.value;
}

TEST(MetricsRegistry, RejectsBadNamesAndClashes) {
  Registry registry;
  EXPECT_THROW(registry.counter("1bad", "h"), std::invalid_argument);
  EXPECT_THROW(registry.counter("bad-name", "h"), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "h", {{"bad:label", "x"}}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "h", {{"__reserved", "x"}}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h_seconds", "h", {1}, {{"le", "x"}}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h_seconds", "h", {1, 1}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h_seconds", "h", {INFINITY}), std::invalid_argument);
  registry.counter("ok_total", "h");
  EXPECT_THROW(registry.gauge("ok_total", "h"), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "other help"), std::invalid_argument);
  registry.histogram("t_seconds", "h", {1, 2});
  EXPECT_THROW(registry.histogram("t_seconds", "h", {1, 3}, {{"a", "b"}}), std::invalid_argument);
}

TEST(MetricsRegistry, ConcurrentIncrementsAndRender) {
  Registry registry;
  Counter& counter = registry.counter("n_total", "n");
  Histogram& histogram = registry.histogram("d_seconds", "d", default_seconds_buckets());
  constexpr int kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        counter.inc();
        histogram.observe(0.001);
      }
    });
  }
  threads.emplace_back([&] {  // renders and registers while others count
    for (int i = 0; i < 50; ++i) {
      registry.render();
      registry.counter("other_total", "o", {{"i", std::to_string(i)}}).inc();
    }
  });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.value(), uint64_t{kThreads * kPerThread});
  Histogram::Snapshot snap = histogram.snapshot();
  uint64_t total = 0;
  for (uint64_t n : snap.bucket_counts) total += n;
  EXPECT_EQ(total, uint64_t{kThreads * kPerThread});
  EXPECT_NEAR(snap.sum, kThreads * kPerThread * 0.001, 1e-6);
}

TEST(MetricsHealth, ReadinessAndChecks) {
  Health health;
  EXPECT_EQ(health.status().text, "not ready\n");
  EXPECT_FALSE(health.status().ok);
  health.set_ready(true);
  EXPECT_TRUE(health.status().ok);
  EXPECT_EQ(health.status().text, "ok\n");
  bool engine_loaded = false;
  health.add_check("clamav", [&] {
    return Health::CheckResult{engine_loaded, "engine not loaded"};
  });
  health.add_check("redis",
                   []() -> Health::CheckResult { throw std::runtime_error("connection refused"); });
  EXPECT_EQ(health.status().text, "clamav: engine not loaded\nredis: connection refused\n");
  engine_loaded = true;
  EXPECT_EQ(health.status().text, "redis: connection refused\n");
}

TEST(MetricsServer, ParseListenAddress) {
  struct Case {
    const char* text;
    const char* host;
    uint16_t port;
  } cases[] = {{"127.0.0.1:9101", "127.0.0.1", 9101},
               {"[::1]:9101", "::1", 9101},
               {"::1:9101", "::1", 9101},
               {"localhost:0", "localhost", 0}};
  for (const Case& c : cases) {
    ListenAddress got = parse_listen_address(c.text);
    EXPECT_EQ(got.host, c.host) << c.text;
    EXPECT_EQ(got.port, c.port) << c.text;
  }
  for (const char* bad : {"9101", ":9101", "host:", "host:65536", "host:12x", "host:123456"}) {
    EXPECT_THROW(parse_listen_address(bad), ConfigError) << bad;
  }
}

TEST(MetricsServer, Routing) {
  Registry registry;
  registry.counter("a_total", "A.").inc();
  Health health;
  HttpAnswer metrics = answer_request("GET", "/metrics?x=1", registry, health);
  EXPECT_EQ(metrics.status, 200u);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metrics.body, registry.render());
  EXPECT_EQ(answer_request("GET", "/healthz", registry, health).status, 503u);
  health.set_ready(true);
  EXPECT_EQ(answer_request("GET", "/healthz", registry, health).body, "ok\n");
  EXPECT_EQ(answer_request("GET", "/", registry, health).status, 404u);
  EXPECT_EQ(answer_request("POST", "/metrics", registry, health).status, 405u);
}

// A blocking loopback client: connect, send raw bytes, read until the peer closes.
class Client {
 public:
  explicit Client(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("connect failed");
    }
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void send(const std::string& data) {
    ASSERT_EQ(::write(fd_, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  // Reads until `count` responses framed by Content-Length have arrived, or EOF/timeout.
  std::string read_responses(int count) {
    std::string got;
    char buffer[4096];
    while (complete_responses(got) < count) {
      ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n <= 0) break;
      got.append(buffer, static_cast<size_t>(n));
    }
    return got;
  }
  std::string read_to_eof() { return read_responses(1000); }

 private:
  static int complete_responses(const std::string& text) {
    int count = 0;
    size_t at = 0;
    for (;;) {
      size_t end = text.find("\r\n\r\n", at);
      size_t length_at = text.find("Content-Length: ", at);
      if (end == std::string::npos || length_at == std::string::npos || length_at > end)
        return count;
      size_t length = std::stoul(text.substr(length_at + 16));
      if (text.size() < end + 4 + length) return count;
      at = end + 4 + length;
      ++count;
    }
  }
  int fd_;
};

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.counter("postern_test_total", "Test counter.", {{"result", "ok"}}).inc(7);
    server_.emplace("127.0.0.1:0", registry_, health_);
  }
  Registry registry_;
  Health health_;
  std::optional<MetricsServer> server_;
};

TEST_F(MetricsServerTest, ServesMetricsAndHealthOnOneKeepAliveConnection) {
  Client client(server_->port());
  client.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = client.read_responses(2);
  EXPECT_EQ(got.find("HTTP/1.1 200 OK\r\n"), 0u) << got;
  EXPECT_NE(got.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos)
      << got;
  EXPECT_NE(got.find("\r\n\r\n# HELP postern_test_total Test counter.\n"
                     "# TYPE postern_test_total counter\n"
                     "postern_test_total{result=\"ok\"} 7\n"),
            std::string::npos)
      << got;
  EXPECT_NE(got.find("HTTP/1.1 503 Service Unavailable\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("\r\n\r\nnot ready\n"), std::string::npos) << got;
}

TEST_F(MetricsServerTest, HealthzOkOnceReady) {
  health_.set_ready(true);
  Client client(server_->port());
  client.send("GET /healthz HTTP/1.0\r\n\r\n");
  std::string got = client.read_to_eof();
  EXPECT_EQ(got.find("HTTP/1.0 200 OK\r\n"), 0u) << got;
  EXPECT_EQ(got.substr(got.size() - 7), "\r\n\r\nok\n") << got;
}

TEST_F(MetricsServerTest, NotFoundMethodNotAllowedAndOversizedRequests) {
  {
    Client client(server_->port());
    client.send(
        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\nPOST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: "
        "0\r\n\r\n");
    std::string got = client.read_responses(2);
    EXPECT_EQ(got.find("HTTP/1.1 404 Not Found\r\n"), 0u) << got;
    EXPECT_NE(got.find("HTTP/1.1 405 Method Not Allowed\r\n"), std::string::npos) << got;
    EXPECT_NE(got.find("Allow: GET\r\n"), std::string::npos) << got;
  }
  {
    Client client(server_->port());
    client.send("GET /metrics HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
    EXPECT_EQ(client.read_to_eof().find("HTTP/1.1 431 "), 0u);
  }
  {
    Client client(server_->port());
    client.send("this is not http\r\n\r\n");
    EXPECT_EQ(client.read_to_eof().find("HTTP/1.1 400 Bad Request\r\n"), 0u);
  }
  // The server still answers after all that.
  Client client(server_->port());
  client.send("GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(client.read_to_eof().find("HTTP/1.0 200 OK\r\n"), 0u);
}

TEST_F(MetricsServerTest, BindErrorNamesAddressAndReason) {
  std::string listen = "127.0.0.1:" + std::to_string(server_->port());
  try {
    MetricsServer second(listen, registry_, health_);
    FAIL() << "second bind to " << listen << " succeeded";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot listen on " + listen + ": Address already in use");
  }
}

TEST_F(MetricsServerTest, StopsWithOpenConnections) {
  Client idle(server_->port());
  Client half(server_->port());
  half.send("GET /metrics HTTP/1.1\r\n");
  server_.reset();  // must not hang on the idle or half-sent connection
  EXPECT_EQ(idle.read_to_eof(), "");
}

}  // namespace
}  // namespace postern::metrics
