// SPDX-License-Identifier: Apache-2.0
// PolicyManager: keeps the node's policy in the datapath. It subscribes to
// the object store's Namespaces, Pods and network policies (the store keeps
// them, and a source's last good version when its change is refused),
// regenerates when a source completes a batch, gives endpoints their
// identity labels, allocates CIDR identities and ipcache
// entries, compiles every local endpoint's policy and installs the
// difference into the policy maps. A failure to install is reported and the
// endpoint fails closed (MYELIN_EP_F_POLICY_FAILED), never open. What the
// flow path and `policy trace` read is published as a PolicySnapshot at the
// end of each regeneration: they never wait on this class's lock.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "endpoint_manager.hpp"
#include "myelin/cluster/cluster_state.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/endpoints/endpoint_store.hpp"
#include "myelin/identity/identity_allocator.hpp"
#include "myelin/net.hpp"
#include "myelin/objects/object_store.hpp"
#include "myelin/policy/compiler.hpp"
#include "myelin/policy/decode.hpp"
#include "policy_snapshot.hpp"
#include "flow.pb.h"

namespace myelin::agent {

using SourceState = objects::SourceState;

class PolicyManager {
 public:
  PolicyManager(datapath::Datapath& dp, EndpointManager& endpoints, endpoints::EndpointStore& store,
                identity::Identities& identities, metrics::AgentCounters& counters, objects::ObjectStore& objects,
                bool audit_all, bool allow_localhost = true);
  ~PolicyManager();
  PolicyManager(const PolicyManager&) = delete;
  PolicyManager& operator=(const PolicyManager&) = delete;

  // Recomputes identities and policy and installs the difference.
  Status regenerate();
  // The cluster (other nodes' pods): their named ports count for policy's
  // named ports, and flows name them. Set once, before the first regeneration.
  void set_cluster(const cluster::ClusterState* cluster) { cluster_ = cluster; }
  // ipcache keys another writer owns (the node datapath: other nodes'
  // prefixes): policy's CIDR entries leave them to it, which merges the
  // CIDR identity into its own entry. Set once, before the first regeneration.
  void set_ipcache_owner(std::function<bool(const myelin_ipcache_key&)> owned) { ipcache_owned_ = std::move(owned); }
  // Called after every regeneration, outside this class's locks (the node
  // datapath recomputes ipBlock identities). Set once, before the first one.
  void set_on_regenerated(std::function<void()> fn) { on_regenerated_ = std::move(fn); }
  // Every object source has listed once (a regeneration before that would
  // replace enforced policy with less).
  bool objects_synced() const { return objects_.all_synced(); }
  // The policy CIDRs of the last regeneration and their identities.
  std::vector<std::pair<net::Cidr4, uint32_t>> policy_cidrs() const { return snapshot()->policy_state()->cidrs; }

  // Identity labels of a pod (EndpointManager's label source).
  std::vector<std::string> identity_labels(const std::string& ns, const std::string& pod) const;

  // What flows and `policy trace` read: the last regeneration's outcome and
  // the endpoints as they are, immutable; a pointer copy, never mu_.
  std::shared_ptr<const PolicySnapshot> snapshot() const { return snapshot_.load(); }
  // Publishes the endpoints as they are now with the last regeneration's
  // policy (EndpointManager's change hook: added, removed, restored).
  void publish_endpoints();

  // The read functions below answer from the current snapshot.
  std::vector<std::pair<uint32_t, policy::NetworkPolicy>> policies() const;   // with their ids
  size_t policy_count() const;  // without copying them (status, metrics: 100k policies are ~100 MB)
  std::optional<PolicyRef> policy(uint32_t id) const;                         // a policy id or a rule id
  // The ipcache's ipblock_identity of an address (network order): the CIDR
  // identity NetworkPolicy ipBlock rules match it by, 0 for none.
  uint32_t ipblock_identity(uint32_t addr) const;
  std::vector<PolicyRef> selecting(uint32_t ep_id) const;                     // for default-deny attribution
  std::optional<policy::EndpointPolicy> endpoint_policy(uint32_t ep_id) const;
  std::vector<SourceState> sources() const;  // the store's sources (objects part): refused ones by parts
  uint64_t installed_entries() const;
  // What the last regeneration could not install (a full policy map or
  // ipcache) and which endpoints fail closed for it; empty when all is in place.
  std::vector<std::string> failures() const;
  uint64_t revision() const { return revision_; }
  std::map<uint32_t, std::vector<std::string>> identities() const { return identities_.list(); }
  std::vector<policy::Workload> workloads(const std::string& ns, const std::string& pod) const;

 private:
  using InstalledKey = std::pair<bool, myelin_policy_key>;  // (deny map?, key)
  struct KeyLess {
    bool operator()(const InstalledKey& a, const InstalledKey& b) const;
  };
  using Installed = std::map<InstalledKey, myelin_policy_val, KeyLess>;

