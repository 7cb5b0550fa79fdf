// SPDX-License-Identifier: Apache-2.0
#include "myelin/flows/flow_store.hpp"

#include <google/protobuf/util/time_util.h>

namespace myelin::flows {

using google::protobuf::util::TimeUtil;

FlowStore::FlowStore(size_t capacity) : capacity_(capacity ? capacity : 1) {}

void FlowStore::append(flow::GetFlowsResponse r) {
  {
    std::lock_guard lk(mu_);
    records_.push_back({next_seq_++, std::move(r)});
    if (records_.size() > capacity_) {
      records_.pop_front();
      ++evicted_;
    }
  }
  cv_.notify_all();
}

void FlowStore::push(flow::Flow f) {
  flow::GetFlowsResponse r;
  r.set_node_name(f.node_name());
  *r.mutable_time() = f.time();
  *r.mutable_flow() = std::move(f);
  {
    std::lock_guard lk(mu_);
    ++seen_;
  }
  append(std::move(r));
}

void FlowStore::push_lost(flow::LostEventSource source, uint64_t n) {
  flow::GetFlowsResponse r;
  r.mutable_lost_events()->set_source(source);
  r.mutable_lost_events()->set_num_events_lost(n);
  *r.mutable_time() = TimeUtil::GetCurrentTime();
  append(std::move(r));
}

Result<std::vector<flow::GetFlowsResponse>> FlowStore::query(const api::ObserveRequest& req,
                                                             const std::string& node_name, Cursor* follow) const {
  auto filters = FilterSet::compile(req.whitelist(), req.blacklist());
  if (!filters) return filters.error();
  const bool has_since = req.has_since(), has_until = req.has_until();
  auto wanted = [&](const flow::GetFlowsResponse& r) {
    if (has_since && r.time() < req.since()) return false;
    if (has_until && r.time() > req.until()) return false;
    if (r.has_lost_events()) return true;  // losses are always shown
    return filters->matches(r.flow());
  };
  // --follow with no count asks for new flows only (as hubble observe -f does).
  uint64_t n = req.all() ? UINT64_MAX : req.number() ? req.number() : (req.follow() ? 0 : 20);

  std::lock_guard lk(mu_);
  std::vector<flow::GetFlowsResponse> out;
  if (req.first()) {
    for (auto it = records_.begin(); it != records_.end() && out.size() < n; ++it)
      if (wanted(it->resp)) out.push_back(it->resp);
  } else {
    for (auto it = records_.rbegin(); it != records_.rend() && out.size() < n; ++it)
      if (wanted(it->resp)) out.push_back(it->resp);
    std::reverse(out.begin(), out.end());
  }
  for (auto& r : out)
    if (r.node_name().empty()) r.set_node_name(node_name);
  if (follow) follow->next_seq = next_seq_;
  return out;
}

FlowStore::Cursor FlowStore::tail_cursor() const {
  std::lock_guard lk(mu_);
  return Cursor{next_seq_};
}

std::vector<flow::GetFlowsResponse> FlowStore::wait_next(Cursor& c, const FilterSet& filters,
                                                         std::chrono::milliseconds timeout,
                                                         const std::string& node_name) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return shutdown_ || next_seq_ > c.next_seq; });
  std::vector<flow::GetFlowsResponse> out;
  if (shutdown_ || next_seq_ <= c.next_seq) return out;
  uint64_t oldest = records_.empty() ? next_seq_ : records_.front().seq;
  if (c.next_seq < oldest) {
    flow::GetFlowsResponse lost;
    lost.mutable_lost_events()->set_source(flow::HUBBLE_RING_BUFFER);
    lost.mutable_lost_events()->set_num_events_lost(oldest - c.next_seq);
    *lost.mutable_time() = TimeUtil::GetCurrentTime();
    lost.set_node_name(node_name);
    out.push_back(std::move(lost));
    c.next_seq = oldest;
  }
  for (size_t i = static_cast<size_t>(c.next_seq - oldest); i < records_.size(); ++i) {
    const auto& r = records_[i].resp;
    if (r.has_lost_events() || filters.matches(r.flow())) {
      out.push_back(r);
      if (out.back().node_name().empty()) out.back().set_node_name(node_name);
    }
  }
  c.next_seq = next_seq_;
  return out;
}

void FlowStore::shutdown() {
  {
    std::lock_guard lk(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
}

uint64_t FlowStore::stored() const {
  std::lock_guard lk(mu_);
  return records_.size();
}
uint64_t FlowStore::seen() const {
  std::lock_guard lk(mu_);
  return seen_;
}
uint64_t FlowStore::evicted() const {
  std::lock_guard lk(mu_);
  return evicted_;
}

}  // namespace myelin::flows
