// backends.hpp — postern-tables' connections to its backends: the Redis server of redis and
// cidr maps and the LDAP servers of ldap maps, opened only when a declared map uses them, as
// the KeyValueStore and Directory the maps take (maps.hpp). /healthz reports a backend whose
// last operation faulted ("redis: connection refused") until one succeeds again.
#pragma once

#include <memory>

#include "common/metrics.hpp"
#include "policyd/tables/maps.hpp"
#include "policyd/tables/tables_config.hpp"

namespace postern::tables {

class Backends {
 public:
  /// Sets up the clients the maps of `config` need (no connection yet: a backend down at
  /// start only makes lookups answer TEMP). Adds health checks to `health`. Throws
  /// ConfigError on a bad setting (unreadable password file, bad server address).
  Backends(const TablesConfig& config, metrics::Health& health);
  ~Backends();
  Backends(const Backends&) = delete;
  Backends& operator=(const Backends&) = delete;

  /// --check-config: one round trip to every backend in use; throws ConfigError naming the
  /// backend and why it failed.
  void check();
  /// The map `spec` declares, on its backend.
  std::unique_ptr<Map> make_map(const MapSpec& spec);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::tables
