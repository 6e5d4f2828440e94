// socketmap.cpp — netstrings, socketmap requests and replies, and the socketmap server on the
// shared stream server. Source: socketmap_table(5), http://cr.yp.to/proto/netstrings.txt.
#include "common/socketmap.hpp"

#include <memory>
#include <string>
#include <utility>

#include "common/config_error.hpp"
#include "common/stream_server.hpp"

namespace postern {

NetstringParser::State NetstringParser::fail(std::string why) {
  phase_ = Phase::Failed;
  error_ = std::move(why);
  return State::Error;
}

NetstringParser::State NetstringParser::feed(std::string_view data, size_t& consumed) {
  consumed = 0;
  if (phase_ == Phase::Failed) return State::Error;
  if (phase_ == Phase::Done) return State::Complete;
  while (consumed < data.size()) {
    char c = data[consumed];
    switch (phase_) {
      case Phase::Length:
        if (c == ':') {
          if (length_text_.empty()) return fail("netstring: empty length before ':' at byte 0");
          ++consumed, ++offset_;
          phase_ = length_ == 0 ? Phase::Comma : Phase::Payload;
          payload_.reserve(length_);
          break;
        }
        if (c < '0' || c > '9') {
          return fail("netstring: byte " + std::to_string(offset_) +
                      " of the length is not a digit or ':'");
        }
        if (length_text_ == "0") return fail("netstring: length has a leading zero");
        length_text_.push_back(c);
        length_ = length_ * 10 + static_cast<size_t>(c - '0');
        if (length_ > max_) {
          return fail("netstring: length " + length_text_ + "... is over the limit of " +
                      std::to_string(max_) + " bytes");
        }
        ++consumed, ++offset_;
        break;
      case Phase::Payload: {
        size_t take = std::min(length_ - payload_.size(), data.size() - consumed);
        payload_.append(data.substr(consumed, take));
        consumed += take, offset_ += take;
        if (payload_.size() == length_) phase_ = Phase::Comma;
        break;
      }
      case Phase::Comma:
        if (c != ',') {
          return fail("netstring: byte " + std::to_string(offset_) + " after the payload of " +
                      std::to_string(length_) + " bytes is not ','");
        }
        ++consumed, ++offset_;
        phase_ = Phase::Done;
        return State::Complete;
      case Phase::Done:
      case Phase::Failed:
        break;
    }
  }
  return State::NeedMore;
}

std::string NetstringParser::take() {
  std::string payload = std::move(payload_);
  payload_.clear();
  length_text_.clear();
  length_ = 0;
  offset_ = 0;
  phase_ = Phase::Length;
  return payload;
}

std::string netstring(std::string_view payload) {
  std::string out = std::to_string(payload.size());
  out.reserve(out.size() + payload.size() + 2);
  out.push_back(':');
  out.append(payload);
  out.push_back(',');
  return out;
}

std::string parse_socketmap_request(std::string_view payload, const SocketmapLimits& limits,
                                    SocketmapRequest& request) {
  if (payload.find('\0') != std::string_view::npos) return "NUL byte in the request";
  size_t space = payload.find(' ');
  if (space == std::string_view::npos) return "no space between map name and key";
  if (space == 0) return "empty map name";
  std::string_view key = payload.substr(space + 1);
  if (key.size() > limits.max_key_bytes) {
    return "key of " + std::to_string(key.size()) + " bytes is longer than the limit of " +
           std::to_string(limits.max_key_bytes);
  }
  request.name.assign(payload.substr(0, space));
  request.key.assign(key);
  return {};
}

const char* status_name(SocketmapReply::Status status) {
  switch (status) {
    case SocketmapReply::Status::Ok:
      return "OK";
    case SocketmapReply::Status::NotFound:
      return "NOTFOUND";
    case SocketmapReply::Status::Temp:
      return "TEMP";
    case SocketmapReply::Status::Timeout:
      return "TIMEOUT";
    case SocketmapReply::Status::Perm:
      break;
  }
  return "PERM";
}

std::string SocketmapReply::to_string() const {
  std::string out = status_name(status);
  out.push_back(' ');
  if (status != Status::NotFound) out.append(text);
  return out;
}

namespace {

// Netstring framing as a StreamParser: each request becomes a call of the handler, or a PERM
// reply when its payload is not a well-formed request.
class SocketmapStreamParser : public StreamParser {
 public:
  SocketmapStreamParser(SocketmapLimits limits, std::shared_ptr<const SocketmapHandler> handler)
      : limits_(limits), parser_(limits.max_request_bytes), handler_(std::move(handler)) {}
  State feed(std::string_view data, size_t& consumed) override {
    return parser_.feed(data, consumed);
  }
  StreamRequest take() override {
    SocketmapRequest request;
    std::string why = parse_socketmap_request(parser_.take(), limits_, request);
    if (!why.empty()) {
      return StreamRequest{[why] { return SocketmapReply::perm(why).to_string(); }, {}};
    }
    std::string name = request.name;
    return StreamRequest{[handler = handler_, request = std::move(request)] {
                           return (*handler)(request.name, request.key).to_string();
                         },
                         std::move(name)};
  }
  const std::string& error() const override { return parser_.error(); }

 private:
  SocketmapLimits limits_;
  NetstringParser parser_;
  std::shared_ptr<const SocketmapHandler> handler_;
};

std::string check_reply(const std::string& reply) {
  if (reply.rfind("OK ", 0) == 0 && reply.size() - 3 > kSocketmapMaxReplyBytes) {
    return "reply data of " + std::to_string(reply.size() - 3) +
           " bytes is over Postfix's limit of " + std::to_string(kSocketmapMaxReplyBytes);
  }
  return {};
}

std::string reply_label(const std::string& reply) {
  std::string word = reply.substr(0, reply.find(' '));
  for (const char* known : {"OK", "NOTFOUND", "TEMP", "TIMEOUT", "PERM"}) {
    if (word == known) return word;
  }
  return "other";
}

StreamProtocol socketmap_protocol(const SocketmapServerConfig& config, SocketmapHandler handler) {
  if (!handler) throw ConfigError("socketmap server " + config.name + ": no handler");
  auto shared = std::make_shared<const SocketmapHandler>(std::move(handler));
  return StreamProtocol{
      .event = "socketmap",
      .metric_prefix = metric_name_prefix(config.name) + "_socketmap",
      .log_key = "map",
      .answer_key = "reply",
      .answer_label = "status",
      .answers_metric = "replies_total",
      .fault_answer = SocketmapReply::temp("lookup failed or timed out").to_string(),
      .make_parser = [limits = config.limits,
                      shared] { return std::make_unique<SocketmapStreamParser>(limits, shared); },
      .frame = [](const std::string& reply) { return netstring(reply); },
      .check_answer = check_reply,
      .label = reply_label,
  };
}

}  // namespace

SocketmapServer::SocketmapServer(SocketmapServerConfig config, SocketmapHandler handler)
    : StreamServer(StreamServerConfig(config), socketmap_protocol(config, std::move(handler))) {}

}  // namespace postern
