// SPDX-License-Identifier: Apache-2.0
#include "myelin/cluster/cluster_state.hpp"

namespace myelin::cluster {

std::string source_name(Source s) {
  switch (s) {
    case Source::etcd: return "etcd";
    case Source::kubernetes: return "kubernetes";
    case Source::manifests: return "manifests";
  }
  return "?";
}

const Node* Snapshot::node(const std::string& name) const {
  auto it = nodes.find(name);
  return it == nodes.end() ? nullptr : &it->second;
}

const RemoteEndpoint* Snapshot::endpoint(net::Ipv4 ip) const {
  auto it = endpoints.find(ip);
  return it == endpoints.end() ? nullptr : &it->second;
}

template <typename F>
void ClusterState::change(F&& f) {
  // Changes are serialized and listeners see them in order; a listener must
  // not change ClusterState (it would wait on itself).
  std::lock_guard order(listeners_mu_);
  std::shared_ptr<const Snapshot> next;
  {
    std::lock_guard lk(mu_);
    auto s = std::make_shared<Snapshot>(*snap_);
    if (!f(*s)) return;  // nothing changed
    s->revision = snap_->revision + 1;
    snap_ = s;
    next = s;
  }
  for (const auto& [id, fn] : listeners_) fn(next);
}

void ClusterState::replace_nodes(Source src, std::vector<Node> nodes) {
  change([&](Snapshot& s) {
    for (auto it = s.nodes.begin(); it != s.nodes.end();)
      it = it->second.source == src ? s.nodes.erase(it) : std::next(it);
    for (auto& n : nodes) {
      n.source = src;
      n.local = n.name == local_;
      s.nodes[n.name] = std::move(n);
    }
    return true;
  });
}

void ClusterState::upsert_node(Node n) {
  change([&](Snapshot& s) {
    n.local = n.name == local_;
    if (auto it = s.nodes.find(n.name); it != s.nodes.end() && n.problem.empty() && it->second.ip == n.ip)
      n.problem = it->second.problem;  // a verdict on the same address stays
    s.nodes[n.name] = std::move(n);
    return true;
  });
}

void ClusterState::remove_node(Source src, const std::string& name) {
  change([&](Snapshot& s) {
    auto it = s.nodes.find(name);
    if (it == s.nodes.end() || it->second.source != src) return false;
    s.nodes.erase(it);
    return true;
  });
}

void ClusterState::replace_endpoints(Source src, std::vector<RemoteEndpoint> eps) {
  change([&](Snapshot& s) {
    for (auto it = s.endpoints.begin(); it != s.endpoints.end();)
      it = it->second.source == src ? s.endpoints.erase(it) : std::next(it);
    for (auto& e : eps) {
      if (e.node == local_) continue;
      e.source = src;
      s.endpoints[e.ip] = std::move(e);
    }
    return true;
  });
}

void ClusterState::upsert_endpoint(RemoteEndpoint ep) {
  change([&](Snapshot& s) {
    if (ep.node == local_) return false;
    s.endpoints[ep.ip] = std::move(ep);
    return true;
  });
}

void ClusterState::remove_endpoint(Source src, net::Ipv4 ip) {
  change([&](Snapshot& s) {
    auto it = s.endpoints.find(ip);
    if (it == s.endpoints.end() || it->second.source != src) return false;
    s.endpoints.erase(it);
    return true;
  });
}

void ClusterState::set_synced(Source src, bool synced) {
  change([&](Snapshot& s) {
    if (s.synced[src] == synced) return false;
    s.synced[src] = synced;
    return true;
  });
}

void ClusterState::set_problem(const std::string& node, std::string problem) {
  change([&](Snapshot& s) {
    auto it = s.nodes.find(node);
    if (it == s.nodes.end() || it->second.problem == problem) return false;
    it->second.problem = std::move(problem);
    return true;
  });
}

std::shared_ptr<const Snapshot> ClusterState::snapshot() const {
  std::lock_guard lk(mu_);
  return snap_;
}

size_t ClusterState::subscribe(Listener fn) {
  std::lock_guard lk(listeners_mu_);
  listeners_[next_listener_] = std::move(fn);
  return next_listener_++;
}

void ClusterState::unsubscribe(size_t id) {
  std::lock_guard lk(listeners_mu_);
  listeners_.erase(id);
}

}  // namespace myelin::cluster
