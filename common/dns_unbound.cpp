// dns_unbound.cpp — make_resolver(): dns.hpp's Resolver over libunbound (libunbound(3)).
//
// One ub_ctx for the whole process, in threaded async mode (ub_ctx_async(ctx, 1): libunbound
// runs its own worker thread and cache; ub_resolve_async and ub_cancel are safe from any thread).
// One event thread of ours waits on ub_fd() and calls ub_process(), which runs the callbacks.
// A caller blocks on its own Pending until the callback fills it or the deadline passes; then
// it cancels the query and returns Status::Timeout (ub_resolve has no timeout of its own).
//
// Where answers come from: --dns-server "HOST" / "HOST@PORT" forwards every query there
// (ub_ctx_set_fwd; HOST must be a numeric IPv4/IPv6 address, PORT 1..65535, default 53);
// otherwise the nameservers of /etc/resolv.conf (ub_ctx_resolvconf). /etc/hosts is NOT read
// (ub_ctx_hosts): SPF, DKIM and DMARC must see what the world's DNS says, not local aliases.
// Loopback servers are allowed (do-not-query-localhost: no). DNSSEC: validated only with a
// trust anchor file (ResolverConfig::trust_anchor_file, ub_ctx_add_ta_file); without one,
// libunbound's validator has nothing to start from and every answer is insecure. The cache is
// libunbound's (message + RRset caches, TTL-bound, negative answers included). Names libunbound
// would answer itself: see unbound_options below.
//
// CNAME: libunbound follows chains itself; a TXT query for an alias answers with the target's
// TXT records (tests/unit/common_dns_test.cpp checks it). A query for type CNAME returns the
// alias's own target in Answer::names.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "common/config_error.hpp"
#include "common/dns.hpp"
#include "common/dns_wire.hpp"
#include "common/fd.hpp"
#include "common/unbound.hpp"

