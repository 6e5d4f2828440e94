// ldap.cpp — the LDAP client (ldap.hpp): filter helpers, connections, pool, outage log.
#include "common/ldap.hpp"

#include <lber.h>
#include <ldap.h>
#include <strings.h>
#include <sys/time.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>

#include "common/config_error.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"

namespace postern::ldap {

// ---- Pure helpers --------------------------------------------------------------------------

std::string escape_filter_value(std::string_view value) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c == '\0') {
      auto byte = static_cast<unsigned char>(c);
      out += '\\';
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// The n-th label from the right of `domain` (1 = last), nullopt when it has fewer labels.
std::optional<std::string_view> domain_label(std::string_view domain, int n) {
  for (int i = 1;; ++i) {
    size_t dot = domain.rfind('.');
    std::string_view label = dot == std::string_view::npos ? domain : domain.substr(dot + 1);
    if (i == n) return label;
    if (dot == std::string_view::npos) return std::nullopt;
    domain = domain.substr(0, dot);
  }
}

// Walks `pattern`; for each '%' escape calls `on_escape(letter, offset)`, for literal text
// `on_text`. Throws ConfigError for an unknown or unterminated escape.
template <class OnText, class OnEscape>
void walk_pattern(std::string_view pattern, OnText on_text, OnEscape on_escape) {
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') {
      on_text(pattern[i]);
      continue;
    }
    if (i + 1 == pattern.size()) {
      throw ConfigError("query filter: '%' at offset " + std::to_string(i) +
                        " ends the pattern (write %% for a literal '%')");
    }
    char letter = pattern[++i];
    bool known = letter == '%' ||
                 std::string_view("sSuUdD").find(letter) != std::string_view::npos ||
                 (letter >= '1' && letter <= '9');
    if (!known) {
      throw ConfigError(std::string("query filter: unknown expansion %") + letter + " at offset " +
                        std::to_string(i - 1) + " (known: %s %u %d %S %U %D %1..%9 %%)");
    }
    on_escape(letter);
  }
}

}  // namespace

void check_filter_pattern(std::string_view pattern) {
  walk_pattern(
      pattern, [](char) {}, [](char) {});
}

std::optional<std::string> expand_filter(std::string_view pattern, std::string_view key) {
  size_t at = key.rfind('@');
  bool has_domain = at != std::string_view::npos;
  std::string_view local = has_domain ? key.substr(0, at) : key;
  std::string_view domain = has_domain ? key.substr(at + 1) : std::string_view();
  std::string out;
  bool suppressed = key.empty();
  walk_pattern(
      pattern, [&out](char c) { out += c; },
      [&](char letter) {
        switch (letter) {
          case '%':
            out += '%';
            return;
          case 's':
          case 'S':
            out += escape_filter_value(key);
            return;
          case 'u':
          case 'U':
            if (local.empty()) suppressed = true;
            out += escape_filter_value(local);
            return;
          case 'd':
          case 'D':
            if (!has_domain || domain.empty()) suppressed = true;
            out += escape_filter_value(domain);
            return;
          default: {  // '1'..'9'
            auto label = has_domain ? domain_label(domain, letter - '0') : std::nullopt;
            if (!label || label->empty()) {
              suppressed = true;
            } else {
              out += escape_filter_value(*label);
            }
          }
        }
      });
  if (suppressed) return std::nullopt;
  return out;
}

std::string read_password_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read the bind password file");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ConfigError(path + ": read error in the bind password file");
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) throw ConfigError(path + ": the bind password file is empty");
  return text;
}

Scope parse_scope(std::string_view text) {
  if (text == "base") return Scope::Base;
  if (text == "one") return Scope::OneLevel;
  if (text == "sub") return Scope::Subtree;
  throw ConfigError("scope '" + std::string(text) + "' is not one of base, one, sub");
}

const std::vector<std::string>* Entry::values(std::string_view name) const {
  for (const auto& [attribute, vals] : attributes) {
    if (attribute.size() == name.size() &&
        ::strncasecmp(attribute.data(), name.data(), name.size()) == 0) {
      return &vals;
    }
  }
  return nullptr;
}

