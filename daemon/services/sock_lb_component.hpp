// SPDX-License-Identifier: Apache-2.0
// SockLbComponent: socket-level Service load balancing on this node. Owns
// the loader's SockLb (the cgroup programs on --cgroup-root, detached when
// the agent stops: the per-packet path on the pods' veths serves then), the
// thread that turns its translation and refusal events into Hubble
// trace-sock flows in the flow store (counted in the Services metrics), the destruction of connected UDP sockets whose
// backend went away (backends_removed(), which the Services writer's
// 'backends removed' hook calls).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "component/component.hpp"
#include "metrics/agent_counters.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/datapath/sock_lb.hpp"
#include "myelin/flows/flow_decoder.hpp"
#include "myelin/flows/flow_store.hpp"

namespace myelin::services {

class SockLbComponent final : public component::Component {
 public:
  struct Options {
    bool enabled = true;
    std::string cgroup_root;  // empty: the machine's cgroup v2 root
  };
  // The endpoint of the pod a process runs in, by its network namespace
  // (inode) and cgroup id; 0 for none.
  using PodEndpoint = std::function<uint32_t(uint32_t netns_ino, uint64_t cgroup_id)>;

  SockLbComponent(Options o, datapath::Datapath& dp, flows::FlowDecoder& decoder, flows::FlowStore& store,
                  metrics::AgentCounters& counters, PodEndpoint pod_endpoint);
  ~SockLbComponent() override;

  std::string name() const override { return "socket-lb"; }
  Status start() override;
  void stop() override;
  void collect(metrics::MetricSink& sink) const override;
  // A feature row: whether connected UDP sockets of removed backends are
  // destroyed here (bpf_sock_destroy), and why not.
  void status(component::StatusBuilder& b) const override;

  // Backends left the Services maps: the connected UDP sockets translated to
  // them are destroyed, on this component's thread, soon (calls that come
  // while a run is pending are one run). Any thread; a no-op when off.
  void backends_removed();
  // Runs the destruction now, on the caller's thread (tests, the CLI).
  Result<datapath::SockLb::DestroyResult> destroy_stale_udp();
  bool attached() const { return lb_ != nullptr; }

 private:
  void run();
  void on_event(const myelin_sock_xlate_event& ev);

  Options opts_;
  datapath::Datapath& dp_;
  flows::FlowDecoder& decoder_;
  flows::FlowStore& store_;
  metrics::AgentCounters& counters_;
  PodEndpoint pod_endpoint_;
  std::unique_ptr<datapath::SockLb> lb_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, destroy_pending_{false};
  std::mutex destroy_mu_;  // one destruction at a time
  std::atomic<uint64_t> forward_{0}, reverse_{0}, refused_{0}, destroy_skipped_{0}, destroyed_{0}, destroy_runs_{0}, destroy_errors_{0};
  uint64_t lost_seen_ = 0;
};

}  // namespace myelin::services
