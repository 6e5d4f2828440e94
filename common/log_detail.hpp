// log_detail.hpp — internals of log.cpp exposed for unit tests: the value quoting rule and a
// sink that captures finished lines instead of writing them. Not for daemon code.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/log.hpp"

namespace postern::log::detail {

/// Longest value kept, in bytes of the original text; longer values end in "...".
inline constexpr std::size_t max_value_bytes = 256;

/// Appends `value` as it appears after "key=": bare when safe, else double-quoted with
/// \" \\ \n \r \t and \xNN escapes; truncated to max_value_bytes plus "...".
void append_value(std::string& out, std::string_view value);

/// Receives each finished line (no prefix, no newline) instead of stderr/syslog.
using Sink = std::function<void(Level, std::string_view line)>;
/// Installs `sink` (empty = back to the real target). Call before threads start.
void set_sink(Sink sink);

}  // namespace postern::log::detail
