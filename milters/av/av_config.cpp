// av_config.cpp — option table → AvConfig, with every check done before listening.
#include "milters/av/av_config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <limits>

#include "common/config_error.hpp"

namespace postern::av {
namespace {

std::string default_tmp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

int64_t get_count(const po::variables_map& values, const char* name, int64_t min, int64_t max) {
  int64_t value = values[name].as<int64_t>();
  if (value < min || value > max) {
    throw ConfigError(std::string("option --") + name + ": " + std::to_string(value) +
                      " is out of range " + std::to_string(min) + ".." + std::to_string(max));
  }
  return value;
}

void check_tmp_dir(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw ConfigError("option --tmp-dir: '" + dir + "' is not a directory");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw ConfigError("option --tmp-dir: '" + dir + "' is not writable");
  }
}

EngineLimits build_limits(const po::variables_map& values) {
  constexpr int64_t kMax32 = std::numeric_limits<uint32_t>::max();
  constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();
  EngineLimits limits;
  limits.max_scan_size = static_cast<uint64_t>(get_count(values, "max-scan-size", 0, kMax64));
  limits.max_file_size = static_cast<uint64_t>(get_count(values, "max-file-size", 0, kMax64));
  limits.max_recursion = static_cast<uint32_t>(get_count(values, "max-recursion", 1, kMax32));
  limits.max_files = static_cast<uint32_t>(get_count(values, "max-files", 0, kMax32));
  limits.max_scan_time_ms = static_cast<uint32_t>(get_count(values, "max-scan-time", 0, kMax32));
  return limits;
}

}  // namespace

void add_av_options(po::options_description& options) {
  EngineLimits limits;
  options.add_options()  //
      ("database", po::value<std::string>()->default_value("/var/lib/clamav")->value_name("DIR"),
       "ClamAV database directory (.cvd/.cld/.cud, .ndb/.hdb/.hsb/.ldb/.yar ...); watched and "
       "reloaded when it changes")  //
      ("tmp-dir", po::value<std::string>()->default_value(default_tmp_dir())->value_name("DIR"),
       "directory for spooled messages and libclamav's temporary files")  //
      ("spool-threshold", po::value<int64_t>()->default_value(1 << 20)->value_name("BYTES"),
       "messages larger than this are spooled to a private temp file instead of memory")  //
      ("max-size", po::value<int64_t>()->default_value(10240000)->value_name("BYTES"),
       "messages larger than this are not scanned (see --oversize); 0 = no limit; the default "
       "is Postfix's message_size_limit default")  //
      ("oversize", po::value<std::string>()->default_value("accept")->value_name("accept|tempfail"),
       "what a message over --max-size gets: accept with 'X-Virus-Scanned: skipped (size)', or "
       "452 4.3.4")  //
      ("on-virus",
       po::value<std::string>()->default_value("reject")->value_name(
           "reject|discard|quarantine|accept"),
       "what a hit does: 550 5.7.1 'Virus found: SIG', discard, Postfix hold queue, or accept "
       "with 'X-Virus-Status: Infected (SIG)'")  //
      ("add-headers", po::value<bool>()->default_value(true)->implicit_value(true),
       "add X-Virus-Scanned and X-Virus-Status to inbound mail")  //
      ("outbound-hosts", po::value<std::string>()->default_value("")->value_name("CIDRS"),
       "clients whose mail is outbound: no X-Virus-* headers (SASL-authenticated mail too)")  //
      ("max-scan-size",
       po::value<int64_t>()
           ->default_value(static_cast<int64_t>(limits.max_scan_size))
           ->value_name("BYTES"),
       "libclamav: bytes scanned per message at most (clamd MaxScanSize)")  //
      ("max-file-size",
       po::value<int64_t>()
           ->default_value(static_cast<int64_t>(limits.max_file_size))
           ->value_name("BYTES"),
       "libclamav: largest part or archive member scanned (clamd MaxFileSize)")  //
      ("max-recursion", po::value<int64_t>()->default_value(limits.max_recursion)->value_name("N"),
       "libclamav: nesting depth of archives and MIME parts (clamd MaxRecursion)")  //
      ("max-files", po::value<int64_t>()->default_value(limits.max_files)->value_name("N"),
       "libclamav: files scanned inside one message (clamd MaxFiles)")  //
      ("max-scan-time",
       po::value<int64_t>()->default_value(limits.max_scan_time_ms)->value_name("MS"),
       "libclamav: scan time per message in milliseconds; past it the message is tempfailed "
       "(clamd MaxScanTime)")  //
      ("bytecode", po::value<bool>()->default_value(true)->implicit_value(true),
       "load bytecode signatures (as clamd does)")  //
      ("heuristic-alerts", po::value<bool>()->default_value(true)->implicit_value(true),
       "report heuristic detections (as clamscan and clamd do by default)")  //
      ("watch-database", po::value<bool>()->default_value(true)->implicit_value(true),
       "reload the engine when the database directory changes (inotify); SIGHUP and SIGUSR2 "
       "reload in any case")  //
      ("reload-settle", po::value<int64_t>()->default_value(1000)->value_name("MS"),
       "reload once the database directory has been quiet this long, in milliseconds");
}

