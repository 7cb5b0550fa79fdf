// SPDX-License-Identifier: Apache-2.0
#include "event_pump.hpp"

#include "myelin/flows/service_flows.hpp"
#include "myelin/log.hpp"

namespace myelin::agent {

EventPump::EventPump(datapath::Datapath& dp, flows::FlowDecoder& decoder, flows::FlowStore& store,
                     metrics::AgentCounters& counters)
    : dp_(dp), decoder_(decoder), store_(store), counters_(counters) {}

EventPump::~EventPump() { stop(); }

Status EventPump::start() {
  auto reader = datapath::EventReader::open(dp_.events_fd(), [this](const myelin_flow_event& ev) {
    flow::Flow f = decoder_.decode(ev);
    // Bounded labels: event kinds, observation points and drop reasons are enums.
    if (f.verdict() == flow::DROPPED)
      counters_.flow_processed("Drop", flow::DropReason_Name(f.drop_reason_desc()), "DROPPED");
    else
      counters_.flow_processed("Trace", flow::TraceObservationPoint_Name(f.trace_observation_point()),
                               flow::Verdict_Name(f.verdict()));
    if (auto svc = flows::service_flow_count(f)) counters_.service_flow(flows::outcome_name(svc->outcome), svc->path, svc->protocol);
    store_.push(std::move(f));
    ++events_;
  }, "flow events");
  if (!reader) return reader.error();
  reader_.emplace(std::move(*reader));
  // Losses from before this start (a previous run) are history, not news.
  lost_seen_ = dp_.stats().events_lost;
  thread_ = std::thread([this] { run(); });
  return {};
}

void EventPump::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void EventPump::account_losses() {
  uint64_t lost = dp_.stats().events_lost;
  if (lost > lost_seen_) {
    store_.push_lost(flow::PERF_EVENT_RING_BUFFER, lost - lost_seen_);
    log::warn("events", std::to_string(lost - lost_seen_) + " datapath events lost: ring buffer full");
    lost_seen_ = lost;
  }
  // Records too short for a flow event (a producer of another ABI): skipped, said.
  if (uint64_t bad = reader_->malformed(); bad > malformed_seen_) {
    log::warn("events", std::to_string(bad - malformed_seen_) + " datapath records shorter than a flow event skipped");
    malformed_seen_ = bad;
  }
}

void EventPump::run() {
  auto last_check = std::chrono::steady_clock::now();
  while (!stop_) {
    int n = reader_->poll(100);
    if (n < 0 && n != -EINTR) {
      log::error("events", "ring buffer poll failed: " + std::string(strerror(-n)));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto now = std::chrono::steady_clock::now();
    if (now - last_check >= std::chrono::milliseconds(500)) {
      account_losses();
      last_check = now;
    }
  }
}

}  // namespace myelin::agent
