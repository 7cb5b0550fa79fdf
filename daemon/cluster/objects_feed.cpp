// SPDX-License-Identifier: Apache-2.0
#include "myelin/cluster/objects_feed.hpp"

#include <algorithm>
#include <set>

namespace myelin::cluster {

std::vector<std::string> pod_identity_labels(const std::string& ns, const policy::Labels& pod, const policy::Labels& ns_labels) {
  std::vector<std::string> out{"k8s:io.kubernetes.pod.namespace=" + ns};
  for (const auto& [k, v] : pod) out.push_back("k8s:" + k + "=" + v);
  for (const auto& [k, v] : ns_labels) out.push_back("k8s:io.cilium.k8s.namespace.labels." + k + "=" + v);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<Node> nodes_from(const std::vector<objects::Node>& nodes, Source src) {
  std::vector<Node> out;
  for (const auto& n : nodes) {
    Node c;
    c.name = n.name;
    c.source = src;
    bool have_ip = false;
    for (const auto& a : n.internal_ips)
      if (auto ip = net::parse_ipv4(a)) {
        c.ip = *ip;
        have_ip = true;
        break;
      }
    if (!have_ip) continue;
    for (const auto& p : n.pod_cidrs)
      if (auto cidr = net::parse_cidr4(p)) c.pod_cidrs.push_back(*cidr);
    c.updated = std::chrono::system_clock::now();
    out.push_back(std::move(c));
  }
  return out;
}

EndpointsResult endpoints_from(const std::vector<policy::Pod>& pods, const std::map<std::string, policy::Labels>& namespaces,
                               const std::map<uint32_t, std::vector<std::string>>& identities, const std::vector<Node>& nodes,
                               const std::string& local_node, Source src) {
  // Labels -> number; two numbers for one label set (a race): the lower, as
  // every node picks the same.
  std::map<std::vector<std::string>, uint32_t> by_labels;
  for (const auto& [id, labels] : identities)
    if (!by_labels.count(labels)) by_labels[labels] = id;
  std::set<net::Ipv4> node_ips;
  std::set<std::string> known_nodes;
  for (const auto& n : nodes) node_ips.insert(n.ip), known_nodes.insert(n.name);
  EndpointsResult r;
  static const policy::Labels kNone;
  for (const auto& p : pods) {
    if (p.node_name.empty() || p.node_name == local_node || p.terminal || p.ips.empty()) continue;
    // A Pod of a Node that is gone (deleted before the pod GC removes its
    // Pods) or has no address: nothing of that node stays in the ipcache.
    if (!known_nodes.count(p.node_name)) continue;
    auto nsl = namespaces.find(p.ns);
    auto labels = pod_identity_labels(p.ns, p.labels, nsl == namespaces.end() ? kNone : nsl->second);
    auto id = by_labels.find(labels);
    for (const auto& a : p.ips) {
      auto ip = net::parse_ipv4(a);
      // hostNetwork pods carry their node's address: that is the node, not an endpoint.
      if (!ip || node_ips.count(*ip)) continue;
      if (id == by_labels.end()) {
        ++r.pending;
        continue;
      }
      RemoteEndpoint e;
      e.ip = *ip;
      e.identity = id->second;
      e.node = p.node_name;
      e.ns = p.ns;
      e.pod = p.name;
      e.source = src;
      for (const auto& np : p.ports) e.named_ports.push_back({np.name, np.port, np.proto});
      r.endpoints.push_back(std::move(e));
    }
  }
  return r;
}

ObjectsFeed::ObjectsFeed(objects::ObjectStore& store, ClusterState& cluster, identity::Identities& identities, Source src)
    : store_(store), cluster_(cluster), identities_(identities), src_(src) {
  objects::ObjectStore::Subscriber s;
  s.kinds = {objects::Kind::node, objects::Kind::pod, objects::Kind::namespace_};
  s.on_event = [](const objects::Event&) {};  // read whole on each completed batch
  s.on_changed = [this] {
    if (store_.all_synced()) resync();
  };
  s.on_synced = [this] {
    resync();
    cluster_.set_synced(src_);
  };
  sub_ = store_.subscribe(std::move(s));
}

ObjectsFeed::~ObjectsFeed() { store_.unsubscribe(sub_); }

void ObjectsFeed::resync() {
  auto nodes = nodes_from(store_.list<objects::Node>(), src_);
  std::map<std::string, policy::Labels> namespaces;
  store_.each<policy::Namespace>([&](const policy::Namespace& n) { namespaces[n.name] = n.labels; });
  auto eps = endpoints_from(store_.list<policy::Pod>(), namespaces, identities_.list(), nodes, cluster_.local_node(), src_);
  {
    std::lock_guard lk(mu_);
    pending_ = eps.pending;
  }
  cluster_.replace_nodes(src_, std::move(nodes));
  cluster_.replace_endpoints(src_, std::move(eps.endpoints));
}

size_t ObjectsFeed::pending() const {
  std::lock_guard lk(mu_);
  return pending_;
}

}  // namespace myelin::cluster
