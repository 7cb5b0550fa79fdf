// SPDX-License-Identifier: Apache-2.0
// AgentCounters: the numbers only the agent knows (flows decoded, map
// operations it issued, endpoint regeneration times, Kubernetes events,
// policy regenerations). Components record into
// it; the metrics exporter reads it at scrape time. Label sets are bounded by
// construction: map names, operations, outcomes and flow kinds are enums of
// the code, never pod names or addresses.
#pragma once

#include <array>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "component/component.hpp"

namespace myelin::metrics {

class AgentCounters {
 public:
  // Buckets for myelin_endpoint_regeneration_seconds (upper bounds, seconds).
  static constexpr std::array<double, 10> kRegenBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

  void flow_processed(const std::string& type, const std::string& subtype, const std::string& verdict);
  // Services: a connection translated to a backend, or a packet dropped for
  // want of one (SERVICE_BACKEND_NOT_FOUND); outcome "translated" or
  // "no_backend", path "packet" or "socket", protocol "TCP", "UDP", "SCTP", "other".
  void service_flow(const std::string& outcome, const std::string& path, const std::string& protocol);
  void map_op(const std::string& map_name, const std::string& operation, bool ok, uint64_t n = 1);
  void endpoint_regenerated(double seconds, bool ok);
  void k8s_event(const std::string& resource, const std::string& action);
  void policy_change(bool ok);
  std::pair<uint64_t, uint64_t> policy_changes() const;  // (success, failure)

  struct Histogram {
    std::array<uint64_t, kRegenBuckets.size()> buckets{};  // non-cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  using Key3 = std::tuple<std::string, std::string, std::string>;
  std::map<Key3, uint64_t> flows() const;
  std::map<Key3, uint64_t> map_ops() const;
  std::map<Key3, uint64_t> service_flows() const;  // (outcome, path, protocol)
  std::map<std::pair<std::string, std::string>, uint64_t> k8s_events() const;
  std::map<std::string, Histogram> regenerations() const;  // by outcome

 private:
  mutable std::mutex mu_;
  std::map<Key3, uint64_t> flows_;
  std::map<Key3, uint64_t> map_ops_;
  std::map<Key3, uint64_t> service_flows_;
  std::map<std::pair<std::string, std::string>, uint64_t> k8s_;
  std::map<std::string, Histogram> regen_;
  uint64_t policy_ok_ = 0, policy_failed_ = 0;
};

// Exports them (regeneration times, policy changes, map operations, flows
// decoded, Service translations and no-backend drops, Kubernetes events).
class AgentCountersComponent : public component::Component {
 public:
  explicit AgentCountersComponent(const AgentCounters& counters) : counters_(counters) {}
  std::string name() const override { return "counters"; }
  void collect(MetricSink& sink) const override;

 private:
  const AgentCounters& counters_;
};

}  // namespace myelin::metrics