namespace postern::dns {
namespace {

constexpr int class_in = 1;  // RFC 1035 §3.2.4
constexpr int rcode_servfail = 2;
constexpr int rcode_nxdomain = 3;

// One query in flight: filled by the callback on the event thread, read by the caller.
struct Pending {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  int err = 0;
  UbResult result;
};

// What ub_resolve_async carries as mydata: a heap-held reference, released into libunbound and
// taken back either by the callback or by the caller after a successful ub_cancel.
using Token = std::unique_ptr<std::shared_ptr<Pending>>;

void on_answer(void* mydata, int err, ub_result* result) {
  Token token(static_cast<std::shared_ptr<Pending>*>(mydata));
  UbResult owned(result);
  Pending& pending = **token;
  {
    std::lock_guard lock(pending.mutex);
    pending.err = err;
    pending.result = std::move(owned);
    pending.done = true;
  }
  pending.done_cv.notify_one();
}

// libunbound settings (unbound.conf(5) names). The servers we forward to decide every name,
// including private reverse zones (PTR of RFC 1918 clients at a site resolver), which libunbound
// would otherwise answer itself with NXDOMAIN; so does "test." (RFC 6761, our tests' names;
// removed in make_context). libunbound still answers localhost, onion., invalid., home.arpa.
constexpr std::pair<const char*, const char*> unbound_options[] = {
    {"do-not-query-localhost:", "no"},  // a forwarder on loopback is fine
    {"unblock-lan-zones:", "yes"},      // RFC 1918 / RFC 6303 reverse zones go to the forwarder
    {"insecure-lan-zones:", "yes"},     // ... and are not DNSSEC-validated
};

[[noreturn]] void config_fail(const std::string& what) {
  throw ConfigError("dns: " + what);
}

void check_ub(int rc, const std::string& what) {
  if (rc != 0) config_fail(what + ": " + ub_strerror(rc));
}

// "HOST" or "HOST@PORT" → libunbound's "addr@port"; throws ConfigError naming the problem.
std::string forwarder_address(std::string_view server) {
  auto at = server.find('@');
  std::string_view host = server.substr(0, at);
  auto address = IpAddress::parse(host);
  if (!address || host.starts_with("IPv6:") || host.starts_with("ipv6:"))
    config_fail("--dns-server '" + std::string(server) + "': '" + std::string(host) +
                "' is not a numeric IP address");
  if (at == std::string_view::npos) return address->to_string();
  std::string_view port_text = server.substr(at + 1);
  unsigned port = 0;
  bool digits = !port_text.empty() && port_text.size() <= 5;
  for (char c : port_text) {
    digits = digits && c >= '0' && c <= '9';
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (!digits || port == 0 || port > 65535)
    config_fail("--dns-server '" + std::string(server) + "': port '" + std::string(port_text) +
                "' is not 1..65535");
  return address->to_string() + "@" + std::to_string(port);
}

UbCtx make_context(const ResolverConfig& config) {
  UbCtx ctx(ub_ctx_create());
  if (!ctx) config_fail("ub_ctx_create failed");
  check_ub(ub_ctx_async(ctx.get(), 1), "ub_ctx_async");
  for (const auto& [option, value] : unbound_options)
    check_ub(ub_ctx_set_option(ctx.get(), option, value), std::string("option ") + option);
  if (config.dns_server.empty()) {
    check_ub(ub_ctx_resolvconf(ctx.get(), nullptr), "reading /etc/resolv.conf");
  } else {
    std::string address = forwarder_address(config.dns_server);
    check_ub(ub_ctx_set_fwd(ctx.get(), address.c_str()), "--dns-server '" + address + "'");
  }
  std::string finalizing = "ub_ctx_zone_remove test.";
  if (const std::string& file = config.trust_anchor_file; !file.empty()) {
    errno = 0;
    if (!std::ifstream(file)) {
      config_fail("--dns-trust-anchor '" + file +
                  "': cannot read: " + std::strerror(errno ? errno : ENOENT));
    }
    check_ub(ub_ctx_add_ta_file(ctx.get(), file.c_str()), "--dns-trust-anchor '" + file + "'");
    finalizing = "--dns-trust-anchor '" + file + "' (not DS/DNSKEY records in zone-file format?)";
  }
  check_ub(ub_ctx_zone_remove(ctx.get(), "test."), finalizing);  // finalizes: reads the file
  return ctx;
}

std::string seconds_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", seconds);
  return buf;
}

Answer failed(Status status, std::string why) {
  Answer answer;
  answer.status = status;
  answer.why = std::move(why);
  return answer;
}

// Decodes one rdata into the field of `type`; false if malformed.
bool add_rdata(Answer& answer, RrType type, wire::Bytes rdata) {
  switch (type) {
    case RrType::A:
    case RrType::AAAA: {
      auto ip = type == RrType::A ? wire::decode_a(rdata) : wire::decode_aaaa(rdata);
      if (ip) answer.addresses.push_back(*ip);
      return ip.has_value();
    }
    case RrType::TXT: {
      auto text = wire::decode_txt(rdata);
      if (text) answer.txt.push_back(std::move(*text));
      return text.has_value();
    }
    case RrType::MX: {
      auto mx = wire::decode_mx(rdata);
      if (mx) answer.mx.push_back(std::move(*mx));
      return mx.has_value();
    }
    case RrType::PTR:
    case RrType::CNAME: {
      auto name = wire::decode_name_rdata(rdata);
      if (name) answer.names.push_back(std::move(*name));
      return name.has_value();
    }
  }
  return false;
}

const char* type_name(RrType type) {
  switch (type) {
    case RrType::A:
      return "A";
    case RrType::CNAME:
      return "CNAME";
    case RrType::PTR:
      return "PTR";
    case RrType::MX:
      return "MX";
    case RrType::TXT:
      return "TXT";
    case RrType::AAAA:
      return "AAAA";
  }
  return "?";
}

// libunbound (1.17, libworker.c fill_res) copies each rdata with memdup(), which returns NULL
// for length 0; fill_res takes that for "out of memory" and the result keeps the SERVFAIL that
// libworker_enter_result preset, although the answer packet it also hands over (answer_packet)
// says NOERROR and holds the records. A zero-length rdata is what a TXT record with no
// character-strings looks like (RFC 1035 says one or more; some servers send none, and the
// RFC 7208 suite's null-text case serves one beside the SPF record). For types whose rdata holds
// no domain names (names in the packet may be compressed), the records are read from that
// packet instead. Not DNSSEC-validated as far as we can tell: secure stays false.
std::optional<Answer> salvaged_from_packet(const ub_result& result, RrType type) {
  if (type != RrType::TXT && type != RrType::A && type != RrType::AAAA) return std::nullopt;
  if (result.havedata || !result.answer_packet || result.answer_len <= 0) return std::nullopt;
  auto rdatas = wire::answer_rdatas(wire::Bytes(static_cast<const uint8_t*>(result.answer_packet),
                                                static_cast<std::size_t>(result.answer_len)),
                                    static_cast<uint16_t>(type));
  if (!rdatas || rdatas->empty()) return std::nullopt;
  Answer answer;
  answer.status = Status::NoError;
  for (auto rdata : *rdatas) {
    if (!add_rdata(answer, type, rdata))
      return failed(Status::Error, std::string("malformed ") + type_name(type) + " rdata");
  }
  return answer;
}

// ub_result → Answer: rcode mapped to Status, records decoded.
Answer answer_from(const ub_result& result, RrType type) {
  if (result.bogus)
    return failed(Status::Error, std::string("DNSSEC bogus: ") +
                                     (result.why_bogus ? result.why_bogus : "no reason given"));
  if (result.rcode == rcode_nxdomain) {
    Answer answer = failed(Status::NxDomain, "NXDOMAIN");
    answer.ttl = result.ttl > 0 ? static_cast<uint32_t>(result.ttl) : 0;
    return answer;
  }
  if (result.rcode == rcode_servfail) {
    if (auto answer = salvaged_from_packet(result, type)) return std::move(*answer);
    return failed(Status::ServFail, "SERVFAIL");
  }
  if (result.rcode != 0) return failed(Status::Error, "rcode " + std::to_string(result.rcode));
  Answer answer;
  answer.status = Status::NoError;
  answer.secure = result.secure != 0;
  answer.ttl = result.ttl > 0 ? static_cast<uint32_t>(result.ttl) : 0;
  for (int i = 0; result.havedata && result.data[i]; ++i) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(result.data[i]);
    std::size_t length = result.len[i] > 0 ? static_cast<std::size_t>(result.len[i]) : 0;
    if (!add_rdata(answer, type, wire::Bytes(bytes, length)))
      return failed(Status::Error, std::string("malformed ") + type_name(type) + " rdata");
  }
  return answer;
}

class UnboundResolver final : public Resolver {
 public:
  explicit UnboundResolver(const ResolverConfig& config)
      : ctx_(make_context(config)),
        timeout_(config.timeout_seconds),
        timeout_text_("timeout after " + seconds_text(config.timeout_seconds) + " s"),
        wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (wake_.get() < 0) throw std::system_error(errno, std::generic_category(), "dns: eventfd");
    loop_ = std::thread([this] { run_events(); });
  }

