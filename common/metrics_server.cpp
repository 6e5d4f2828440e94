// metrics_server.cpp — see metrics_server.hpp. One io_context on one thread; one Connection
// object per accepted socket, kept alive by its pending handler (read or write).
#include "common/metrics_server.hpp"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <thread>

#include "common/config_error.hpp"
#include "common/log.hpp"

namespace postern::metrics {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr uint32_t kMaxHeaderBytes = 8 * 1024;
constexpr uint64_t kMaxBodyBytes = 1024;
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr int kMaxConnections = 64;
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

std::string_view to_std(beast::string_view text) {
  return {text.data(), text.size()};
}

HttpAnswer plain(unsigned status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body)};
}

// A read error that is the peer's fault and deserves an answer before closing; 0 when none.
unsigned status_for_read_error(const beast::error_code& ec) {
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::body_limit) return 413;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return 0;
  if (ec.category() == http::make_error_code(http::error::bad_target).category()) return 400;
  return 0;
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, const Registry& registry, const Health& health,
             std::atomic<int>& open)
      : stream_(std::move(socket)), registry_(registry), health_(health), open_(open) {
    ++open_;
  }
  ~Connection() { --open_; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void read_request() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(kMaxBodyBytes);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Connection::on_read, shared_from_this()));
  }

 private:
  void on_read(beast::error_code ec, size_t) {
    if (ec) return on_read_error(ec);
    const auto& request = parser_->get();
    HttpAnswer answer = answer_request(to_std(request.method_string()), to_std(request.target()),
                                       registry_, health_);
    send(std::move(answer), request.version(), request.keep_alive());
  }

  void on_read_error(const beast::error_code& ec) {
    unsigned status = status_for_read_error(ec);
    log::debug("metrics-connection").kv("error", ec.message());
    if (status == 0) return close();
    send(plain(status, ec.message() + "\n"), 11, false);
  }

  void send(HttpAnswer answer, unsigned version, bool keep_alive) {
    response_ = {};
    response_.version(version);
    response_.result(answer.status);
    response_.set(http::field::server, "postern");
    response_.set(http::field::content_type, answer.content_type);
    if (answer.status == 405) response_.set(http::field::allow, "GET");
    response_.body() = std::move(answer.body);
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Connection::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, size_t) {
    if (ec || !response_.keep_alive()) return close();
    read_request();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  const Registry& registry_;
  const Health& health_;
  std::atomic<int>& open_;
};

// Runs `start` with every signal blocked, so a thread it creates never takes a signal.
template <class F>
void with_signals_blocked(F&& start) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    start();
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

}  // namespace

ListenAddress parse_listen_address(const std::string& text) {
  auto colon = text.rfind(':');
  std::string port = colon == std::string::npos ? "" : text.substr(colon + 1);
  bool digits = !port.empty() && port.size() <= 5 &&
                port.find_first_not_of("0123456789") == std::string::npos;
  if (colon == 0 || !digits || std::stoul(port) > 65535) {
    throw ConfigError("'" + text + "' is not HOST:PORT with PORT in 0..65535");
  }
  ListenAddress address{text.substr(0, colon), static_cast<uint16_t>(std::stoul(port))};
  if (address.host.size() >= 2 && address.host.front() == '[' && address.host.back() == ']') {
    address.host = address.host.substr(1, address.host.size() - 2);
  }
  return address;
}

HttpAnswer answer_request(std::string_view method, std::string_view target,
                          const Registry& registry, const Health& health) {
  if (method != "GET") return plain(405, "method not allowed\n");
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/metrics")
    return {200, "text/plain; version=0.0.4; charset=utf-8", registry.render()};
  if (path == "/healthz") {
    Health::Status status = health.status();
    return plain(status.ok ? 200 : 503, std::move(status.text));
  }
  return plain(404, "not found\n");
}

struct MetricsServer::Impl {
  Impl(const Registry& registry, const Health& health) : registry_(registry), health_(health) {}

  void bind(const std::string& listen);
  void accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void run() noexcept;

  const Registry& registry_;
  const Health& health_;
  std::atomic<int> open_{0};  // declared before io_: connections die in io_'s destructor
  asio::io_context io_{1};
  tcp::acceptor acceptor_{io_};
  asio::steady_timer retry_{io_};
  std::thread thread_;
};

void MetricsServer::Impl::bind(const std::string& listen) {
  ListenAddress address = parse_listen_address(listen);
  beast::error_code ec;
  tcp::resolver resolver(io_);
  auto endpoints = resolver.resolve(address.host, std::to_string(address.port),
                                    tcp::resolver::numeric_service, ec);
  for (const auto& entry : endpoints) {
    acceptor_.close(ec);
    acceptor_.open(entry.endpoint().protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(entry.endpoint(), ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) return;
  }
  if (!ec) ec = asio::error::host_not_found;
  throw ConfigError("cannot listen on " + listen + ": " + ec.message());
}

void MetricsServer::Impl::accept() {
  acceptor_.async_accept(
      io_, [this](beast::error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void MetricsServer::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted) return;
  if (ec) {  // e.g. EMFILE: wait a little instead of spinning
    log::warning("metrics-accept").kv("error", ec.message());
    retry_.expires_after(kAcceptRetryDelay);
    retry_.async_wait([this](beast::error_code wait_error) {
      if (!wait_error) accept();
    });
    return;
  }
  if (open_.load() < kMaxConnections) {
    std::make_shared<Connection>(std::move(socket), registry_, health_, open_)->read_request();
  }  // else: the socket closes as it goes out of scope
  accept();
}

void MetricsServer::Impl::run() noexcept {
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {
      log::error("metrics-error").kv("reason", e.what());
    } catch (...) {
      log::error("metrics-error").kv("reason", "unknown exception");
    }
  }
}

MetricsServer::MetricsServer(const std::string& listen, const Registry& registry,
                             const Health& health)
    : impl_(std::make_unique<Impl>(registry, health)) {
  impl_->bind(listen);
  impl_->accept();
  with_signals_blocked(
      [this] { impl_->thread_ = std::thread([impl = impl_.get()] { impl->run(); }); });
}

MetricsServer::~MetricsServer() {
  impl_->io_.stop();
  if (impl_->thread_.joinable()) impl_->thread_.join();
}

uint16_t MetricsServer::port() const {
  return impl_->acceptor_.local_endpoint().port();
}

std::unique_ptr<MetricsServer> start_metrics_server(const std::string& listen,
                                                    const Registry& registry,
                                                    const Health& health) {
  if (listen.empty()) return nullptr;
  auto server = std::make_unique<MetricsServer>(listen, registry, health);
  log::info("metrics-listening").kv("address", listen);
  return server;
}

}  // namespace postern::metrics
