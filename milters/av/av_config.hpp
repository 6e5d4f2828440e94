// av_config.hpp — postern-av's option table and the typed, validated configuration built from
// it before anything listens, plus its metrics. Errors throw postern::ConfigError (what, which
// option, why).
#pragma once

#include <string>

#include "common/cidr.hpp"
#include "common/metrics.hpp"
#include "common/options.hpp"
#include "milters/av/engine.hpp"
#include "milters/av/message.hpp"
#include "milters/av/verdict.hpp"

namespace postern::av {

/// Everything sessions and the reloader need; built once, read-only afterwards.
struct AvConfig {
  EngineOptions engine;  // --database, --tmp-dir, limits, --bytecode, --heuristic-alerts
  SpoolLimits spool;     // --spool-threshold, --max-size, --tmp-dir
  VerdictPolicy policy;  // --on-virus, --oversize
  /// --add-headers: X-Virus-Scanned/X-Virus-Status on inbound mail.
  bool add_headers = true;
  /// --outbound-hosts: clients whose mail is outbound (no headers); SASL-authenticated
  /// clients ({auth_authen} set) count as outbound too.
  CidrList outbound_hosts;
  /// --watch-database, --reload-settle (milliseconds).
  bool watch_database = true;
  int reload_settle_ms = 1000;
};

/// Declare postern-av's options.
void add_av_options(po::options_description& options);

/// Build and validate the configuration from parsed options (the temp dir must exist and be
/// a writable directory). Throws ConfigError.
AvConfig build_av_config(const po::variables_map& values);

/// postern-av's metrics, registered once; updated lock-free from any thread.
struct AvMetrics {
  /// Registers every series (all at 0) in `registry`, which must outlive this object.
  explicit AvMetrics(metrics::Registry& registry);
  /// postern_av_messages_total{result=...} for an Action::result word.
  metrics::Counter& messages(const std::string& result) const;

  metrics::Counter &clean, &infected, &error, &timeout, &skipped, &no_engine;
  /// postern_av_spooled_total: messages that went to a temp file.
  metrics::Counter& spooled;
  /// postern_av_scan_seconds: one scan (libclamav), in seconds.
  metrics::Histogram& scan_seconds;
  /// postern_av_engine_loads_total{result=ok|failed}.
  metrics::Counter& loads_ok;
  metrics::Counter& loads_failed;
  /// postern_av_engine_signatures: signatures in the current engine (0 = none).
  metrics::Gauge& signatures;
  /// postern_av_engine_load_seconds: the last successful load + compile, in seconds.
  metrics::Gauge& load_seconds;
  /// postern_av_milter_errors_total: faults in a session step (TEMPFAIL).
  metrics::Counter& faults;
};

}  // namespace postern::av