  UnboundResolver(const UnboundResolver&) = delete;
  UnboundResolver& operator=(const UnboundResolver&) = delete;

  ~UnboundResolver() override {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
    loop_.join();
  }

  Answer query(std::string_view name, RrType type) override {
    if (name.empty() || name.find('\0') != std::string_view::npos)
      return failed(Status::Error, "bad query name");
    auto pending = std::make_shared<Pending>();
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout_);
    int id = 0;
    Token token = std::make_unique<std::shared_ptr<Pending>>(pending);
    int rc = ub_resolve_async(ctx_.get(), std::string(name).c_str(), static_cast<int>(type),
                              class_in, token.get(), on_answer, &id);
    if (rc != 0) return failed(Status::Error, std::string("ub_resolve_async: ") + ub_strerror(rc));
    auto* in_flight = token.release();  // the callback owns it now
    std::unique_lock lock(pending->mutex);
    if (!pending->done_cv.wait_until(lock, deadline, [&] { return pending->done; })) {
      lock.unlock();
      // Cancelled: the callback will never run, so its token is ours again. If the cancel
      // fails, the answer is being delivered and the callback frees the token.
      if (ub_cancel(ctx_.get(), id) == 0) Token reclaimed(in_flight);
      return failed(Status::Timeout, timeout_text_);
    }
    if (pending->err != 0) return failed(Status::Error, ub_strerror(pending->err));
    return answer_from(*pending->result, type);
  }

 private:
  // Event thread: ub_process() whenever libunbound has answers, until the destructor wakes us.
  void run_events() {
    pollfd fds[2] = {{ub_fd(ctx_.get()), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    while (true) {
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
      if (fds[0].revents) ub_process(ctx_.get());
      if (fds[1].revents) break;
    }
  }

  UbCtx ctx_;  // declared first: outlives the event thread
  std::chrono::duration<double> timeout_;
  std::string timeout_text_;
  Fd wake_;
  std::thread loop_;
};

}  // namespace

std::unique_ptr<Resolver> make_resolver(const ResolverConfig& config) {
  if (!(config.timeout_seconds > 0) || !std::isfinite(config.timeout_seconds))
    config_fail("timeout " + seconds_text(config.timeout_seconds) + " s is not a positive number");
  return std::make_unique<UnboundResolver>(config);
}

}  // namespace postern::dns
