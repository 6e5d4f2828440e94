// redis.cpp — the Redis client of redis.hpp over hiredis (synchronous API, one redisContext
// per pooled connection).
#include "common/redis.hpp"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>

#include <charconv>
#include <cmath>
#include <utility>

#include "common/config_error.hpp"
#include "common/free.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"

namespace postern::redis {

using RedisCtx = std::unique_ptr<redisContext, Free<redisFree>>;
using RedisReplyPtr = std::unique_ptr<redisReply, Free<freeReplyObject>>;

namespace {

[[noreturn]] void bad_url(std::string_view text, const std::string& why) {
  throw ConfigError("redis URL \"" + std::string(text) + "\": " + why);
}

int parse_int(std::string_view text, std::string_view whole, const char* what, int lo, int hi) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < lo ||
      value > hi) {
    bad_url(whole, std::string(what) + " \"" + std::string(text) + "\" is not a number in " +
                       std::to_string(lo) + ".." + std::to_string(hi));
  }
  return value;
}

// "host", "host:port", "[v6]", "[v6]:port".
Endpoint parse_host_port(std::string_view text, std::string_view whole, uint16_t default_port) {
  Endpoint e;
  e.port = default_port;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) bad_url(whole, "'[' without ']' in host");
    e.host = std::string(text.substr(1, close - 1));
    rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') bad_url(whole, "junk after ']' in host");
  } else {
    size_t colon = text.find(':');
    e.host = std::string(text.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon);
  }
  if (e.host.empty()) bad_url(whole, "empty host");
  if (!rest.empty())
    e.port = static_cast<uint16_t>(parse_int(rest.substr(1), whole, "port", 1, 65535));
  return e;
}

// "[user]:password@" prefix of an authority; returns the rest.
std::string_view take_userinfo(std::string_view authority, Url& url) {
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return authority;
  std::string_view info = authority.substr(0, at);
  size_t colon = info.find(':');
  if (colon == std::string_view::npos) {
    url.password = std::string(info);  // "password@host", as some clients accept
  } else {
    url.username = std::string(info.substr(0, colon));
    url.password = std::string(info.substr(colon + 1));
  }
  return authority.substr(at + 1);
}

void parse_unix(std::string_view path_and_query, std::string_view whole, Url& url) {
  url.kind = Url::Kind::Unix;
  size_t q = path_and_query.find('?');
  std::string_view path = path_and_query.substr(0, q);
  if (path.empty() || path.front() != '/') bad_url(whole, "unix socket path must be absolute");
  url.server.host.clear();
  url.server.unix_path = std::string(path);
  if (q == std::string_view::npos) return;
  std::string_view query = path_and_query.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos)
      bad_url(whole, "query part \"" + std::string(pair) + "\" has no '='");
    std::string_view key = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (key == "db") {
      url.db = parse_int(value, whole, "db", 0, 1 << 20);
    } else if (key == "password") {
      url.password = std::string(value);
    } else {
      bad_url(whole, "unknown query parameter \"" + std::string(key) + "\" (db, password)");
    }
  }
}

timeval to_timeval(double seconds) {
  timeval tv{};
  double whole = std::floor(seconds);
  tv.tv_sec = static_cast<time_t>(whole);
  tv.tv_usec = static_cast<suseconds_t>((seconds - whole) * 1e6);
  return tv;
}

Reply convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::String;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:  // callers see errors through RedisError, see exec()
      out.type = Reply::Type::Status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::Integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::Array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = Reply::Type::Nil;
  }
  return out;
}

// A connection that can no longer be used (I/O error, timeout, protocol error).
struct ConnectionBroken : RedisError {
  using RedisError::RedisError;
};

}  // namespace

