// options.cpp — the shared option table: flags, environment and config file over
// Boost.Program_options, with precedence and error messages as options.hpp describes.
#include "common/options.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <typeinfo>

#ifndef POSTERN_VERSION
#error "POSTERN_VERSION must be defined (common/CMakeLists.txt sets it from PROJECT_VERSION)"
#endif

namespace postern {

struct DaemonOptions::Item {
  std::string key;
  std::vector<std::string> values;
  std::string where;  // "option --x", "environment POSTERN_D_X", "FILE:LINE"
};

namespace {

constexpr std::size_t max_config_line = 64 * 1024;  // bytes

std::string trim(std::string_view s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

std::string upper_env(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '-') c = '_';
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    out += c;
  }
  return out;
}

std::string lower_option(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '_') c = '-';
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out += c;
  }
  return out;
}

bool is_numeric_type(const po::value_semantic* semantic) {
  auto typed = dynamic_cast<const po::typed_value_base*>(semantic);
  if (!typed) return false;
  const std::type_info& t = typed->value_type();
  return t == typeid(int) || t == typeid(unsigned) || t == typeid(long) ||
         t == typeid(unsigned long) || t == typeid(long long) || t == typeid(unsigned long long) ||
         t == typeid(double) || t == typeid(short) || t == typeid(unsigned short);
}

std::string joined(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "'" : ", '") + v + "'";
  return out;
}

std::string joined_plain(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : " ") + v;
  return out;
}

// Boost's messages name the option in its own words; ours name the source instead.
std::string describe(const po::error& e, const po::option_description& d,
                     const std::vector<std::string>& values) {
  if (auto v = dynamic_cast<const po::validation_error*>(&e)) {
    switch (v->kind()) {
      case po::validation_error::invalid_option_value:
        return joined(values) + (is_numeric_type(d.semantic().get()) ? " is not a valid number"
                                                                     : " is not a valid value");
      case po::validation_error::invalid_bool_value:
        return joined(values) + " is not a boolean (yes/no, true/false, 1/0)";
      case po::validation_error::multiple_values_not_allowed:
        return "takes one value, got " + joined(values);
      case po::validation_error::at_least_one_value_required:
        return "needs a value";
      default:
        break;
    }
  }
  if (dynamic_cast<const po::multiple_occurrences*>(&e)) return "given more than once";
  return e.what();
}

template <class T>
T get_or(const po::variables_map& vm, const char* key, T fallback) {
  return vm.count(key) ? vm[key].as<T>() : fallback;
}

}  // namespace

DaemonOptions::DaemonOptions(std::string daemon, std::string program, std::string default_socket)
    : daemon_(std::move(daemon)),
      program_(std::move(program)),
      default_socket_(std::move(default_socket)),
      common_desc_("Common options"),
      specific_(program_ + " options") {
  add_common_options();
}

void DaemonOptions::add_common_options() {
  common_desc_.add_options()                                                                   //
      ("help", "print this help and exit")                                                     //
      ("version", "print the program name and version and exit")                               //
      ("config", po::value<std::string>()->value_name("FILE"), "read options from FILE")       //
      ("check-config", po::bool_switch(), "validate the configuration, then exit (0 = good)")  //
      ("socket", po::value<std::string>()->default_value(default_socket_)->value_name("SPEC"),
       "listen on SPEC: inet:PORT@HOST, inet6:PORT@HOST or unix:/path")  //
      ("socket-mode", po::value<std::string>()->default_value("0660")->value_name("MODE"),
       "permissions of a unix socket, octal; owner is --user (Postfix's user needs access)")  //
      ("user", po::value<std::string>()->default_value("")->value_name("USER"),
       "drop privileges to USER after binding (\"\" = stay)")  //
      ("ready-fd", po::value<int>()->default_value(-1)->value_name("N"),
       "write a newline to fd N once listening (s6 notification-fd)")  //
      ("log", po::value<std::string>()->default_value("stderr")->value_name("TARGET"),
       "log to stderr or syslog (facility mail)")  //
      ("log-level", po::value<std::string>()->default_value("info")->value_name("LEVEL"),
       "debug, info, warning or error")  //
      ("metrics-listen", po::value<std::string>()->default_value("")->value_name("HOST:PORT"),
       "serve Prometheus /metrics and /healthz on HOST:PORT (\"\" = off)");
}

