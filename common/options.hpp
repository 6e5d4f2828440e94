// options.hpp — the option table every daemon shares, over Boost.Program_options.
// Precedence: defaults < config file (--config) < environment POSTERN_<DAEMON>_<OPTION>
// (option name upper-cased, '-' → '_') < command-line flags. A multi-valued option takes all
// its values from the highest source that sets it. The same table yields --help, config-file
// keys ("key-file = /etc/..."), and environment names.
// Errors (unknown option, bad value, unreadable --config file) throw ConfigError naming the
// source: "option --ready-fd: 'x' is not a valid number", "/etc/postern/dkim.conf:12: unknown
// option 'foo'", "environment POSTERN_DKIM_FOO: unknown option 'foo'". Every POSTERN_<DAEMON>_*
// variable must name an option. Config file: one "name = value" per line, blank lines and lines
// starting with
// '#' ignored, no [sections]; repeat a line for a multi-valued option. One environment variable
// gives one value (no splitting). Daemon options must not use composing(): sources never merge.
#pragma once

#include <boost/program_options.hpp>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/config_error.hpp"
#include "common/log.hpp"
#include "common/socket_spec.hpp"

namespace postern {

namespace po = boost::program_options;

/// Options every daemon has, parsed and validated.
struct CommonOptions {
  SocketSpec socket;            // --socket
  std::string user;             // --user: drop to this account after binding ("" = stay)
  unsigned socket_mode = 0660;  // --socket-mode: permission bits of a unix socket
  int ready_fd = -1;            // --ready-fd: write "\n" here once listening (-1 = none)
  log::Target log_target = log::Target::Stderr;  // --log stderr|syslog
  log::Level log_level = log::Level::Info;       // --log-level
  std::string metrics_listen;                    // --metrics-listen HOST:PORT ("" = off)
  std::string config_file;                       // --config
  bool check_config = false;                     // --check-config
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
  /// Where an option's value came from, for daemon-side validation messages:
  /// "option --key-file", "environment POSTERN_DKIM_KEY_FILE", "/etc/x.conf:3",
  /// "default for --key-file"; "option --NAME" if not set at all.
  std::string where(const std::string& option) const;
  /// The --help text: usage, every option with its default, env and config-file syntax.
  void print_help(std::ostream& out) const;

 private:
  struct Item;  // one option occurrence read from a source
  enum class Source { Flags, Environment, File };
  void add_common_options();
  void store_items(const std::vector<Item>& items, Source source);
  void store_one(const Item& item);
  std::vector<Item> read_flags(int argc, const char* const argv[]) const;
  std::vector<Item> read_environment(char** env) const;
  std::vector<Item> read_config_file(const std::string& path) const;
  void fill_common();

  std::string daemon_, program_, default_socket_;
  po::options_description common_desc_;
  po::options_description specific_;
  po::options_description all_;
  po::variables_map vm_;
  std::map<std::string, std::string> where_;
  CommonOptions common_;
};

}  // namespace postern