AvConfig build_av_config(const po::variables_map& values) {
  AvConfig config;
  std::string tmp_dir = values["tmp-dir"].as<std::string>();
  check_tmp_dir(tmp_dir);
  config.engine.database_dir = values["database"].as<std::string>();
  if (config.engine.database_dir.empty()) throw ConfigError("option --database: empty");
  config.engine.tmp_dir = tmp_dir;
  config.engine.limits = build_limits(values);
  config.engine.bytecode = values["bytecode"].as<bool>();
  config.engine.heuristic_alerts = values["heuristic-alerts"].as<bool>();
  constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();
  config.spool.memory_threshold =
      static_cast<uint64_t>(get_count(values, "spool-threshold", 0, kMax64));
  config.spool.max_size = static_cast<uint64_t>(get_count(values, "max-size", 0, kMax64));
  config.spool.tmp_dir = tmp_dir;
  config.policy.on_virus = parse_virus_action(values["on-virus"].as<std::string>());
  config.policy.on_oversize = parse_oversize_action(values["oversize"].as<std::string>());
  config.policy.scanner = "ClamAV " + clamav_version() + " (postern-av)";
  config.add_headers = values["add-headers"].as<bool>();
  config.outbound_hosts = CidrList::parse(values["outbound-hosts"].as<std::string>());
  config.watch_database = values["watch-database"].as<bool>();
  config.reload_settle_ms = static_cast<int>(get_count(values, "reload-settle", 0, 3600000));
  return config;
}

AvMetrics::AvMetrics(metrics::Registry& registry)
    : clean(registry.counter("postern_av_messages_total", "Messages by scan result",
                             {{"result", "clean"}})),
      infected(registry.counter("postern_av_messages_total", "Messages by scan result",
                                {{"result", "infected"}})),
      error(registry.counter("postern_av_messages_total", "Messages by scan result",
                             {{"result", "error"}})),
      timeout(registry.counter("postern_av_messages_total", "Messages by scan result",
                               {{"result", "timeout"}})),
      skipped(registry.counter("postern_av_messages_total", "Messages by scan result",
                               {{"result", "skipped"}})),
      no_engine(registry.counter("postern_av_messages_total", "Messages by scan result",
                                 {{"result", "no-engine"}})),
      spooled(registry.counter("postern_av_spooled_total",
                               "Messages spooled to a temp file (over --spool-threshold)")),
      scan_seconds(registry.histogram("postern_av_scan_seconds", "libclamav scan time per message",
                                      metrics::default_seconds_buckets())),
      loads_ok(registry.counter("postern_av_engine_loads_total", "Engine loads by result",
                                {{"result", "ok"}})),
      loads_failed(registry.counter("postern_av_engine_loads_total", "Engine loads by result",
                                    {{"result", "failed"}})),
      signatures(registry.gauge("postern_av_engine_signatures",
                                "Signatures in the current engine (0: no engine)")),
      load_seconds(registry.gauge("postern_av_engine_load_seconds",
                                  "Load and compile time of the current engine")),
      faults(registry.counter("postern_av_milter_errors_total",
                              "Faults in a milter step (answered with TEMPFAIL)")) {}

metrics::Counter& AvMetrics::messages(const std::string& result) const {
  if (result == "clean") return clean;
  if (result == "infected") return infected;
  if (result == "timeout") return timeout;
  if (result == "skipped") return skipped;
  if (result == "no-engine") return no_engine;
  return error;
}

}  // namespace postern::av
