// stream_server.cpp — the request/answer stream server (see stream_server.hpp), taken out of
// the policy server so the socketmap server shares it. One io thread owns the acceptor, every
// connection, socket and timer; requests run on a boost::asio::thread_pool and post their
// result back to the io thread. A Connection is kept alive by its pending operations (read,
// write, timers, a request at work) through shared_ptr.
// Source: Postfix SMTPD_POLICY_README ("Policy client/server configuration":
// smtpd_policy_service_max_idle, _timeout, _default_action), socketmap_table(5).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>  // before Boost 1.74 Asio: its awaitable.hpp uses std::exchange

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "common/config_error.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/process.hpp"
#include "common/stream_server.hpp"

namespace postern {
namespace {

namespace asio = boost::asio;
using Protocol = asio::generic::stream_protocol;
using Acceptor = asio::basic_socket_acceptor<Protocol>;
using Clock = std::chrono::steady_clock;
using ErrorCode = boost::system::error_code;

constexpr size_t kReadChunk = 4096;
constexpr size_t kMaxPipelined = 32;  // requests read ahead of their answers, per connection
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
constexpr auto kShutdownSlack = std::chrono::seconds(1);

Clock::duration to_duration(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::max(seconds, 0.0)));
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// "<event>-<what>": "policy-timeout", "socketmap-bad-request".
std::string event_name(const std::string& event, const char* what) {
  return event + "-" + what;
}

// The series of one server; nothing when config.metrics is null. Used on the io threads.
class StreamMetrics {
 public:
  StreamMetrics(metrics::Registry* registry, const StreamProtocol& protocol);
  void request();
  void answered(const std::string& action, double seconds);
  void fault(const char* kind);
  void connections(double delta);

 private:
  metrics::Counter& fault_counter(const char* kind);

  metrics::Registry* registry_;
  std::string prefix_;
  metrics::Counter* requests_ = nullptr;
  metrics::Histogram* seconds_ = nullptr;
  metrics::Gauge* connections_ = nullptr;
  const StreamProtocol& protocol_;
  std::mutex actions_mutex_;  // io threads answer at once
  std::map<std::string, metrics::Counter*> actions_;
};

StreamMetrics::StreamMetrics(metrics::Registry* registry, const StreamProtocol& protocol)
    : registry_(registry), prefix_(protocol.metric_prefix), protocol_(protocol) {
  if (!registry_) return;
  requests_ = &registry_->counter(prefix_ + "_requests_total", "Requests read.");
  seconds_ = &registry_->histogram(prefix_ + "_seconds",
                                   "Time from a request read to its answer queued, in seconds.",
                                   metrics::default_seconds_buckets());
  connections_ = &registry_->gauge(prefix_ + "_connections", "Connections open.");
  for (const char* kind : {"error", "timeout", "bad_request"}) fault_counter(kind);
}

metrics::Counter& StreamMetrics::fault_counter(const char* kind) {
  return registry_->counter(prefix_ + "_faults_total",
                            "Requests answered with the fault answer (error, timeout) or "
                            "refused (bad_request).",
                            {{"kind", kind}});
}

void StreamMetrics::request() {
  if (requests_) requests_->inc();
}

void StreamMetrics::answered(const std::string& action, double seconds) {
  if (!registry_) return;
  seconds_->observe(seconds);
  std::string label = protocol_.label ? protocol_.label(action) : "other";
  std::lock_guard lock(actions_mutex_);
  auto it = actions_.find(label);
  if (it == actions_.end()) {
    metrics::Counter& counter =
        registry_->counter(prefix_ + "_" + protocol_.answers_metric, "Answers sent, by kind.",
                           {{protocol_.answer_label, label}});
    it = actions_.emplace(label, &counter).first;
  }
  it->second->inc();
}

void StreamMetrics::fault(const char* kind) {
  if (registry_) fault_counter(kind).inc();
}

void StreamMetrics::connections(double delta) {
  if (connections_) connections_->add(delta);
}

// What a worker hands back: the action to send and, for a fault, its kind and reason.
struct Outcome {
  std::string action;
  const char* fault = nullptr;  // "error" or null
  std::string reason;
};

// Runs the request; never throws.
Outcome run_request(const StreamProtocol& protocol, const StreamRequest& request) noexcept {
  try {
    Outcome outcome{request.work(), nullptr, {}};
    if (protocol.check_answer) outcome.reason = protocol.check_answer(outcome.action);
    if (!outcome.reason.empty()) outcome.fault = "error";
    return outcome;
  } catch (const std::exception& e) {
    return Outcome{std::string(), "error", e.what()};
  } catch (...) {
    return Outcome{std::string(), "error", "unknown exception"};
  }
}

}  // namespace

