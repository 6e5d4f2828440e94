// ldap.hpp — a small LDAP client over OpenLDAP's libldap for the daemons that look things up
// in LDAP or Active Directory (postern-rcpt, postern-tables): several servers with failover
// (ldap://, ldaps://, StartTLS with a CA file), simple bind, searches, network and operation
// timeouts, a connection pool shared by the policy server's workers, reconnect after a server
// goes away, and an "outage" log (one line when the directory becomes unreachable, one when it
// is back). Also the pure helpers: RFC 4515 value escaping and Postfix ldap_table(5)-style
// query filter expansion (%s %u %d %S %U %D %1..%9 %%).
// Errors: faults (no server reachable, timeout, bind refused, search refused) throw LdapError
// with a Kind so callers map them to their fault action; bad configuration throws ConfigError.
// Sources: RFC 4511 (operations), RFC 4515 (filter strings), RFC 4516 (URLs), Postfix
// ldap_table(5) ("query_filter"), libldap ldap_get_option(3), ldap_search(3).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace postern::metrics {
class Registry;
class Counter;
class Gauge;
}  // namespace postern::metrics

namespace postern::ldap {

/// RFC 4515 §3 value escaping: '*', '(', ')', '\' and NUL become "\2a", "\28", "\29", "\5c",
/// "\00"; every other byte is kept (UTF-8 passes through). Makes any text a literal assertion
/// value, so "*)(uid=*" cannot change a filter's structure.
std::string escape_filter_value(std::string_view value);

/// Postfix ldap_table(5) query_filter expansion of `pattern` for the lookup key `key`:
///   %s, %S  the key;  %u, %U  the local part of user@domain (the whole key without '@');
///   %d, %D  the domain part;  %1..%9  the n-th domain label from the right (%1 = "com");
///   %%  a literal '%'.
/// Every substituted value is escaped with escape_filter_value(). The key splits at its last
/// '@'. Returns nullopt when Postfix suppresses the search: %d or %1..%9 with no domain part
/// (or too few labels), %u with an empty local part, an empty key. Throws ConfigError for a
/// pattern with an unknown or unterminated '%' escape ("%x at offset 7").
std::optional<std::string> expand_filter(std::string_view pattern, std::string_view key);

/// Checks a query_filter pattern without a key (for --check-config): same ConfigError as
/// expand_filter, and "no % expansion" is allowed.
void check_filter_pattern(std::string_view pattern);

/// Reads a bind password from `path`: the whole file minus one trailing "\n" or "\r\n".
/// Throws ConfigError when the file cannot be read or is empty.
std::string read_password_file(const std::string& path);

/// Search scope (RFC 4511 §4.5.1.2).
enum class Scope { Base, OneLevel, Subtree };

/// "base|one|sub" (as ldapsearch -s and Postfix's "scope") → Scope; throws ConfigError.
Scope parse_scope(std::string_view text);

struct ClientConfig {
  /// Server URIs in order of preference: "ldap://host[:port]", "ldaps://host[:port]",
  /// "ldapi://..." (RFC 4516 host part only). Each new connection tries them in order,
  /// skipping for `retry_seconds` a server that just failed unless all have.
  std::vector<std::string> uris;
  bool start_tls = false;  // StartTLS (RFC 4511 §4.14) on ldap:// before the bind
  std::string ca_file;     // PEM CA bundle for ldaps:// and StartTLS ("" = system default)
  bool tls_verify = true;  // demand a valid server certificate (off only for tests)
  std::string bind_dn;     // "" = anonymous
  std::string bind_password;
  double network_timeout_seconds = 5;    // TCP connect (+ TLS handshake) per server
  double operation_timeout_seconds = 5;  // one bind, StartTLS or search
  double retry_seconds = 10;             // skip a failed server this long
  size_t pool_size = 4;                  // connections at most; callers beyond it wait
  std::string name = "ldap";             // in log lines ("ldap-outage name=...")
  /// Optional: postern_<metric_prefix>_ldap_up gauge (1/0), ..._ldap_outages_total and
  /// ..._ldap_errors_total{kind} counters.
  metrics::Registry* metrics = nullptr;
  std::string metric_prefix = "ldap";
};

/// One search (RFC 4511 §4.5.1). `filter` is a complete RFC 4515 filter string, already
/// escaped (see expand_filter); `attributes` empty = all user attributes, {"1.1"} = none.
struct SearchRequest {
  std::string base;
  Scope scope = Scope::Subtree;
  std::string filter = "(objectClass=*)";
  std::vector<std::string> attributes;
  int size_limit = 0;  // entries at most (0 = server limit); more is not an error
};

/// One result entry; attribute names as the server returned them.
struct Entry {
  std::string dn;
  std::vector<std::pair<std::string, std::vector<std::string>>> attributes;
  /// Values of attribute `name` (case-insensitive), nullptr when absent.
  const std::vector<std::string>* values(std::string_view name) const;
};

/// A fault talking to the directory. kind(): Unavailable (no server could be reached or the
/// connection broke), Timeout (network or operation timeout), Bind (the bind was refused, e.g.
/// invalidCredentials), Search (the server refused the search, e.g. noSuchObject for the base,
/// a bad filter). code(): the libldap result code.
class LdapError : public std::runtime_error {
 public:
  enum class Kind { Unavailable, Timeout, Bind, Search };
  LdapError(Kind kind, int code, const std::string& what)
      : std::runtime_error(what), kind_(kind), code_(code) {}
  Kind kind() const noexcept { return kind_; }
  int code() const noexcept { return code_; }

 private:
  Kind kind_;
  int code_;
};

/// "unavailable", "timeout", "bind", "search" (for logs and metric labels).
const char* kind_name(LdapError::Kind kind);

/// The client: a pool of bound connections. Thread-safe: search() may run on many threads at
/// once; each call takes one connection (opening one when fewer than pool_size exist and none
/// is idle, else waiting up to operation_timeout_seconds for one). A connection that fails
/// (server gone, timeout) is closed; a search that failed on a reused connection because the
/// server went away is retried once on a fresh one (a restarted slapd, an AD idle timeout).
/// The process should ignore SIGPIPE (libldap may write to a socket the server closed).
class Client {
 public:
  /// Checks the configuration (at least one URI, libldap accepts each, positive timeouts,
  /// pool_size > 0; ConfigError otherwise). Connects lazily: no network here.
  explicit Client(ClientConfig config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Runs one search and returns its entries (references are ignored). Throws LdapError.
  std::vector<Entry> search(const SearchRequest& request);

  /// Opens and binds one connection now and returns it to the pool (for --check-config and
  /// startup checks). Throws LdapError.
  void check();

  /// False from a fault until the next successful operation.
  bool up() const;

 private:
  struct Connection;
  struct Server;
  std::unique_ptr<Connection> acquire();
  void release(std::unique_ptr<Connection> connection);
  std::unique_ptr<Connection> open_connection();
  std::unique_ptr<Connection> connect_to(size_t server);
  std::vector<Entry> run_search(Connection& connection, const SearchRequest& request);
  void record_success();
  void record_fault(const LdapError& error);

  ClientConfig config_;
  std::vector<Server> servers_;
  mutable std::mutex mutex_;
  std::condition_variable idle_cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;  // connections in use or idle
  bool up_ = true;
  std::chrono::steady_clock::time_point down_since_;
  metrics::Gauge* up_gauge_ = nullptr;
  metrics::Counter* outages_ = nullptr;
  std::vector<metrics::Counter*> errors_;  // by Kind
};

}  // namespace postern::ldap
