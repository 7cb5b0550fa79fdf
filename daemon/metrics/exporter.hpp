// SPDX-License-Identifier: Apache-2.0
// daemon/metrics (myelin_metrics, myelin_metrics_exporter): the agent's counters and the Prometheus endpoint that reads them.
// MetricsExporter: Prometheus metrics at --metrics-addr (/metrics). Values are
// read when scraped: datapath counters are summed over CPUs from the per-CPU
// BPF maps at that moment, so nothing is cached or double-counted.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "agent_counters.hpp"
#include "runtime/gpu_monitor.hpp"
#include "runtime/socket_monitor.hpp"
#include "runtime/storage_monitor.hpp"
#include "runtime/runtime_monitor.hpp"
#include "myelin/result.hpp"

namespace myelin::datapath { class Datapath; }
namespace myelin::endpoints { class EndpointStore; }
namespace myelin::identity { class IdentityAllocator; }
namespace myelin::flows { class FlowStore; }
namespace myelin::agent { class ConntrackGc; }
namespace myelin::flowlog { class FlowLog; }

namespace myelin::metrics {

struct Sources {
  const datapath::Datapath& datapath;
  const endpoints::EndpointStore& endpoints;
  const identity::IdentityAllocator& identities;
  const flows::FlowStore& flows;
  const agent::ConntrackGc& ct_gc;
  const AgentCounters& counters;
  std::string version;
  const flowlog::FlowLog* flow_log = nullptr;  // optional
  std::function<uint64_t()> policy_count;       // optional
  const runtime::RuntimeMonitor* runtime = nullptr;  // optional: process events
  const runtime::GpuMonitor* gpu = nullptr;          // optional: CUDA uprobes
  const runtime::StorageMonitor* storage = nullptr;  // optional: block I/O
  const runtime::SocketMonitor* sockets = nullptr;   // optional: the TCP sensor
  std::function<uint64_t()> tracing_lost;            // optional: TracingPolicy ring buffer full
  // optional: policies refused, by (kind, cause): decode (the source) or kernel (a TracingPolicy this kernel cannot load)
  std::function<std::map<std::pair<std::string, std::string>, uint64_t>()> refused_policies;
};

// Builds every metric family from the sources (also used by tests).
class Collector : public prometheus::Collectable {
 public:
  explicit Collector(Sources s) : s_(std::move(s)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  Sources s_;
};

class MetricsExporter {
 public:
  // addr like ":9962" or "127.0.0.1:9962"; an empty addr disables the exporter.
  static Result<std::unique_ptr<MetricsExporter>> start(const std::string& addr, Sources sources);
  std::vector<int> ports() const;

 private:
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<Collector> collector_;
};

}  // namespace myelin::metrics
