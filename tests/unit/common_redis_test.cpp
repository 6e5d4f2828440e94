// common_redis_test.cpp — the Redis client (common/redis.hpp): URL parsing (table-driven), the
// outage tracker, and the client against a real redis-server on a unix socket: replies,
// pipelines, AUTH and SELECT, error replies, command timeouts, a server killed and restarted
// (fault, then reconnect without a new client), and concurrent callers sharing the pool.
#include "common/redis.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/config_error.hpp"
#include "common/metrics.hpp"
#include "tests/unit/redis_server.hpp"

namespace postern::redis {
namespace {

struct UrlCase {
  const char* text;
  Url::Kind kind;
  const char* server;  // Endpoint::to_string() (Tcp/Unix) or the sentinels joined by ','
  const char* master_name;
  const char* password;
  int db;
};

TEST(RedisUrl, ParsesValidForms) {
  const UrlCase cases[] = {
      {"redis://localhost", Url::Kind::Tcp, "localhost:6379", "", "", 0},
      {"redis://127.0.0.1:6380/2", Url::Kind::Tcp, "127.0.0.1:6380", "", "", 2},
      {"redis://:secret@10.0.0.1:7000/0", Url::Kind::Tcp, "10.0.0.1:7000", "", "secret", 0},
      {"redis://[::1]:6379/3", Url::Kind::Tcp, "[::1]:6379", "", "", 3},
      {"redis://[::1]", Url::Kind::Tcp, "[::1]:6379", "", "", 0},
      {"unix:/run/redis/redis.sock", Url::Kind::Unix, "unix:/run/redis/redis.sock", "", "", 0},
      {"unix:///run/redis.sock?db=4&password=pw", Url::Kind::Unix, "unix:/run/redis.sock", "", "pw",
       4},
      {"redis+unix:///run/r.sock", Url::Kind::Unix, "unix:/run/r.sock", "", "", 0},
      {"redis-sentinel://s1:26380,s2/mymaster", Url::Kind::Sentinel, "s1:26380,s2:26379",
       "mymaster", "", 0},
      {"redis-sentinel://:pw@[::1]:5000/m/7", Url::Kind::Sentinel, "[::1]:5000", "m", "pw", 7},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    Url url = parse_url(c.text);
    EXPECT_EQ(url.kind, c.kind);
    std::string server;
    if (url.kind == Url::Kind::Sentinel) {
      for (const auto& s : url.sentinels) server += (server.empty() ? "" : ",") + s.to_string();
    } else {
      server = url.server.to_string();
    }
    EXPECT_EQ(server, c.server) << "got " << server << ", want " << c.server;
    EXPECT_EQ(url.master_name, c.master_name);
    EXPECT_EQ(url.password, c.password);
    EXPECT_EQ(url.db, c.db);
  }
}

TEST(RedisUrl, RejectsBadFormsWithReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"http://localhost", "scheme"},
      {"redis://", "empty host"},
      {"redis://h:0", "port \"0\""},
      {"redis://h:70000", "port \"70000\""},
      {"redis://h:12x", "port \"12x\""},
      {"redis://h/abc", "db \"abc\""},
      {"redis://[::1", "without ']'"},
      {"unix:relative.sock", "absolute"},
      {"unix:/r.sock?db=x", "db \"x\""},
      {"unix:/r.sock?timeout=1", "unknown query parameter"},
      {"redis-sentinel://h:26379", "no master name"},
      {"redis-sentinel://h,/m", "empty host"},
  };
  for (const auto& [text, why] : cases) {
    SCOPED_TRACE(text);
    try {
      parse_url(text);
      ADD_FAILURE() << "no error for " << text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos)
          << "got \"" << e.what() << "\", want it to mention " << why;
    }
  }
}

TEST(RedisUrl, RedactsPassword) {
  EXPECT_EQ(parse_url("redis://:secret@h:1/2").redacted(), "redis://:***@h:1/2");
  EXPECT_EQ(parse_url("redis-sentinel://a,b:2/m").redacted(), "redis-sentinel://a:26379,b:2/m");
}

