// SPDX-License-Identifier: Apache-2.0
// NodesComponent: the cluster's nodes as the agent shows them. Runs the
// node datapath (starts and stops it), answers `myelin node list` (every
// node: addresses, pod CIDRs, source, health and problem, last update,
// local), puts the cluster's part in `myelin status` (a single node says so:
// no --kvstore and no Kubernetes API) and exports its metrics.
#pragma once

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
  static api::NodeList node_list(const Snapshot& s, const Options& o);
  static api::ClusterStatus cluster_status(const Snapshot& s, const Options& o, const NodeDatapath::Stats* stats);

 private:
  const ClusterState& cluster_;
  NodeDatapath* nd_;
  const Options o_;
};

}  // namespace myelin::cluster
