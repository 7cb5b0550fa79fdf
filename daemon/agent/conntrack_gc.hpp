// SPDX-License-Identifier: Apache-2.0
// ConntrackGc: expires conntrack entries on an interval (the datapath only
// refreshes last_seen; deciding when a connection is dead is done here).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "myelin/datapath/datapath.hpp"
#include "../metrics/agent_counters.hpp"

namespace myelin::agent {

class ConntrackGc {
 public:
  ConntrackGc(datapath::Datapath& dp, datapath::CtTimeouts timeouts, std::chrono::seconds interval,
              metrics::AgentCounters& counters);
  ~ConntrackGc();
  ConntrackGc(const ConntrackGc&) = delete;
  ConntrackGc& operator=(const ConntrackGc&) = delete;

  void start();
  void stop();
  Result<datapath::CtGcResult> run_once();
  uint64_t runs() const { return runs_; }
  datapath::CtGcResult last() const;

 private:
  datapath::Datapath& dp_;
  datapath::CtTimeouts timeouts_;
  metrics::AgentCounters& counters_;
  std::chrono::seconds interval_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<uint64_t> runs_{0};
  datapath::CtGcResult last_{};
};

}  // namespace myelin::agent
