// tables_config.cpp — option table → TablesConfig; the map declaration parser.
#include "policyd/tables/tables_config.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <sstream>

#include "common/config_error.hpp"
#include "common/ldap.hpp"

namespace postern::tables {

bool TablesConfig::uses(MapSpec::Kind kind) const {
  return std::any_of(maps.begin(), maps.end(), [kind](const MapSpec& m) { return m.kind == kind; });
}

void add_tables_options(po::options_description& options) {
  auto text = [](const char* fallback) {
    return po::value<std::string>()->default_value(fallback);
  };
  options.add_options()  //
      ("map", po::value<std::vector<std::string>>()->value_name("'NAME KIND [OPT=VAL]...'"),
       "declare a map served as socketmap:...:NAME; KIND redis, cidr or ldap; options prefix=, "
       "type=string|set|hash, field=, forms=exact|access|virtual, parents=yes|dot|no, "
       "lowercase=yes|no, search_base=, query_filter=, result_attribute= "
       "(repeat for each map)")  //
      ("redis-url", text("redis://127.0.0.1:6379/0")->value_name("URL"),
       "the Redis server of redis and cidr maps: redis://[:PASSWORD@]HOST[:PORT][/DB], "
       "unix:/PATH[?db=N&password=P] or redis-sentinel://HOST[:PORT],.../MASTER[/DB]")  //
      ("redis-timeout", po::value<double>()->default_value(1)->value_name("SECONDS"),
       "connect and command timeout for Redis; past it the lookup answers TEMP")  //
      ("ldap-server", text("")->value_name("URIS"),
       "LDAP servers of ldap maps, space-separated URIs tried in order (failover)")  //
      ("ldap-bind-dn", text("")->value_name("DN"), "bind DN (default: anonymous)")   //
      ("ldap-bind-password-file", text("")->value_name("FILE"),
       "file holding the bind password")  //
      ("ldap-timeout", po::value<double>()->default_value(2)->value_name("SECONDS"),
       "LDAP connect and search timeout; past it the lookup answers TEMP")  //
      ("workers", po::value<size_t>()->default_value(8)->value_name("N"),
       "threads running lookups (each waits on Redis or LDAP)")  //
      ("request-deadline", po::value<double>()->default_value(3)->value_name("SECONDS"),
       "past it a lookup is answered TEMP (Postfix defers)")  //
      ("max-request-bytes", po::value<size_t>()->default_value(100000)->value_name("BYTES"),
       "longest socketmap request netstring; a longer one closes the connection")  //
      ("max-key-bytes", po::value<size_t>()->default_value(4096)->value_name("BYTES"),
       "longest lookup key; a longer one is answered PERM")  //
      ("cache-ttl", po::value<double>()->default_value(0)->value_name("SECONDS"),
       "keep OK/NOTFOUND answers this long (0: no cache, changes take effect at once)")  //
      ("cache-size", po::value<size_t>()->default_value(100000)->value_name("N"),
       "most cached answers");
}

namespace {

MapSpec::Kind parse_kind(const std::string& name, const std::string& word) {
  if (word == "redis") return MapSpec::Kind::Redis;
  if (word == "cidr") return MapSpec::Kind::Cidr;
  if (word == "ldap") return MapSpec::Kind::Ldap;
  throw ConfigError("map '" + name + "': kind '" + word + "' is not one of redis, cidr, ldap");
}

ValueType parse_value_type(const std::string& name, const std::string& word) {
  if (word == "string") return ValueType::String;
  if (word == "set") return ValueType::Set;
  if (word == "hash") return ValueType::Hash;
  throw ConfigError("map '" + name + "': type '" + word + "' is not one of string, set, hash");
}

AddressForms parse_forms(const std::string& name, const std::string& word) {
  if (word == "exact") return AddressForms::Exact;
  if (word == "access") return AddressForms::Access;
  if (word == "virtual") return AddressForms::Virtual;
  throw ConfigError("map '" + name + "': forms '" + word +
                    "' is not one of exact, access, virtual");
}

ParentStyle parse_parents(const std::string& name, const std::string& word) {
  if (word == "yes") return ParentStyle::Parent;
  if (word == "dot") return ParentStyle::Dot;
  if (word == "no") return ParentStyle::None;
  throw ConfigError("map '" + name + "': parents '" + word + "' is not one of yes, dot, no");
}

bool parse_yes_no(const std::string& name, const std::string& option, const std::string& word) {
  if (word == "yes") return true;
  if (word == "no") return false;
  throw ConfigError("map '" + name + "': " + option + " '" + word + "' is not yes or no");
}

bool valid_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
}

}  // namespace

