// SPDX-License-Identifier: Apache-2.0
#include "myelin/cluster/node_datapath.hpp"

#include <linux/rtnetlink.h>

#include "myelin/log.hpp"
#include "myelin/netlink.hpp"

namespace myelin::cluster {
namespace {

bool same_ports(const std::vector<NamedPort>& a, const std::vector<NamedPort>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].name != b[i].name || a[i].port != b[i].port || a[i].proto != b[i].proto) return false;
  return true;
}

Route route_of(const netlink::RouteInfo& r) { return Route{r.dst, r.gw.value_or(net::Ipv4{}), r.oif, r.mtu}; }

netlink::RouteInfo route_info(const Route& r) {
  netlink::RouteInfo i;
  i.dst = r.dst;
  if (r.via.host) i.gw = r.via;
  i.oif = r.oif;
  i.protocol = kRouteProtocol;
  i.mtu = r.mtu;
  return i;
}

}  // namespace

std::string native_reachability(net::Ipv4 ip) {
  auto r = netlink::route_get(ip);
  if (!r) return "no route to its address " + ip.str() + " (" + r.error().message + ")";
  if (r->type == RTN_LOCAL) return "its address " + ip.str() + " is one of this node's";
  if (r->type != RTN_UNICAST) return "its address " + ip.str() + " is not reachable (route type " + std::to_string(r->type) + ")";
  if (r->gw)
    return "not directly reachable: " + ip.str() + " is routed via " + r->gw->str() +
           " (native routing needs the nodes on one L2 segment)";
  return "";
}

NodeDatapath::NodeDatapath(ClusterState& cluster, datapath::Datapath& dp, Options o, Hooks h)
    : cluster_(cluster), dp_(dp), o_(std::move(o)), h_(std::move(h)) {}

NodeDatapath::~NodeDatapath() { stop(); }

void NodeDatapath::adopt() {
  std::lock_guard lk(mu_);
  if (adopted_) return;
  adopted_ = true;
  for (const auto& [k, v] : dp_.ipcache_entries()) {
    if (k.family != MYELIN_FAMILY_IPV4 || !cluster_owned(v)) continue;
    installed_[prefix_of(k)] = v;
    ++stats_.adopted_entries;
  }
  if (o_.routes)
    if (auto routes = netlink::route_list(kRouteProtocol)) stats_.adopted_routes = routes->size();
}

Status NodeDatapath::start() {
  adopt();
  subscription_ = cluster_.subscribe([this](const std::shared_ptr<const Snapshot>&) { wake(false); });
  worker_ = std::thread([this] { run(); });
  wake(true);
  return {};
}

