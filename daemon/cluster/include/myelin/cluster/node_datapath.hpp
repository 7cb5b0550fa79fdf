// SPDX-License-Identifier: Apache-2.0
// NodeDatapath: keeps the ipcache and the node's routes as ClusterState says
// (node_plan.hpp computes what; this class writes it).
//   - Subscribes to ClusterState; a change wakes one worker thread, which
//     waits a short debounce (changes in a burst are applied once), asks for
//     a policy regeneration first when remote pods' identities or named
//     ports changed (so their entries are never in the ipcache before the
//     policy that judges them), then writes the difference.
//   - Owns the ipcache entries node_plan::cluster_owned() says (other
//     nodes', this node's pod CIDR) and the main table's routes of
//     kRouteProtocol. At start it adopts what the pinned ipcache and the
//     node hold, keeps it until every expected source has synced, then
//     prunes what the snapshot does not say: removals that happened while
//     the agent was down leave nothing behind.
//   - A node it cannot use (native mode: not directly reachable) becomes the
//     node's problem in ClusterState (status, `node list`), never an exit.
// PolicyManager leaves the keys this class owns alone (owns()); a cluster
// prefix that is also a policy CIDR gets the merged value from here.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "myelin/cluster/cluster_state.hpp"
#include "myelin/cluster/node_plan.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/result.hpp"

namespace myelin::cluster {

class NodeDatapath {
 public:
  struct Options {
    RoutingMode mode = RoutingMode::none;
    std::optional<net::Cidr4> pod_cidr;  // this node's
    // Every one must have synced before anything is pruned (none: a single
    // node, pruned at the first reconcile).
    std::vector<Source> sources;
    int tunnel_ifindex = 0;          // tunnel mode: pod CIDR routes through the VXLAN device
    unsigned tunnel_route_mtu = 0;   // their MTU (underlay - MYELIN_VXLAN_OVERHEAD)
    bool routes = true;              // false: ipcache only (datapath tests)
    std::chrono::milliseconds debounce{20};
  };
  struct Hooks {
    // PolicyManager's policy CIDRs and identities (ipBlock identities).
    std::function<std::vector<std::pair<net::Cidr4, uint32_t>>()> policy_cidrs;
    // Remote pods' identities or named ports changed: regenerate policy.
    std::function<void()> regenerate_policy;
  };
  struct Stats {
    uint64_t reconciles = 0, ipcache_writes = 0, ipcache_deletes = 0, route_writes = 0, route_deletes = 0, errors = 0;
    uint64_t pruned = 0;          // entries and routes removed after the sync (including ones from before a restart)
    uint64_t adopted_entries = 0, adopted_routes = 0;  // found at start
    size_t ipcache_entries = 0, routes = 0;            // ours, now
    size_t endpoints_without_node = 0, endpoints_refused = 0;
    bool synced = false;          // every expected source synced: pruning is on
    std::string last_error;       // of the last reconcile; empty = all in place
  };

  NodeDatapath(ClusterState& cluster, datapath::Datapath& dp, Options o, Hooks h);
  ~NodeDatapath();
  NodeDatapath(const NodeDatapath&) = delete;
  NodeDatapath& operator=(const NodeDatapath&) = delete;

  // Adopts the pinned entries and our routes, subscribes, starts the worker
  // (which reconciles once at once).
  Status start();
  void stop();
  // Policy CIDRs changed (PolicyManager regenerated, outside its locks):
  // ipBlock identities again, now, on the calling thread.
  void policy_changed();
  // Another node's identity came or went (Identities::on_change): policy again.
  void identities_changed();
  // Reconciles now on the calling thread (the worker's step; tests).
  Status reconcile();
  // Adopts the pinned entries and our routes without starting (tests).
  void adopt();

  bool owns(const myelin_ipcache_key& k) const;
  Stats stats() const;
  const Options& options() const { return o_; }

 private:
  void run();
  void wake(bool policy);
  static bool endpoints_differ(const Snapshot& a, const Snapshot& b);

  ClusterState& cluster_;
  datapath::Datapath& dp_;
  const Options o_;
  const Hooks h_;
  size_t subscription_ = 0;

  // The worker's wake-up.
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool pending_ = false, pending_policy_ = false, stopping_ = false;
  std::thread worker_;

  // What is ours in the ipcache and the node, and what the last plan wanted.
  mutable std::mutex mu_;
  std::map<Prefix, myelin_ipcache_val> installed_;
  std::map<Prefix, myelin_ipcache_val> want_;
  std::map<Prefix, uint32_t> restored_;  // cluster keys given back to their policy CIDR
  std::shared_ptr<const Snapshot> policy_seen_;  // the snapshot policy last regenerated for
  bool adopted_ = false;
  Stats stats_;
  std::mutex reconcile_mu_;  // one reconcile at a time (the worker, a test)
};

// Native routing needs every node on one L2 segment: why `ip` cannot be a
// next hop from this node's namespace, empty if it can (RTM_GETROUTE).
std::string native_reachability(net::Ipv4 ip);

}  // namespace myelin::cluster
