// SPDX-License-Identifier: Apache-2.0
#include "flow_log.hpp"

#include <google/protobuf/util/json_util.h>

#include <cstring>

#include "myelin/log.hpp"

namespace myelin::flowlog {

FlowLog::FlowLog(Options o, flows::FlowStore& store, flows::FilterSet filters)
    : o_(std::move(o)), store_(store), filters_(std::move(filters)),
      file_({o_.path, o_.max_size_bytes, o_.max_backups, "flowlog"}) {}

FlowLog::~FlowLog() { stop(); }

Status FlowLog::start() {
  if (auto s = file_.open(); !s) return s;
  // Following starts here, not when the thread first runs: a flow stored
  // in between would be neither written nor counted as lost.
  thread_ = std::thread([this, cursor = store_.tail_cursor()] { run(cursor); });
  return {};
}

void FlowLog::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  file_.close();
}

void FlowLog::run(flows::FlowStore::Cursor cursor) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  while (!stop_) {
    for (const auto& resp : store_.wait_next(cursor, filters_, std::chrono::milliseconds(200), o_.node_name)) {
      std::string line;
      if (!google::protobuf::util::MessageToJsonString(resp, &line, opts).ok()) {
        ++encode_errors_;
        continue;
      }
      line += '\n';
      file_.write_line(line);
    }
  }
}

}  // namespace myelin::flowlog
