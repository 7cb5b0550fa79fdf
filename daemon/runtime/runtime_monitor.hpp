// SPDX-License-Identifier: Apache-2.0
// daemon/runtime (myelin_runtime): the node's processes, their pods and containers, and the runtime events sensors publish.
// RuntimeMonitor: process lifecycle events of the node. It loads the process
// probes, discovers what already runs from /proc, turns each record into a
// Tetragon-shaped event (with exec ids, the parent and the pod) and keeps
// them in an EventStore for `myelin events`. One thread; nothing is dropped
// silently: ring-buffer losses and store overwrites are counted.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "event_store.hpp"
#include "myelin/datapath/runtime_probes.hpp"

namespace myelin::runtime {

class RuntimeMonitor {
 public:
  struct Stats {
    std::map<std::pair<std::string, std::string>, uint64_t> events;   // by (type, policy)
    std::map<std::pair<std::string, std::string>, uint64_t> actions;  // by (action, policy)
    uint64_t lost = 0;                       // ring buffer reservations that failed
    uint64_t overwritten = 0;                // left the store before anyone read them
    size_t processes = 0;                    // live processes known
  };
  RuntimeMonitor(std::string node_name, ProcessCache::PodResolver pods, size_t store_size);
  ~RuntimeMonitor();
  RuntimeMonitor(const RuntimeMonitor&) = delete;
  RuntimeMonitor& operator=(const RuntimeMonitor&) = delete;

  Status start();
  void stop();
  const EventStore& store() const { return store_; }
  const std::string& node_name() const { return node_; }
  int64_t mono_to_wall_ns() const { return mono_to_wall_ns_; }
  Stats stats() const;

  // For TracingPolicy hooks: the process maps, the process cache, publishing.
  int exec_binary_fd() const { return probes_ ? probes_->exec_binary_fd() : -1; }
  int binaries_fd() const { return probes_ ? probes_->binaries_fd() : -1; }
  int binary_prefixes_fd() const { return probes_ ? probes_->binary_prefixes_fd() : -1; }
  std::optional<Process> process(uint32_t pid) const { return cache_.get(pid); }
  // An event of process `pid` (a hook's record): with the process and its
  // parent as the cache knows them, or what /proc says while it still runs.
  // On this monitor's thread only (a poller's callback).
  void publish_for(Event ev, uint32_t pid, uint32_t tid, uint32_t uid, uint32_t netns);
  // Other ring buffers (TracingPolicy hooks, the TCP sensor) are consumed on
  // this monitor's thread, right after the process ring: their records then
  // find the exec of their process already known. catch_up() reads process
  // records now; it is for those consumers' callbacks (same thread) only.
  // Once remove_poller returns, that poller no longer runs.
  int add_poller(std::function<void()> consume);
  void remove_poller(int id);
  void catch_up();

 private:
  void handle(const myelin_process_event& e);
  void add(Event ev);

  std::string node_;
  ProcessCache cache_;
  EventStore store_;
  int64_t mono_to_wall_ns_;
  std::unique_ptr<datapath::RuntimeProbes> probes_;
  std::atomic<bool> running_{false};
  std::thread thread_;
  std::mutex poller_mu_;
  std::map<int, std::function<void()>> pollers_;
  int next_poller_ = 1;
  mutable std::mutex stats_mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> counts_, actions_;
};

}  // namespace myelin::runtime