TEST(OutageTracker, LogsTransitionsOnly) {
  metrics::Registry registry;
  auto& up = registry.gauge("test_backend_up", "up");
  auto& outages = registry.counter("test_backend_outages_total", "outages");
  OutageTracker tracker("test", &up, &outages);
  EXPECT_FALSE(tracker.down());
  EXPECT_EQ(up.value(), 1);
  tracker.success();
  tracker.failure("connection refused");
  tracker.failure("connection refused");
  EXPECT_TRUE(tracker.down());
  EXPECT_EQ(up.value(), 0);
  EXPECT_EQ(outages.value(), 1u) << "two failures in a row are one outage";
  tracker.success();
  EXPECT_FALSE(tracker.down());
  EXPECT_EQ(up.value(), 1);
  tracker.failure("timeout");
  EXPECT_EQ(outages.value(), 2u);
}

TEST(OutageTracker, LinesNameTheServerLikeTheLdapClient) {
  OutageTracker redis("test-redis");
  OutageTracker lmdb("test-store");
  ::testing::internal::CaptureStderr();
  redis.failure("connection refused", "127.0.0.1:6390");
  redis.success("127.0.0.1:6390");
  lmdb.failure("disk full");  // no server: no server= field
  std::string log = ::testing::internal::GetCapturedStderr();
  for (const char* want :
       {"backend-down backend=test-redis server=127.0.0.1:6390 reason=\"connection refused\"\n",
        "backend-up backend=test-redis server=127.0.0.1:6390 down_seconds=",
        "backend-down backend=test-store reason=\"disk full\"\n"}) {
    EXPECT_NE(log.find(want), std::string::npos) << "want " << want << " in:\n" << log;
  }
}

Options fast_options() {
  Options o;
  o.connect_timeout_seconds = 0.5;
  o.command_timeout_seconds = 0.5;
  o.pool_size = 3;
  o.retry_interval_seconds = 0;
  return o;
}

TEST(RedisClient, CommandsAndReplyTypes) {
  postern::testing::RedisServer server;
  Client client(parse_url(server.url()), fast_options());
  EXPECT_EQ(client.command({"SET", "k", "v"}).str, "OK");
  Reply got = client.command({"GET", "k"});
  EXPECT_EQ(got.type, Reply::Type::String);
  EXPECT_EQ(got.str, "v");
  std::string binary("a\0b\r\nc", 6);
  client.command({"SET", "bin", binary});
  EXPECT_EQ(client.command({"GET", "bin"}).str, binary) << "values are binary-safe";
  EXPECT_TRUE(client.command({"GET", "missing"}).is_nil());
  Reply n = client.command({"INCRBY", "n", "5"});
  EXPECT_EQ(n.type, Reply::Type::Integer);
  EXPECT_EQ(n.integer, 5);
  client.command({"RPUSH", "list", "a", "b"});
  Reply list = client.command({"LRANGE", "list", "0", "-1"});
  ASSERT_EQ(list.type, Reply::Type::Array);
  ASSERT_EQ(list.elements.size(), 2u);
  EXPECT_EQ(list.elements[1].str, "b");
}

TEST(RedisClient, PipelineKeepsOrder) {
  postern::testing::RedisServer server;
  Client client(parse_url(server.url()), fast_options());
  auto replies = client.pipeline({{"SET", "a", "1"}, {"INCR", "a"}, {"GET", "a"}, {"TTL", "a"}});
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies[1].integer, 2);
  EXPECT_EQ(replies[2].str, "2");
  EXPECT_EQ(replies[3].integer, -1);
}

TEST(RedisClient, ErrorReplyThrowsAndConnectionStaysUsable) {
  postern::testing::RedisServer server;
  Client client(parse_url(server.url()), fast_options());
  client.command({"SET", "s", "x"});
  try {
    client.command({"INCR", "s"});
    ADD_FAILURE() << "INCR on a non-number must throw";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("ERR"), std::string::npos) << e.what();
  }
  EXPECT_EQ(client.command({"GET", "s"}).str, "x");
}

