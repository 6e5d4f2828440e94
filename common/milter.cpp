// milter.cpp — libmilter adapter: static xxfi_* trampolines that own one MilterSession per
// connection (smfi_setpriv at connect, deleted at close) and turn every exception into
// SMFIS_TEMPFAIL; run_milter() registers, binds, tunes the listening socket and runs the loop.
// Source: libmilter API (sendmail 8.14+ docs), Postfix MILTER_README.
#include "common/milter.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "common/log.hpp"
#include "common/milter_detail.hpp"
#include "common/process.hpp"

namespace postern {
namespace {

// libmilter is process-global, so is what it calls back into.
struct Server {
  MilterServerConfig config;
  MilterSessionFactory factory;
  std::string conn;  // smfi_setconn keeps using it
  std::atomic<bool> warned_leadspc{false};
  std::atomic<bool> warned_offer{false};
  // What each libmilter context (one MTA connection) negotiated, written by its negotiation
  // and read at its connect steps (an MTA may send several SMTP connections, SMFIC_QUIT_NC,
  // after one negotiation). Entries stay after the connection ends; a later connection whose
  // context reuses the address overwrites its entry, and as malloc reuses freed contexts the
  // table stays near the peak number of concurrent MTA connections (32 bytes each).
  std::mutex negotiated_mutex;
  std::unordered_map<const SMFICTX*, detail::Negotiated> negotiated;
};

Server& server() {
  static Server s;
  return s;
}

void check(int rc, const char* call, const std::string& what) {
  if (rc == MI_FAILURE) throw MilterError(std::string(call) + " failed for " + what);
}

char* c_str(const std::string& s) {
  return const_cast<char*>(s.c_str());
}  // libmilter takes char*

std::string_view text(const char* p) {
  return p ? std::string_view(p) : std::string_view();
}

// What smfi_setpriv holds for one SMTP connection.
struct Connection {
  std::unique_ptr<MilterSession> session;
  // This connection's negotiation: which steps get no reply, SKIP, HDR_LEADSPC.
  detail::Negotiated negotiated;
  // A status other than CONTINUE from the connect step: given to every message of the
  // connection (a session whose connect failed must not go on with half its facts).
  int connect_status = SMFIS_CONTINUE;
  // A status other than CONTINUE produced in a step of this message that sends no reply
  // (SMFIP_NR_*); given at the next step that replies, so a fault there still ends in TEMPFAIL.
  int deferred = SMFIS_CONTINUE;
  // The MTA connection's TCP socket, or -1 (unix socket, or not found): see ack_now().
  int tcp_socket = -1;
};

// libmilter does not expose a connection's socket. struct smfi_str (libmilter.h) has begun
// with the thread id and then the socket since sendmail 8.12; the value found there is used
// only after it proves to be a TCP socket bound to our own listening port.
int find_tcp_socket(SMFICTX* ctx) {
  struct SmfiHead {
    pthread_t thread;
    int socket;
  };
  int fd = reinterpret_cast<const SmfiHead*>(ctx)->socket;
  const SocketSpec& spec = server().config.socket;
  if (fd < 0 || spec.family == SocketSpec::Family::Unix) return -1;
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return -1;
  uint16_t port = 0;
  if (local.ss_family == AF_INET) port = ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  if (local.ss_family == AF_INET6) port = ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  return port == spec.port ? fd : -1;
}

Connection* connection_of(SMFICTX* ctx) {
  return static_cast<Connection*>(smfi_getpriv(ctx));
}

MilterSession* session_of(SMFICTX* ctx) {
  Connection* c = connection_of(ctx);
  return c ? c->session.get() : nullptr;
}

// Acknowledge what the MTA sent now instead of after the delayed-ACK timer (~40 ms). Postfix
// writes a macro and its command as two small packets with Nagle on: the second waits for
// the ACK of the first, and without a reply from us (SMFIP_NR_*) that ACK would be delayed.
void ack_now(SMFICTX* ctx) {
  Connection* c = connection_of(ctx);
  if (!c || c->tcp_socket < 0) return;
  int on = 1;
  setsockopt(c->tcp_socket, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
}

// Forget what a no-reply step of the previous message left (new message, abort).
void clear_deferred(SMFICTX* ctx) {
  if (Connection* c = connection_of(ctx)) c->deferred = SMFIS_CONTINUE;
}

// At a step that replies: the status owed from the connect step or a no-reply step, if any.
int pending_status(SMFICTX* ctx) {
  Connection* c = connection_of(ctx);
  if (!c) return SMFIS_CONTINUE;
  if (c->connect_status != SMFIS_CONTINUE) return c->connect_status;
  int status = c->deferred;
  c->deferred = SMFIS_CONTINUE;
  return status;
}

// What ctx's negotiation recorded (none: every step replies, nothing else was asked for).
detail::Negotiated recorded_negotiation(SMFICTX* ctx) {
  std::lock_guard lock(server().negotiated_mutex);
  auto it = server().negotiated.find(ctx);
  return it != server().negotiated.end() ? it->second : detail::Negotiated{};
}

// What ctx's connection negotiated (also without a connection: its creation failed).
detail::Negotiated negotiated_of(SMFICTX* ctx) {
  if (Connection* c = connection_of(ctx)) return c->negotiated;
  return recorded_negotiation(ctx);
}

// A step's answer: itself when the MTA waits for a reply (`no_reply_flag` not negotiated on
// this connection); otherwise SMFIS_NOREPLY, keeping a non-CONTINUE status for the next step
// that replies.
int step_reply(SMFICTX* ctx, const detail::Negotiated& negotiated, unsigned long no_reply_flag,
               int status) {
  if ((negotiated.steps & no_reply_flag) == 0) return status;
  ack_now(ctx);
  Connection* c = connection_of(ctx);
  if (c && status != SMFIS_CONTINUE && c->deferred == SMFIS_CONTINUE) c->deferred = status;
  return SMFIS_NOREPLY;
}

// SMFIP_HDR_LEADSPC as negotiated on ctx's connection.
bool leadspc_of(SMFICTX* ctx) {
  Connection* c = connection_of(ctx);
  return c && c->negotiated.leadspc;
}

}  // namespace

// ---- MilterContext ----

std::optional<std::string> MilterContext::macro(const char* name) const {
  if (!ctx_) return std::nullopt;
  const char* value = smfi_getsymval(ctx_, const_cast<char*>(name));
  if (!value) return std::nullopt;
  return std::string(value);
}

void MilterContext::insert_header(int index, const std::string& name, const std::string& value) {
  if (!ctx_) throw MilterError("insert_header: no milter connection");
  std::string wire = detail::wire_header_value(value, leadspc_of(ctx_));
  check(smfi_insheader(ctx_, index, c_str(name), c_str(wire)), "smfi_insheader", name);
}

void MilterContext::add_header(const std::string& name, const std::string& value) {
  if (!ctx_) throw MilterError("add_header: no milter connection");
  std::string wire = detail::wire_header_value(value, leadspc_of(ctx_));
  check(smfi_addheader(ctx_, c_str(name), c_str(wire)), "smfi_addheader", name);
}

void MilterContext::change_header(int index, const std::string& name, const std::string& value) {
  if (!ctx_) throw MilterError("change_header: no milter connection");
  std::string wire = value.empty() ? value : detail::wire_header_value(value, leadspc_of(ctx_));
  // libmilter deletes the field when given NULL (an empty string would keep an empty field).
  check(smfi_chgheader(ctx_, c_str(name), index, wire.empty() ? nullptr : c_str(wire)),
        "smfi_chgheader", name);
}

void MilterContext::set_reply(const std::string& rcode, const std::string& xcode,
                              const std::string& text) {
  if (!ctx_) throw MilterError("set_reply: no milter connection");
  // smfi_setreply treats '%' as a format character; double it.
  std::string escaped;
  for (char c : text) escaped += (c == '%') ? std::string("%%") : std::string(1, c);
  check(smfi_setreply(ctx_, c_str(rcode), c_str(xcode), c_str(escaped)), "smfi_setreply",
        rcode + " " + xcode);
}

void MilterContext::quarantine(const std::string& reason) {
  if (!ctx_) throw MilterError("quarantine: no milter connection");
  check(smfi_quarantine(ctx_, c_str(reason)), "smfi_quarantine", reason);
}

// ---- testable core ----

namespace detail {

int to_smfis(MilterStatus status, bool skip_allowed) {
  switch (status) {
    case MilterStatus::Continue:
      return SMFIS_CONTINUE;
    case MilterStatus::Accept:
      return SMFIS_ACCEPT;
    case MilterStatus::Reject:
      return SMFIS_REJECT;
    case MilterStatus::Discard:
      return SMFIS_DISCARD;
    case MilterStatus::Tempfail:
      return SMFIS_TEMPFAIL;
    case MilterStatus::Skip:
      return skip_allowed ? SMFIS_SKIP : SMFIS_CONTINUE;
  }
  return SMFIS_TEMPFAIL;  // not a MilterStatus: treat as a fault
}

int milter_fault(const char* stage, const MilterContext& ctx, std::string_view reason) noexcept {
  try {
    auto queue_id = ctx.macro("i");
    auto line = log::error("milter-error");
    if (queue_id) line.kv("queue_id", *queue_id);
    line.kv("stage", stage).kv("reason", reason).kv("action", "tempfail");
  } catch (...) {
    // nothing left to do but answer
  }
  return SMFIS_TEMPFAIL;
}

ConnectInfo connect_info(const char* hostname, const sockaddr* hostaddr) {
  ConnectInfo info;
  info.hostname = std::string(text(hostname));
  if (!hostaddr) return info;
  char buf[INET6_ADDRSTRLEN] = {};
  if (hostaddr->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, hostaddr, sizeof in);
    if (inet_ntop(AF_INET, &in.sin_addr, buf, sizeof buf)) info.client_address = buf;
    info.client_port = ntohs(in.sin_port);
  } else if (hostaddr->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, hostaddr, sizeof in6);
    if (inet_ntop(AF_INET6, &in6.sin6_addr, buf, sizeof buf)) info.client_address = buf;
    info.client_port = ntohs(in6.sin6_port);
  }
  return info;
}

unsigned long negotiate_steps(unsigned long offered, const MilterServerConfig& config) {
  unsigned long wanted = SMFIP_HDR_LEADSPC | SMFIP_SKIP | SMFIP_NOUNKNOWN | SMFIP_NODATA;
  if (!config.wants_body) wanted |= SMFIP_NOBODY;
  if (!config.wants_helo) wanted |= SMFIP_NOHELO;
  if (!config.wants_rcpt) wanted |= SMFIP_NORCPT;
  if (!config.connect_replies) wanted |= SMFIP_NR_CONN;
  if (!config.mail_replies) wanted |= SMFIP_NR_MAIL;
  if (!config.header_replies) wanted |= SMFIP_NR_HDR;
  if (!config.body_replies) wanted |= SMFIP_NR_BODY;
  return offered & wanted;
}

static_assert(kLibmilterNoReplySteps ==
                  (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_DATA |
                   SMFIP_NR_UNKN | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY),
              "libmilter's faked no-reply steps");

std::optional<unsigned long> mta_offered_steps(const void* ctx, const void* privdata,
                                               unsigned long f0, unsigned long f1) {
  if (!ctx || !privdata) return std::nullopt;
  const auto* head = static_cast<const LibmilterContextHead*>(ctx);
  if (head->privdata != privdata || head->mta_aflags != f0 || head->mta_prot_vers < 2 ||
      (head->mta_pflags | kLibmilterNoReplySteps) != f1) {
    return std::nullopt;
  }
  return head->mta_pflags;
}

std::string wire_header_value(const std::string& value, bool leadspc) {
  bool starts_blank = !value.empty() && (value[0] == ' ' || value[0] == '\t');
  if (leadspc) return starts_blank ? value : " " + value;
  if (!value.empty() && value[0] == ' ') return value.substr(1);  // the MTA adds one space
  return value;
}

}  // namespace detail

