// SPDX-License-Identifier: Apache-2.0
// daemon/nodeport (myelin_nodeport): NodePort, externalIPs and LoadBalancer IPs on the node's devices.
// The devices outside clients reach the node by, and its addresses on them
// (the NodePort frontends' addresses): --devices, or by default the devices
// of the default routes of the namespace the agent runs in (the node).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "myelin/net.hpp"
#include "myelin/result.hpp"

namespace myelin::nodeport {

struct Device {
  std::string name;
  int ifindex = 0;
  std::vector<net::Ipv4> addrs;  // its IPv4 addresses
};

// The interfaces of the IPv4 default routes in /proc/net/route's text, in
// order, each once (pure: unit-tested).
std::vector<std::string> default_route_devices(const std::string& proc_net_route);

// "eth0,eth1" -> the devices with their indexes and addresses; "" -> the
// devices of this namespace's default routes (none: an empty list). An
// unknown device or a loopback one is an error.
Result<std::vector<Device>> resolve_devices(const std::string& spec);

// --node-port-range "30000-32767": both ends included, 1 <= min <= max <= 65535.
struct PortRange {
  uint16_t min = 30000, max = 32767;
  std::string str() const { return std::to_string(min) + "-" + std::to_string(max); }
};
Result<PortRange> parse_port_range(const std::string& text);

}  // namespace myelin::nodeport
