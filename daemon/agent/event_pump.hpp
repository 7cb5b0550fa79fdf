// SPDX-License-Identifier: Apache-2.0
// EventPump: one thread that drains the datapath's ring buffer into the flow
// store, and turns the datapath's count of failed reservations into
// lost-event records, so a consumer sees every loss in the stream itself.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include "myelin/datapath/datapath.hpp"
#include "myelin/flows/flow_decoder.hpp"
#include "myelin/flows/flow_store.hpp"
#include "../metrics/agent_counters.hpp"

namespace myelin::agent {

class EventPump {
 public:
  EventPump(datapath::Datapath& dp, flows::FlowDecoder& decoder, flows::FlowStore& store,
            metrics::AgentCounters& counters);
  ~EventPump();
  EventPump(const EventPump&) = delete;
  EventPump& operator=(const EventPump&) = delete;

  Status start();
  void stop();
  uint64_t events() const { return events_; }

 private:
  void run();
  void account_losses();

  datapath::Datapath& dp_;
  flows::FlowDecoder& decoder_;
  flows::FlowStore& store_;
  metrics::AgentCounters& counters_;
  std::optional<datapath::EventReader> reader_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> events_{0};
  uint64_t lost_seen_ = 0, malformed_seen_ = 0;
};

}  // namespace myelin::agent
