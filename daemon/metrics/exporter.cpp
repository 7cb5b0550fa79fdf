// SPDX-License-Identifier: Apache-2.0
#include "exporter.hpp"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <limits>

#include "../agent/conntrack_gc.hpp"
#include "../flowlog/flow_log.hpp"
#include "flow.pb.h"
#include "myelin/abi/net.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/endpoints/endpoint_store.hpp"
#include "myelin/flows/flow_store.hpp"
#include "myelin/identity/identity_allocator.hpp"

namespace myelin::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(const std::string& name, const std::string& help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

ClientMetric sample(std::vector<ClientMetric::Label> labels, double value, MetricType type) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  return m;
}

std::string reason(uint8_t r) {
  const std::string& n = flow::DropReason_Name(static_cast<flow::DropReason>(r));
  return n.empty() ? "DROP_REASON_" + std::to_string(r) : n;
}

}  // namespace

std::vector<MetricFamily> Collector::Collect() const {
  std::vector<MetricFamily> out;
  const auto counters = s_.datapath.metrics();
  const auto stats = s_.datapath.stats();

  auto fwd_count = family("myelin_forward_count_total", "Packets forwarded by the datapath", MetricType::Counter);
  auto fwd_bytes = family("myelin_forward_bytes_total", "Bytes forwarded by the datapath", MetricType::Counter);
  auto drop_count = family("myelin_drop_count_total", "Packets dropped by the datapath, by reason", MetricType::Counter);
  auto drop_bytes = family("myelin_drop_bytes_total", "Bytes dropped by the datapath, by reason", MetricType::Counter);
  std::map<std::string, std::pair<uint64_t, uint64_t>> fwd{{abi::direction_name(MYELIN_DIR_INGRESS), {0, 0}},
                                                           {abi::direction_name(MYELIN_DIR_EGRESS), {0, 0}}};
  for (const auto& [k, v] : counters) {
    if (k.reason == MYELIN_DROP_NONE) {
      auto& f = fwd[abi::direction_name(k.dir)];
      f.first += v.packets;
      f.second += v.bytes;
    } else {
      std::vector<ClientMetric::Label> l{{"direction", abi::direction_name(k.dir)}, {"reason", reason(k.reason)}};
      drop_count.metric.push_back(sample(l, static_cast<double>(v.packets), MetricType::Counter));
      drop_bytes.metric.push_back(sample(l, static_cast<double>(v.bytes), MetricType::Counter));
    }
  }
  for (const auto& [dir, v] : fwd) {
    fwd_count.metric.push_back(sample({{"direction", dir}}, static_cast<double>(v.first), MetricType::Counter));
    fwd_bytes.metric.push_back(sample({{"direction", dir}}, static_cast<double>(v.second), MetricType::Counter));
  }
  out.push_back(std::move(fwd_count));
  out.push_back(std::move(fwd_bytes));
  out.push_back(std::move(drop_count));
  out.push_back(std::move(drop_bytes));

  auto eps = family("myelin_endpoint", "Endpoints on this node, by state", MetricType::Gauge);
  std::map<std::string, uint64_t> by_state{{"ready", 0}, {"not-ready", 0}};
  for (const auto& ep : s_.endpoints.list()) ++by_state[ep.state().empty() ? "not-ready" : ep.state()];
  for (const auto& [state, n] : by_state) eps.metric.push_back(sample({{"state", state}}, static_cast<double>(n), MetricType::Gauge));
  out.push_back(std::move(eps));

  auto regen = family("myelin_endpoint_regeneration_seconds", "Time to program an endpoint into the datapath",
                      MetricType::Histogram);
  auto regens = s_.counters.regenerations();
  for (const char* outcome : {"success", "failure"}) {
    AgentCounters::Histogram h = regens[outcome];
    ClientMetric m;
    m.label = {{"outcome", outcome}};
    uint64_t cumulative = 0;
    for (size_t i = 0; i < AgentCounters::kRegenBuckets.size(); ++i) {
      cumulative += h.buckets[i];
      m.histogram.bucket.push_back({cumulative, AgentCounters::kRegenBuckets[i]});
    }
    m.histogram.bucket.push_back({h.count, std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = h.count;
    m.histogram.sample_sum = h.sum;
    regen.metric.push_back(std::move(m));
  }
  out.push_back(std::move(regen));

  auto policy = family("myelin_policy", "Network policies in force on this node", MetricType::Gauge);
  policy.metric.push_back(sample({}, s_.policy_count ? static_cast<double>(s_.policy_count()) : 0, MetricType::Gauge));
  out.push_back(std::move(policy));
  auto policy_changes = family("myelin_policy_change_total", "Policy regenerations, by outcome", MetricType::Counter);
  auto [ok, failed] = s_.counters.policy_changes();
  policy_changes.metric.push_back(sample({{"outcome", "success"}}, static_cast<double>(ok), MetricType::Counter));
  policy_changes.metric.push_back(sample({{"outcome", "failure"}}, static_cast<double>(failed), MetricType::Counter));
  out.push_back(std::move(policy_changes));
  if (s_.refused_policies) {
    auto refused = family("myelin_policy_refused",
                          "Policies not in force because they were refused, by kind of the document at fault (unknown: the YAML does "
                          "not parse) and cause (decode: the source does not decode; kernel: this kernel cannot load it)",
                          MetricType::Gauge);
    for (const auto& [k, n] : s_.refused_policies())
      refused.metric.push_back(sample({{"cause", k.second}, {"kind", k.first}}, static_cast<double>(n), MetricType::Gauge));
    out.push_back(std::move(refused));
  }

  auto ids = family("myelin_identity", "Security identities allocated on this node", MetricType::Gauge);
  ids.metric.push_back(sample({}, static_cast<double>(s_.identities.list().size()), MetricType::Gauge));
  out.push_back(std::move(ids));

  // 1 means full; what then happens is each map's documented full behaviour
  // (datapath/lib/maps.h). For the event ring: unread bytes / its size.
  auto pressure = family("myelin_bpf_map_pressure", "Fill level of BPF maps (entries / capacity; ring buffers: unread bytes / size)",
                         MetricType::Gauge);
  for (const auto& m : s_.datapath.map_fill())
    pressure.metric.push_back(sample({{"map_name", m.name}}, m.capacity ? static_cast<double>(m.entries) / m.capacity : 0,
                                     MetricType::Gauge));
  out.push_back(std::move(pressure));

  auto ops = family("myelin_bpf_map_ops_total", "BPF map operations issued by the agent", MetricType::Counter);
  for (const auto& [k, n] : s_.counters.map_ops())
    ops.metric.push_back(sample({{"map_name", std::get<0>(k)}, {"operation", std::get<1>(k)}, {"outcome", std::get<2>(k)}},
                                static_cast<double>(n), MetricType::Counter));
  out.push_back(std::move(ops));

  auto gc_runs = family("myelin_conntrack_gc_runs_total", "Conntrack garbage collection runs", MetricType::Counter);
  gc_runs.metric.push_back(sample({}, static_cast<double>(s_.ct_gc.runs()), MetricType::Counter));
  out.push_back(std::move(gc_runs));
  auto gc_entries = family("myelin_conntrack_gc_entries", "Conntrack entries alive after the last GC, by state",
                           MetricType::Gauge);
  const auto last = s_.ct_gc.last();
  for (size_t st = 1; st < last.alive_by_state.size(); ++st)
    gc_entries.metric.push_back(sample({{"state", abi::ct_state_name(st)}}, static_cast<double>(last.alive_by_state[st]), MetricType::Gauge));
  out.push_back(std::move(gc_entries));

  auto flows = family("myelin_flows_processed_total", "Flows decoded from the datapath", MetricType::Counter);
  for (const auto& [k, n] : s_.counters.flows())
    flows.metric.push_back(sample({{"subtype", std::get<1>(k)}, {"type", std::get<0>(k)}, {"verdict", std::get<2>(k)}},
                                  static_cast<double>(n), MetricType::Counter));
  out.push_back(std::move(flows));

  auto lost = family("myelin_lost_events_total", "Events lost before a reader saw them, by where", MetricType::Counter);
  lost.metric.push_back(sample({{"source", "datapath_ringbuf"}}, static_cast<double>(stats.events_lost), MetricType::Counter));
  lost.metric.push_back(sample({{"source", "flow_store"}}, static_cast<double>(s_.flows.evicted()), MetricType::Counter));
  out.push_back(std::move(lost));

  if (s_.flow_log) {
    auto written = family("myelin_flow_log_written_total", "Flows written to the flow log", MetricType::Counter);
    written.metric.push_back(sample({}, static_cast<double>(s_.flow_log->written()), MetricType::Counter));
    out.push_back(std::move(written));
    auto errors = family("myelin_flow_log_errors_total", "Flows the flow log could not write (full disk, unwritable file)",
                         MetricType::Counter);
    errors.metric.push_back(sample({}, static_cast<double>(s_.flow_log->write_errors()), MetricType::Counter));
    out.push_back(std::move(errors));
    auto rot = family("myelin_flow_log_rotations_total", "Flow log rotations", MetricType::Counter);
    rot.metric.push_back(sample({}, static_cast<double>(s_.flow_log->rotations()), MetricType::Counter));
    out.push_back(std::move(rot));
  }

  auto k8s = family("myelin_k8s_events_total", "Kubernetes object events received", MetricType::Counter);
  for (const auto& [k, n] : s_.counters.k8s_events())
    k8s.metric.push_back(sample({{"action", k.second}, {"resource", k.first}}, static_cast<double>(n), MetricType::Counter));
  out.push_back(std::move(k8s));

  if (s_.runtime) {
    const auto rs = s_.runtime->stats();
    auto ev = family("myelin_runtime_events_total", "Runtime events recorded, by type and by the policy that produced them",
                     MetricType::Counter);
    for (const auto& [k, n] : rs.events)
      ev.metric.push_back(sample({{"policy", k.second}, {"type", k.first}}, static_cast<double>(n), MetricType::Counter));
    out.push_back(std::move(ev));
    auto act = family("myelin_runtime_actions_total", "Actions TracingPolicies took (post, sigkill, signal)", MetricType::Counter);
    for (const auto& [k, n] : rs.actions)
      act.metric.push_back(sample({{"action", k.first}, {"policy", k.second}}, static_cast<double>(n), MetricType::Counter));
    out.push_back(std::move(act));
    auto lost = family("myelin_runtime_lost_events_total", "Runtime events lost: ring buffer full in the kernel, or pushed out of the agent's store unread",
                       MetricType::Counter);
    lost.metric.push_back(sample({{"source", "ring_buffer"}}, static_cast<double>(rs.lost), MetricType::Counter));
    lost.metric.push_back(sample({{"source", "event_store"}}, static_cast<double>(rs.overwritten), MetricType::Counter));
    if (s_.sockets) lost.metric.push_back(sample({{"source", "tcp_sensor"}}, static_cast<double>(s_.sockets->lost()), MetricType::Counter));
    if (s_.tracing_lost) lost.metric.push_back(sample({{"source", "tracing_ring"}}, static_cast<double>(s_.tracing_lost()), MetricType::Counter));
    out.push_back(std::move(lost));
    auto procs = family("myelin_runtime_processes", "Live processes the agent tracks", MetricType::Gauge);
    procs.metric.push_back(sample({}, static_cast<double>(rs.processes), MetricType::Gauge));
    out.push_back(std::move(procs));
  }

  if (s_.gpu) {
    // Node totals (per-process figures: `myelin gpu list`); summed from the per-process LRU map.
    uint64_t calls[MYELIN_GPU_FN_MAX] = {}, alloc = 0, copied = 0, launches = 0;
    for (const auto& g : s_.gpu->processes()) {
      for (uint32_t fn = 0; fn < MYELIN_GPU_FN_MAX; ++fn) calls[fn] += g.stats.calls[fn];
      alloc += g.stats.bytes_allocated;
      copied += g.stats.bytes_copied;
      launches += g.stats.kernel_launches;
    }
    auto c = family("myelin_gpu_calls_total", "CUDA runtime and driver calls seen by the uprobes", MetricType::Counter);
    for (uint32_t fn = 0; fn < MYELIN_GPU_FN_MAX; ++fn)
      c.metric.push_back(sample({{"function", datapath::gpu_function_name(fn)}}, static_cast<double>(calls[fn]), MetricType::Counter));
    out.push_back(std::move(c));
    for (auto [name, help, v] : {std::tuple{"myelin_gpu_bytes_allocated_total", "Bytes requested from cudaMalloc/cuMemAlloc", alloc},
                                 std::tuple{"myelin_gpu_bytes_copied_total", "Bytes passed to cudaMemcpy*/cuMemcpy*", copied},
                                 std::tuple{"myelin_gpu_kernel_launches_total", "cudaLaunchKernel and cuLaunchKernel calls", launches}}) {
      auto f = family(name, help, MetricType::Counter);
      f.metric.push_back(sample({}, static_cast<double>(v), MetricType::Counter));
      out.push_back(std::move(f));
    }
  }

  if (s_.storage) {
    // Per device (bounded); per process and pod: `myelin storage list`.
    std::map<std::string, myelin_block_stats> by_dev;
    for (const auto& e : s_.storage->entries()) {
      auto& d = by_dev[e.device];
      d.ios += e.stats.ios;
      d.bytes += e.stats.bytes;
      d.latency_sum_ns += e.stats.latency_sum_ns;
      for (int i = 0; i < MYELIN_BLOCK_LAT_BUCKETS; ++i) d.latency_hist[i] += e.stats.latency_hist[i];
    }
    auto lat = family("myelin_block_io_latency_seconds", "Block request latency, issue to completion", MetricType::Histogram);
    auto bytes = family("myelin_block_io_bytes_total", "Bytes of completed block requests", MetricType::Counter);
    for (const auto& [dev, d] : by_dev) {
      ClientMetric m;
      m.label = {{"device", dev}};
      uint64_t cumulative = 0;
      for (int i = 0; i < MYELIN_BLOCK_LAT_BUCKETS; ++i) {
        cumulative += d.latency_hist[i];
        m.histogram.bucket.push_back({cumulative, static_cast<double>(1ull << i) / 1e6});
      }
      m.histogram.bucket.push_back({d.ios, std::numeric_limits<double>::infinity()});
      m.histogram.sample_count = d.ios;
      m.histogram.sample_sum = static_cast<double>(d.latency_sum_ns) / 1e9;
      lat.metric.push_back(std::move(m));
      bytes.metric.push_back(sample({{"device", dev}}, static_cast<double>(d.bytes), MetricType::Counter));
    }
    out.push_back(std::move(lat));
    out.push_back(std::move(bytes));
  }

  auto build = family("myelin_build_info", "Build information", MetricType::Gauge);
  build.metric.push_back(sample({{"version", s_.version}}, 1, MetricType::Gauge));
  out.push_back(std::move(build));
  return out;
}

Result<std::unique_ptr<MetricsExporter>> MetricsExporter::start(const std::string& addr, Sources sources) {
  auto e = std::unique_ptr<MetricsExporter>(new MetricsExporter());
  std::string bind = addr;
  if (!bind.empty() && bind[0] == ':') bind = "0.0.0.0" + bind;
  try {
    e->exposer_ = std::make_unique<prometheus::Exposer>(bind, 2);
  } catch (const std::exception& ex) {
    return Error{"cannot serve metrics on " + addr + ": " + ex.what()};
  }
  e->collector_ = std::make_shared<Collector>(std::move(sources));
  e->exposer_->RegisterCollectable(e->collector_);
  return e;
}

std::vector<int> MetricsExporter::ports() const { return exposer_->GetListeningPorts(); }

}  // namespace myelin::metrics