std::string Endpoint::to_string() const {
  if (!unix_path.empty()) return "unix:" + unix_path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string Url::redacted() const {
  std::string auth = password.empty() ? "" : username + ":***@";
  std::string db_part = db == 0 ? "" : "/" + std::to_string(db);
  switch (kind) {
    case Kind::Unix:
      return "unix:" + server.unix_path + (db == 0 ? "" : "?db=" + std::to_string(db));
    case Kind::Sentinel: {
      std::string hosts;
      for (const auto& s : sentinels) hosts += (hosts.empty() ? "" : ",") + s.to_string();
      return "redis-sentinel://" + auth + hosts + "/" + master_name + db_part;
    }
    case Kind::Tcp:
      break;
  }
  return "redis://" + auth + server.to_string() + db_part;
}

Url parse_url(std::string_view text) {
  Url url;
  auto starts = [&](std::string_view p) { return text.substr(0, p.size()) == p; };
  if (starts("unix://")) {
    parse_unix(text.substr(7), text, url);
    return url;
  }
  if (starts("redis+unix://")) {
    parse_unix(text.substr(13), text, url);
    return url;
  }
  if (starts("unix:")) {
    parse_unix(text.substr(5), text, url);
    return url;
  }
  bool sentinel = starts("redis-sentinel://");
  if (!sentinel && !starts("redis://")) {
    bad_url(text, "scheme must be redis://, redis-sentinel:// or unix:");
  }
  std::string_view rest = text.substr(sentinel ? 17 : 8);
  size_t slash = rest.find('/');
  std::string_view authority = take_userinfo(rest.substr(0, slash), url);
  std::string_view path =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (!sentinel) {
    url.kind = Url::Kind::Tcp;
    url.server = parse_host_port(authority, text, 6379);
    if (!path.empty()) url.db = parse_int(path, text, "db", 0, 1 << 20);
    return url;
  }
  url.kind = Url::Kind::Sentinel;
  while (true) {
    size_t comma = authority.find(',');
    url.sentinels.push_back(parse_host_port(authority.substr(0, comma), text, 26379));
    if (comma == std::string_view::npos) break;
    authority = authority.substr(comma + 1);
  }
  size_t slash2 = path.find('/');
  url.master_name = std::string(path.substr(0, slash2));
  if (url.master_name.empty()) bad_url(text, "no master name after the sentinel hosts");
  if (slash2 != std::string_view::npos)
    url.db = parse_int(path.substr(slash2 + 1), text, "db", 0, 1 << 20);
  return url;
}

// ---------------------------------------------------------------------------------------------

OutageTracker::OutageTracker(std::string backend, metrics::Gauge* up, metrics::Counter* outages)
    : backend_(std::move(backend)), up_(up), outages_(outages) {
  if (up_) up_->set(1);
}

void OutageTracker::failure(std::string_view reason, std::string_view server) {
  {
    std::lock_guard lock(mutex_);
    if (down_) return;
    down_ = true;
    down_flag_.store(true, std::memory_order_release);
    since_ = std::chrono::steady_clock::now();
  }
  if (up_) up_->set(0);
  if (outages_) outages_->inc();
  log::Event line(log::Level::Warning, "backend-down");
  line.kv("backend", backend_);
  if (!server.empty()) line.kv("server", server);
  line.kv("reason", reason);
}

void OutageTracker::success(std::string_view server) {
  if (!down_flag_.load(std::memory_order_relaxed)) return;  // the common case: no lock
  double seconds = 0;
  {
    std::lock_guard lock(mutex_);
    if (!down_) return;
    down_ = false;
    down_flag_.store(false, std::memory_order_release);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - since_).count();
  }
  if (up_) up_->set(1);
  log::Event line(log::Level::Info, "backend-up");
  line.kv("backend", backend_);
  if (!server.empty()) line.kv("server", server);
  line.kv("down_seconds", seconds);
}

bool OutageTracker::down() const {
  return down_flag_.load(std::memory_order_acquire);
}

// ---------------------------------------------------------------------------------------------

/// One open hiredis context and the failover generation it belongs to.
class Connection {
 public:
  Connection(RedisCtx ctx, uint64_t generation) : ctx_(std::move(ctx)), generation_(generation) {}
  uint64_t generation() const { return generation_; }