const char* kind_name(LdapError::Kind kind) {
  switch (kind) {
    case LdapError::Kind::Unavailable:
      return "unavailable";
    case LdapError::Kind::Timeout:
      return "timeout";
    case LdapError::Kind::Bind:
      return "bind";
    case LdapError::Kind::Search:
      return "search";
  }
  return "unknown";
}

// ---- Connections ---------------------------------------------------------------------------

namespace {

struct UnbindLdap {
  void operator()(LDAP* ld) const noexcept { ldap_unbind_ext_s(ld, nullptr, nullptr); }
};
using LdapHandle = std::unique_ptr<LDAP, UnbindLdap>;
struct FreeMessage {
  void operator()(LDAPMessage* m) const noexcept { ldap_msgfree(m); }
};
using Message = std::unique_ptr<LDAPMessage, FreeMessage>;
struct FreeMemory {
  void operator()(void* p) const noexcept { ldap_memfree(p); }
};
struct FreeBer {
  void operator()(BerElement* b) const noexcept { ber_free(b, 0); }
};
struct FreeValues {
  void operator()(berval** v) const noexcept { ldap_value_free_len(v); }
};

timeval to_timeval(double seconds) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - std::floor(seconds)) * 1e6);
  return tv;
}

bool is_timeout(int code) {
  return code == LDAP_TIMEOUT || code == LDAP_TIMELIMIT_EXCEEDED;
}

// The connection itself broke or could not be made.
bool is_connection_fault(int code) {
  return code == LDAP_SERVER_DOWN || code == LDAP_CONNECT_ERROR || code == LDAP_UNAVAILABLE ||
         code == LDAP_BUSY;
}

// "Can't contact LDAP server (-1); diagnostic" for a handle's last error.
std::string error_text(LDAP* ld, int code) {
  std::string text = std::string(ldap_err2string(code)) + " (" + std::to_string(code) + ")";
  char* diagnostic = nullptr;
  if (ld && ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diagnostic) == LDAP_OPT_SUCCESS &&
      diagnostic) {
    std::unique_ptr<char, FreeMemory> owner(diagnostic);
    if (*diagnostic) text += std::string(": ") + diagnostic;
  }
  return text;
}

LdapError::Kind fault_kind(int code, LdapError::Kind otherwise) {
  if (is_timeout(code)) return LdapError::Kind::Timeout;
  if (is_connection_fault(code)) return LdapError::Kind::Unavailable;
  return otherwise;
}

}  // namespace

struct Client::Server {
  std::string uri;
  std::chrono::steady_clock::time_point retry_after{};
};

struct Client::Connection {
  LdapHandle ld;
  size_t server = 0;
  bool reused = false;
};

Client::Client(ClientConfig config) : config_(std::move(config)) {
  if (config_.uris.empty()) throw ConfigError("LDAP: no server URI");
  for (const std::string& uri : config_.uris) {
    LDAPURLDesc* desc = nullptr;
    if (ldap_url_parse(uri.c_str(), &desc) != LDAP_URL_SUCCESS) {
      throw ConfigError("LDAP server '" + uri +
                        "' is not an ldap://, ldaps:// or ldapi:// URI (RFC 4516)");
    }
    ldap_free_urldesc(desc);
    servers_.push_back(Server{uri});
  }
  if (!(config_.network_timeout_seconds > 0) || !(config_.operation_timeout_seconds > 0)) {
    throw ConfigError("LDAP: network and operation timeouts must be more than 0 seconds");
  }
  if (config_.pool_size == 0) throw ConfigError("LDAP: the pool needs at least one connection");
  if (!config_.ca_file.empty()) {
    std::ifstream probe(config_.ca_file);
    if (!probe) throw ConfigError(config_.ca_file + ": cannot read the LDAP CA file");
  }
  if (config_.metrics) {
    const std::string p = "postern_" + config_.metric_prefix + "_ldap_";
    up_gauge_ = &config_.metrics->gauge(p + "up",
                                        "1 while the LDAP directory answers, 0 in an "
                                        "outage");
    up_gauge_->set(1);
    outages_ = &config_.metrics->counter(p + "outages_total", "LDAP outages begun");
    for (auto kind : {LdapError::Kind::Unavailable, LdapError::Kind::Timeout, LdapError::Kind::Bind,
                      LdapError::Kind::Search}) {
      errors_.push_back(&config_.metrics->counter(p + "errors_total", "LDAP faults by kind",
                                                  {{"kind", kind_name(kind)}}));
    }
  }
}

