// log.cpp — one line per event to stderr or syslog; see log.hpp for the format.
#include "common/log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <string>

#include "common/config_error.hpp"
#include "common/log_detail.hpp"

namespace postern::log {
namespace {

struct State {
  std::string program = "postern";
  Target target = Target::Stderr;
  Level min_level = Level::Info;
  detail::Sink sink;
};

State& state() {
  static State s;
  return s;
}

bool is_plain(unsigned char c) {
  return c > 0x20 && c < 0x7f && c != '"' && c != '=' && c != '\\';
}

bool needs_quotes(std::string_view value) {
  if (value.empty()) return true;
  for (unsigned char c : value) {
    if (!is_plain(c)) return true;
  }
  return false;
}

void append_escaped(std::string& out, unsigned char c) {
  static constexpr char hex[] = "0123456789abcdef";
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      break;
  }
  if (c >= 0x20 && c < 0x7f) {
    out += static_cast<char>(c);
    return;
  }
  out += "\\x";
  out += hex[c >> 4];
  out += hex[c & 0xf];
}

const char* prefix(Level level) {
  switch (level) {
    case Level::Warning:
      return "warning: ";
    case Level::Error:
      return "error: ";
    default:
      return "";
  }
}

int syslog_priority(Level level) {
  switch (level) {
    case Level::Debug:
      return LOG_DEBUG;
    case Level::Info:
      return LOG_INFO;
    case Level::Warning:
      return LOG_WARNING;
    case Level::Error:
      return LOG_ERR;
  }
  return LOG_INFO;
}

// One write(2) for the whole line; retried only on EINTR or a short write.
void write_stderr(std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere left to report it
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

void emit(Level level, const std::string& line) {
  const State& s = state();
  if (s.sink) {
    s.sink(level, line);
  } else if (s.target == Target::Syslog) {
    ::syslog(syslog_priority(level), "%s%s", prefix(level), line.c_str());
  } else {
    write_stderr(std::string(prefix(level)) + line + "\n");
  }
}

template <class Number>
std::string number_text(Number value) {
  std::array<char, 64> buf{};
  auto result = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  return std::string(buf.data(), result.ptr);
}

}  // namespace

namespace detail {

void append_value(std::string& out, std::string_view value) {
  bool truncated = value.size() > max_value_bytes;
  if (truncated) value = value.substr(0, max_value_bytes);
  if (!needs_quotes(value)) {
    out += value;
    if (truncated) out += "...";
    return;
  }
  out += '"';
  for (unsigned char c : value) append_escaped(out, c);
  if (truncated) out += "...";
  out += '"';
}

void set_sink(Sink sink) {
  state().sink = std::move(sink);
}

}  // namespace detail

void init(std::string_view program, Target target, Level min_level) {
  State& s = state();
  if (s.target == Target::Syslog) ::closelog();
  s.program = std::string(program);
  s.target = target;
  s.min_level = min_level;
  // openlog keeps the pointer: s.program lives as long as the process.
  if (target == Target::Syslog) ::openlog(s.program.c_str(), LOG_PID, LOG_MAIL);
}

Level parse_level(std::string_view text) {
  if (text == "debug") return Level::Debug;
  if (text == "info") return Level::Info;
  if (text == "warning") return Level::Warning;
  if (text == "error") return Level::Error;
  throw ConfigError("'" + std::string(text) + "' is not a log level (debug, info, warning, error)");
}

Target parse_target(std::string_view text) {
  if (text == "stderr") return Target::Stderr;
  if (text == "syslog") return Target::Syslog;
  throw ConfigError("'" + std::string(text) + "' is not a log target (stderr, syslog)");
}

Event::Event(Level level, std::string_view name)
    : level_(level), enabled_(level >= state().min_level) {
  if (enabled_) line_ = std::string(name);
}

Event::~Event() {
  if (!enabled_) return;
  try {
    emit(level_, line_);
  } catch (...) {
    // Logging must never take the daemon down (e.g. bad_alloc building the line).
  }
}

Event& Event::kv(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  line_ += ' ';
  line_ += key;
  line_ += '=';
  detail::append_value(line_, value);
  return *this;
}

Event& Event::kv(std::string_view key, int64_t value) {
  return kv(key, number_text(value));
}
Event& Event::kv(std::string_view key, uint64_t value) {
  return kv(key, number_text(value));
}
Event& Event::kv(std::string_view key, double value) {
  return kv(key, number_text(value));
}

}  // namespace postern::log
