// SPDX-License-Identifier: Apache-2.0
#include "tunnel/underlay.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <fstream>
#include <sstream>

#include "myelin/netlink.hpp"
#include "nodeport/devices.hpp"

namespace myelin::tunnel {

Result<Underlay> resolve_underlay(std::optional<net::Ipv4> node_ip) {
  std::string want_dev;
  if (!node_ip) {
    std::ifstream f("/proc/net/route");
    std::stringstream ss;
    ss << f.rdbuf();
    auto devs = nodeport::default_route_devices(ss.str());
    if (devs.empty()) return Error{"no --node-ip, and this namespace has no default route to take the node's address from"};
    want_dev = devs.front();
  }
  ifaddrs* ifa = nullptr;
  if (getifaddrs(&ifa) != 0) return Error::from_errno("list the interfaces' addresses");
  Underlay u;
  for (ifaddrs* i = ifa; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    net::Ipv4 a{ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr)};
    if (node_ip ? a == *node_ip : want_dev == i->ifa_name) {
      u.node_ip = a;
      u.device = i->ifa_name;
      break;
    }
  }
  freeifaddrs(ifa);
  if (u.device.empty())
    return Error{node_ip ? "--node-ip " + node_ip->str() + " is no address of this node" : "default route device " + want_dev + " has no IPv4 address"};
  auto link = netlink::link_get(u.device);
  if (!link) return link.error();
  u.ifindex = link->index;
  u.mtu = link->mtu;
  return u;
}

}  // namespace myelin::tunnel
