// SPDX-License-Identifier: Apache-2.0
#include "myelin/rotating_file.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "myelin/log.hpp"

namespace myelin {

Status RotatingFile::open() {
  if (file_) return {};
  file_ = std::fopen(o_.path.c_str(), "a");
  if (!file_) return Error::from_errno("cannot open " + o_.what + " " + o_.path);
  struct stat st {};
  size_ = ::fstat(fileno(file_), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  return {};
}

void RotatingFile::close() {
  if (file_) {
    std::fclose(file_);
    file_ = nullptr;
  }
}

Status RotatingFile::rotate() {
  close();
  // path.N-1 -> path.N ... path -> path.1; the oldest falls off.
  for (unsigned i = o_.max_backups; i >= 1; --i) {
    std::string from = i == 1 ? o_.path : o_.path + "." + std::to_string(i - 1);
    std::string to = o_.path + "." + std::to_string(i);
    std::rename(from.c_str(), to.c_str());
  }
  if (o_.max_backups == 0) std::remove(o_.path.c_str());
  ++rotations_;
  return open();
}

bool RotatingFile::write_line(const std::string& line) {
  auto fail = [&](const std::string& why) {
    ++errors_;
    auto now = std::chrono::steady_clock::now();
    if (now - last_error_log_ > std::chrono::seconds(10)) {  // say it, but do not flood the log
      log::error(o_.what, why + " (" + std::to_string(errors_.load()) + " lines not written so far)");
      last_error_log_ = now;
    }
    close();
    return false;
  };
  if (!file_)
    if (auto s = open(); !s) return fail(s.error().message);
  if (size_ + line.size() > o_.max_size_bytes && size_ > 0)
    if (auto s = rotate(); !s) return fail(s.error().message);
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    return fail("writing " + o_.path + ": " + std::strerror(errno));
  size_ += line.size();
  ++written_;
  return true;
}

}  // namespace myelin
