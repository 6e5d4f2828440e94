// metrics.hpp — a small thread-safe metrics registry (counters, gauges, fixed-bucket
// histograms) rendered in the Prometheus text exposition format 0.0.4, and the health state
// behind /healthz (a readiness flag plus named checks).
// Hot path: a daemon registers each series once at startup and keeps the returned reference;
// inc()/set()/observe() are lock-free atomics. Registration and render() take a mutex.
// Bad metric or label names and a name registered twice with another type or help are bugs
// in the calling daemon: std::invalid_argument at startup.
// Source: https://prometheus.io/docs/instrumenting/exposition_formats/ (text format 0.0.4).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::metrics {

/// Label pairs of one series, e.g. {{"result", "signed"}}; rendered in the order given.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// A monotonic count (events, messages).
class Counter {
 public:
  /// Adds `n` (default 1). Lock-free; wraps only after 2^64 events.
  void inc(uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

/// A value that goes up and down (queue length, connections, readiness 0/1).
class Gauge {
 public:
  void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  /// Adds `delta` (negative to subtract). Lock-free.
  void add(double delta) noexcept { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

/// Observations counted into fixed buckets, e.g. durations in seconds.
class Histogram {
 public:
  /// `upper_bounds`: strictly increasing, finite bucket bounds (le="..."); +Inf is implicit.
  /// Throws std::invalid_argument otherwise.
  explicit Histogram(std::vector<double> upper_bounds);

  /// Counts `value` in the first bucket whose bound is >= value (+Inf if none) and adds it to
  /// the sum. Lock-free. NaN is ignored.
  void observe(double value) noexcept;

  /// A copy of the current state; buckets are per bucket (not cumulative), last one +Inf.
  /// Taken without a lock: under concurrent observe() the sum may lag the counts slightly.
  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> bucket_counts;  // upper_bounds.size() + 1 entries
    double sum = 0.0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& upper_bounds() const noexcept { return upper_bounds_; }

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // upper_bounds_.size() + 1
  std::atomic<double> sum_{0.0};
};

/// Default bucket bounds for short operations, in seconds: 0.5 ms … 10 s.
std::vector<double> default_seconds_buckets();

/// The metric families of one process. Thread-safe. References returned by counter(),
/// gauge() and histogram() stay valid as long as the registry.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// The series `name{labels}` of a counter family; the same call again returns the same
  /// series. `name`: [a-zA-Z_:][a-zA-Z0-9_:]*, conventionally ending in "_total";
  /// label names [a-zA-Z_][a-zA-Z0-9_]*, not starting "__". `help` is one line of text.
  /// Throws std::invalid_argument on a bad name or a family clash (other type or help).
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  /// Same for a gauge.
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  /// Same for a histogram; every series of a family must use the same `upper_bounds`
  /// (seconds, when the name ends in "_seconds"). Label "le" is reserved.
  Histogram& histogram(const std::string& name, const std::string& help,
                       const std::vector<double>& upper_bounds, const Labels& labels = {});

  /// Every family (sorted by name), series in registration order, in text format 0.0.4:
  /// "# HELP", "# TYPE", then one line per sample; histograms as _bucket{le=...} (cumulative,
  /// ending with le="+Inf"), _sum and _count. Ends with "\n" unless empty.
  std::string render() const;

 private:
  enum class Type { Counter, Gauge, Histogram };
  struct Series;
  struct Family {
    Type type;
    std::string help;
    std::vector<std::unique_ptr<Series>> series;
  };
  Series& find_or_add(const std::string& name, const std::string& help, Type type,
                      const Labels& labels, const std::vector<double>* upper_bounds);
  static void render_family(std::string& out, const std::string& name, const Family& family);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

/// Escapes a label value for the text format: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);
/// Escapes HELP text for the text format: backslash and newline.
std::string escape_help(std::string_view text);
/// A sample value as the text format writes it (as Go clients do): shortest round-trip
/// decimal ("0.0005", "2.5", "1"), exponent form below 1e-4 and from 1e21 ("5e-05",
/// "1e+21"), "+Inf", "-Inf", "NaN".
std::string format_value(double value);

/// What /healthz reports: ready once the daemon serves (set_ready), and every check passing.
/// Thread-safe.
class Health {
 public:
  /// Result of one check: ok, or not with a short reason ("engine not loaded").
  struct CheckResult {
    bool ok = true;
    std::string why;
  };
  using Check = std::function<CheckResult()>;

  /// Marks the daemon ready (its main socket listens) or not (starting, stopping).
  void set_ready(bool ready) noexcept { ready_.store(ready, std::memory_order_relaxed); }
  bool ready() const noexcept { return ready_.load(std::memory_order_relaxed); }

  /// Adds a check run on every status() call (from the metrics server thread): keep it quick
  /// and non-blocking. An exception it throws counts as failed, with its what() as reason.
  void add_check(std::string name, Check check);

  /// ok: "ok\n". Not ok: one line per problem, "not ready\n" and/or "NAME: WHY\n".
  struct Status {
    bool ok = true;
    std::string text;
  };
  Status status() const;

 private:
  std::atomic<bool> ready_{false};
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, Check>> checks_;
};

}  // namespace postern::metrics
