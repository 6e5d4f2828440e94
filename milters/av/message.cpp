// message.cpp — message assembly with CRLF and spooling to a private temp file.
#include "milters/av/message.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <system_error>

namespace postern::av {

void MessageBuffer::add_header(std::string_view name, std::string_view value) {
  std::string field;
  field.reserve(name.size() + value.size() + 8);
  field.append(name);
  field += ':';
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\n' && (i == 0 || value[i - 1] != '\r')) field += '\r';
    field += c;
  }
  field += "\r\n";
  append(field);
}

void MessageBuffer::end_header() {
  append("\r\n");
}

void MessageBuffer::add_body(std::string_view chunk) {
  append(chunk);
}

void MessageBuffer::append(std::string_view bytes) {
  size_ += bytes.size();
  if (limits_.max_size != 0 && size_ > limits_.max_size) {
    oversized_ = true;
    uint64_t room = limits_.max_size > kept_ ? limits_.max_size - kept_ : 0;
    bytes = bytes.substr(0, static_cast<size_t>(std::min<uint64_t>(room, bytes.size())));
    if (bytes.empty()) return;
  }
  kept_ += bytes.size();
  if (spooled()) {
    write_all(bytes);
    return;
  }
  memory_.append(bytes);
  if (memory_.size() > limits_.memory_threshold) spool_out();
}

void MessageBuffer::spool_out() {
  spool_ = open_private_temp(limits_.tmp_dir);
  write_all(memory_);
  std::string().swap(memory_);  // release the memory, not just the contents
}

void MessageBuffer::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(spool_.get(), bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(),
                              "cannot write the spool file in " + limits_.tmp_dir);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void MessageBuffer::reset() {
  memory_.clear();
  if (memory_.capacity() > limits_.memory_threshold) std::string().swap(memory_);
  spool_.reset();
  size_ = 0;
  kept_ = 0;
  oversized_ = false;
}

Fd open_private_temp(const std::string& dir) {
#ifdef O_TMPFILE
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return Fd(fd);
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    throw std::system_error(errno, std::generic_category(), "cannot create a temp file in " + dir);
  }
#endif
  std::string path = dir + "/postern-av.XXXXXX";
  int tmp = ::mkostemp(path.data(), O_CLOEXEC);
  if (tmp < 0) {
    throw std::system_error(errno, std::generic_category(), "cannot create a temp file in " + dir);
  }
  ::unlink(path.c_str());
  return Fd(tmp);
}

}  // namespace postern::av