// ---- xxfi_* trampolines ----

namespace {

sfsistat on_negotiate(SMFICTX* raw, unsigned long f0, unsigned long f1, unsigned long,
                      unsigned long, unsigned long* pf0, unsigned long* pf1, unsigned long* pf2,
                      unsigned long* pf3) {
  Server& s = server();
  if ((f0 & s.config.flags) != s.config.flags) {
    log::error("milter-negotiate")
        .kv("reason", "MTA does not offer the modifications this filter needs")
        .kv("wanted_actions", static_cast<uint64_t>(s.config.flags))
        .kv("offered_actions", static_cast<uint64_t>(f0));
    return SMFIS_REJECT;
  }
  // f1 is the MTA's offer plus every no-reply step libmilter can fake; find the MTA's own.
  int marker = 0;
  std::optional<unsigned long> offered;
  if (smfi_getpriv(raw) == nullptr && smfi_setpriv(raw, &marker) == MI_SUCCESS) {
    offered = detail::mta_offered_steps(raw, &marker, f0, f1);
    smfi_setpriv(raw, nullptr);
  }
  if (!offered) {
    offered = f1 & ~detail::kLibmilterNoReplySteps;  // ask for none: every step replies
    if (!s.warned_offer.exchange(true)) {
      log::warning("milter-negotiate")
          .kv("reason",
              "cannot tell which no-reply steps the MTA offered (libmilter context layout "
              "unknown); every step will be answered");
    }
  }
  detail::Negotiated negotiated;
  negotiated.steps = detail::negotiate_steps(*offered, s.config);
  negotiated.skip_ok = (*offered & SMFIP_SKIP) != 0;
  negotiated.leadspc = (*offered & SMFIP_HDR_LEADSPC) != 0;
  *pf0 = s.config.flags;
  *pf1 = negotiated.steps;
  *pf2 = 0;
  *pf3 = 0;
  {
    std::lock_guard lock(s.negotiated_mutex);
    s.negotiated[raw] = negotiated;
  }
  log::debug("milter-negotiate")
      .kv("offered_steps", static_cast<uint64_t>(*offered))
      .kv("requested_steps", static_cast<uint64_t>(*pf1));
  if (!negotiated.leadspc && !s.warned_leadspc.exchange(true)) {
    log::warning("milter-negotiate")
        .kv("reason", "MTA does not offer SMFIP_HDR_LEADSPC; header values lose leading space");
  }
  return SMFIS_CONTINUE;
}

sfsistat on_connect(SMFICTX* raw, char* hostname, _SOCK_ADDR* hostaddr) {
  MilterContext ctx(raw);
  detail::Negotiated negotiated = recorded_negotiation(raw);
  int status = detail::guarded_call("connect", ctx, [&] {
    auto connection = std::make_unique<Connection>();
    connection->negotiated = negotiated;
    connection->session = server().factory();
    if (!connection->session) throw MilterError("session factory returned no session");
    connection->tcp_socket = find_tcp_socket(raw);
    check(smfi_setpriv(raw, connection.get()), "smfi_setpriv", "connect");
    Connection* owned = connection.release();  // on_close takes it back
    return owned->session->on_connect(ctx, detail::connect_info(hostname, hostaddr));
  });
  if (Connection* c = connection_of(raw)) c->connect_status = status;
  // Without a session (factory failed) every later step faults, so TEMPFAIL still follows.
  return step_reply(raw, negotiated, SMFIP_NR_CONN, status);
}

sfsistat on_helo(SMFICTX* raw, char* helo) {
  MilterContext ctx(raw);
  return detail::guarded_session_call("helo", ctx, session_of(raw),
                                      [&](MilterSession& s) { return s.on_helo(ctx, text(helo)); });
}

sfsistat on_envfrom(SMFICTX* raw, char** argv) {
  MilterContext ctx(raw);
  clear_deferred(raw);  // a new message starts clean
  std::string_view sender = argv ? text(argv[0]) : std::string_view();
  int status = detail::guarded_session_call(
      "mail", ctx, session_of(raw), [&](MilterSession& s) { return s.on_mail_from(ctx, sender); });
  return step_reply(raw, negotiated_of(raw), SMFIP_NR_MAIL, status);
}

sfsistat on_envrcpt(SMFICTX* raw, char** argv) {
  MilterContext ctx(raw);
  std::string_view recipient = argv ? text(argv[0]) : std::string_view();
  return detail::guarded_session_call(
      "rcpt", ctx, session_of(raw), [&](MilterSession& s) { return s.on_rcpt_to(ctx, recipient); });
}

sfsistat on_header(SMFICTX* raw, char* name, char* value) {
  MilterContext ctx(raw);
  int status = detail::guarded_session_call("header", ctx, session_of(raw), [&](MilterSession& s) {
    return s.on_header(ctx, text(name), text(value));
  });
  return step_reply(raw, negotiated_of(raw), SMFIP_NR_HDR, status);
}

sfsistat on_eoh(SMFICTX* raw) {
  MilterContext ctx(raw);
  if (int pending = pending_status(raw); pending != SMFIS_CONTINUE) return pending;
  return detail::guarded_session_call("eoh", ctx, session_of(raw),
                                      [&](MilterSession& s) { return s.on_end_of_header(ctx); });
}

sfsistat on_body(SMFICTX* raw, unsigned char* chunk, size_t size) {
  MilterContext ctx(raw);
  std::string_view bytes(reinterpret_cast<const char*>(chunk), chunk ? size : 0);
  detail::Negotiated negotiated = negotiated_of(raw);
  bool quiet = (negotiated.steps & SMFIP_NR_BODY) != 0;
  if (!quiet) {
    if (int pending = pending_status(raw); pending != SMFIS_CONTINUE) return pending;
  }
  int status = detail::guarded_session_call(
      "body", ctx, session_of(raw), [&](MilterSession& s) { return s.on_body(ctx, bytes); },
      negotiated.skip_ok && !quiet);
  return step_reply(raw, negotiated, SMFIP_NR_BODY, status);
}

sfsistat on_eom(SMFICTX* raw) {
  MilterContext ctx(raw);
  if (int pending = pending_status(raw); pending != SMFIS_CONTINUE) return pending;
  return detail::guarded_session_call("eom", ctx, session_of(raw),
                                      [&](MilterSession& s) { return s.on_end_of_message(ctx); });
}

sfsistat on_abort(SMFICTX* raw) {
  MilterContext ctx(raw);
  clear_deferred(raw);
  MilterSession* session = session_of(raw);
  if (!session) return SMFIS_CONTINUE;  // creation failed at connect; already logged
  return detail::guarded_session_call("abort", ctx, session, [&](MilterSession& s) {
    s.on_abort(ctx);
    return MilterStatus::Continue;
  });
}

sfsistat on_close(SMFICTX* raw) {
  std::unique_ptr<Connection> connection(connection_of(raw));  // deleted on return
  smfi_setpriv(raw, nullptr);
  return SMFIS_CONTINUE;
}

smfiDesc make_description(Server& s) {
  smfiDesc d{};
  d.xxfi_name = c_str(s.config.name);
  d.xxfi_version = SMFI_VERSION;
  d.xxfi_flags = s.config.flags;
  d.xxfi_connect = on_connect;
  d.xxfi_helo = on_helo;
  d.xxfi_envfrom = on_envfrom;
  d.xxfi_envrcpt = on_envrcpt;
  d.xxfi_header = on_header;
  d.xxfi_eoh = on_eoh;
  d.xxfi_body = on_body;
  d.xxfi_eom = on_eom;
  d.xxfi_abort = on_abort;
  d.xxfi_close = on_close;
  d.xxfi_negotiate = on_negotiate;
  return d;
}

// True when fd is a listening TCP (IPv4/IPv6) stream socket.
bool is_tcp_listener(int fd) {
  int value = 0;
  socklen_t len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) != 0 || value != 1) return false;
  len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) != 0 || value != SOCK_STREAM) return false;
  len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &len) != 0) return false;
  return value == AF_INET || value == AF_INET6;
}

