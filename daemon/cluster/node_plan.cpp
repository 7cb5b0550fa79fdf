// SPDX-License-Identifier: Apache-2.0
#include "myelin/cluster/node_plan.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <set>

namespace myelin::cluster {
namespace {

bool overlaps(const net::Cidr4& a, const net::Cidr4& b) {
  return a.prefix <= b.prefix ? a.contains(b.base) : b.contains(a.base);
}

uint32_t exact_policy_cidr(const Prefix& p, const std::vector<std::pair<net::Cidr4, uint32_t>>& policy_cidrs) {
  for (const auto& [c, id] : policy_cidrs)
    if (Prefix::of(c) == p) return id;
  return 0;
}

bool same_val(const myelin_ipcache_val& a, const myelin_ipcache_val& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// A route read back has the device the kernel chose and the MTU it was
// given: compare what we asked for.
bool same_route(const Route& want, const Route& have) {
  return want.dst.base == have.dst.base && want.dst.prefix == have.dst.prefix && want.via == have.via &&
         (want.oif == 0 || want.oif == have.oif) && want.mtu == have.mtu;
}

}  // namespace

std::string routing_mode_name(RoutingMode m) {
  switch (m) {
    case RoutingMode::none: return "none";
    case RoutingMode::tunnel: return "tunnel";
    case RoutingMode::native: return "native";
  }
  return "?";
}

myelin_ipcache_key ipcache_key(const Prefix& p) {
  myelin_ipcache_key k{};
  k.prefixlen = 32 + p.len;
  k.family = MYELIN_FAMILY_IPV4;
  k.addr.w[0] = net::Ipv4{p.base}.network_order();
  return k;
}

Prefix prefix_of(const myelin_ipcache_key& k) {
  const uint8_t len = static_cast<uint8_t>(k.prefixlen > 32 ? k.prefixlen - 32 : 0);
  uint32_t host = ntohl(k.addr.w[0]);
  if (len < 32) host &= len == 0 ? 0 : ~((1u << (32 - len)) - 1);
  return {host, len};
}

bool cluster_owned(const myelin_ipcache_val& v) {
  return (v.flags & MYELIN_IPCACHE_F_REMOTE) || ((v.flags & MYELIN_IPCACHE_F_CLUSTER) && v.identity != uint32_t{MYELIN_IDENTITY_HOST});
}

uint32_t ipblock_of(const Prefix& p, const std::vector<std::pair<net::Cidr4, uint32_t>>& policy_cidrs) {
  int best = -1;
  uint32_t id = 0;
  for (const auto& [c, cid] : policy_cidrs)
    if (c.prefix <= p.len && c.contains(net::Ipv4{p.base}) && static_cast<int>(c.prefix) > best) best = c.prefix, id = cid;
  return id;
}

namespace {
// A pod CIDR's own identity: an address in it with no /32 (a pod not known
// yet) is judged as the LPM judged it without this entry: by the longest
// policy CIDR holding it (a CIDR identity, world and more), else world.
uint32_t range_identity(const Prefix& p, const std::vector<std::pair<net::Cidr4, uint32_t>>& policy_cidrs) {
  const uint32_t id = ipblock_of(p, policy_cidrs);
  return id ? id : uint32_t{MYELIN_IDENTITY_WORLD};
}
}  // namespace

bool all_synced(const Snapshot& s, const std::vector<Source>& expected) {
  for (Source src : expected) {
    auto it = s.synced.find(src);
    if (it == s.synced.end() || !it->second) return false;
  }
  return true;
}

Plan plan(const Snapshot& s, const PlanInputs& in) {
  Plan out;
  auto entry = [&](const Prefix& p, uint32_t identity, uint32_t tunnel_endpoint, uint32_t flags) {
    myelin_ipcache_val v{identity, ipblock_of(p, in.policy_cidrs), tunnel_endpoint, flags};
    out.ipcache[p] = v;
  };
  // A pod CIDR belongs to one node: this node's first, then by name.
  std::vector<std::pair<net::Cidr4, std::string>> claimed;
  std::optional<net::Cidr4> local_cidr = in.local_pod_cidr;
  for (const auto& [name, n] : s.nodes)
    if (n.local && !local_cidr && !n.pod_cidrs.empty()) local_cidr = n.pod_cidrs.front();
  if (local_cidr) claimed.emplace_back(*local_cidr, "this node");

  for (const auto& [name, n] : s.nodes) {
    if (n.local) continue;
    std::string problem;
    auto add_problem = [&](const std::string& p) { problem += (problem.empty() ? "" : "; ") + p; };
    if (n.ip.host == 0) {
      out.problems[name] = "no node address";
      continue;
    }
    const uint32_t endpoint = n.ip.network_order();
    entry(Prefix::of(net::Cidr4{n.ip, 32}), MYELIN_IDENTITY_REMOTE_NODE, 0, MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE);
    bool routable = true;
    if (in.mode == RoutingMode::native && in.unreachable) {
      if (auto why = in.unreachable(n.ip); !why.empty()) {
        add_problem(why);
        routable = false;
      }
    }
    for (const auto& c : n.pod_cidrs) {
      const std::string* owner = nullptr;
      for (const auto& [other, who] : claimed)
        if (overlaps(other, c)) owner = &who;
      if (owner) {
        add_problem("pod CIDR " + c.str() + " overlaps " + *owner + "'s: ignored");
        continue;
      }
      claimed.emplace_back(c, "node " + name);
      const Prefix p = Prefix::of(c);
      entry(p, range_identity(p, in.policy_cidrs), endpoint,
            MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE | MYELIN_IPCACHE_F_POD_CIDR);
      if (in.mode == RoutingMode::native && routable) out.routes[p] = Route{c, n.ip, 0, 0};
      if (in.mode == RoutingMode::tunnel && in.tunnel_ifindex) out.routes[p] = Route{c, {}, in.tunnel_ifindex, in.tunnel_route_mtu};
    }
    out.problems[name] = problem;
  }

  std::set<net::Ipv4> node_ips;
  for (const auto& [name, n] : s.nodes) node_ips.insert(n.ip);
  for (const auto& [ip, ep] : s.endpoints) {
    // This node's pods are its own endpoints, never another node's; a node's
    // address is the node's (a host-network pod has it: it is no endpoint).
    if ((local_cidr && local_cidr->contains(ip)) || node_ips.count(ip)) {
      ++out.endpoints_refused;
      continue;
    }
    const Node* n = s.node(ep.node);
    uint32_t endpoint = 0;
    if (n && !n->local && n->ip.host) endpoint = n->ip.network_order();
    else ++out.endpoints_without_node;  // in the cluster, but no tunnel to it: the datapath drops (no endpoint)
    // 0 is policy's "any identity": an endpoint not yet given one is world.
    entry(Prefix::of(net::Cidr4{ip, 32}), ep.identity ? ep.identity : uint32_t{MYELIN_IDENTITY_WORLD}, endpoint,
          MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE);
  }

  // A single node (no sources) keeps its ipcache as before: nothing of a
  // cluster, not even its own pod CIDR (its pods are endpoints).
  if (local_cidr && in.mode != RoutingMode::none) {
    const Prefix p = Prefix::of(*local_cidr);
    entry(p, range_identity(p, in.policy_cidrs), 0, MYELIN_IPCACHE_F_CLUSTER);
  }
  return out;
}

IpcacheDiff diff_ipcache(const std::map<Prefix, myelin_ipcache_val>& want, const std::map<Prefix, myelin_ipcache_val>& have,
                         const std::vector<std::pair<net::Cidr4, uint32_t>>& policy_cidrs, bool prune) {
  IpcacheDiff d;
  for (const auto& [p, v] : want) {
    auto it = have.find(p);
    if (it == have.end() || !same_val(it->second, v)) d.upserts.emplace_back(p, v);
  }
  if (!prune) return d;
  for (const auto& [p, v] : have) {
    if (want.count(p)) continue;
    if (const uint32_t id = exact_policy_cidr(p, policy_cidrs)) d.restores.emplace_back(p, myelin_ipcache_val{id, id, 0, 0});
    else d.deletes.push_back(p);
  }
  return d;
}

RouteDiff diff_routes(const std::map<Prefix, Route>& want, const std::map<Prefix, Route>& have, bool prune) {
  RouteDiff d;
  for (const auto& [p, r] : want) {
    auto it = have.find(p);
    if (it == have.end() || !same_route(r, it->second)) d.replace.push_back(r);
  }
  if (!prune) return d;
  for (const auto& [p, r] : have)
    if (!want.count(p)) d.remove.push_back(r);
  return d;
}

}  // namespace myelin::cluster
