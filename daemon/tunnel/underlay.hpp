// SPDX-License-Identifier: Apache-2.0
// daemon/tunnel (myelin_tunnel): tunnel mode on the node (the VXLAN device, its programs, the pods' route MTU).
// The underlay: the node's address other nodes reach it at (--node-ip, or
// the address of the device holding the default route), that device, and
// its MTU, from which the pods' route MTU in tunnel mode follows.
#pragma once

#include <optional>
#include <string>

#include "myelin/abi/net.h"
#include "myelin/net.hpp"
#include "myelin/result.hpp"

namespace myelin::tunnel {

struct Underlay {
  net::Ipv4 node_ip;
  std::string device;
  int ifindex = 0;
  unsigned mtu = 0;
};

// `node_ip` given: the device carrying it (none: an error naming it);
// absent: the first device of a default route and its first IPv4 address.
Result<Underlay> resolve_underlay(std::optional<net::Ipv4> node_ip);

// What the pods' routes carry in tunnel mode: room for the outer IPv4, UDP,
// VXLAN and inner Ethernet headers in one underlay frame (pure).
inline unsigned pod_route_mtu(unsigned underlay_mtu) {
  return underlay_mtu > MYELIN_VXLAN_OVERHEAD + 68 ? underlay_mtu - MYELIN_VXLAN_OVERHEAD : 0;
}

}  // namespace myelin::tunnel