class StreamConnection;

// Everything the io threads own; StreamServer::Impl is this. io_ (run() runs it) holds the
// acceptor, the signals and the stop; connections live on connection_io_ round-robin, or on
// io_ itself when config.io_threads is 1.
struct ServerCore {
  ServerCore(StreamServerConfig config, StreamProtocol protocol);
  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  void open_socket();
  void accept();
  void on_accept(const ErrorCode& ec, Protocol::socket socket, asio::io_context& io);
  asio::io_context& next_connection_io();
  void begin_stop();
  void forget(StreamConnection* connection);

  StreamServerConfig config_;
  StreamProtocol protocol_;
  StreamMetrics metrics_;
  Clock::duration deadline_;
  Clock::duration idle_timeout_;
  asio::io_context io_{1};
  Acceptor acceptor_{io_};
  asio::steady_timer retry_{io_};
  asio::steady_timer grace_{io_};
  std::optional<asio::signal_set> signals_;
  std::vector<std::unique_ptr<asio::io_context>> connection_io_;  // io_threads > 1
  size_t next_io_ = 0;
  std::mutex connections_mutex_;  // connections_ is shared by the io threads
  std::map<StreamConnection*, std::weak_ptr<StreamConnection>> connections_;
  std::atomic<bool> stopping_ = false;
  asio::thread_pool workers_;  // last: joined first, while everything it posts to still exists
};

// One client connection: reads requests, dispatches them, writes answers in order.
class StreamConnection : public std::enable_shared_from_this<StreamConnection> {
 public:
  // `io` runs the socket's completions: the connection lives on that one thread.
  StreamConnection(ServerCore& server, asio::io_context& io, Protocol::socket socket)
      : server_(server),
        io_(io),
        socket_(std::move(socket)),
        parser_(server.protocol_.make_parser()),
        idle_(io) {}
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  void start();
  void begin_close();  // server stopping: answer what is in progress, read nothing more
  void close();
  asio::io_context& io() { return io_; }

 private:
  struct Slot {  // one request in progress, in arrival order
    explicit Slot(asio::io_context& io) : deadline(io) {}
    asio::steady_timer deadline;
    Clock::time_point start = Clock::now();
    std::string log_value;
    std::optional<std::string> action;  // set once answered
  };
  using SlotPtr = std::shared_ptr<Slot>;

  void read();
  void on_read(const ErrorCode& ec, size_t n);
  void process_input();
  void dispatch(StreamRequest request);
  void on_deadline(const SlotPtr& slot);
  void on_outcome(const SlotPtr& slot, Outcome outcome);
  void answer(Slot& slot, std::string action);
  void flush();
  void on_write(const ErrorCode& ec);
  void arm_idle();
  void on_idle();
  void bad_request();

  ServerCore& server_;
  asio::io_context& io_;
  Protocol::socket socket_;
  std::unique_ptr<StreamParser> parser_;
  asio::steady_timer idle_;
  Clock::time_point last_activity_ = Clock::now();
  std::array<char, kReadChunk> chunk_{};
  std::string input_;  // read, not yet parsed (pipeline full)
  std::deque<SlotPtr> slots_;
  std::string output_;  // being written
  bool reading_ = false, writing_ = false, closing_ = false, closed_ = false;
};

// On the connection's io thread; on_accept has registered it.
void StreamConnection::start() {
  arm_idle();
  read();
}

void StreamConnection::read() {
  if (reading_ || closing_ || closed_) return;
  reading_ = true;
  socket_.async_read_some(
      asio::buffer(chunk_),
      [self = shared_from_this()](const ErrorCode& ec, size_t n) { self->on_read(ec, n); });
}

void StreamConnection::on_read(const ErrorCode& ec, size_t n) {
  reading_ = false;
  if (closed_) return;
  last_activity_ = Clock::now();
  if (ec == asio::error::eof) return begin_close();  // half-closed: still answer
  if (ec) {
    log::debug(event_name(server_.protocol_.event, "disconnect")).kv("error", ec.message());
    return close();
  }
  if (closing_) return;
  input_.append(chunk_.data(), n);
  process_input();
}

// Parses what was read while the pipeline has room, then reads on (or waits for answers).
void StreamConnection::process_input() {
  size_t offset = 0;
  while (offset < input_.size() && slots_.size() < kMaxPipelined) {
    size_t used = 0;
    auto state = parser_->feed(std::string_view(input_).substr(offset), used);
    offset += used;
    if (state == StreamParser::State::Error) return bad_request();
    if (state == StreamParser::State::Complete) dispatch(parser_->take());
  }
  input_.erase(0, offset);
  if (input_.empty()) read();
}

