// SPDX-License-Identifier: Apache-2.0
// daemon/flowlog (myelin_flowlog): flows written as JSON lines to a rotating file, off the datapath's path.
// FlowLog: exports flows as JSON lines (the `myelin observe -o json` shape)
// to a file with size-based rotation. It follows the flow store with its own
// cursor on its own thread, so a slow or failing disk never slows the
// datapath or the agent: it falls behind, and what it missed is written as
// a lost-events record and counted. Write errors (full disk, unwritable
// file) are counted and reported, and the file is reopened later.
#pragma once

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "myelin/flows/flow_store.hpp"
#include "myelin/result.hpp"
#include "myelin/rotating_file.hpp"

namespace myelin::flowlog {

struct Options {
  std::string path;
  uint64_t max_size_bytes = 100ull << 20;  // rotate when the file would grow past this
  unsigned max_backups = 3;                 // path.1 .. path.N kept
  std::string node_name;
};

class FlowLog {
 public:
  FlowLog(Options o, flows::FlowStore& store, flows::FilterSet filters);
  ~FlowLog();
  FlowLog(const FlowLog&) = delete;
  FlowLog& operator=(const FlowLog&) = delete;

  Status start();  // opens the file now so a bad path fails start-up loudly
  void stop();

  uint64_t written() const { return file_.written(); }
  uint64_t write_errors() const { return file_.errors() + encode_errors_; }
  uint64_t rotations() const { return file_.rotations(); }

 private:
  void run(flows::FlowStore::Cursor cursor);

  Options o_;
  flows::FlowStore& store_;
  flows::FilterSet filters_;
  RotatingFile file_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> encode_errors_{0};
};

}  // namespace myelin::flowlog
