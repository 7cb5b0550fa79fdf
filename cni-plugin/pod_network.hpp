// SPDX-License-Identifier: Apache-2.0
// The pod side of an attachment: the veth pair, the pod interface's address,
// routes and gateway neighbour inside the pod's network namespace.
#pragma once

#include <string>

#include "myelin/net.hpp"
#include "myelin/netlink.hpp"
#include "myelin/result.hpp"

namespace myelin::cni {

struct PodLink {
  netlink::LinkInfo host;  // in the node namespace
  netlink::LinkInfo pod;   // in the pod namespace
};

// Creates host_if <-> ifname (inside netns) and configures the pod side:
// IPv6 off, ip/32, up, route to the gateway on-link, default via it, and a
// permanent neighbour entry for the gateway with the host side's MAC.
// `route_mtu` > 0: both routes carry it (tunnel mode: underlay - 50, while
// the device keeps `mtu`, the underlay's).
Result<PodLink> setup_pod_link(const std::string& netns, const std::string& ifname, const std::string& host_if,
                               net::Ipv4 ip, net::Ipv4 gateway, unsigned mtu, unsigned route_mtu = 0);
// Deletes the pod interface (and so the pair). A missing netns or interface is fine.
Status teardown_pod_link(const std::string& netns, const std::string& ifname, const std::string& host_if);
// CHECK: the interface exists in netns, is up and carries ip/32.
Status check_pod_link(const std::string& netns, const std::string& ifname, net::Ipv4 ip);

}  // namespace myelin::cni