Client::~Client() = default;

bool Client::up() const {
  std::lock_guard lock(mutex_);
  return up_;
}

std::unique_ptr<Client::Connection> Client::connect_to(size_t server) {
  const std::string& uri = servers_[server].uri;
  LDAP* raw = nullptr;
  int rc = ldap_initialize(&raw, uri.c_str());
  if (rc != LDAP_SUCCESS) {
    throw LdapError(LdapError::Kind::Unavailable, rc, uri + ": " + error_text(nullptr, rc));
  }
  auto connection = std::make_unique<Connection>();
  connection->ld.reset(raw);
  connection->server = server;
  LDAP* ld = raw;
  int version = LDAP_VERSION3;
  timeval network = to_timeval(config_.network_timeout_seconds);
  timeval operation = to_timeval(config_.operation_timeout_seconds);
  int require = config_.tls_verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
  int zero = 0;
  ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
  ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &network);
  ldap_set_option(ld, LDAP_OPT_TIMEOUT, &operation);
  if (!config_.ca_file.empty()) {
    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, config_.ca_file.c_str());
  }
  ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require);
  ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);  // this handle's options, not globals
  if (config_.start_tls) {
    rc = ldap_start_tls_s(ld, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) {
      throw LdapError(fault_kind(rc, LdapError::Kind::Unavailable), rc,
                      uri + ": StartTLS: " + error_text(ld, rc));
    }
  }
  berval password{};
  password.bv_val = const_cast<char*>(config_.bind_password.c_str());
  password.bv_len = config_.bind_password.size();
  const char* dn = config_.bind_dn.empty() ? nullptr : config_.bind_dn.c_str();
  rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &password, nullptr, nullptr, nullptr);
  if (rc != LDAP_SUCCESS) {
    throw LdapError(fault_kind(rc, LdapError::Kind::Bind), rc,
                    uri + ": bind as '" + config_.bind_dn + "': " + error_text(ld, rc));
  }
  return connection;
}

std::unique_ptr<Client::Connection> Client::open_connection() {
  auto now = std::chrono::steady_clock::now();
  std::vector<size_t> order;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < servers_.size(); ++i) {
      if (servers_[i].retry_after <= now) order.push_back(i);
    }
    if (order.empty()) {  // all failed lately: try them all again, in order
      for (size_t i = 0; i < servers_.size(); ++i) order.push_back(i);
    }
  }
  std::optional<LdapError> last;
  std::string failures;
  for (size_t i : order) {
    try {
      auto connection = connect_to(i);
      std::lock_guard lock(mutex_);
      servers_[i].retry_after = {};
      return connection;
    } catch (const LdapError& e) {
      std::lock_guard lock(mutex_);
      servers_[i].retry_after = std::chrono::steady_clock::now() +
                                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(config_.retry_seconds));
      if (!failures.empty()) failures += "; ";
      failures += e.what();
      // A refused bind says more than a later server's connection failure: keep it.
      if (!last || last->kind() != LdapError::Kind::Bind) last = e;
    }
  }
  throw LdapError(last->kind(), last->code(), failures);
}

std::unique_ptr<Client::Connection> Client::acquire() {
  std::unique_lock lock(mutex_);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(config_.operation_timeout_seconds));
  for (;;) {
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      connection->reused = true;
      return connection;
    }
    if (open_ < config_.pool_size) {
      ++open_;
      lock.unlock();
      try {
        return open_connection();
      } catch (...) {
        lock.lock();
        --open_;
        idle_cv_.notify_one();
        throw;
      }
    }
    if (idle_cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= config_.pool_size) {
      throw LdapError(LdapError::Kind::Timeout, LDAP_TIMEOUT,
                      "no LDAP connection free within the operation timeout (pool of " +
                          std::to_string(config_.pool_size) + ")");
    }
  }
}

