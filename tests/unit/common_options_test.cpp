// common_options_test.cpp — DaemonOptions: precedence (defaults < file < env < flags),
// multi-valued options from one source, errors naming their source, --help/--version.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/options.hpp"

namespace postern {
namespace {

// argv and environ-style arrays that outlive the parse call.
struct Args {
  std::vector<std::string> argv_storage, env_storage;
  std::vector<const char*> argv;
  std::vector<char*> env;
  Args(std::vector<std::string> a, std::vector<std::string> e)
      : argv_storage(std::move(a)), env_storage(std::move(e)) {
    argv.push_back("postern-test");
    for (auto& s : argv_storage) argv.push_back(s.c_str());
    argv.push_back(nullptr);
    for (auto& s : env_storage) env.push_back(s.data());
    env.push_back(nullptr);
  }
};

std::string write_file(const std::string& name, const std::string& text) {
  std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

DaemonOptions make_options() {
  DaemonOptions o("test", "postern-test", "inet:8891@127.0.0.1");
  o.options().add_options()                                                             //
      ("key-file", po::value<std::string>()->default_value("/etc/key"), "private key")  //
      ("header", po::value<std::vector<std::string>>(), "header to sign (repeatable)")  //
      ("sign", po::bool_switch(), "sign messages");
  return o;
}

std::optional<int> parse(DaemonOptions& o, std::vector<std::string> flags,
                         std::vector<std::string> env) {
  Args args(std::move(flags), std::move(env));
  return o.parse(static_cast<int>(args.argv.size() - 1), args.argv.data(), args.env.data());
}

std::string parse_error(std::vector<std::string> flags, std::vector<std::string> env) {
  DaemonOptions o = make_options();
  try {
    parse(o, std::move(flags), std::move(env));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Options, Defaults) {
  DaemonOptions o = make_options();
  EXPECT_EQ(parse(o, {}, {}), std::nullopt);
  EXPECT_EQ(o.common().socket.milter_notation(), "inet:8891@127.0.0.1");
  EXPECT_EQ(o.common().ready_fd, -1);
  EXPECT_EQ(o.common().log_level, log::Level::Info);
  EXPECT_EQ(o.common().log_target, log::Target::Stderr);
  EXPECT_FALSE(o.common().check_config);
  EXPECT_EQ(o.values()["key-file"].as<std::string>(), "/etc/key");
  EXPECT_EQ(o.values().count("header"), 0u);
  EXPECT_EQ(o.where("key-file"), "default for --key-file");
}

TEST(Options, Precedence) {
  std::string file =
      write_file("prec.conf", "# comment\n\nkey-file = /file/key\nlog-level = warning\n");
  struct Case {
    std::vector<std::string> flags, env;
    std::string want_key, want_where;
  } cases[] = {
      {{}, {}, "/etc/key", "default for --key-file"},
      {{"--config", file}, {}, "/file/key", file + ":3"},
      {{"--config", file},
       {"POSTERN_TEST_KEY_FILE=/env/key"},
       "/env/key",
       "environment POSTERN_TEST_KEY_FILE"},
      {{}, {"POSTERN_TEST_CONFIG=" + file}, "/file/key", file + ":3"},
      {{"--config", file, "--key-file", "/flag/key"},
       {"POSTERN_TEST_KEY_FILE=/env/key"},
       "/flag/key",
       "option --key-file"},
      {{"--key-file=/flag/key"}, {}, "/flag/key", "option --key-file"},
  };
  for (const auto& c : cases) {
    DaemonOptions o = make_options();
    parse(o, c.flags, c.env);
    std::string got = o.values()["key-file"].as<std::string>();
    EXPECT_EQ(got, c.want_key) << "got " << got << ", want " << c.want_key;
    EXPECT_EQ(o.where("key-file"), c.want_where)
        << "got " << o.where("key-file") << ", want " << c.want_where;
  }
}

TEST(Options, CommonOptionsFromEachSource) {
  std::string file =
      write_file("common.conf", "socket = unix:/run/x.sock\nlog = syslog\nready-fd = 3\n");
  DaemonOptions o = make_options();
  parse(o, {"--config", file, "--log-level", "debug"},
        {"POSTERN_TEST_USER=postern", "POSTERN_TEST_METRICS_LISTEN=127.0.0.1:9100", "OTHER_VAR=1",
         "POSTERN_TESTX=1"});
  EXPECT_EQ(o.common().socket.path, "/run/x.sock");
  EXPECT_EQ(o.common().log_target, log::Target::Syslog);
  EXPECT_EQ(o.common().ready_fd, 3);
  EXPECT_EQ(o.common().log_level, log::Level::Debug);
  EXPECT_EQ(o.common().user, "postern");
  EXPECT_EQ(o.common().metrics_listen, "127.0.0.1:9100");
  EXPECT_EQ(o.common().config_file, file);
}

TEST(Options, MultiValuedFromHighestSourceOnly) {
  std::string file = write_file("multi.conf", "header = From\nheader = Subject\n");
  using V = std::vector<std::string>;
  struct Case {
    std::vector<std::string> flags, env;
    V want;
  } cases[] = {
      {{"--config", file}, {}, V{"From", "Subject"}},
      {{"--config", file}, {"POSTERN_TEST_HEADER=To"}, V{"To"}},
      {{"--config", file, "--header", "Date", "--header", "Cc"},
       {"POSTERN_TEST_HEADER=To"},
       V{"Date", "Cc"}},
      {{}, {"POSTERN_TEST_HEADER=To, Cc"}, V{"To, Cc"}},  // one variable, one value
  };
  for (const auto& c : cases) {
    DaemonOptions o = make_options();
    parse(o, c.flags, c.env);
    V got = o.values()["header"].as<V>();
    EXPECT_EQ(got, c.want) << "got " << testing::PrintToString(got) << ", want "
                           << testing::PrintToString(c.want);
  }
}

TEST(Options, BoolSwitchFromEachSource) {
  struct Case {
    std::vector<std::string> flags, env;
    bool want;
  } cases[] = {
      {{}, {}, false},
      {{"--sign"}, {}, true},
      {{}, {"POSTERN_TEST_SIGN=yes"}, true},
      {{}, {"POSTERN_TEST_SIGN=false"}, false},
  };
  for (const auto& c : cases) {
    DaemonOptions o = make_options();
    parse(o, c.flags, c.env);
    EXPECT_EQ(o.values()["sign"].as<bool>(), c.want)
        << testing::PrintToString(c.flags) << testing::PrintToString(c.env);
  }
}

TEST(Options, ErrorsNameTheSource) {
  std::string unknown = write_file("unknown.conf", "log = stderr\nfoo = 1\n");
  std::string bad_line = write_file("badline.conf", "just words\n");
  std::string help = write_file("help.conf", "help = 1\n");
  std::string section = write_file("section.conf", "[main]\n");
  std::string twice = write_file("twice.conf", "ready-fd = 3\nready-fd = 4\n");
  std::string missing = testing::TempDir() + "/does-not-exist.conf";
  struct Case {
    std::vector<std::string> flags, env;
    std::string want;
  } cases[] = {
      {{"--config", unknown}, {}, unknown + ":2: unknown option 'foo'"},
      {{"--config", bad_line}, {}, bad_line + ":1: expected 'name = value'"},
      {{"--config", help}, {}, help + ":1: option 'help' is allowed only on the command line"},
      {{"--config", section}, {}, section + ":1: [sections] are not supported"},
      {{"--config", twice}, {}, twice + ":2: takes one value, got '3', '4'"},
      {{"--config", missing}, {}, missing + ": cannot read: No such file or directory"},
      {{}, {"POSTERN_TEST_FOO=1"}, "environment POSTERN_TEST_FOO: unknown option 'foo'"},
      {{},
       {"POSTERN_TEST_HELP=1"},
       "environment POSTERN_TEST_HELP: option 'help' is allowed only on the command line"},
      {{},
       {"POSTERN_TEST_READY_FD=x"},
       "environment POSTERN_TEST_READY_FD: 'x' is not a valid number"},
      {{},
       {"POSTERN_TEST_SIGN=maybe"},
       "environment POSTERN_TEST_SIGN: 'maybe' is not a boolean (yes/no, true/false, 1/0)"},
      {{"--ready-fd", "x"}, {}, "option --ready-fd: 'x' is not a valid number"},
      {{"--ready-fd", "3x"}, {}, "option --ready-fd: '3x' is not a valid number"},
      {{"--ready-fd", "-2"}, {}, "option --ready-fd: -2 is not a file descriptor"},
      {{"--log-level", "loud"},
       {},
       "option --log-level: 'loud' is not a log level (debug, info, warning, error)"},
      {{"--log", "file"}, {}, "option --log: 'file' is not a log target (stderr, syslog)"},
      {{"--metrics-listen", "9100"},
       {},
       "option --metrics-listen: '9100' is not HOST:PORT with PORT in 1..65535"},
      {{},
       {"POSTERN_TEST_SOCKET=tcp:1"},
       "environment POSTERN_TEST_SOCKET: socket 'tcp:1': unknown family 'tcp' (inet, inet6, unix)"},
      {{"--nope"}, {}, "command line: unrecognised option '--nope'"},
      {{"--key"}, {}, "command line: unrecognised option '--key'"},  // no abbreviations
      {{"stray"}, {}, "command line: unexpected argument 'stray'"},
  };
  for (const auto& c : cases) {
    std::string got = parse_error(c.flags, c.env);
    EXPECT_EQ(got, c.want) << "got " << got << ", want " << c.want;
  }
}

TEST(Options, HelpPrintsTableAndExitsZero) {
  DaemonOptions o = make_options();
  testing::internal::CaptureStdout();
  auto status = parse(o, {"--help"}, {"POSTERN_TEST_FOO=ignored-when-help"});
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(status, std::optional<int>(0));
  for (const char* want :
       {"Usage: postern-test", "--socket", "--ready-fd", "--key-file", "/etc/key",
        "POSTERN_TEST_NAME", "POSTERN_TEST_LOG_LEVEL=debug", "name = value"}) {
    EXPECT_NE(out.find(want), std::string::npos) << "help lacks " << want << "; got:\n" << out;
  }
}

TEST(Options, VersionPrintsProgramAndVersion) {
  DaemonOptions o = make_options();
  testing::internal::CaptureStdout();
  auto status = parse(o, {"--version"}, {});
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(status, std::optional<int>(0));
  EXPECT_EQ(out.rfind("postern-test ", 0), 0u) << "got " << out;
}

TEST(Options, EnvName) {
  DaemonOptions o("dkim", "postern-dkim", "inet:8891");
  EXPECT_EQ(o.env_name("key-file"), "POSTERN_DKIM_KEY_FILE");
  EXPECT_EQ(o.env_name("socket"), "POSTERN_DKIM_SOCKET");
}

}  // namespace
}  // namespace postern
