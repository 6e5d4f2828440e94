// options.hpp — the option table every daemon shares, over Boost.Program_options.
// Precedence: defaults < config file (--config) < environment POSTERN_<DAEMON>_<OPTION>
// (option name upper-cased, '-' → '_') < command-line flags. A multi-valued option takes all
// its values from the highest source that sets it. The same table yields --help, config-file
// keys ("key-file = /etc/..."), and environment names.
// Errors (unknown option, bad value, unreadable --config file) throw ConfigError naming the
// source: "option --ready-fd: 'x' is not a number", "/etc/postern/dkim.conf:12: unknown option 'foo'".
#pragma once

#include <boost/program_options.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/config_error.hpp"
#include "common/log.hpp"
#include "common/socket_spec.hpp"

namespace postern {

namespace po = boost::program_options;

/// Options every daemon has, parsed and validated.
struct CommonOptions {
  SocketSpec socket;             // --socket
  std::string user;              // --user: drop to this account after binding ("" = stay)
  int ready_fd = -1;             // --ready-fd: write "\n" here once listening (-1 = none)
  log::Target log_target = log::Target::Stderr;  // --log stderr|syslog
  log::Level log_level = log::Level::Info;       // --log-level
  std::string metrics_listen;    // --metrics-listen HOST:PORT ("" = off)
  std::string config_file;       // --config
  bool check_config = false;     // --check-config
};

class DaemonOptions {
 public:
  /// `daemon` is the short name used in environment names ("dkim" → POSTERN_DKIM_*),
  /// `program` the executable name, `default_socket` the --socket default in libmilter notation.
  DaemonOptions(std::string daemon, std::string program, std::string default_socket);

  /// Add daemon-specific options here before parse().
  po::options_description& options() { return specific_; }

  /// Parse argv, the environment (`env`, e.g. ::environ) and the config file.
  /// Returns an exit status when the run is over (--help or --version printed: 0),
  /// nullopt to go on. Throws ConfigError on any bad input.
  std::optional<int> parse(int argc, const char* const argv[], char** env);

  const po::variables_map& values() const { return vm_; }
  const CommonOptions& common() const { return common_; }
  /// Environment variable name for an option ("key-file" → "POSTERN_DKIM_KEY_FILE").
  std::string env_name(const std::string& option) const;

 private:
  std::string daemon_, program_, default_socket_;
  po::options_description specific_;
  po::variables_map vm_;
  CommonOptions common_;
};

}  // namespace postern