MapSpec parse_map_spec(const std::string& line) {
  std::istringstream words(line);
  MapSpec spec;
  std::string kind;
  if (!(words >> spec.name >> kind)) {
    throw ConfigError("map '" + line + "': want NAME KIND [OPTION=VALUE]...");
  }
  if (!valid_name(spec.name)) {
    throw ConfigError("map '" + spec.name + "': a name is letters, digits, '_', '-', '.'");
  }
  spec.kind = parse_kind(spec.name, kind);
  spec.prefix = spec.name;
  std::transform(spec.prefix.begin(), spec.prefix.end(), spec.prefix.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  spec.prefix.push_back(':');
  std::string word;
  bool ldap_option = false;
  std::optional<bool> lowercase;
  bool parents_given = false;
  while (words >> word) {
    size_t eq = word.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ConfigError("map '" + spec.name + "': '" + word + "' is not OPTION=VALUE");
    }
    std::string option = word.substr(0, eq), value = word.substr(eq + 1);
    if (option == "prefix") {
      spec.prefix = value;
    } else if (option == "type") {
      spec.value_type = parse_value_type(spec.name, value);
    } else if (option == "field") {
      spec.hash_field = value;
    } else if (option == "forms") {
      spec.forms = parse_forms(spec.name, value);
    } else if (option == "parents") {
      spec.parents = parse_parents(spec.name, value), parents_given = true;
    } else if (option == "lowercase") {
      lowercase = parse_yes_no(spec.name, option, value);
    } else if (option == "search_base") {
      spec.search_base = value, ldap_option = true;
    } else if (option == "query_filter") {
      spec.query_filter = value, ldap_option = true;
    } else if (option == "result_attribute") {
      spec.result_attribute = value, ldap_option = true;
    } else {
      throw ConfigError("map '" + spec.name + "': unknown option '" + option + "'");
    }
  }
  spec.lowercase = lowercase.value_or(spec.forms != AddressForms::Exact);
  if (parents_given && spec.forms != AddressForms::Access) {
    throw ConfigError("map '" + spec.name + "': parents= is for forms=access maps");
  }
  if (spec.value_type == ValueType::Hash && spec.hash_field.empty()) {
    throw ConfigError("map '" + spec.name + "': type=hash needs field=FIELD");
  }
  if (spec.kind == MapSpec::Kind::Cidr && spec.value_type != ValueType::String) {
    throw ConfigError("map '" + spec.name + "': a cidr map holds strings (no type=)");
  }
  if (spec.kind != MapSpec::Kind::Ldap && ldap_option) {
    throw ConfigError("map '" + spec.name + "': search_base, query_filter and result_attribute " +
                      "are for ldap maps");
  }
  if (spec.kind == MapSpec::Kind::Ldap) {
    try {
      ldap::check_filter_pattern(spec.query_filter);
    } catch (const ConfigError& e) {
      throw ConfigError("map '" + spec.name + "': " + e.what());
    }
  }
  return spec;
}

TablesConfig build_tables_config(const DaemonOptions& options) {
  const po::variables_map& values = options.values();
  TablesConfig config;
  if (values.count("map") == 0) {
    throw ConfigError(
        "no map declared: give --map 'NAME KIND [OPTION=VALUE]...' (config file: "
        "map = ...)");
  }
  std::set<std::string> names;
  for (const std::string& line : values["map"].as<std::vector<std::string>>()) {
    try {
      config.maps.push_back(parse_map_spec(line));
    } catch (const ConfigError& e) {
      throw ConfigError(options.where("map") + ": " + e.what());
    }
    if (!names.insert(config.maps.back().name).second) {
      throw ConfigError(options.where("map") + ": map '" + config.maps.back().name +
                        "' declared twice");
    }
  }
  config.redis.url = values["redis-url"].as<std::string>();
  config.redis.timeout_seconds = values["redis-timeout"].as<double>();
  if (!(config.redis.timeout_seconds > 0)) {
    throw ConfigError(options.where("redis-timeout") + ": must be more than 0 seconds");
  }
  std::istringstream uris(values["ldap-server"].as<std::string>());
  for (std::string uri; uris >> uri;) config.ldap.servers.push_back(uri);
  config.ldap.bind_dn = values["ldap-bind-dn"].as<std::string>();
  config.ldap.bind_password_file = values["ldap-bind-password-file"].as<std::string>();
  config.ldap.timeout_seconds = values["ldap-timeout"].as<double>();
  if (!(config.ldap.timeout_seconds > 0)) {
    throw ConfigError(options.where("ldap-timeout") + ": must be more than 0 seconds");
  }
  for (const MapSpec& spec : config.maps) {
    if (spec.kind == MapSpec::Kind::Ldap && config.ldap.servers.empty()) {
      throw ConfigError("map '" + spec.name + "' is an ldap map: --ldap-server is needed");
    }
  }
  config.worker_threads = values["workers"].as<size_t>();
  if (config.worker_threads == 0) throw ConfigError(options.where("workers") + ": must be > 0");
  config.request_deadline_seconds = values["request-deadline"].as<double>();
  if (!(config.request_deadline_seconds > 0)) {
    throw ConfigError(options.where("request-deadline") + ": must be more than 0 seconds");
  }
  config.limits.max_request_bytes = values["max-request-bytes"].as<size_t>();
  config.limits.max_key_bytes = values["max-key-bytes"].as<size_t>();
  if (config.limits.max_key_bytes == 0 ||
      config.limits.max_key_bytes >= config.limits.max_request_bytes) {
    throw ConfigError(options.where("max-key-bytes") +
                      ": must be more than 0 and below --max-request-bytes");
  }
  config.cache_ttl_seconds = values["cache-ttl"].as<double>();
  if (!(config.cache_ttl_seconds >= 0)) {
    throw ConfigError(options.where("cache-ttl") + ": must be 0 (off) or more seconds");
  }
  config.cache_size = values["cache-size"].as<size_t>();
  return config;
}

}  // namespace postern::tables
