// SPDX-License-Identifier: Apache-2.0
// RotatingFile: appends lines to a file, rotating by size (path.1 ..
// path.N). A failed write (full disk, unwritable file) is counted and logged
// at most every 10 s, the file is closed and reopened on the next line:
// exporters built on it degrade, they never block or crash the agent.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

#include "myelin/result.hpp"

namespace myelin {

class RotatingFile {
 public:
  struct Options {
    std::string path;
    uint64_t max_size_bytes = 100ull << 20;
    unsigned max_backups = 3;
    std::string what = "log";  // in messages: "flow log", "events log"
  };
  explicit RotatingFile(Options o) : o_(std::move(o)) {}
  ~RotatingFile() { close(); }
  RotatingFile(const RotatingFile&) = delete;
  RotatingFile& operator=(const RotatingFile&) = delete;

  Status open();               // now, so a bad path fails start-up loudly
  bool write_line(const std::string& line);  // false when it could not (counted)
  void close();

  uint64_t written() const { return written_; }
  uint64_t errors() const { return errors_; }
  uint64_t rotations() const { return rotations_; }

 private:
  Status rotate();
  Options o_;
  std::FILE* file_ = nullptr;
  uint64_t size_ = 0;
  std::atomic<uint64_t> written_{0}, errors_{0}, rotations_{0};
  std::chrono::steady_clock::time_point last_error_log_{};
};

}  // namespace myelin
