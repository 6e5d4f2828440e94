// tables_config.hpp — postern-tables' option table and its typed, validated configuration.
// Maps are declared one per "map" line (config file, repeatable flag):
//   map = NAME KIND [OPTION=VALUE]...
// KIND is redis, cidr or ldap; options (no spaces inside a value):
//   prefix=P         Redis key prefix (default: NAME upper-cased plus ':', so psa → "PSA:")
//   type=string|set|hash   how the Redis value is stored (default string; set members are
//                    joined with ','; hash reads field=F)
//   field=F          the hash field (type=hash)
//   forms=exact|access|virtual   which forms of a key are tried (maps.hpp lookup_forms;
//                    default exact: the key as Postfix asks it)
//   parents=yes|dot|no   forms=access: how a domain entry matches subdomains (default yes)
//   lowercase=yes|no lowercase the key first (default yes with forms=access|virtual, else no)
//   search_base=DN query_filter=F result_attribute=A   LDAP, as in ldap_table(5)
// Errors throw postern::ConfigError naming the option source and the bad word.
#pragma once

#include <string>
#include <vector>

#include "common/options.hpp"
#include "common/socketmap.hpp"
#include "policyd/tables/maps.hpp"

namespace postern::tables {

struct RedisSettings {
  std::string url = "redis://127.0.0.1:6379/0";  // common/redis.hpp URL (tcp, unix, sentinel)
  double timeout_seconds = 1;                    // connect and command timeout
};

struct LdapSettings {
  std::vector<std::string> servers;  // URIs tried in order (failover)
  std::string bind_dn;               // "" = anonymous
  std::string bind_password_file;
  double timeout_seconds = 2;
};

struct TablesConfig {
  std::vector<MapSpec> maps;
  RedisSettings redis;
  LdapSettings ldap;
  size_t worker_threads = 8;
  double request_deadline_seconds = 3;  // past it: TEMP
  SocketmapLimits limits;
  double cache_ttl_seconds = 0;  // 0: no cache (redis-cli changes take effect at once)
  size_t cache_size = 100000;

  bool uses(MapSpec::Kind kind) const;
};

/// Adds --map, --redis-url, --redis-timeout,
/// --ldap-server, --ldap-bind-dn, --ldap-bind-password-file, --ldap-timeout, --workers,
/// --request-deadline, --max-request-bytes, --max-key-bytes, --cache-ttl, --cache-size.
void add_tables_options(po::options_description& options);

/// One "NAME KIND [OPTION=VALUE]..." declaration. Throws ConfigError ("map 'psa': unknown
/// option 'prefx'", "map 'x': kind 'mysql' is not one of redis, cidr, ldap", ...).
MapSpec parse_map_spec(const std::string& line);

/// The option values → TablesConfig. Throws ConfigError naming the option's source (no map,
/// a map declared twice, an LDAP map without --ldap-server, a bad number...).
TablesConfig build_tables_config(const DaemonOptions& options);

}  // namespace postern::tables
