// SPDX-License-Identifier: Apache-2.0
#include "flow_log.hpp"

#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <cstring>

#include "myelin/log.hpp"

namespace myelin::flowlog {

FlowLog::FlowLog(Options o, flows::FlowStore& store, flows::FilterSet filters)
    : o_(std::move(o)), store_(store), filters_(std::move(filters)) {}

FlowLog::~FlowLog() { stop(); }

Status FlowLog::open_file() {
  if (file_) return {};
  file_ = std::fopen(o_.path.c_str(), "a");
  if (!file_) return Error::from_errno("cannot open flow log " + o_.path);
  struct stat st{};
  size_ = ::fstat(fileno(file_), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  return {};
}

Status FlowLog::rotate() {
  if (file_) {
    std::fclose(file_);
    file_ = nullptr;
  }
  // path.N-1 -> path.N ... path -> path.1; the oldest falls off.
  for (unsigned i = o_.max_backups; i >= 1; --i) {
    std::string from = i == 1 ? o_.path : o_.path + "." + std::to_string(i - 1);
    std::string to = o_.path + "." + std::to_string(i);
    std::rename(from.c_str(), to.c_str());
  }
  if (o_.max_backups == 0) std::remove(o_.path.c_str());
  ++rotations_;
  return open_file();
}

void FlowLog::write_line(const std::string& line) {
  auto fail = [&](const std::string& why) {
    ++errors_;
    auto now = std::chrono::steady_clock::now();
    if (now - last_error_log_ > std::chrono::seconds(10)) {  // say it, but do not flood the log
      log::error("flowlog", why + " (" + std::to_string(errors_.load()) + " flows not written so far)");
      last_error_log_ = now;
    }
    if (file_) {
      std::fclose(file_);
      file_ = nullptr;
    }
  };
  if (!file_) {
    if (auto s = open_file(); !s) return fail(s.error().message);
  }
  if (size_ + line.size() > o_.max_size_bytes && size_ > 0) {
    if (auto s = rotate(); !s) return fail(s.error().message);
  }
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    return fail("writing " + o_.path + ": " + std::strerror(errno));
  size_ += line.size();
  ++written_;
}

Status FlowLog::start() {
  if (auto s = open_file(); !s) return s;
  thread_ = std::thread([this] { run(); });
  return {};
}

void FlowLog::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (file_) {
    std::fclose(file_);
    file_ = nullptr;
  }
}

void FlowLog::run() {
  auto cursor = store_.tail_cursor();
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  while (!stop_) {
    for (const auto& resp : store_.wait_next(cursor, filters_, std::chrono::milliseconds(200), o_.node_name)) {
      std::string line;
      if (!google::protobuf::util::MessageToJsonString(resp, &line, opts).ok()) {
        ++errors_;
        continue;
      }
      line += '\n';
      write_line(line);
    }
  }
}

}  // namespace myelin::flowlog
