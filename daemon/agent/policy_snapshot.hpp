// SPDX-License-Identifier: Apache-2.0
// PolicySnapshot: what flow decoding and `policy trace` read (the endpoints
// with their identity labels and workloads, each endpoint's compiled policy,
// the policy and rule ids the datapath reports, the ipBlock identity of an
// address) as one immutable value. PolicyManager publishes a new one at the
// end of every regeneration and whenever endpoints come or go; a reader takes
// the current one (a pointer copy) and reads it whole. It never waits on a
// regeneration and never sees half of one.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "flow.pb.h"
#include "myelin/abi/net.h"
#include "myelin/flows/flow_decoder.hpp"
#include "myelin/net.hpp"
#include "myelin/policy/compiler.hpp"

namespace myelin::agent {

struct PolicyRef {
  std::string kind, ns, name;
  std::string rule;  // for a rule id: the rule as written (policy::rule_text); empty for a policy id
};

// An endpoint as flows name it, and its address (policy trace's ipBlock lookup).
struct SnapshotEndpoint : flows::EndpointView {
  std::string ip;
};

// What one regeneration decided; shared by every snapshot published until the next one.
struct PolicyState {
  uint64_t revision = 0;
  size_t policy_count = 0;
  std::map<uint32_t, PolicyRef> refs;  // policy ids and rule ids
  std::map<uint32_t, std::shared_ptr<const policy::EndpointPolicy>> endpoint_policies;
  std::vector<std::pair<net::Cidr4, uint32_t>> cidrs;  // policy CIDR -> its identity, its own ipBlock identity
  std::map<uint32_t, uint32_t> host_ipblock;            // node address (network order) -> its ipBlock identity
};

// Other nodes' pods as flows name them, by address (network order): from
// ClusterState and the identities' labels, rebuilt at each regeneration.
using RemoteViews = std::map<uint32_t, flows::EndpointView>;

class PolicySnapshot final : public flows::FlowView {
 public:
  PolicySnapshot() : PolicySnapshot(std::make_shared<const PolicyState>(), {}) {}
  PolicySnapshot(std::shared_ptr<const PolicyState> policy, std::vector<SnapshotEndpoint> endpoints,
                 std::shared_ptr<const RemoteViews> remote = nullptr);

  uint64_t revision() const { return policy_->revision; }
  size_t policy_count() const { return policy_->policy_count; }
  const std::shared_ptr<const PolicyState>& policy_state() const { return policy_; }

  const SnapshotEndpoint* endpoint(uint32_t ep_id) const override;
  const flows::EndpointView* remote(uint32_t addr) const override;
  const SnapshotEndpoint* endpoint(const std::string& ns, const std::string& pod) const;  // ns "" is "default"
  const SnapshotEndpoint* endpoint_by_ip(const std::string& ip) const;  // a Service backend's address
  const policy::EndpointPolicy* endpoint_policy(uint32_t ep_id) const;
  const PolicyRef* ref(uint32_t id) const;  // a policy id or a rule id
  std::optional<PolicyRef> policy(uint32_t id) const;
  std::vector<PolicyRef> selecting(uint32_t ep_id) const;  // for default-deny attribution
  // The ipcache's ipblock_identity of an address (network order): the CIDR
  // identity NetworkPolicy ipBlock rules match it by, 0 for none.
  uint32_t ipblock_identity(uint32_t addr) const;

  // Hubble's egress/ingress_allowed_by / _denied_by (annotate_policy).
  void annotate(const myelin_flow_event& ev, flow::Flow& f) const override;

 private:
  std::shared_ptr<const PolicyState> policy_;
  std::map<uint32_t, SnapshotEndpoint> endpoints_;
  std::map<std::pair<std::string, std::string>, uint32_t> by_name_;  // (namespace, pod) -> endpoint id
  std::map<std::string, uint32_t> by_ip_;                            // address -> endpoint id
  std::shared_ptr<const RemoteViews> remote_;                         // shared by the snapshots of one regeneration
};

// Fills Hubble's egress/ingress_allowed_by / _denied_by of a decoded flow:
// the rule that decided, or, for a default-deny drop, every policy that
// selects the endpoint.
void annotate_policy(const PolicySnapshot& s, const myelin_flow_event& ev, flow::Flow& f);

// The current value, replaced whole: readers load it, publishers store it.
// A reader keeps what it loaded for as long as it holds it. The lock is only
// ever held for a pointer copy or swap (never while a snapshot is built or
// freed): libstdc++ 12's std::atomic<std::shared_ptr> is a spin lock of the
// same length, and ThreadSanitizer reports it (google/sanitizers#1558).
template <typename T>
class Published {
 public:
  explicit Published(std::shared_ptr<const T> first) : current_(std::move(first)) {}
  std::shared_ptr<const T> load() const {
    std::lock_guard lk(mu_);
    return current_;
  }
  void publish(std::shared_ptr<const T> next) {
    {
      std::lock_guard lk(mu_);
      current_.swap(next);
    }
    // `next` holds the previous value: freed here, outside the lock, unless a reader still holds it.
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const T> current_;
};

}  // namespace myelin::agent
