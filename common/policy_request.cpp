// policy_request.cpp — PolicyRequest and the incremental PolicyRequestParser (see policy.hpp).
// Protocol: Postfix SMTPD_POLICY_README, "Protocol description": "name=value" lines, an empty
// line ends the request. Input is untrusted: every size is capped before it grows.
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "common/policy.hpp"

namespace postern {

std::string_view PolicyRequest::get(std::string_view name) const {
  for (const auto& [key, value] : attrs_) {
    if (key == name) return value;
  }
  return {};
}

bool PolicyRequest::has(std::string_view name) const {
  for (const auto& attr : attrs_) {
    if (attr.first == name) return true;
  }
  return false;
}

void PolicyRequest::set(std::string name, std::string value) {
  for (auto& attr : attrs_) {
    if (attr.first == name) {
      attr.second = std::move(value);
      return;
    }
  }
  attrs_.emplace_back(std::move(name), std::move(value));
}

std::string PolicyRequest::serialize() const {
  std::string out;
  for (const auto& [name, value] : attrs_) {
    out.append(name).append("=").append(value).append("\n");
  }
  out.append("\n");
  return out;
}

namespace {

std::string line_error(size_t line, std::string_view what) {
  return "line " + std::to_string(line) + ": " + std::string(what);
}

// Checks one attribute line (line end removed) and adds it to `request`; returns the error
// text, "" when added.
std::string add_attribute(std::string_view line, size_t line_no, size_t max_attributes,
                          PolicyRequest& request) {
  auto equals = line.find('=');
  if (equals == std::string_view::npos) return line_error(line_no, "no '=' in attribute line");
  if (equals == 0) return line_error(line_no, "empty attribute name");
  if (line.find('\0') != std::string_view::npos) return line_error(line_no, "NUL byte");
  if (line.find('\r') != std::string_view::npos) return line_error(line_no, "CR inside a line");
  std::string_view name = line.substr(0, equals);
  if (request.has(name)) {
    return line_error(line_no, "attribute '" + std::string(name.substr(0, 64)) + "' repeated");
  }
  if (request.attributes().size() >= max_attributes) {
    return line_error(line_no, "more than " + std::to_string(max_attributes) + " attributes");
  }
  request.set(std::string(name), std::string(line.substr(equals + 1)));
  return {};
}

std::string too_long(size_t line_no, std::string_view what, size_t cap) {
  return line_error(line_no, std::string(what) + " longer than " + std::to_string(cap) + " bytes");
}

}  // namespace

PolicyRequestParser::State PolicyRequestParser::feed(std::string_view data, size_t& consumed) {
  consumed = 0;
  if (!error_.empty()) return State::Error;
  while (consumed < data.size()) {
    std::string_view rest = data.substr(consumed);
    const void* found = std::memchr(rest.data(), '\n', rest.size());
    size_t take = found ? static_cast<size_t>(static_cast<const char*>(found) - rest.data()) + 1
                        : rest.size();
    size_t body = found ? take - 1 : take;
    consumed += take;
    // Caps are checked before buffering; a line may hold one byte more than its cap ('\r').
    if (bytes_ + take > limits_.max_request_bytes) {
      error_ = too_long(lines_ + 1, "request", limits_.max_request_bytes);
      return State::Error;
    }
    if (line_.size() + body > limits_.max_line_bytes + 1) {
      error_ = too_long(lines_ + 1, "line", limits_.max_line_bytes);
      return State::Error;
    }
    line_.append(rest.substr(0, body));
    bytes_ += take;
    if (!found) return State::NeedMore;
    State state = end_of_line();
    if (state != State::NeedMore) return state;
  }
  return State::NeedMore;
}

PolicyRequestParser::State PolicyRequestParser::end_of_line() {
  ++lines_;
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  if (line_.empty()) {
    if (current_.attributes().empty()) error_ = line_error(lines_, "empty request");
    return error_.empty() ? State::Complete : State::Error;
  }
  if (line_.size() > limits_.max_line_bytes) {
    error_ = too_long(lines_, "line", limits_.max_line_bytes);
  } else {
    error_ = add_attribute(line_, lines_, limits_.max_attributes, current_);
  }
  line_.clear();
  return error_.empty() ? State::NeedMore : State::Error;
}

PolicyRequest PolicyRequestParser::take() {
  PolicyRequest request = std::move(current_);
  current_ = PolicyRequest();
  line_.clear();
  lines_ = 0;
  bytes_ = 0;
  return request;
}

}  // namespace postern