  Status regenerate_locked();
  // Named ports of every copy of a Pod (namespace, name), in source order.
  using PodPorts = std::map<std::pair<std::string, std::string>, std::vector<std::vector<policy::NamedPort>>>;
  std::vector<policy::IdentityView> identity_views(const PodPorts& pod_ports) const;
  Status sync_cidrs(const std::vector<policy::NetworkPolicy>& all);
  Status sync_host_addresses();
  struct IpcacheGap {  // a prefix policy needs that the ipcache had no room for
    net::Cidr4 prefix;
    policy::Remote meant;  // the identity and ipBlock identity its entry would have given
    std::string what;
  };
  policy::Remote fallback_locked(const net::Cidr4& gap) const;
  uint32_t installed_ipblock_locked(uint32_t addr) const;
  uint32_t policy_id_locked(const policy::NetworkPolicy& p);
  uint32_t rule_id_locked(uint32_t policy_id, const std::string& rule);
  uint32_t ipblock_identity_locked(uint32_t addr) const;
  void publish_locked();
  void publish_endpoints_locked();

  void rebuild_remote_views_locked();

  datapath::Datapath& dp_;
  EndpointManager& endpoints_;
  endpoints::EndpointStore& store_;
  identity::Identities& identities_;
  metrics::AgentCounters& counters_;
  const bool audit_all_;
  const bool allow_localhost_;  // the node reaches its pods whatever their ingress policy (kubelet probes)
  std::map<uint32_t, std::pair<myelin_ipcache_key, myelin_ipcache_val>> host_addrs_;  // node addresses in the ipcache as "host"
  std::atomic<uint64_t> revision_{0};

  void rebuild_label_index();
  void set_label_index(const std::map<std::pair<std::string, std::string>, policy::Pod>& pods,
                       const std::map<std::string, policy::Namespace>& namespaces);

  // Lock order: mu_, then EndpointManager's lock, then labels_mu_; the
  // store's (read) lock after any of them. The label
  // index has its own lock because EndpointManager asks for labels while it
  // holds its lock (an ADD racing a regeneration must not deadlock).
  mutable std::recursive_mutex mu_;
  mutable std::mutex labels_mu_;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> pod_labels_;  // (ns, pod) -> identity labels
  std::map<std::string, std::vector<std::string>> ns_labels_;                           // ns -> its namespace labels
  std::map<std::pair<std::string, std::string>, std::vector<policy::Workload>> pod_workloads_;
  objects::ObjectStore& objects_;
  objects::ObjectStore::SubscriptionId subscription_ = 0;
  std::map<std::tuple<std::string, std::string, std::string>, uint32_t> policy_ids_;  // (kind, ns, name) -> id
  std::map<uint32_t, PolicyRef> policy_refs_;                                          // policy and rule ids
  // What the datapath reports as the deciding policy is a rule id: one per
  // (policy, rule as written). Ids are never reused; one unused by the last
  // two regenerations is forgotten (flows of older connections name no rule).
  std::map<std::pair<uint32_t, std::string>, uint32_t> rule_ids_;
  std::set<uint32_t> live_rules_, prev_live_rules_;
  uint32_t next_id_ = 1;
  std::vector<std::pair<uint32_t, policy::NetworkPolicy>> compiled_policies_;
  struct CidrEntry {
    uint32_t id;
    myelin_ipcache_key key;
    net::Cidr4 prefix;
    bool installed;
  };
  std::map<std::string, CidrEntry> cidr_ids_;  // cidr -> identity, ipcache key
  std::vector<IpcacheGap> ipcache_gaps_;        // of the last regeneration
  std::vector<std::string> failures_;
  std::map<uint32_t, Installed> installed_;                                   // per endpoint id
  std::map<uint32_t, std::shared_ptr<const policy::EndpointPolicy>> endpoint_policies_;

  // Publication. publish_mu_ orders the publishers (a regeneration under
  // mu_, an endpoint change without it) and is never held by a reader;
  // taken after mu_, never under EndpointManager's lock, before the
  // store's, the allocator's and labels_mu_.
  std::mutex publish_mu_;
  std::shared_ptr<const PolicyState> published_policy_ = std::make_shared<const PolicyState>();
  std::shared_ptr<const RemoteViews> remote_views_ = std::make_shared<const RemoteViews>();
  const cluster::ClusterState* cluster_ = nullptr;
  std::function<bool(const myelin_ipcache_key&)> ipcache_owned_;
  std::function<void()> on_regenerated_;
  Published<PolicySnapshot> snapshot_{std::make_shared<const PolicySnapshot>()};
};

}  // namespace myelin::agent