TEST(RedisClient, AuthAndSelect) {
  postern::testing::RedisServer server({"--requirepass", "pw"});
  Client wrong(parse_url(server.url() + "?password=nope"), fast_options());
  EXPECT_THROW(wrong.command({"PING"}), RedisError);
  Client db3(parse_url(server.url() + "?password=pw&db=3"), fast_options());
  db3.command({"SET", "where", "db3"});
  Client db0(parse_url(server.url() + "?password=pw"), fast_options());
  EXPECT_TRUE(db0.command({"GET", "where"}).is_nil()) << "SELECT must isolate databases";
  EXPECT_EQ(db3.command({"GET", "where"}).str, "db3");
}

TEST(RedisClient, CommandTimeoutIsAFaultThenRecovers) {
  postern::testing::RedisServer server;
  Options o = fast_options();
  o.command_timeout_seconds = 0.1;
  Client client(parse_url(server.url()), o);
  Client admin(parse_url(server.url()), fast_options());
  auto start = std::chrono::steady_clock::now();
  std::thread sleeper([&] {
    try {
      admin.command({"DEBUG", "SLEEP", "0.4"});
    } catch (const RedisError& e) {
      ADD_FAILURE() << e.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_THROW(client.command({"PING"}), RedisError);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(took, 0.35) << "the command must give up after its 0.1 s timeout";
  sleeper.join();
  EXPECT_EQ(client.command({"PING"}).str, "PONG");
}

TEST(RedisClient, ServerKilledAndRestartedReconnects) {
  postern::testing::RedisServer server;
  metrics::Registry registry;
  auto& outages = registry.counter("test_redis_outages_total", "outages");
  OutageTracker tracker("test-redis", nullptr, &outages);
  Client client(parse_url(server.url()), fast_options(), &tracker);
  EXPECT_EQ(client.command({"PING"}).str, "PONG");
  ::testing::internal::CaptureStderr();
  server.kill();
  EXPECT_THROW(client.command({"PING"}), RedisError);  // the pooled connection is dead
  EXPECT_THROW(client.command({"PING"}), RedisError);  // and a new one cannot connect
  EXPECT_TRUE(tracker.down());
  EXPECT_EQ(outages.value(), 1u);
  server.start();
  EXPECT_EQ(client.command({"PING"}).str, "PONG");
  EXPECT_FALSE(tracker.down());
  std::string log = ::testing::internal::GetCapturedStderr();
  std::string server_field = "server=" + client.current_server() + " ";
  EXPECT_NE(log.find("backend-down backend=test-redis " + server_field), std::string::npos) << log;
  EXPECT_NE(log.find("backend-up backend=test-redis " + server_field), std::string::npos) << log;
}

TEST(RedisClient, RetryIntervalFailsFastWhileDown) {
  postern::testing::RedisServer server;
  Options o = fast_options();
  o.retry_interval_seconds = 0.3;
  Client client(parse_url(server.url()), o);
  server.kill();
  EXPECT_THROW(client.command({"PING"}), RedisError);  // connect refused, remembered
  server.start();
  EXPECT_THROW(client.command({"PING"}), RedisError) << "within the retry interval: no new connect";
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_EQ(client.command({"PING"}).str, "PONG");
}

TEST(RedisClient, NoServerIsAFault) {
  Client client(parse_url("unix:/nonexistent/postern-redis.sock"), fast_options());
  try {
    client.command({"PING"});
    ADD_FAILURE() << "want RedisError";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/postern-redis.sock"), std::string::npos)
        << e.what();
  }
}

TEST(RedisClient, ConcurrentCallersShareThePool) {
  postern::testing::RedisServer server;
  Client client(parse_url(server.url()), fast_options());  // 3 connections for 8 threads
  std::atomic<int> faults{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        try {
          client.command({"INCR", "counter"});
        } catch (const RedisError&) {
          ++faults;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(faults.load(), 0);
  EXPECT_EQ(client.command({"GET", "counter"}).str, "1600");
  Reply clients = client.command({"CLIENT", "LIST"});
  size_t lines = 0;
  for (char c : clients.str) lines += c == '\n';
  EXPECT_LE(lines, 3u) << "the pool must not open more than pool_size connections";
}

}  // namespace
}  // namespace postern::redis
