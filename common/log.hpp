// log.hpp — one line per event: "EVENT key=value key=value", event first, queue_id next when
// known. Values holding spaces, quotes, '=' or control characters are quoted and escaped;
// untrusted values are truncated (max 256 bytes each). Target: stderr (for s6-log) or syslog
// (facility mail). Thread-safe: each line is written with one write(2)/syslog(3) call.
// Warnings and errors are prefixed like Postfix does ("warning: ", "error: ").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace postern::log {

enum class Level { Debug, Info, Warning, Error };
enum class Target { Stderr, Syslog };

/// Set once at startup (before threads). `program` is the syslog ident ("postern-dkim").
void init(std::string_view program, Target target, Level min_level);
/// "debug|info|warning|error" → Level; throws postern::ConfigError otherwise.
Level parse_level(std::string_view text);
/// "stderr|syslog" → Target; throws postern::ConfigError otherwise.
Target parse_target(std::string_view text);

/// Builder for one line; emitted when destroyed (at the end of the full expression).
class Event {
 public:
  Event(Level level, std::string_view name);
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();
  Event& kv(std::string_view key, std::string_view value);
  Event& kv(std::string_view key, const std::string& value) {
    return kv(key, std::string_view(value));
  }
  Event& kv(std::string_view key, const char* value) { return kv(key, std::string_view(value)); }
  Event& kv(std::string_view key, int64_t value);
  Event& kv(std::string_view key, uint64_t value);
  Event& kv(std::string_view key, int value) { return kv(key, static_cast<int64_t>(value)); }
  Event& kv(std::string_view key, unsigned value) { return kv(key, static_cast<uint64_t>(value)); }
  Event& kv(std::string_view key, double value);
  Event& kv(std::string_view key, bool value) { return kv(key, value ? "yes" : "no"); }

 private:
  Level level_;
  bool enabled_;
  std::string line_;
};

inline Event debug(std::string_view name) {
  return Event(Level::Debug, name);
}
inline Event info(std::string_view name) {
  return Event(Level::Info, name);
}
inline Event warning(std::string_view name) {
  return Event(Level::Warning, name);
}
inline Event error(std::string_view name) {
  return Event(Level::Error, name);
}

}  // namespace postern::log