void StreamConnection::bad_request() {
  log::warning(event_name(server_.protocol_.event, "bad-request")).kv("reason", parser_->error());
  server_.metrics_.fault("bad_request");
  close();
}

void StreamConnection::dispatch(StreamRequest request) {
  server_.metrics_.request();
  auto slot = std::make_shared<Slot>(io_);
  slot->log_value = request.log_value;
  slots_.push_back(slot);
  if (server_.config_.inline_requests) {
    // Inline: no timer to arm, nothing to hand off. Past the deadline, the fault answer.
    Outcome outcome = run_request(server_.protocol_, request);
    if (Clock::now() - slot->start >= server_.deadline_) return on_deadline(slot);
    return on_outcome(slot, std::move(outcome));
  }
  slot->deadline.expires_after(server_.deadline_);
  slot->deadline.async_wait([self = shared_from_this(), slot](const ErrorCode& ec) {
    if (!ec) self->on_deadline(slot);
  });
  asio::post(server_.workers_, [self = shared_from_this(), slot, request = std::move(request)] {
    try {
      Outcome outcome = run_request(self->server_.protocol_, request);
      asio::post(self->io_, [self, slot, outcome = std::move(outcome)]() mutable {
        self->on_outcome(slot, std::move(outcome));
      });
    } catch (...) {  // only std::bad_alloc: the deadline answers instead
    }
  });
}

void StreamConnection::on_deadline(const SlotPtr& slot) {
  if (closed_ || slot->action) return;
  log::warning(event_name(server_.protocol_.event, "timeout"))
      .kv(server_.protocol_.log_key, slot->log_value)
      .kv("seconds", seconds_since(slot->start))
      .kv(server_.protocol_.answer_key, server_.protocol_.fault_answer);
  server_.metrics_.fault("timeout");
  answer(*slot, server_.protocol_.fault_answer);
}

void StreamConnection::on_outcome(const SlotPtr& slot, Outcome outcome) {
  if (closed_ || slot->action) {
    log::debug(event_name(server_.protocol_.event, "late-result"))
        .kv(server_.protocol_.log_key, slot->log_value);
    return;
  }
  slot->deadline.cancel();
  if (outcome.fault) {
    log::warning(event_name(server_.protocol_.event, "error"))
        .kv(server_.protocol_.log_key, slot->log_value)
        .kv("reason", outcome.reason)
        .kv(server_.protocol_.answer_key, server_.protocol_.fault_answer);
    server_.metrics_.fault(outcome.fault);
    outcome.action = server_.protocol_.fault_answer;
  }
  answer(*slot, std::move(outcome.action));
}

void StreamConnection::answer(Slot& slot, std::string action) {
  server_.metrics_.answered(action, seconds_since(slot.start));
  slot.action = std::move(action);
  flush();
}

// Writes the answers ready at the head of the queue, in request order; one write at a time.
void StreamConnection::flush() {
  if (writing_ || closed_) return;
  while (!slots_.empty() && slots_.front()->action) {
    output_.append(server_.protocol_.frame(*slots_.front()->action));
    slots_.pop_front();
  }
  if (output_.empty()) {
    if (closing_ && slots_.empty()) close();
    return;
  }
  writing_ = true;
  asio::async_write(
      socket_, asio::buffer(output_),
      [self = shared_from_this()](const ErrorCode& ec, size_t) { self->on_write(ec); });
}

void StreamConnection::on_write(const ErrorCode& ec) {
  writing_ = false;
  output_.clear();
  if (closed_) return;
  if (ec) {
    log::debug(event_name(server_.protocol_.event, "disconnect")).kv("error", ec.message());
    return close();
  }
  last_activity_ = Clock::now();
  flush();
  if (!closing_ && !reading_ && !closed_) process_input();
}

void StreamConnection::arm_idle() {
  idle_.expires_at(last_activity_ + server_.idle_timeout_);
  idle_.async_wait([self = shared_from_this()](const ErrorCode& ec) {
    if (!ec) self->on_idle();
  });
}

// Idle: nothing read or written for the idle timeout and no handler at work (a stalled write
// counts as idle). A request in progress is bounded by its deadline, so wait for it.
void StreamConnection::on_idle() {
  if (closed_) return;
  bool waiting_for_handler = !slots_.empty() && !writing_;
  if (Clock::now() < last_activity_ + server_.idle_timeout_ || waiting_for_handler) {
    if (waiting_for_handler) last_activity_ = Clock::now();
    return arm_idle();
  }
  log::debug(event_name(server_.protocol_.event, "idle-close"))
      .kv("seconds", seconds_since(last_activity_));
  close();
}

