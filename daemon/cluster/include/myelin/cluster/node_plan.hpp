// SPDX-License-Identifier: Apache-2.0
// node_plan: what the cluster's state means for this node's datapath, as
// values, without a kernel (unit-tested without root). From a
// cluster::Snapshot:
//   ipcache   a remote pod's /32          -> its identity, tunnel_endpoint = its node, CLUSTER|REMOTE
//             a remote node's pod CIDR    -> world, tunnel_endpoint = the node, CLUSTER|REMOTE|POD_CIDR
//             a remote node's address /32 -> remote-node, CLUSTER|REMOTE
//             this node's pod CIDR        -> world, CLUSTER
//             each with the ipBlock identity policy gives its prefix;
//   routes    native mode: <pod CIDR> via <node IP>; tunnel mode (with a
//             tunnel device): <pod CIDR> dev <tunnel>, for the node's own
//             traffic; both with our route protocol;
//   problems  a node that cannot be used (not directly reachable in native
//             mode, no address, a pod CIDR another node claims).
// Then the difference to what the datapath and the node hold: before every
// source has synced nothing is removed (state from before a restart stays);
// after, everything of ours the snapshot does not say is pruned.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "myelin/abi/net.h"
#include "myelin/cluster/cluster_state.hpp"
#include "myelin/net.hpp"

namespace myelin::cluster {

// The rtm_protocol of every route the node datapath installs: what it may
// prune after a restart (iproute2 shows it as "proto 77"; unused in rt_protos).
inline constexpr uint8_t kRouteProtocol = 77;

enum class RoutingMode { none, tunnel, native };
std::string routing_mode_name(RoutingMode m);  // "none", "tunnel", "native"

// An IPv4 prefix as a map key (net::Cidr4 has no order).
struct Prefix {
  uint32_t base = 0;  // host order, masked
  uint8_t len = 0;
  auto operator<=>(const Prefix&) const = default;
  static Prefix of(const net::Cidr4& c) { return {c.base.host, c.prefix}; }
  net::Cidr4 cidr() const { return net::Cidr4{net::Ipv4{base}, len}; }
  std::string str() const { return cidr().str(); }
};
inline std::ostream& operator<<(std::ostream& os, const Prefix& p) { return os << p.str(); }

myelin_ipcache_key ipcache_key(const Prefix& p);
Prefix prefix_of(const myelin_ipcache_key& k);
// An entry the node datapath wrote (and may prune): another node's, or
// inside the cluster and not a host address (policy's CIDR entries have no
// flags, its node addresses are the host identity).
bool cluster_owned(const myelin_ipcache_val& v);

struct Route {
  net::Cidr4 dst;
  net::Ipv4 via{};     // native: the node's address; 0 for a device route
  int oif = 0;         // tunnel: the VXLAN device; 0 = the kernel's choice (via's device)
  unsigned mtu = 0;    // 0 = the device's
  bool operator==(const Route& o) const {
    return dst.base == o.dst.base && dst.prefix == o.dst.prefix && via == o.via && oif == o.oif && mtu == o.mtu;
  }
};
// For test failure messages.
inline std::ostream& operator<<(std::ostream& os, const Route& r) {
  return os << r.dst.str() << " via " << r.via.str() << " dev " << r.oif << " mtu " << r.mtu;
}


struct PlanInputs {
  RoutingMode mode = RoutingMode::none;
  std::optional<net::Cidr4> local_pod_cidr;
  int tunnel_ifindex = 0;     // tunnel mode: routes to pod CIDRs through it (0: none)
  unsigned tunnel_route_mtu = 0;
  // Policy CIDRs and their identities (PolicyManager's last regeneration):
  // a prefix's ipBlock identity is the longest of them holding it, and a
  // cluster prefix that is also a policy CIDR keeps its CIDR identity.
  std::vector<std::pair<net::Cidr4, uint32_t>> policy_cidrs;
  // Native mode: why a node's address cannot be the next hop, empty if it can.
  std::function<std::string(net::Ipv4)> unreachable;
};

struct Plan {
  std::map<Prefix, myelin_ipcache_val> ipcache;
  std::map<Prefix, Route> routes;
  std::map<std::string, std::string> problems;  // node -> problem, every remote node (empty = healthy)
  size_t endpoints_without_node = 0;             // remote pods whose node is unknown (no tunnel endpoint)
  size_t endpoints_refused = 0;                  // remote pods claiming an address of this node's pod CIDR or a node's address
};

Plan plan(const Snapshot& s, const PlanInputs& in);

// The longest policy CIDR holding the whole prefix (0: none).
uint32_t ipblock_of(const Prefix& p, const std::vector<std::pair<net::Cidr4, uint32_t>>& policy_cidrs);

struct IpcacheDiff {
  std::vector<std::pair<Prefix, myelin_ipcache_val>> upserts;
  std::vector<Prefix> deletes;
  // Removed from the cluster but still a policy CIDR: its policy entry
  // again, instead of a delete (PolicyManager leaves cluster keys alone).
  std::vector<std::pair<Prefix, myelin_ipcache_val>> restores;
};
// `have`: the entries of ours (cluster_owned) in the ipcache now.
IpcacheDiff diff_ipcache(const std::map<Prefix, myelin_ipcache_val>& want, const std::map<Prefix, myelin_ipcache_val>& have,
                         const std::vector<std::pair<net::Cidr4, uint32_t>>& policy_cidrs, bool prune);

struct RouteDiff {
  std::vector<Route> replace;
  std::vector<Route> remove;
};
// `have`: our routes (kRouteProtocol) in the node's main table now.
RouteDiff diff_routes(const std::map<Prefix, Route>& want, const std::map<Prefix, Route>& have, bool prune);

// Every source in `expected` listed everything once (nothing expected: true).
bool all_synced(const Snapshot& s, const std::vector<Source>& expected);

}  // namespace myelin::cluster