  /// Sends every command, then reads every reply. Error replies come back as Status replies
  /// with their text in `errors` (index → message); I/O faults throw ConnectionBroken.
  std::vector<Reply> exec(const std::vector<std::vector<std::string_view>>& commands,
                          std::vector<std::pair<size_t, std::string>>& errors) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& cmd : commands) {
      argv.clear();
      lens.clear();
      for (auto a : cmd) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(),
                                 lens.data()) != REDIS_OK) {
        throw ConnectionBroken(error_text());
      }
    }
    std::vector<Reply> replies;
    replies.reserve(commands.size());
    for (size_t i = 0; i < commands.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) {
        throw ConnectionBroken(error_text());
      }
      RedisReplyPtr reply(static_cast<redisReply*>(raw));
      if (reply->type == REDIS_REPLY_ERROR)
        errors.emplace_back(i, std::string(reply->str, reply->len));
      replies.push_back(convert(reply.get()));
    }
    return replies;
  }

  /// One command; an error reply throws RedisError.
  Reply exec_one(const std::vector<std::string_view>& cmd) {
    std::vector<std::pair<size_t, std::string>> errors;
    auto replies = exec({cmd}, errors);
    if (!errors.empty()) throw RedisError(errors.front().second);
    return std::move(replies.front());
  }

 private:
  std::string error_text() const {
    if (ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return "timeout waiting for reply";
    }
    return ctx_->errstr[0] ? ctx_->errstr : "connection lost";
  }

  RedisCtx ctx_;
  uint64_t generation_;
};

namespace {

RedisCtx connect_to(const Endpoint& e, const Options& options) {
  timeval tv = to_timeval(options.connect_timeout_seconds);
  RedisCtx ctx(e.unix_path.empty() ? redisConnectWithTimeout(e.host.c_str(), e.port, tv)
                                   : redisConnectUnixWithTimeout(e.unix_path.c_str(), tv));
  if (!ctx) throw RedisError("cannot allocate redis context");
  if (ctx->err) {
    std::string why = ctx->errstr;
    if (ctx->err == REDIS_ERR_IO && (errno == EINPROGRESS || errno == EAGAIN))
      why = "connect timeout";
    throw RedisError("connect to " + e.to_string() + ": " + why);
  }
  if (redisSetTimeout(ctx.get(), to_timeval(options.command_timeout_seconds)) != REDIS_OK) {
    throw RedisError("connect to " + e.to_string() + ": cannot set timeout");
  }
  return ctx;
}

}  // namespace

Client::Client(Url url, Options options, OutageTracker* tracker)
    : url_(std::move(url)), options_(std::move(options)), tracker_(tracker) {
  if (options_.pool_size == 0) options_.pool_size = 1;
  // hiredis writes with write(2): a server gone away would raise SIGPIPE and kill the daemon.
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
  }
}

Client::~Client() = default;

std::string Client::current_server() const {
  if (url_.kind != Url::Kind::Sentinel) return url_.server.to_string();
  std::lock_guard lock(mutex_);
  return master_ ? master_->to_string() : "";
}

Endpoint Client::resolve_master() {
  {
    std::lock_guard lock(mutex_);
    if (master_) return *master_;
  }
  std::string last_error = "no sentinel configured";
  for (const auto& sentinel : url_.sentinels) {
    try {
      Connection conn(connect_to(sentinel, options_), 0);
      Reply r = conn.exec_one({"SENTINEL", "get-master-addr-by-name", url_.master_name});
      if (r.type != Reply::Type::Array || r.elements.size() != 2) {
        last_error =
            "sentinel " + sentinel.to_string() + " does not know master " + url_.master_name;
        continue;
      }
      Endpoint master;
      master.host = r.elements[0].str;
      int port = 0;
      const std::string& p = r.elements[1].str;
      auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
      if (ec != std::errc() || end != p.data() + p.size() || port < 1 || port > 65535) {
        last_error = "sentinel " + sentinel.to_string() + " gave a bad port \"" + p + "\"";
        continue;
      }
      master.port = static_cast<uint16_t>(port);
      std::lock_guard lock(mutex_);
      if (!master_ || master_->to_string() != master.to_string()) {
        log::info("redis-master")
            .kv("backend", options_.name)
            .kv("master_name", url_.master_name)
            .kv("address", master.to_string())
            .kv("sentinel", sentinel.to_string());
        ++generation_;  // connections to an older master are closed when returned
      }
      master_ = master;
      return master;
    } catch (const RedisError& e) {
      last_error = std::string("sentinel ") + e.what();
    }
  }
  throw RedisError(last_error);
}

