// av_message_fuzz.cpp — postern-av's message assembly (MessageBuffer) on arbitrary milter
// callbacks. Input: records separated by NUL; the first byte of a record picks the callback:
// 'H' header field (name up to the first ':', the rest the value), 'E' end of header, any
// other byte a body chunk. Checks: the memory, spooled and size-limited buffers agree (same
// bytes; the limited one a prefix of max_size bytes, oversized exactly when more came); the
// header part has no bare LF; size() counts every byte.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "milters/av/message.hpp"

using postern::av::MessageBuffer;
using postern::av::SpoolLimits;

namespace {

std::string contents(const MessageBuffer& m) {
  if (!m.spooled()) return std::string(m.memory());
  std::string out;
  char buf[4096];
  ::lseek(m.fd(), 0, SEEK_SET);
  for (ssize_t n; (n = ::read(m.fd(), buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  return out;
}

SpoolLimits limits(uint64_t threshold, uint64_t max_size) {
  SpoolLimits l;
  l.memory_threshold = threshold;
  l.max_size = max_size;
  const char* tmp = std::getenv("TMPDIR");
  l.tmp_dir = tmp && *tmp ? tmp : "/tmp";
  return l;
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 65536) return 0;
  uint64_t max_size = data[0] * 4;  // 0 = no limit
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  MessageBuffer memory(limits(1 << 20, 0)), spooled(limits(0, 0)), limited(limits(16, max_size));
  std::vector<MessageBuffer*> all = {&memory, &spooled, &limited};
  bool in_header = true;
  std::vector<std::pair<size_t, size_t>> fields;  // [begin, end) of each header field
  while (!input.empty()) {
    size_t end = input.find('\0');
    std::string_view record = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
    if (record.empty()) continue;
    char op = record[0];
    record.remove_prefix(1);
    if (op == 'H' && in_header) {
      size_t colon = record.find(':');
      std::string_view name = record.substr(0, colon);
      if (name.find_first_of("\r\n") != std::string_view::npos) continue;  // MTAs never send it
      std::string_view value = colon == std::string_view::npos ? "" : record.substr(colon + 1);
      size_t begin = static_cast<size_t>(memory.size());
      for (MessageBuffer* m : all) m->add_header(name, value);
      fields.emplace_back(begin, static_cast<size_t>(memory.size()));
    } else if (op == 'E' && in_header) {
      for (MessageBuffer* m : all) m->end_header();
      in_header = false;
    } else if (op != 'H' && op != 'E') {
      for (MessageBuffer* m : all) m->add_body(record);
    }
  }
  std::string whole = contents(memory);
  check(memory.size() == whole.size());
  check(!memory.oversized() && !memory.spooled());
  check(contents(spooled) == whole);
  check(spooled.spooled() || whole.empty());
  std::string part = contents(limited);
  bool over = max_size != 0 && whole.size() > max_size;
  check(limited.oversized() == over);
  check(part == (over ? whole.substr(0, max_size) : whole));
  check(limited.size() == whole.size() && limited.kept() == part.size());
  for (auto [begin, end] : fields) {
    for (size_t i = begin; i < end; ++i) {
      if (whole[i] == '\n') check(i > begin && whole[i - 1] == '\r');
    }
  }
  return 0;
}