void NodeDatapath::stop() {
  if (subscription_) cluster_.unsubscribe(subscription_), subscription_ = 0;
  {
    std::lock_guard lk(wake_mu_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void NodeDatapath::wake(bool policy) {
  {
    std::lock_guard lk(wake_mu_);
    pending_ = true;
    pending_policy_ = pending_policy_ || policy;
  }
  wake_cv_.notify_one();
}

void NodeDatapath::policy_changed() {
  // On the regenerating thread, before its caller answers: the ipBlock
  // identities of the cluster's prefixes follow the policy at once.
  if (auto s = reconcile(); !s) log::warn("cluster", "node datapath: " + s.error().message);
}
void NodeDatapath::identities_changed() { wake(true); }

void NodeDatapath::run() {
  std::unique_lock lk(wake_mu_);
  for (;;) {
    wake_cv_.wait(lk, [&] { return pending_ || stopping_; });
    if (stopping_) return;
    // Debounce: a burst (a relist, a node's pods coming at once) is one pass.
    wake_cv_.wait_for(lk, o_.debounce, [&] { return stopping_; });
    if (stopping_) return;
    bool policy = pending_policy_;
    pending_ = pending_policy_ = false;
    lk.unlock();
    auto snap = cluster_.snapshot();
    {
      std::lock_guard g(mu_);
      if (!policy_seen_ || endpoints_differ(*policy_seen_, *snap)) policy = true;
    }
    if (policy && h_.regenerate_policy) {
      h_.regenerate_policy();  // PolicyManager: entries for new identities before their addresses
      std::lock_guard g(mu_);
      policy_seen_ = snap;
    }
    if (auto s = reconcile(); !s) log::warn("cluster", "node datapath: " + s.error().message);
    lk.lock();
  }
}

bool NodeDatapath::endpoints_differ(const Snapshot& a, const Snapshot& b) {
  if (a.endpoints.size() != b.endpoints.size()) return true;
  for (auto ia = a.endpoints.begin(), ib = b.endpoints.begin(); ia != a.endpoints.end(); ++ia, ++ib) {
    const auto &x = ia->second, &y = ib->second;
    if (x.ip != y.ip || x.identity != y.identity || x.ns != y.ns || x.pod != y.pod || !same_ports(x.named_ports, y.named_ports))
      return true;
  }
  return false;
}

Status NodeDatapath::reconcile() {
  std::lock_guard one(reconcile_mu_);
  adopt();
  const auto snap = cluster_.snapshot();
  PlanInputs in;
  in.mode = o_.mode;
  in.local_pod_cidr = o_.pod_cidr;
  in.tunnel_ifindex = o_.tunnel_ifindex;
  in.tunnel_route_mtu = o_.tunnel_route_mtu;
  if (h_.policy_cidrs) in.policy_cidrs = h_.policy_cidrs();
  if (o_.mode == RoutingMode::native) in.unreachable = native_reachability;
  const Plan p = plan(*snap, in);
  const bool prune = all_synced(*snap, o_.sources);

  std::vector<std::string> errors;
  {
    std::lock_guard lk(mu_);
    // Claimed before written: PolicyManager stays off these keys from now.
    for (const auto& [k, v] : p.ipcache) want_[k] = v;
    const auto d = diff_ipcache(p.ipcache, installed_, in.policy_cidrs, prune);
    for (const auto& [k, v] : d.upserts) {
      if (auto s = dp_.ipcache_upsert(ipcache_key(k), v); !s) {
        errors.push_back("ipcache " + k.str() + ": " + s.error().message);
        continue;
      }
      installed_[k] = v;
      restored_.erase(k);
      ++stats_.ipcache_writes;
    }
    for (const auto& k : d.deletes) {
      if (auto s = dp_.ipcache_delete(ipcache_key(k)); !s) {
        errors.push_back("ipcache " + k.str() + ": " + s.error().message);
        continue;
      }
      installed_.erase(k);
      ++stats_.ipcache_deletes, ++stats_.pruned;
    }
    for (const auto& [k, v] : d.restores) {
      if (auto s = dp_.ipcache_upsert(ipcache_key(k), v); !s) {
        errors.push_back("ipcache " + k.str() + ": " + s.error().message);
        continue;
      }
      installed_.erase(k);
      restored_[k] = v.identity;
      ++stats_.ipcache_writes, ++stats_.pruned;
    }
    // A key given back to a policy CIDR that policy has dropped since.
    for (auto it = restored_.begin(); it != restored_.end();) {
      bool still = false;
      for (const auto& [c, id] : in.policy_cidrs) still = still || (Prefix::of(c) == it->first && id == it->second);
      if (still || p.ipcache.count(it->first)) {
        ++it;
        continue;
      }
      (void)dp_.ipcache_delete(ipcache_key(it->first));
      it = restored_.erase(it);
    }
    want_ = p.ipcache;
    if (!prune)  // kept until synced: still ours
      for (const auto& [k, v] : installed_) want_.emplace(k, v);
    stats_.ipcache_entries = installed_.size();
  }

  size_t routes_now = 0;
  if (o_.routes) {
    std::map<Prefix, Route> have;
    if (auto list = netlink::route_list(kRouteProtocol)) {
      for (const auto& r : *list) have[Prefix::of(r.dst)] = route_of(r);
    } else {
      errors.push_back("routes: " + list.error().message);
    }
    const auto d = diff_routes(p.routes, have, prune);
    for (const auto& r : d.replace) {
      if (auto s = netlink::route_replace(route_info(r)); !s) {
        errors.push_back(s.error().message);
        continue;
      }
      have[Prefix::of(r.dst)] = r;
      ++stats_.route_writes;
    }
    for (const auto& r : d.remove) {
      if (auto s = netlink::route_delete(route_info(r)); !s) {
        errors.push_back(s.error().message);
        continue;
      }
      have.erase(Prefix::of(r.dst));
      ++stats_.route_deletes, ++stats_.pruned;
    }
    routes_now = have.size();
  }

  // Problems as this node sees them, kept in ClusterState (status, node list).
  for (const auto& [name, problem] : p.problems) {
    const Node* n = snap->node(name);
    if (n && n->problem != problem) cluster_.set_problem(name, problem);
  }

  std::lock_guard lk(mu_);
  ++stats_.reconciles;
  stats_.routes = routes_now;
  stats_.synced = prune;
  stats_.endpoints_without_node = p.endpoints_without_node;
  stats_.endpoints_refused = p.endpoints_refused;
  stats_.errors += errors.size();
  stats_.last_error = errors.empty() ? "" : errors.front() + (errors.size() > 1 ? " (and " + std::to_string(errors.size() - 1) + " more)" : "");
  if (!errors.empty()) return Error{stats_.last_error};
  return {};
}

bool NodeDatapath::owns(const myelin_ipcache_key& k) const {
  if (k.family != MYELIN_FAMILY_IPV4) return false;
  const Prefix p = prefix_of(k);
  std::lock_guard lk(mu_);
  return want_.count(p) || installed_.count(p);
}

NodeDatapath::Stats NodeDatapath::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

}  // namespace myelin::cluster
