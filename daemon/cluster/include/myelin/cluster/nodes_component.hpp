// SPDX-License-Identifier: Apache-2.0
// NodesComponent: the cluster's nodes as the agent shows them. Runs the
// node datapath (starts and stops it), answers `myelin node list` (every
// node: addresses, pod CIDRs, source, health and problem, last update,
// local), puts the cluster's part in `myelin status` (a single node says so:
// no --kvstore and no Kubernetes API) and exports its metrics.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "component/component.hpp"
#include "myelin.pb.h"
#include "myelin/cluster/cluster_state.hpp"
#include "myelin/cluster/node_datapath.hpp"

namespace myelin::cluster {

inline constexpr const char* kSingleNode = "single node: no --kvstore and no Kubernetes API";

class NodesComponent : public component::Component {
 public:
  struct Options {
    std::vector<Source> sources;  // where nodes come from; none: a single node
    RoutingMode mode = RoutingMode::none;
    // This node, listed from here until a source lists it.
    std::string node_name;
    net::Ipv4 node_ip{};
    std::optional<net::Cidr4> pod_cidr;
    // Tunnel mode: the VXLAN device (ifindex, route MTU), asked at start
    // (the tunnel component, started before, has made it); unset: none.
    std::function<std::pair<int, unsigned>()> tunnel_device;
    // Node objects the agent reads and does not route to (a single node, or
    // --kvstore, whose nodes are the ones with a record in etcd): listed
    // with the reason, so a second node's manifests are never taken for a
    // cluster in silence. Unset: none.
    std::function<std::vector<Node>()> unrouted_nodes;
    std::string unrouted_reason;
  };
  // `nd` may be null (nothing written, only listed).
  NodesComponent(const ClusterState& cluster, NodeDatapath* nd, Options o) : cluster_(cluster), nd_(nd), o_(std::move(o)) {}
  std::string name() const override { return "nodes"; }
  Status start() override;
  void stop() override;
  void routes(server::Router& r) override;
  void collect(metrics::MetricSink& sink) const override;
  void status(component::StatusBuilder& b) const override;

  // Pure: the answer for a snapshot (unit-tested).
  static api::NodeList node_list(const Snapshot& s, const Options& o, const std::vector<Node>& unrouted = {});
  static api::ClusterStatus cluster_status(const Snapshot& s, const Options& o, const NodeDatapath::Stats* stats,
                                           const std::vector<Node>& unrouted = {});

 private:
  const ClusterState& cluster_;
  NodeDatapath* nd_;
  const Options o_;
  std::vector<Node> unrouted() const { return o_.unrouted_nodes ? o_.unrouted_nodes() : std::vector<Node>{}; }
};

}  // namespace myelin::cluster
