// SPDX-License-Identifier: Apache-2.0
// rtnetlink over libmnl for what Myelin changes on a node and in a pod:
// veth pairs, links, addresses, routes, neighbours. Every call works in the
// calling thread's current network namespace; NetnsGuard switches it.
#pragma once

#include <optional>
#include <vector>
#include <string>

#include "myelin/fd.hpp"
#include "myelin/net.hpp"
#include "myelin/result.hpp"

namespace myelin::netlink {

struct LinkInfo {
  int index = 0;
  std::string name;
  net::Mac mac{};
  unsigned mtu = 0;
  bool up = false;
  std::string kind;  // IFLA_INFO_KIND ("veth", "vxlan"), empty for a plain device
};

Result<LinkInfo> link_get(const std::string& name);  // absent: Error code ENODEV
Result<LinkInfo> link_get(int index);
// A veth pair: `name` here, `peer_name` created directly in the namespace peer_netns_fd.
Status veth_create(const std::string& name, const std::string& peer_name, int peer_netns_fd, unsigned mtu);
Status link_set_up(int index);
Status link_delete(const std::string& name);  // absent is fine
Status addr_add(int index, net::Ipv4 ip, uint8_t prefix);  // already there is fine
// `mtu` > 0: the route's MTU metric (the path MTU of what takes it).
Status route_replace(net::Cidr4 dst, int oif, std::optional<net::Ipv4> gw, bool scope_link, unsigned mtu = 0);
Status route_delete(net::Cidr4 dst, int oif);  // absent is fine
Status neigh_replace(int index, net::Ipv4 ip, const net::Mac& mac);  // permanent entry
// A collect-metadata ("external") VXLAN device: no remote, no learning,
// no ARP (the tc programs on it choose the remote per packet); outer source
// `local` (0: the route's), UDP `port`, MTU `mtu` (0: the kernel's choice).
struct VxlanSpec {
  std::string name;
  uint16_t port = 0;
  net::Ipv4 local{};
  unsigned mtu = 0;
};
Status vxlan_create(const VxlanSpec& spec);
// Routes of one owner, told apart by their protocol (rtm_protocol): the
// node datapath's routes to other nodes' pod CIDRs (cluster/node_datapath).
struct RouteInfo {
  net::Cidr4 dst;
  std::optional<net::Ipv4> gw;
  int oif = 0;
  uint8_t protocol = 0;
  uint8_t type = 0;  // RTN_*
  unsigned mtu = 0;  // RTAX_MTU, 0 = none
};
// In the main table: `dst` via `gw` (the kernel picks the device when oif
// is 0) or on device `oif`, with `protocol`, and a route MTU when not 0.
Status route_replace(const RouteInfo& r);
Status route_delete(const RouteInfo& r);  // absent is fine
// The main table's IPv4 routes of one protocol.
Result<std::vector<RouteInfo>> route_list(uint8_t protocol);
// How the kernel would route a packet to `dst` now (RTM_GETROUTE):
// unreachable comes back as an Error with the kernel's errno.
Result<RouteInfo> route_get(net::Ipv4 dst);
// The IPv4 addresses on a link (for CHECK); index 0: on every link.
Result<std::vector<std::pair<net::Ipv4, uint8_t>>> addr_list(int index);

// Enters a network namespace (setns on the calling thread) and returns to
// the original one when destroyed.
class NetnsGuard {
 public:
  static Result<NetnsGuard> enter(const std::string& netns_path);
  ~NetnsGuard();
  NetnsGuard(NetnsGuard&&) noexcept = default;
  NetnsGuard& operator=(NetnsGuard&&) = delete;
  NetnsGuard(const NetnsGuard&) = delete;

 private:
  NetnsGuard() = default;
  UniqueFd original_;
};

}  // namespace myelin::netlink
