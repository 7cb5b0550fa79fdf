// SPDX-License-Identifier: Apache-2.0
// FlowStore: the bounded in-memory history `myelin observe` reads. Every
// record has a sequence number; when full, the oldest go. A follower that
// falls behind the eviction point gets a LostEvent saying how many it
// missed, never a silent gap.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "flow.pb.h"
#include "myelin.pb.h"
#include "myelin/flows/flow_filter.hpp"
#include "myelin/result.hpp"

namespace myelin::flows {

class FlowStore {
 public:
  explicit FlowStore(size_t capacity);

  void push(flow::Flow f);
  void push_lost(flow::LostEventSource source, uint64_t n);

  struct Cursor {
    uint64_t next_seq = 0;
  };
  // The snapshot an ObserveRequest asks for (oldest first), and, if `follow`
  // is given, a cursor right after the newest record it considered, taken
  // under the same lock so following neither repeats nor skips a record.
  Result<std::vector<flow::GetFlowsResponse>> query(const api::ObserveRequest& req, const std::string& node_name,
                                                    Cursor* follow = nullptr) const;
  Cursor tail_cursor() const;
  std::vector<flow::GetFlowsResponse> wait_next(Cursor& c, const FilterSet& filters, std::chrono::milliseconds timeout,
                                                const std::string& node_name);
  void shutdown();

  uint64_t stored() const;
  uint64_t capacity() const { return capacity_; }
  uint64_t seen() const;
  uint64_t evicted() const;

 private:
  struct Record {
    uint64_t seq;
    flow::GetFlowsResponse resp;
  };
  void append(flow::GetFlowsResponse r);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Record> records_;
  uint64_t next_seq_ = 0;
  uint64_t seen_ = 0;
  uint64_t evicted_ = 0;
  bool shutdown_ = false;
};

}  // namespace myelin::flows
