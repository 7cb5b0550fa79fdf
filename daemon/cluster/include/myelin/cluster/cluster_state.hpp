// SPDX-License-Identifier: Apache-2.0
// daemon/cluster (myelin_cluster): what this node knows of the other nodes.
//
// ClusterState is where the cluster's sources meet (the shared contract of
// the multi-node work):
//   producers: the etcd backend (kvstore/: node records and endpoint records
//              under each agent's lease), the Kubernetes backend (Node
//              objects, Pods' status.podIPs), each replacing what it
//              said before;
//   consumers: the node datapath (ipcache entries, routes, tunnel), policy
//              (named ports of remote pods), flows (remote pod names), the
//              CLI (`myelin node list`), status.
// Consumers read an immutable Snapshot (a pointer copy, never a lock of
// ours) and subscribe to changes. This node itself is a Node too (local =
// true), so `node list` shows it beside the others.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "myelin/net.hpp"

namespace myelin::cluster {

enum class Source { etcd, kubernetes, manifests };
std::string source_name(Source s);  // "etcd", "kubernetes", "manifests"

struct Node {
  std::string name;
  net::Ipv4 ip{};                     // InternalIP / the node record's address: the tunnel endpoint, the next hop
  std::vector<net::Cidr4> pod_cidrs;  // spec.podCIDR(s) / the claimed cluster-pool CIDR
  Source source = Source::etcd;
  bool local = false;                 // this node
  std::chrono::system_clock::time_point updated{};  // when its source last changed it
  // Health as this node sees it (empty = healthy): e.g. "not directly
  // reachable on the underlay (native routing needs one L2 segment)".
  std::string problem;
};

struct NamedPort {
  std::string name;
  uint16_t port = 0;
  uint8_t proto = 6;  // IPPROTO_*
};

// A pod of another node.
struct RemoteEndpoint {
  net::Ipv4 ip{};
  uint32_t identity = 0;  // the cluster identity (same number on every node)
  std::string node;       // Node::name of the node that holds it
  std::string ns, pod;
  std::vector<NamedPort> named_ports;
  Source source = Source::etcd;
};

struct Snapshot {
  std::map<std::string, Node> nodes;                 // by name, this node included
  std::map<net::Ipv4, RemoteEndpoint> endpoints;     // by address, other nodes' pods only
  std::map<Source, bool> synced;                     // a source that listed everything once
  uint64_t revision = 0;                             // grows with every change
  const Node* node(const std::string& name) const;
  const RemoteEndpoint* endpoint(net::Ipv4 ip) const;
};

class ClusterState {
 public:
  explicit ClusterState(std::string local_node) : local_(std::move(local_node)) {}
  ClusterState(const ClusterState&) = delete;
  ClusterState& operator=(const ClusterState&) = delete;

  // Producers. A source replaces all it said (a relist) or changes one
  // thing; the local node's own record is ignored as an endpoint source
  // (its pods are local endpoints, not remote ones).
  void replace_nodes(Source src, std::vector<Node> nodes);
  void upsert_node(Node n);
  void remove_node(Source src, const std::string& name);
  void replace_endpoints(Source src, std::vector<RemoteEndpoint> eps);
  void upsert_endpoint(RemoteEndpoint ep);
  void remove_endpoint(Source src, net::Ipv4 ip);
  void set_synced(Source src, bool synced = true);
  // The node datapath's verdict on a node (reachability): kept until the
  // node changes or goes.
  void set_problem(const std::string& node, std::string problem);

  std::shared_ptr<const Snapshot> snapshot() const;
  // Called after every change, with the new snapshot, on the producer's
  // thread and outside ClusterState's lock: keep it short (hand off).
  using Listener = std::function<void(const std::shared_ptr<const Snapshot>&)>;
  size_t subscribe(Listener fn);
  void unsubscribe(size_t id);
  const std::string& local_node() const { return local_; }

 private:
  template <typename F>
  void change(F&& f);
  const std::string local_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snap_ = std::make_shared<const Snapshot>();
  std::mutex listeners_mu_;
  std::map<size_t, Listener> listeners_;
  size_t next_listener_ = 1;
};

}  // namespace myelin::cluster