std::string DaemonOptions::env_name(const std::string& option) const {
  return "POSTERN_" + upper_env(daemon_) + "_" + upper_env(option);
}

std::string DaemonOptions::where(const std::string& option) const {
  auto it = where_.find(option);
  return it != where_.end() ? it->second : "option --" + option;
}

void DaemonOptions::print_help(std::ostream& out) const {
  out << "Usage: " << program_ << " [options]\n\n" << common_desc_ << "\n";
  if (!specific_.options().empty()) out << specific_ << "\n";
  out << "Every option but --help and --version can also be set in the environment as\n"
      << env_name("NAME") << " (upper case, '-' as '_'; e.g. " << env_name("log-level")
      << "=debug;\none variable gives one value), and all but --config and --check-config in the\n"
      << "config file: one \"name = value\" per line, '#' starts a comment line, repeat a line\n"
      << "for a multi-valued option. Precedence: flags > environment > config file > defaults;\n"
      << "a multi-valued option takes all its values from one source.\n";
}

std::vector<DaemonOptions::Item> DaemonOptions::read_flags(int argc,
                                                           const char* const argv[]) const {
  po::parsed_options parsed(&all_);
  try {
    auto style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    parsed = po::command_line_parser(argc, argv).options(all_).style(style).run();
  } catch (const po::error& e) {
    throw ConfigError(std::string("command line: ") + e.what());
  }
  std::vector<Item> items;
  for (const auto& o : parsed.options) {
    if (o.string_key.empty())
      throw ConfigError("command line: unexpected argument '" + joined_plain(o.value) + "'");
    items.push_back({o.string_key, o.value, "option --" + o.string_key});
  }
  return items;
}

std::vector<DaemonOptions::Item> DaemonOptions::read_environment(char** env) const {
  const std::string prefix = env_name("");
  std::vector<Item> items;
  for (char** e = env; e && *e; ++e) {
    std::string_view entry(*e);
    if (entry.substr(0, prefix.size()) != prefix) continue;
    auto eq = entry.find('=');
    std::string name(entry.substr(0, eq));
    std::string value(eq == std::string_view::npos ? std::string_view() : entry.substr(eq + 1));
    std::string key = lower_option(std::string_view(name).substr(prefix.size()));
    items.push_back({key, {value}, "environment " + name});
  }
  return items;
}

std::vector<DaemonOptions::Item> DaemonOptions::read_config_file(const std::string& path) const {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read: " + std::strerror(errno));
  std::vector<Item> items;
  std::string line;
  for (unsigned number = 1; std::getline(in, line); ++number) {
    std::string where = path + ":" + std::to_string(number);
    if (line.size() > max_config_line)
      throw ConfigError(where + ": line is longer than 65536 bytes");
    std::string text = trim(line);
    if (text.empty() || text[0] == '#') continue;
    if (text[0] == '[') throw ConfigError(where + ": [sections] are not supported");
    auto eq = text.find('=');
    if (eq == std::string::npos) throw ConfigError(where + ": expected 'name = value'");
    std::string key = trim(std::string_view(text).substr(0, eq));
    if (key.empty()) throw ConfigError(where + ": missing option name before '='");
    items.push_back({key, {trim(std::string_view(text).substr(eq + 1))}, where});
  }
  if (in.bad()) throw ConfigError(path + ": read error: " + std::strerror(errno));
  return items;
}

// Checks that each item names an option allowed in `source`, then stores them grouped by
// option so one source's repeated values stay together.
void DaemonOptions::store_items(const std::vector<Item>& items, Source source) {
  std::vector<Item> grouped;
  for (const Item& item : items) {
    bool cmdline_only = item.key == "help" || item.key == "version";
    bool not_in_file = cmdline_only || item.key == "config" || item.key == "check-config";
    if (item.key.empty() || !all_.find_nothrow(item.key, false, false, false)) {
      throw ConfigError(item.where + ": unknown option '" + item.key + "'");
    }
    if ((source == Source::Environment && cmdline_only) ||
        (source == Source::File && not_in_file)) {
      throw ConfigError(item.where + ": option '" + item.key +
                        "' is allowed only on the command line");
    }
    auto it = std::find_if(grouped.begin(), grouped.end(),
                           [&](const Item& g) { return g.key == item.key; });
    if (it == grouped.end()) {
      grouped.push_back(item);
    } else {
      it->values.insert(it->values.end(), item.values.begin(), item.values.end());
      it->where = item.where;
    }
  }
  for (const Item& item : grouped) store_one(item);
}