struct DirClose {
  void operator()(DIR* d) const noexcept { closedir(d); }
};

// libmilter does not expose its listening fd: find it in /proc/self/fd. Accepted sockets
// inherit TCP_NODELAY from the listener on Linux. Returns how many sockets were set.
int set_nodelay_on_tcp_listeners() {
  std::unique_ptr<DIR, DirClose> dir(opendir("/proc/self/fd"));
  if (!dir) return 0;
  int count = 0;
  while (const dirent* entry = readdir(dir.get())) {
    char* end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || end == entry->d_name || fd == dirfd(dir.get())) continue;
    int on = 1;
    int ifd = static_cast<int>(fd);
    if (is_tcp_listener(ifd) && setsockopt(ifd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0)
      ++count;
  }
  return count;
}

// Before the privilege drop: mode and owner for the unix socket file.
void prepare_unix_socket(const MilterServerConfig& config) {
  const std::string& path = config.socket.path;
  if (chmod(path.c_str(), static_cast<mode_t>(config.unix_socket_mode)) != 0) {
    throw MilterError("chmod " + path + ": " + std::strerror(errno));
  }
  give_to_user(path, config.unix_socket_owner);
}

void open_socket(const Server& s) {
  check(smfi_setconn(c_str(s.conn)), "smfi_setconn", s.conn);
  check(smfi_setbacklog(s.config.backlog), "smfi_setbacklog", std::to_string(s.config.backlog));
  check(smfi_settimeout(s.config.timeout_seconds), "smfi_settimeout",
        std::to_string(s.config.timeout_seconds));
  errno = 0;
  if (smfi_opensocket(true) == MI_FAILURE) {
    std::string why = errno ? std::strerror(errno) : "see libmilter's syslog message";
    throw MilterError("cannot listen on " + s.conn + ": " + why);
  }
}

}  // namespace

int run_milter(const MilterServerConfig& config, MilterSessionFactory factory) {
  Server& s = server();
  s.config = config;
  s.factory = std::move(factory);
  s.conn = config.socket.milter_notation();
  if (!s.factory) throw MilterError("run_milter: no session factory");
  check(smfi_register(make_description(s)), "smfi_register", s.config.name);
  open_socket(s);
  if (config.socket.family == SocketSpec::Family::Unix) {
    prepare_unix_socket(config);
  } else if (set_nodelay_on_tcp_listeners() == 0) {
    log::warning("milter-listen")
        .kv("socket", s.conn)
        .kv("reason", "listening socket not found; TCP_NODELAY not set");
  }
  log::info("milter-listen").kv("socket", s.conn);
  if (config.on_listening) config.on_listening();
  return smfi_main() == MI_SUCCESS ? 0 : 1;
}

}  // namespace postern
