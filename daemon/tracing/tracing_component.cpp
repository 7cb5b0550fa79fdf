// SPDX-License-Identifier: Apache-2.0
#include "tracing/tracing_component.hpp"

#include "agent/refusals.hpp"
#include "component/status_builder.hpp"
#include "metrics/metric_sink.hpp"
#include "myelin/log.hpp"
#include "server/router.hpp"

namespace myelin::tracing {

using server::error_response;

Status TracingComponent::start() {
  if (!runtime_.monitor()) return {};
  const auto& tracefs = mounts_[pseudofs::Fs::tracefs];
  if (!tracefs.available) {
    log::warn("tracing", "TracingPolicies are off: tracefs unavailable: " + tracefs.error);
    return {};
  }
  manager_ = std::make_unique<TracingManager>(*runtime_.monitor(), probed_, tracefs.path(), endpoints_);
  if (auto s = manager_->start(); !s) {
    log::warn("tracing", "TracingPolicies are off: " + s.error().message);
    manager_.reset();
    return {};
  }
  manager_->subscribe(objects_);
  return {};
}

void TracingComponent::routes(server::Router& r) {
  r.add(api::Request::kTracingPolicyList, [this](const api::Request&) {
    if (!manager_) return error_response(api::NOT_READY, "TracingPolicies are off on this agent (runtime events disabled or tracefs unavailable)");
    api::Response r;
    auto* out = r.mutable_tracing_policies();
    const auto rs = runtime_.monitor() ? runtime_.monitor()->stats() : runtime::RuntimeMonitor::Stats{};
    for (const auto& p : manager_->list()) {
      auto* i = out->add_policies();
      i->set_kind(p.kind);
      i->set_namespace_(p.ns);
      i->set_name(p.name);
      i->set_source(p.source);
      i->set_state(p.enabled ? "enabled" : "error");
      i->set_error(p.error);
      i->set_mode(p.mode);
      i->set_hooks(static_cast<uint32_t>(p.hooks));
      for (const auto& w : p.warnings) i->add_warnings(w);
      if (p.refusal) agent::to_proto(*p.refusal, i->mutable_refusal());
      if (p.refusal && p.refusal->cause == policy::Refusal::Cause::decode) continue;  // a refused file posts nothing
      for (const auto& [k, n] : rs.events)
        if (k.second == p.name && k.first != "process_exec" && k.first != "process_exit") i->set_events(i->events() + n);
      for (const auto& [k, n] : rs.actions)
        if (k.second == p.name) (*i->mutable_actions())[k.first] = n;
    }
    return r;
  });
}

// What each TracingPolicy action can guarantee on the running kernel (said
// whether or not TracingPolicies are on: it is about the kernel).
void TracingComponent::status(component::StatusBuilder& b) const {
  auto& s = b.out();
  const auto lsm = b.feature("bpf-lsm"), fentry = b.feature("fentry"), fmod_ret = b.feature("fmod_ret"),
             syscall_override = b.feature("fmod_ret-syscalls");
  s.add_runtime_enforcement(lsm.available ? "Override on lsmhooks (unlink, rename, exec, open): preventive, the operation fails before it happens (BPF-LSM)"
                                          : "Override on lsmhooks: kill-after here, no BPF-LSM (" + lsm.detail +
                                                "): Sigkill at syscall entry, the call may have completed");
  s.add_runtime_enforcement("Sigkill/Signal on tracepoints, uprobes and kprobes: kill-after, the process dies on its way back to user space; the call may have completed");
  s.add_runtime_enforcement(fmod_ret.available ? "Override on security_* kprobes: preventive, the function returns the errno without running (fmod_ret)"
                                               : "Override on security_* kprobes: kill-after here, runs as Sigkill (fmod_ret: " + fmod_ret.detail + ")");
  s.add_runtime_enforcement(syscall_override.available
                                ? "Override on syscall kprobes: preventive, the syscall returns the errno without running (fmod_ret)"
                                : "Override on syscall kprobes: kill-after here, runs as Sigkill (fmod_ret-syscalls: " + syscall_override.detail + ")");
  if (!fentry.available) s.add_runtime_enforcement("kprobes: not attachable here (fentry: " + fentry.detail + "); kprobe policies are refused whole");
  if (runtime_.monitor() && manager_) s.set_runtime_lost(s.runtime_lost() + manager_->ring_stats().events_lost);
}

void TracingComponent::collect(metrics::MetricSink& sink) const {
  if (!runtime_.monitor()) return;  // the family is the runtime's
  sink.counter("myelin_runtime_lost_events_total",
               "Runtime events lost: ring buffer full in the kernel, or pushed out of the agent's store unread")
      .add({{"source", "tracing_ring"}}, static_cast<double>(manager_ ? manager_->ring_stats().events_lost : 0));
}

}  // namespace myelin::tracing
