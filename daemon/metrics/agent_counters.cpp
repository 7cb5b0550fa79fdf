// SPDX-License-Identifier: Apache-2.0
#include "agent_counters.hpp"

#include "metric_sink.hpp"

namespace myelin::metrics {

void AgentCounters::flow_processed(const std::string& type, const std::string& subtype, const std::string& verdict) {
  std::lock_guard lk(mu_);
  ++flows_[{type, subtype, verdict}];
}

void AgentCounters::service_flow(const std::string& outcome, const std::string& path, const std::string& protocol) {
  std::lock_guard lk(mu_);
  ++service_flows_[{outcome, path, protocol}];
}

void AgentCounters::map_op(const std::string& map_name, const std::string& operation, bool ok, uint64_t n) {
  std::lock_guard lk(mu_);
  map_ops_[{map_name, operation, ok ? "success" : "fail"}] += n;
}

void AgentCounters::endpoint_regenerated(double seconds, bool ok) {
  std::lock_guard lk(mu_);
  Histogram& h = regen_[ok ? "success" : "failure"];
  size_t i = 0;
  while (i < kRegenBuckets.size() && seconds > kRegenBuckets[i]) ++i;
  if (i < kRegenBuckets.size()) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

void AgentCounters::k8s_event(const std::string& resource, const std::string& action) {
  std::lock_guard lk(mu_);
  ++k8s_[{resource, action}];
}

void AgentCounters::policy_change(bool ok) {
  std::lock_guard lk(mu_);
  ++(ok ? policy_ok_ : policy_failed_);
}

std::pair<uint64_t, uint64_t> AgentCounters::policy_changes() const {
  std::lock_guard lk(mu_);
  return {policy_ok_, policy_failed_};
}

std::map<AgentCounters::Key3, uint64_t> AgentCounters::flows() const {
  std::lock_guard lk(mu_);
  return flows_;
}
std::map<AgentCounters::Key3, uint64_t> AgentCounters::map_ops() const {
  std::lock_guard lk(mu_);
  return map_ops_;
}
std::map<AgentCounters::Key3, uint64_t> AgentCounters::service_flows() const {
  std::lock_guard lk(mu_);
  return service_flows_;
}
std::map<std::pair<std::string, std::string>, uint64_t> AgentCounters::k8s_events() const {
  std::lock_guard lk(mu_);
  return k8s_;
}
std::map<std::string, AgentCounters::Histogram> AgentCounters::regenerations() const {
  std::lock_guard lk(mu_);
  return regen_;
}

void AgentCountersComponent::collect(MetricSink& sink) const {
  auto regen = sink.histogram("myelin_endpoint_regeneration_seconds", "Time to program an endpoint into the datapath");
  const std::vector<double> bounds(AgentCounters::kRegenBuckets.begin(), AgentCounters::kRegenBuckets.end());
  auto regens = counters_.regenerations();
  for (const char* outcome : {"success", "failure"}) {
    const AgentCounters::Histogram& h = regens[outcome];
    regen.add_histogram({{"outcome", outcome}}, bounds, std::vector<uint64_t>(h.buckets.begin(), h.buckets.end()), h.count, h.sum);
  }

  auto [ok, failed] = counters_.policy_changes();
  sink.counter("myelin_policy_change_total", "Policy regenerations, by outcome")
      .add({{"outcome", "success"}}, static_cast<double>(ok))
      .add({{"outcome", "failure"}}, static_cast<double>(failed));

  auto ops = sink.counter("myelin_bpf_map_ops_total", "BPF map operations issued by the agent");
  for (const auto& [k, n] : counters_.map_ops())
    ops.add({{"map_name", std::get<0>(k)}, {"operation", std::get<1>(k)}, {"outcome", std::get<2>(k)}}, static_cast<double>(n));

  auto flows = sink.counter("myelin_flows_processed_total", "Flows decoded from the datapath");
  for (const auto& [k, n] : counters_.flows())
    flows.add({{"subtype", std::get<1>(k)}, {"type", std::get<0>(k)}, {"verdict", std::get<2>(k)}}, static_cast<double>(n));

  // Every path and protocol from the start (0 until it happens), so rate() and
  // alerts on a missing series work; a label value outside these still shows.
  auto translated = sink.counter("myelin_service_translations_total",
                                 "Connections to a Service frontend translated to a backend (from flow events), by path (packet: "
                                 "a pod's veth or a node device; socket: connect/sendmsg) and protocol");
  auto no_backend = sink.counter("myelin_service_no_backend_drops_total",
                                 "Packets or socket calls to a Service frontend refused because it has no backend "
                                 "(SERVICE_BACKEND_NOT_FOUND, from flow events), by path and protocol");
  auto svc = counters_.service_flows();
  for (const char* outcome : {"translated", "no_backend"})
    for (const char* path : {"packet", "socket"})
      for (const char* proto : {"TCP", "UDP", "SCTP"}) svc.try_emplace({outcome, path, proto}, 0);
  for (const auto& [k, n] : svc)
    (std::get<0>(k) == "translated" ? translated : no_backend)
        .add({{"path", std::get<1>(k)}, {"protocol", std::get<2>(k)}}, static_cast<double>(n));

  auto k8s = sink.counter("myelin_k8s_events_total", "Kubernetes object events received");
  for (const auto& [k, n] : counters_.k8s_events()) k8s.add({{"action", k.second}, {"resource", k.first}}, static_cast<double>(n));
}

}  // namespace myelin::metrics