void Client::release(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(mutex_);
  if (connection) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;  // closed after a fault
  }
  idle_cv_.notify_one();
}

std::vector<Entry> Client::run_search(Connection& connection, const SearchRequest& request) {
  static constexpr int scopes[] = {LDAP_SCOPE_BASE, LDAP_SCOPE_ONELEVEL, LDAP_SCOPE_SUBTREE};
  std::vector<char*> attrs;
  for (const std::string& a : request.attributes) attrs.push_back(const_cast<char*>(a.c_str()));
  attrs.push_back(nullptr);
  timeval timeout = to_timeval(config_.operation_timeout_seconds);
  LDAP* ld = connection.ld.get();
  LDAPMessage* raw = nullptr;
  int rc =
      ldap_search_ext_s(ld, request.base.c_str(), scopes[static_cast<int>(request.scope)],
                        request.filter.c_str(), request.attributes.empty() ? nullptr : attrs.data(),
                        0, nullptr, nullptr, &timeout, request.size_limit, &raw);
  Message result(raw);
  if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
    throw LdapError(fault_kind(rc, LdapError::Kind::Search), rc,
                    servers_[connection.server].uri + ": search base='" + request.base +
                        "' filter='" + request.filter + "': " + error_text(ld, rc));
  }
  std::vector<Entry> entries;
  for (LDAPMessage* e = ldap_first_entry(ld, result.get()); e; e = ldap_next_entry(ld, e)) {
    Entry entry;
    if (char* dn = ldap_get_dn(ld, e)) {
      std::unique_ptr<char, FreeMemory> owner(dn);
      entry.dn = dn;
    }
    BerElement* ber_raw = nullptr;
    for (char* name = ldap_first_attribute(ld, e, &ber_raw); name;
         name = ldap_next_attribute(ld, e, ber_raw)) {
      std::unique_ptr<char, FreeMemory> name_owner(name);
      std::vector<std::string> values;
      std::unique_ptr<berval*, FreeValues> vals(ldap_get_values_len(ld, e, name));
      for (berval** v = vals.get(); v && *v; ++v) values.emplace_back((*v)->bv_val, (*v)->bv_len);
      entry.attributes.emplace_back(name, std::move(values));
    }
    std::unique_ptr<BerElement, FreeBer> ber(ber_raw);
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::vector<Entry> Client::search(const SearchRequest& request) {
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> connection;
    try {
      connection = acquire();
      auto entries = run_search(*connection, request);
      release(std::move(connection));
      record_success();
      return entries;
    } catch (const LdapError& e) {
      bool reused = connection && connection->reused;
      if (connection && e.kind() == LdapError::Kind::Search) {
        release(std::move(connection));  // the server refused this search; the link is fine
      } else if (connection) {
        connection.reset();
        release(nullptr);
      }
      // A pooled connection whose server went away (restart, idle timeout): once more.
      if (reused && attempt == 0 && e.kind() == LdapError::Kind::Unavailable) continue;
      record_fault(e);
      throw;
    }
  }
}

void Client::check() {
  try {
    release(acquire());
  } catch (const LdapError& e) {
    record_fault(e);
    throw;
  }
  record_success();
}

void Client::record_success() {
  std::lock_guard lock(mutex_);
  if (up_) return;
  up_ = true;
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - down_since_).count();
  log::info("ldap-recovered").kv("name", config_.name).kv("down_seconds", seconds);
  if (up_gauge_) up_gauge_->set(1);
}

void Client::record_fault(const LdapError& error) {
  if (!errors_.empty()) errors_[static_cast<size_t>(error.kind())]->inc();
  std::lock_guard lock(mutex_);
  if (!up_) return;
  up_ = false;
  down_since_ = std::chrono::steady_clock::now();
  log::warning("ldap-outage")
      .kv("name", config_.name)
      .kv("kind", kind_name(error.kind()))
      .kv("error", error.what());
  if (outages_) outages_->inc();
  if (up_gauge_) up_gauge_->set(0);
}

}  // namespace postern::ldap
