// SPDX-License-Identifier: Apache-2.0
// ObjectsFeed: the Kubernetes backend of ClusterState. Node objects (from the
// API or the manifests directory, through the object store) become
// cluster::Nodes (InternalIP, spec.podCIDRs); other nodes' Pods become
// RemoteEndpoints (status.podIPs, spec.nodeName, identity by their labels:
// the number the cluster's Identities gave those labels). A Pod whose labels
// have no number yet is left out until one appears (resync() on the
// identities' change): never an address with a wrong identity.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "myelin/cluster/cluster_state.hpp"
#include "myelin/identity/identity_allocator.hpp"
#include "myelin/objects/object_store.hpp"

namespace myelin::cluster {

// The identity labels of a pod, as the node running it computes them
// (PolicyManager::identity_labels): namespace, pod labels, namespace labels; sorted.
std::vector<std::string> pod_identity_labels(const std::string& ns, const policy::Labels& pod, const policy::Labels& ns_labels);

// Pure parts, for the tests. Nodes without an InternalIP are left out
// (nothing to route to); a Node's first IPv4 InternalIP is its address.
// Pods of a node not in `nodes` (deleted, or without an address) are left
// out too: a deleted Node leaves nothing, even before its Pods are deleted.
std::vector<Node> nodes_from(const std::vector<objects::Node>& nodes, Source src);
struct EndpointsResult {
  std::vector<RemoteEndpoint> endpoints;
  size_t pending = 0;  // pods of other nodes whose labels have no identity yet
};
EndpointsResult endpoints_from(const std::vector<policy::Pod>& pods, const std::map<std::string, policy::Labels>& namespaces,
                               const std::map<uint32_t, std::vector<std::string>>& identities,
                               const std::vector<Node>& nodes, const std::string& local_node, Source src);

class ObjectsFeed {
 public:
  // src: Source::kubernetes (the API) or Source::manifests.
  ObjectsFeed(objects::ObjectStore& store, ClusterState& cluster, identity::Identities& identities, Source src);
  ~ObjectsFeed();
  ObjectsFeed(const ObjectsFeed&) = delete;
  ObjectsFeed& operator=(const ObjectsFeed&) = delete;
  // Everything again from the store (called on every completed batch; call
  // it when the identities changed too: Identities::on_change).
  void resync();
  size_t pending() const;

 private:
  objects::ObjectStore& store_;
  ClusterState& cluster_;
  identity::Identities& identities_;
  Source src_;
  objects::ObjectStore::SubscriptionId sub_ = 0;
  mutable std::mutex mu_;
  size_t pending_ = 0;
};

}  // namespace myelin::cluster