// po::store keeps the first value stored for a non-composing option: sources are stored
// from highest to lowest precedence, so a lower source never overrides a higher one.
void DaemonOptions::store_one(const Item& item) {
  po::parsed_options one(&all_);
  one.options.emplace_back(item.key, item.values);
  const po::option_description& d = all_.find(item.key, false, false, false);
  bool first = vm_.count(item.key) == 0 || vm_[item.key].defaulted();
  try {
    po::store(one, vm_);
  } catch (const po::error& e) {
    throw ConfigError(item.where + ": " + describe(e, d, item.values));
  }
  if (first) where_[item.key] = item.where;
}

std::optional<int> DaemonOptions::parse(int argc, const char* const argv[], char** env) {
  if (all_.options().empty()) all_.add(common_desc_).add(specific_);
  store_items(read_flags(argc, argv), Source::Flags);
  if (vm_.count("help")) {
    print_help(std::cout);
    return 0;
  }
  if (vm_.count("version")) {
    std::cout << program_ << " " << POSTERN_VERSION << "\n";
    return 0;
  }
  store_items(read_environment(env), Source::Environment);
  if (vm_.count("config")) {
    store_items(read_config_file(vm_["config"].as<std::string>()), Source::File);
  }
  po::store(po::parsed_options(&all_), vm_);  // adds defaults for options no source set
  for (const auto& d : all_.options()) {
    if (!where_.count(d->long_name())) where_[d->long_name()] = "default for --" + d->long_name();
  }
  try {
    po::notify(vm_);
  } catch (const po::error& e) {
    throw ConfigError(e.what());
  }
  fill_common();
  return std::nullopt;
}

namespace {

// Re-throws a ConfigError from `parse` with the option's source in front.
template <class F>
auto checked(const DaemonOptions& options, const std::string& key, F parse) {
  try {
    return parse();
  } catch (const ConfigError& e) {
    throw ConfigError(options.where(key) + ": " + e.what());
  }
}

// "0660" → 0660; only permission bits, octal digits, nothing trailing.
unsigned parse_socket_mode(const std::string& text) {
  bool octal =
      !text.empty() && text.size() <= 4 && text.find_first_not_of("01234567") == std::string::npos;
  if (!octal) throw ConfigError("'" + text + "' is not an octal mode such as 0660");
  return static_cast<unsigned>(std::stoul(text, nullptr, 8));
}

void check_metrics_listen(const std::string& text) {
  if (text.empty()) return;
  auto colon = text.rfind(':');
  std::string port = colon == std::string::npos ? "" : text.substr(colon + 1);
  bool digits = !port.empty() && port.size() <= 5 &&
                port.find_first_not_of("0123456789") == std::string::npos;
  if (colon == 0 || !digits || std::stoul(port) < 1 || std::stoul(port) > 65535) {
    throw ConfigError("'" + text + "' is not HOST:PORT with PORT in 1..65535");
  }
}

}  // namespace

void DaemonOptions::fill_common() {
  CommonOptions c;
  c.config_file = get_or<std::string>(vm_, "config", "");
  c.check_config = get_or<bool>(vm_, "check-config", false);
  c.socket =
      checked(*this, "socket", [&] { return SocketSpec::parse(vm_["socket"].as<std::string>()); });
  c.user = vm_["user"].as<std::string>();
  c.socket_mode = checked(*this, "socket-mode",
                          [&] { return parse_socket_mode(vm_["socket-mode"].as<std::string>()); });
  c.ready_fd = vm_["ready-fd"].as<int>();
  if (c.ready_fd < -1) {
    throw ConfigError(where("ready-fd") + ": " + std::to_string(c.ready_fd) +
                      " is not a file descriptor");
  }
  c.log_target =
      checked(*this, "log", [&] { return log::parse_target(vm_["log"].as<std::string>()); });
  c.log_level = checked(*this, "log-level",
                        [&] { return log::parse_level(vm_["log-level"].as<std::string>()); });
  c.metrics_listen = vm_["metrics-listen"].as<std::string>();
  checked(*this, "metrics-listen", [&] { check_metrics_listen(c.metrics_listen); });
  common_ = std::move(c);
}

}  // namespace postern
