// message.hpp — the message as postern-av scans it: header fields and body chunks from the
// milter callbacks rebuilt into one RFC 5322 message with CRLF line ends (RFC 5322 §2.1,
// §2.2.3: "name:value CRLF", folds as CRLF + WSP, an empty line, the body), held in memory up
// to a threshold and then spooled to a private, unnamed temp file (O_TMPFILE, or mkstemp +
// unlink), so a huge message is never all in memory. Bytes beyond `max_size` are not kept:
// the message is then marked oversized and the caller skips the scan.
// Bad input: any octets are accepted (a bare LF in a header value becomes CRLF, other bytes
// pass through). I/O errors on the spool file throw std::system_error (a fault: TEMPFAIL).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "common/fd.hpp"

namespace postern::av {

/// Where and when a message goes to disk.
struct SpoolLimits {
  /// Bytes held in memory; a message that grows past this moves to a temp file.
  uint64_t memory_threshold = 1 << 20;
  /// Bytes kept at most (the --max-size); 0 = no limit.
  uint64_t max_size = 0;
  /// Directory of the temp files (must exist; files are unnamed or unlinked at once).
  std::string tmp_dir = "/tmp";
};

/// One message being assembled. Reusable: reset() between messages.
class MessageBuffer {
 public:
  explicit MessageBuffer(SpoolLimits limits) : limits_(std::move(limits)) {}

  /// Appends one header field as "name:value\r\n". `value` is the text after the colon as
  /// the MTA sends it (leading space kept, folds as "\n" or "\r\n" + WSP); every bare LF in
  /// it becomes CRLF.
  void add_header(std::string_view name, std::string_view value);
  /// Appends the empty line that ends the header.
  void end_header();
  /// Appends a body chunk as received (Postfix sends CRLF line ends).
  void add_body(std::string_view chunk);

  /// Bytes the whole message had so far, kept or not.
  uint64_t size() const { return size_; }
  /// Bytes kept (in memory or in the temp file): min(size(), max_size).
  uint64_t kept() const { return kept_; }
  /// More than max_size bytes arrived; only the first max_size were kept.
  bool oversized() const { return oversized_; }
  /// The message is in the temp file (fd()), not in memory (memory()).
  bool spooled() const { return spool_.get() >= 0; }
  /// The kept bytes when !spooled().
  std::string_view memory() const { return memory_; }
  /// The temp file holding the kept bytes when spooled() (position: end of file).
  int fd() const { return spool_.get(); }

  /// Drops everything (closing the temp file) for the next message.
  void reset();

 private:
  void append(std::string_view bytes);
  void spool_out();
  void write_all(std::string_view bytes);

  SpoolLimits limits_;
  std::string memory_;
  Fd spool_;
  uint64_t size_ = 0;  // bytes received
  uint64_t kept_ = 0;  // bytes in memory_ or the spool file
  bool oversized_ = false;
};

/// Opens a private temp file in `dir` that has no name (O_TMPFILE, else mkstemp + unlink),
/// mode 0600. Throws std::system_error naming the directory.
Fd open_private_temp(const std::string& dir);

}  // namespace postern::av