void StreamConnection::begin_close() {
  if (closed_) return;
  closing_ = true;
  ErrorCode ignored;
  if (reading_) socket_.shutdown(Protocol::socket::shutdown_receive, ignored);
  flush();
}

void StreamConnection::close() {
  if (closed_) return;
  closed_ = true;
  ErrorCode ignored;
  idle_.cancel();
  for (auto& slot : slots_) slot->deadline.cancel();
  slots_.clear();
  socket_.shutdown(Protocol::socket::shutdown_both, ignored);
  socket_.close(ignored);
  server_.metrics_.connections(-1);
  server_.forget(this);
}

ServerCore::ServerCore(StreamServerConfig config, StreamProtocol protocol)
    : config_(std::move(config)),
      protocol_(std::move(protocol)),
      metrics_(config_.metrics, protocol_),
      deadline_(to_duration(config_.request_deadline_seconds)),
      idle_timeout_(to_duration(config_.idle_timeout_seconds)),
      workers_(std::max<size_t>(config_.worker_threads, 1)) {
  if (!protocol_.make_parser || !protocol_.frame)
    throw ConfigError("stream server " + protocol_.event + ": protocol without parser or framing");
  if (config_.io_threads == 0 || config_.io_threads > 64)
    throw ConfigError("stream server " + protocol_.event + ": io threads must be 1..64");
  if (config_.io_threads > 1) {
    for (size_t i = 0; i < config_.io_threads; ++i)
      connection_io_.push_back(std::make_unique<asio::io_context>(1));
  }
}

namespace {

// Protocol (address family + protocol number) of a bound socket, for Asio's generic acceptor.
Protocol protocol_of(const SocketSpec& spec) {
  switch (spec.family) {
    case SocketSpec::Family::Unix:
      return Protocol(AF_UNIX, 0);
    case SocketSpec::Family::Inet6:
      return Protocol(AF_INET6, IPPROTO_TCP);
    case SocketSpec::Family::Inet:
      break;
  }
  return Protocol(AF_INET, IPPROTO_TCP);
}

// Before the privilege drop: mode and owner for the unix socket file.
void prepare_unix_socket(const StreamServerConfig& config) {
  const std::string& path = config.socket.path;
  if (::chmod(path.c_str(), static_cast<mode_t>(config.socket_mode)) != 0) {
    throw ConfigError("chmod " + path + ": " + std::strerror(errno));
  }
  give_to_user(path, config.socket_owner);
}

}  // namespace

void ServerCore::open_socket() {
  int fd = -1;
  try {
    fd = bind_listen(config_.socket, SOMAXCONN);
  } catch (const std::system_error& e) {
    throw ConfigError("cannot listen on " + config_.socket.milter_notation() + ": " + e.what());
  }
  ErrorCode ec;
  acceptor_.assign(protocol_of(config_.socket), fd, ec);
  if (ec) {
    ::close(fd);
    throw ConfigError("cannot listen on " + config_.socket.milter_notation() + ": " + ec.message());
  }
  if (config_.socket.family == SocketSpec::Family::Unix) prepare_unix_socket(config_);
}

asio::io_context& ServerCore::next_connection_io() {
  if (connection_io_.empty()) return io_;
  next_io_ = (next_io_ + 1) % connection_io_.size();
  return *connection_io_[next_io_];
}

void ServerCore::accept() {
  asio::io_context& io = next_connection_io();
  asio::any_io_executor executor = io.get_executor();  // the accepted socket's
  acceptor_.async_accept(executor, [this, &io](const ErrorCode& ec, Protocol::socket socket) {
    on_accept(ec, std::move(socket), io);
  });
}

void ServerCore::on_accept(const ErrorCode& ec, Protocol::socket socket, asio::io_context& io) {
  if (ec == asio::error::operation_aborted || stopping_) return;
  if (ec) {  // e.g. EMFILE: wait a little instead of spinning
    log::warning(event_name(protocol_.event, "accept")).kv("error", ec.message());
    retry_.expires_after(kAcceptRetryDelay);
    retry_.async_wait([this](const ErrorCode& wait_error) {
      if (!wait_error) accept();
    });
    return;
  }
  std::unique_lock lock(connections_mutex_);
  if (connections_.size() < config_.max_connections) {
    auto connection = std::make_shared<StreamConnection>(*this, io, std::move(socket));
    connections_.emplace(connection.get(), connection);
    lock.unlock();
    metrics_.connections(1);
    asio::post(io, [connection] { connection->start(); });
  } else {
    lock.unlock();
    log::warning(event_name(protocol_.event, "too-many-connections"))
        .kv("limit", config_.max_connections);
  }  // else: the socket closes as it goes out of scope
  accept();
}

