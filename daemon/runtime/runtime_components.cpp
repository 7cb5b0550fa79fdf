// SPDX-License-Identifier: Apache-2.0
#include "runtime/runtime_components.hpp"

#include "component/status_builder.hpp"
#include "metrics/metric_sink.hpp"
#include "myelin/log.hpp"
#include "server/router.hpp"

namespace myelin::runtime {

using server::error_response;

// ---- process events ----

Status RuntimeComponent::start() {
  if (!enabled_) return {};
  monitor_ = std::make_unique<RuntimeMonitor>(node_name_, pods_, store_size_);
  if (auto s = monitor_->start(); !s) {
    error_ = s.error().message;
    log::warn("runtime", "process events are off: " + error_);
    monitor_.reset();
  }
  return {};
}

void RuntimeComponent::routes(server::Router& r) {
  r.add_stream(api::Request::kEvents, [this](const api::Request& q, const server::Dispatcher::Reply& reply,
                                             const std::atomic<bool>& cancelled) {
    const auto& req = q.events();
    if (!monitor_) {
      reply(error_response(api::NOT_READY, "runtime events are off on this agent: " +
                                               (error_.empty() ? std::string("started with --runtime-events=false") : error_)));
      return;
    }
    EventFilter f{{req.types().begin(), req.types().end()}, req.policy(), req.pod(), req.namespace_(), req.binary()};
    auto send = [&](const Event& e) {
      api::Response r;
      auto* out = r.mutable_runtime_event();
      out->set_json(to_json(e, monitor_->node_name(), monitor_->mono_to_wall_ns()).dump());
      out->set_compact(to_compact(e));
      return reply(r);
    };
    uint64_t next = 0;
    for (const auto& e : monitor_->store().snapshot(f, req.last(), &next))
      if (!send(e)) return;
    if (!req.follow()) return;
    while (!cancelled)
      for (const auto& e : monitor_->store().wait_next(f, &next, std::chrono::milliseconds(250)))
        if (!send(e)) return;
  });
}

void RuntimeComponent::status(component::StatusBuilder& b) const {
  auto& s = b.out();
  s.set_runtime_enabled(monitor_ != nullptr);
  s.set_runtime_error(error_);
  if (!monitor_) return;
  auto rs = monitor_->stats();
  for (const auto& [k, n] : rs.events) (*s.mutable_runtime_events())[k.first] += n;
  s.set_runtime_lost(s.runtime_lost() + rs.lost);  // the TracingPolicy ring adds its own
  s.set_runtime_processes(rs.processes);
}

void RuntimeComponent::collect(metrics::MetricSink& sink) const {
  if (!monitor_) return;
  const auto rs = monitor_->stats();
  auto ev = sink.counter("myelin_runtime_events_total", "Runtime events recorded, by type and by the policy that produced them");
  for (const auto& [k, n] : rs.events) ev.add({{"policy", k.second}, {"type", k.first}}, static_cast<double>(n));
  auto act = sink.counter("myelin_runtime_actions_total", "Actions TracingPolicies took (post, sigkill, signal)");
  for (const auto& [k, n] : rs.actions) act.add({{"action", k.first}, {"policy", k.second}}, static_cast<double>(n));
  sink.counter("myelin_runtime_lost_events_total",
               "Runtime events lost: ring buffer full in the kernel, or pushed out of the agent's store unread")
      .add({{"source", "ring_buffer"}}, static_cast<double>(rs.lost))
      .add({{"source", "event_store"}}, static_cast<double>(rs.overwritten));
  sink.gauge("myelin_runtime_processes", "Live processes the agent tracks").add({}, static_cast<double>(rs.processes));
}

// ---- GPU ----

Status GpuComponent::start() {
  if (libs_ == "none") return {};
  auto libs = GpuMonitor::find_libraries(libs_);
  if (libs.empty()) {
    log::info("gpu", "no CUDA library found: GPU probes off (--gpu-libs PATH,... to give them)");
  } else if (auto g = datapath::GpuProbes::attach(libs); !g) {
    log::warn("gpu", "GPU probes off: " + g.error().message);
  } else {
    log::info("gpu", std::to_string((*g)->attached().size()) + " CUDA entry points probed in " + std::to_string(libs.size()) + " libraries");
    gpu_ = std::make_unique<GpuMonitor>(std::move(*g), runtime_.monitor(), pods_);
  }
  return {};
}

void GpuComponent::routes(server::Router& r) {
  r.add(api::Request::kGpuList, [this](const api::Request&) {
    if (!gpu_) return error_response(api::NOT_READY, "GPU probes are off: no CUDA library found or given (myelind --gpu-libs PATH,...)");
    api::Response r;
    auto* out = r.mutable_gpu();
    for (const auto& a : gpu_->attached()) out->add_attached(a);
    for (const auto& g : gpu_->processes()) {
      auto* p = out->add_processes();
      p->set_pid(g.pid);
      p->set_binary(g.binary);
      if (g.pod) {
        p->set_pod_namespace(g.pod->ns);
        p->set_pod_name(g.pod->name);
      }
      for (uint32_t fn = 0; fn < MYELIN_GPU_FN_MAX; ++fn)
        if (g.stats.calls[fn]) (*p->mutable_calls())[datapath::gpu_function_name(fn)] = g.stats.calls[fn];
      p->set_bytes_allocated(g.stats.bytes_allocated);
      p->set_bytes_copied(g.stats.bytes_copied);
      p->set_kernel_launches(g.stats.kernel_launches);
    }
    return r;
  });
}

void GpuComponent::collect(metrics::MetricSink& sink) const {
  if (!gpu_) return;
  // Node totals (per-process figures: `myelin gpu list`); summed from the per-process LRU map.
  uint64_t calls[MYELIN_GPU_FN_MAX] = {}, alloc = 0, copied = 0, launches = 0;
  for (const auto& g : gpu_->processes()) {
    for (uint32_t fn = 0; fn < MYELIN_GPU_FN_MAX; ++fn) calls[fn] += g.stats.calls[fn];
    alloc += g.stats.bytes_allocated;
    copied += g.stats.bytes_copied;
    launches += g.stats.kernel_launches;
  }
  auto c = sink.counter("myelin_gpu_calls_total", "CUDA runtime and driver calls seen by the uprobes");
  for (uint32_t fn = 0; fn < MYELIN_GPU_FN_MAX; ++fn) c.add({{"function", datapath::gpu_function_name(fn)}}, static_cast<double>(calls[fn]));
  for (auto [name, help, v] : {std::tuple{"myelin_gpu_bytes_allocated_total", "Bytes requested from cudaMalloc/cuMemAlloc", alloc},
                               std::tuple{"myelin_gpu_bytes_copied_total", "Bytes passed to cudaMemcpy*/cuMemcpy*", copied},
                               std::tuple{"myelin_gpu_kernel_launches_total", "cudaLaunchKernel and cuLaunchKernel calls", launches}})
    sink.counter(name, help).add({}, static_cast<double>(v));
}

// ---- block I/O ----

Status StorageComponent::start() {
  if (!enabled_) return {};
  if (auto p = datapath::StorageProbes::start(); !p) {
    log::warn("storage", "block I/O probes off: " + p.error().message);
  } else {
    storage_ = std::make_unique<StorageMonitor>(std::move(*p), runtime_.monitor(), pods_);
    log::info("storage", "block I/O probes attached (tp_btf block_rq_issue/complete)");
  }
  return {};
}

void StorageComponent::routes(server::Router& r) {
  r.add(api::Request::kStorageList, [this](const api::Request&) {
    if (!storage_)
      return error_response(api::NOT_READY, "block I/O probes are off on this agent (--storage-events=false, or they did not load: see its log)");
    api::Response r;
    auto* out = r.mutable_storage();
    for (const auto& e : storage_->entries()) {
      auto* x = out->add_entries();
      x->set_device(e.device);
      x->set_pid(e.pid);
      x->set_binary(e.binary);
      if (e.pod) {
        x->set_pod_namespace(e.pod->ns);
        x->set_pod_name(e.pod->name);
      }
      x->set_ios(e.stats.ios);
      x->set_bytes(e.stats.bytes);
      x->set_reads(e.stats.reads);
      x->set_writes(e.stats.writes);
      x->set_latency_avg_us(e.stats.ios ? e.stats.latency_sum_ns / e.stats.ios / 1000 : 0);
      x->set_latency_p50_us(histogram_quantile_us(e.stats, 0.5));
      x->set_latency_p99_us(histogram_quantile_us(e.stats, 0.99));
    }
    return r;
  });
}

void StorageComponent::collect(metrics::MetricSink& sink) const {
  if (!storage_) return;
  // Per device (bounded); per process and pod: `myelin storage list`.
  std::map<std::string, myelin_block_stats> by_dev;
  for (const auto& e : storage_->entries()) {
    auto& d = by_dev[e.device];
    d.ios += e.stats.ios;
    d.bytes += e.stats.bytes;
    d.latency_sum_ns += e.stats.latency_sum_ns;
    for (int i = 0; i < MYELIN_BLOCK_LAT_BUCKETS; ++i) d.latency_hist[i] += e.stats.latency_hist[i];
  }
  std::vector<double> bounds;
  for (int i = 0; i < MYELIN_BLOCK_LAT_BUCKETS; ++i) bounds.push_back(static_cast<double>(1ull << i) / 1e6);
  auto lat = sink.histogram("myelin_block_io_latency_seconds", "Block request latency, issue to completion");
  auto bytes = sink.counter("myelin_block_io_bytes_total", "Bytes of completed block requests");
  for (const auto& [dev, d] : by_dev) {
    lat.add_histogram({{"device", dev}}, bounds, std::vector<uint64_t>(d.latency_hist, d.latency_hist + MYELIN_BLOCK_LAT_BUCKETS), d.ios,
                      static_cast<double>(d.latency_sum_ns) / 1e9);
    bytes.add({{"device", dev}}, static_cast<double>(d.bytes));
  }
}

// ---- TCP sensor ----

Status SocketComponent::start() {
  if (!runtime_.monitor()) return Error{"--network-events needs runtime events: " + runtime_.off_reason()};
  const auto& tracefs = mounts_[pseudofs::Fs::tracefs];
  if (!tracefs.available) return Error{"--network-events needs tracefs: " + tracefs.error};
  auto m = SocketMonitor::start(*runtime_.monitor(), tracefs.path());
  if (!m) return Error{"--network-events: " + m.error().message};
  sockets_ = std::move(*m);
  log::info("network", "TCP sensor attached (connect/accept syscall tracepoints found in " + tracefs.path() + ")");
  return {};
}

void SocketComponent::collect(metrics::MetricSink& sink) const {
  if (!sockets_ || !runtime_.monitor()) return;
  sink.counter("myelin_runtime_lost_events_total",
               "Runtime events lost: ring buffer full in the kernel, or pushed out of the agent's store unread")
      .add({{"source", "tcp_sensor"}}, static_cast<double>(sockets_->lost()));
}

// ---- events log ----

Status EventsLogComponent::start() {
  if (!runtime_.monitor()) return Error{"--events-log needs runtime events: " + runtime_.off_reason()};
  log_ = std::make_unique<EventsLog>(*runtime_.monitor(), options_);
  if (auto s = log_->start(); !s) return Error{"events log: " + s.error().message};
  return {};
}

}  // namespace myelin::runtime
