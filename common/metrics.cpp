// metrics.cpp — see metrics.hpp.
#include "common/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace postern::metrics {
namespace {

bool name_start(char c, bool colon_ok) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
}

bool valid_name(std::string_view name, bool colon_ok) {
  if (name.empty() || !name_start(name[0], colon_ok)) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return name_start(c, colon_ok) || (c >= '0' && c <= '9'); });
}

void check_names(const std::string& name, const Labels& labels, bool histogram) {
  if (!valid_name(name, true)) throw std::invalid_argument("bad metric name '" + name + "'");
  for (const auto& [label, value] : labels) {
    bool reserved = label.rfind("__", 0) == 0 || (histogram && label == "le");
    if (!valid_name(label, false) || reserved) {
      throw std::invalid_argument("bad label name '" + label + "' for metric " + name);
    }
  }
}

// {a="x",b="y"}, with `extra` (e.g. le="0.5") appended; "" when there is no label at all.
std::string label_text(const Labels& labels, const std::string& extra = "") {
  if (labels.empty() && extra.empty()) return "";
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ',';
    out += name + "=\"" + escape_label_value(value) + '"';
  }
  if (!extra.empty()) {
    if (out.size() > 1) out += ',';
    out += extra;
  }
  return out + '}';
}

void sample(std::string& out, const std::string& name, const std::string& labels,
            const std::string& value) {
  out += name;
  out += labels;
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds_.size() + 1)) {
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    bool increasing = i == 0 || upper_bounds_[i] > upper_bounds_[i - 1];
    if (!std::isfinite(upper_bounds_[i]) || !increasing) {
      throw std::invalid_argument("histogram bucket bounds must be finite and increasing");
    }
  }
}

void Histogram::observe(double value) noexcept {
  if (std::isnan(value)) return;
  auto bound = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  buckets_[static_cast<size_t>(bound - upper_bounds_.begin())].fetch_add(1,
                                                                         std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snap;
  snap.upper_bounds = upper_bounds_;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    snap.bucket_counts.push_back(buckets_[i].load(std::memory_order_relaxed));
  }
  snap.sum = sum_.load(std::memory_order_relaxed);
  return snap;
}

std::vector<double> default_seconds_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// One series: its labels and the one metric its family's type uses.
struct Registry::Series {
  Labels labels;
  Counter counter;
  Gauge gauge;
  std::unique_ptr<Histogram> histogram;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  return find_or_add(name, help, Type::Counter, labels, nullptr).counter;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  return find_or_add(name, help, Type::Gauge, labels, nullptr).gauge;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               const std::vector<double>& upper_bounds, const Labels& labels) {
  return *find_or_add(name, help, Type::Histogram, labels, &upper_bounds).histogram;
}

Registry::Series& Registry::find_or_add(const std::string& name, const std::string& help, Type type,
                                        const Labels& labels,
                                        const std::vector<double>* upper_bounds) {
  check_names(name, labels, type == Type::Histogram);
  std::lock_guard lock(mutex_);
  auto [it, added] = families_.try_emplace(name, Family{type, help, {}});
  Family& family = it->second;
  if (!added && (family.type != type || family.help != help)) {
    throw std::invalid_argument("metric " + name + " registered twice with another type or help");
  }
  for (auto& series : family.series) {
    if (series->labels == labels) return *series;
  }
  auto series = std::make_unique<Series>();
  series->labels = labels;
  if (upper_bounds) {
    if (!family.series.empty() &&
        family.series.front()->histogram->upper_bounds() != *upper_bounds) {
      throw std::invalid_argument("histogram " + name + " registered with other buckets");
    }
    series->histogram = std::make_unique<Histogram>(*upper_bounds);
  }
  family.series.push_back(std::move(series));
  return *family.series.back();
}

std::string Registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) render_family(out, name, family);
  return out;
}

void Registry::render_family(std::string& out, const std::string& name, const Family& family) {
  out += "# HELP " + name + ' ' + escape_help(family.help) + '\n';
  const char* type = family.type == Type::Counter ? "counter"
                     : family.type == Type::Gauge ? "gauge"
                                                  : "histogram";
  out += "# TYPE " + name + ' ' + type + '\n';
  for (const auto& series : family.series) {
    switch (family.type) {
      case Type::Counter:
        sample(out, name, label_text(series->labels), std::to_string(series->counter.value()));
        break;
      case Type::Gauge:
        sample(out, name, label_text(series->labels), format_value(series->gauge.value()));
        break;
      case Type::Histogram: {
        Histogram::Snapshot snap = series->histogram->snapshot();
        uint64_t cumulative = 0;
        for (size_t i = 0; i < snap.bucket_counts.size(); ++i) {
          cumulative += snap.bucket_counts[i];
          double bound = i < snap.upper_bounds.size() ? snap.upper_bounds[i] : INFINITY;
          std::string le = "le=\"" + format_value(bound) + '"';
          sample(out, name + "_bucket", label_text(series->labels, le), std::to_string(cumulative));
        }
        sample(out, name + "_sum", label_text(series->labels), format_value(snap.sum));
        sample(out, name + "_count", label_text(series->labels), std::to_string(cumulative));
        break;
      }
    }
  }
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Like Go's strconv 'g' with shortest precision (what Prometheus clients write): plain
  // decimals, exponent form only below 1e-4 or from 1e21 on.
  double magnitude = std::fabs(value);
  bool exponent = magnitude != 0 && (magnitude < 1e-4 || magnitude >= 1e21);
  char buffer[400];  // the longest fixed form of a double below 1e21 is far shorter
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value,
                              exponent ? std::chars_format::scientific : std::chars_format::fixed);
  return std::string(buffer, result.ptr);
}

void Health::add_check(std::string name, Check check) {
  std::lock_guard lock(mutex_);
  checks_.emplace_back(std::move(name), std::move(check));
}

Health::Status Health::status() const {
  std::vector<std::pair<std::string, Check>> checks;
  {
    std::lock_guard lock(mutex_);
    checks = checks_;
  }
  Status status;
  if (!ready()) status.text += "not ready\n";
  for (const auto& [name, check] : checks) {
    CheckResult result;
    try {
      result = check();
    } catch (const std::exception& e) {
      result = {false, e.what()};
    }
    if (!result.ok) status.text += name + ": " + escape_help(result.why) + '\n';
  }
  status.ok = status.text.empty();
  if (status.ok) status.text = "ok\n";
  return status;
}

}  // namespace postern::metrics