// On io_.
void ServerCore::begin_stop() {
  if (stopping_) return;
  std::unique_lock lock(connections_mutex_);
  stopping_ = true;
  auto open = connections_;
  lock.unlock();
  log::info(event_name(protocol_.event, "stopping")).kv("connections", open.size());
  ErrorCode ignored;
  acceptor_.close(ignored);
  retry_.cancel();
  if (signals_) signals_->cancel(ignored);
  grace_.expires_after(deadline_ + kShutdownSlack);
  grace_.async_wait([this](const ErrorCode& ec) {
    if (!ec) io_.stop();  // connections still open (a client that does not read) are dropped
  });
  for (auto& [raw, weak] : open) {  // begin_close() may forget() while we iterate: a copy
    if (auto connection = weak.lock()) {
      asio::post(connection->io(), [connection] { connection->begin_close(); });
    }
  }
  if (open.empty()) grace_.cancel();
}

// On the connection's io thread, from close().
void ServerCore::forget(StreamConnection* connection) {
  std::unique_lock lock(connections_mutex_);
  connections_.erase(connection);
  bool last = stopping_ && connections_.empty();
  lock.unlock();
  if (last) asio::post(io_, [this] { grace_.cancel(); });
}

struct StreamServer::Impl : ServerCore {
  using ServerCore::ServerCore;
};

StreamServer::StreamServer(StreamServerConfig config, StreamProtocol protocol)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(protocol))) {
  impl_->open_socket();
  SocketSpec bound = impl_->config_.socket;
  if (bound.family != SocketSpec::Family::Unix) bound.port = port();
  log::info(event_name(impl_->protocol_.event, "listening")).kv("socket", bound.milter_notation());
  if (impl_->config_.on_listening) impl_->config_.on_listening();
}

StreamServer::~StreamServer() {
  impl_->workers_.stop();
  impl_->workers_.join();
}

uint16_t StreamServer::port() const {
  if (impl_->config_.socket.family == SocketSpec::Family::Unix) return 0;
  ErrorCode ec;
  auto endpoint = impl_->acceptor_.local_endpoint(ec);
  if (ec) return 0;
  // sin_port and sin6_port hold the port at the same place, in network order.
  sockaddr_in6 address{};
  std::memcpy(&address, endpoint.data(), std::min(sizeof address, endpoint.size()));
  return ntohs(address.sin6_port);
}

int StreamServer::run(bool stop_on_signals) {
  ServerCore& s = *impl_;
  if (stop_on_signals) {
    s.signals_.emplace(s.io_, SIGINT, SIGTERM);
    s.signals_->async_wait([&s](const ErrorCode& ec, int signal) {
      if (ec) return;
      log::info(event_name(s.protocol_.event, "signal")).kv("signal", signal);
      s.begin_stop();
    });
  }
  auto serve = [&s](asio::io_context& io) {
    for (;;) {
      try {
        io.run();
        break;
      } catch (const std::exception& e) {  // a bug in a completion handler: log, serve on
        log::error(event_name(s.protocol_.event, "internal-error")).kv("reason", e.what());
      }
    }
  };
  using Guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<Guard> guards;
  std::vector<std::thread> threads;
  for (auto& io : s.connection_io_) {
    guards.push_back(asio::make_work_guard(*io));
    threads.emplace_back([&serve, &io] { serve(*io); });
  }
  s.accept();
  serve(s.io_);
  // io_ returns when every connection has closed or the grace period is over: drop the rest.
  for (auto& guard : guards) guard.reset();
  for (auto& io : s.connection_io_) io->stop();
  for (auto& thread : threads) thread.join();
  s.workers_.stop();
  s.workers_.join();
  log::info(event_name(s.protocol_.event, "stopped"));
  return 0;
}

void StreamServer::stop() {
  asio::post(impl_->io_, [impl = impl_.get()] { impl->begin_stop(); });
}

std::string metric_name_prefix(const std::string& daemon_name) {
  std::string prefix =
      daemon_name.rfind("postern", 0) == 0 ? daemon_name : "postern_" + daemon_name;
  for (char& c : prefix) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!ok) c = '_';
  }
  return prefix;
}

}  // namespace postern
