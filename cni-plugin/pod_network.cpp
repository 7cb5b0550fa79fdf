// SPDX-License-Identifier: Apache-2.0
#include "pod_network.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

namespace myelin::cni {

Result<PodLink> setup_pod_link(const std::string& netns, const std::string& ifname, const std::string& host_if,
                               net::Ipv4 ip, net::Ipv4 gateway, unsigned mtu, unsigned route_mtu) {
  UniqueFd ns(::open(netns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return Error::from_errno("open network namespace " + netns);
  (void)netlink::link_delete(host_if);  // a leftover of an interrupted ADD for the same attachment
  if (auto s = netlink::veth_create(host_if, ifname, ns.get(), mtu); !s) return s.error();
  auto host = netlink::link_get(host_if);
  if (!host) return host.error();
  // Both ends speak IPv4 only (the datapath drops IPv6 today): without this
  // the host end would send MLD/RS/DAD into the pod, each one a drop.
  std::ofstream(std::string("/proc/sys/net/ipv6/conf/") + host_if + "/disable_ipv6") << "1";
  if (auto s = netlink::link_set_up(host->index); !s) return s.error();

  PodLink out;
  out.host = *host;
  {
    auto guard = netlink::NetnsGuard::enter(netns);
    if (!guard) return guard.error();
    // The datapath is IPv4 today: keep the pod from emitting IPv6 it would drop.
    std::ofstream(std::string("/proc/sys/net/ipv6/conf/") + ifname + "/disable_ipv6") << "1";
    auto pod = netlink::link_get(ifname);
    if (!pod) return pod.error();
    if (auto s = netlink::addr_add(pod->index, ip, 32); !s) return s.error();
    if (auto s = netlink::link_set_up(pod->index); !s) return s.error();
    if (auto s = netlink::route_replace(net::Cidr4{gateway, 32}, pod->index, std::nullopt, true, route_mtu); !s) return s.error();
    if (auto s = netlink::route_replace(net::Cidr4{net::Ipv4{0}, 0}, pod->index, gateway, false, route_mtu); !s) return s.error();
    if (auto s = netlink::neigh_replace(pod->index, gateway, host->mac); !s) return s.error();
    auto again = netlink::link_get(ifname);
    if (!again) return again.error();
    out.pod = *again;
  }
  return out;
}

Status teardown_pod_link(const std::string& netns, const std::string& ifname, const std::string& host_if) {
  if (!netns.empty() && ::access(netns.c_str(), F_OK) == 0) {
    auto guard = netlink::NetnsGuard::enter(netns);
    if (guard) {
      if (auto s = netlink::link_delete(ifname); !s) return s;
    }
  }
  // The pod namespace may be gone already, taking the pod end with it; the
  // host end then went too. Deleting by name covers a half-made pair.
  return netlink::link_delete(host_if);
}

Status check_pod_link(const std::string& netns, const std::string& ifname, net::Ipv4 ip) {
  auto guard = netlink::NetnsGuard::enter(netns);
  if (!guard) return guard.error();
  auto link = netlink::link_get(ifname);
  if (!link) return Error{"interface " + ifname + " is missing in " + netns};
  if (!link->up) return Error{"interface " + ifname + " in " + netns + " is down"};
  auto addrs = netlink::addr_list(link->index);
  if (!addrs) return addrs.error();
  for (const auto& [a, len] : *addrs)
    if (a == ip && len == 32) return {};
  return Error{"interface " + ifname + " in " + netns + " does not carry " + ip.str() + "/32"};
}

}  // namespace myelin::cni
