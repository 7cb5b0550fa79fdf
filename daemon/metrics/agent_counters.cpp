// SPDX-License-Identifier: Apache-2.0
#include "agent_counters.hpp"

namespace myelin::metrics {

void AgentCounters::flow_processed(const std::string& type, const std::string& subtype, const std::string& verdict) {
  std::lock_guard lk(mu_);
  ++flows_[{type, subtype, verdict}];
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
std::map<std::pair<std::string, std::string>, uint64_t> AgentCounters::k8s_events() const {
  std::lock_guard lk(mu_);
  return k8s_;
}
std::map<std::string, AgentCounters::Histogram> AgentCounters::regenerations() const {
  std::lock_guard lk(mu_);
  return regen_;
}

}  // namespace myelin::metrics