std::unique_ptr<Connection> Client::open() {
  Endpoint target = url_.kind == Url::Kind::Sentinel ? resolve_master() : url_.server;
  uint64_t generation;
  {
    std::lock_guard lock(mutex_);
    generation = generation_;
  }
  auto conn = std::make_unique<Connection>(connect_to(target, options_), generation);
  try {
    if (!url_.password.empty()) {
      if (url_.username.empty()) {
        conn->exec_one({"AUTH", url_.password});
      } else {
        conn->exec_one({"AUTH", url_.username, url_.password});
      }
    }
    if (url_.db != 0) conn->exec_one({"SELECT", std::to_string(url_.db)});
    if (url_.kind == Url::Kind::Sentinel) {
      Reply role = conn->exec_one({"ROLE"});
      if (role.type != Reply::Type::Array || role.elements.empty() ||
          role.elements[0].str != "master") {
        throw RedisError("ROLE is not master");
      }
    }
  } catch (const RedisError& e) {
    if (url_.kind == Url::Kind::Sentinel) {
      std::lock_guard lock(mutex_);
      master_.reset();
    }
    throw RedisError("connect to " + target.to_string() + ": " + e.what());
  }
  return conn;
}

std::unique_ptr<Connection> Client::borrow() {
  std::unique_lock lock(mutex_);
  auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(
          options_.connect_timeout_seconds + options_.command_timeout_seconds));
  while (true) {
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->generation() == generation_) return conn;
      --open_;  // opened before a failover: close it
      continue;
    }
    if (open_ < options_.pool_size) break;
    if (available_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.pool_size) {
      throw RedisError("all " + std::to_string(options_.pool_size) + " connections busy");
    }
  }
  auto now = std::chrono::steady_clock::now();
  if (connect_failed_at_ != std::chrono::steady_clock::time_point{} &&
      now - connect_failed_at_ < std::chrono::duration<double>(options_.retry_interval_seconds)) {
    throw RedisError(connect_error_);
  }
  ++open_;
  lock.unlock();
  try {
    auto conn = open();
    lock.lock();
    connect_failed_at_ = {};
    return conn;
  } catch (const RedisError& e) {
    if (!lock.owns_lock()) lock.lock();
    --open_;
    connect_failed_at_ = std::chrono::steady_clock::now();
    connect_error_ = e.what();
    available_.notify_one();
    throw;
  }
}

void Client::give_back(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(mutex_);
  if (connection && connection->generation() == generation_) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
  available_.notify_one();
}

std::vector<Reply> Client::run(const std::vector<std::vector<std::string_view>>& commands) {
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> conn;
    try {
      conn = borrow();
    } catch (const RedisError& e) {
      if (tracker_) tracker_->failure(e.what(), current_server());
      throw;
    }
    std::vector<std::pair<size_t, std::string>> errors;
    std::vector<Reply> replies;
    try {
      replies = conn->exec(commands, errors);
    } catch (const ConnectionBroken& e) {
      give_back(nullptr);
      std::string where = current_server();
      if (url_.kind == Url::Kind::Sentinel) {
        std::lock_guard lock(mutex_);
        master_.reset();  // ask Sentinel again on the next connect
      }
      std::string why = where + ": " + e.what();
      if (tracker_) tracker_->failure(why, where);
      throw RedisError(why);
    }
    bool readonly = !errors.empty() && errors.front().second.rfind("READONLY", 0) == 0;
    if (readonly && url_.kind == Url::Kind::Sentinel) {
      // The server we knew as master was demoted (failover): find the new one, retry once.
      give_back(nullptr);
      {
        std::lock_guard lock(mutex_);
        master_.reset();
        ++generation_;
        connect_failed_at_ = {};
      }
      if (attempt == 0) continue;
    } else {
      give_back(std::move(conn));
    }
    if (tracker_ && tracker_->down()) tracker_->success(current_server());
    if (!errors.empty()) {
      throw RedisError("command " + std::to_string(errors.front().first + 1) + ": " +
                       errors.front().second);
    }
    return replies;
  }
}

Reply Client::command(const std::vector<std::string_view>& args) {
  return std::move(run({args}).front());
}

std::vector<Reply> Client::pipeline(const std::vector<std::vector<std::string_view>>& commands) {
  if (commands.empty()) return {};
  return run(commands);
}

}  // namespace postern::redis
