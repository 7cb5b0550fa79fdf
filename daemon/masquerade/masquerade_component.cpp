// SPDX-License-Identifier: Apache-2.0
#include "masquerade/masquerade_component.hpp"

#include <bpf/bpf.h>

#include <array>

#include "metrics/metric_sink.hpp"
#include "myelin/bpf/map_keys.hpp"
#include "myelin/log.hpp"
#include "nodeport/devices.hpp"

namespace myelin::masquerade {

myelin_node_config MasqueradeComponent::apply(myelin_node_config c, const Options& o, std::optional<net::Ipv4> node_ip) {
  c.flags &= ~static_cast<uint32_t>(MYELIN_NODE_F_MASQUERADE);
  if (o.enabled && node_ip) c.flags |= MYELIN_NODE_F_MASQUERADE;
  if (node_ip) c.node_ip = node_ip->network_order();
  c.native_cidr = o.native_cidr ? o.native_cidr->base.network_order() : 0;
  c.native_prefix = o.native_cidr ? o.native_cidr->prefix : 0;
  c.snat_port_min = o.port_min;
  c.snat_port_max = o.port_max;
  return c;
}

std::optional<net::Ipv4> MasqueradeComponent::node_address(const Options& o) {
  if (o.node_ip) return o.node_ip;
  auto devs = nodeport::resolve_devices("");
  if (!devs) return std::nullopt;
  for (const auto& d : *devs)
    if (!d.addrs.empty()) return d.addrs.front();
  return std::nullopt;
}

Status MasqueradeComponent::start() {
  auto ip = node_address(o_);
  auto c = apply(dp_.node_config(), o_, ip);
  if (auto st = dp_.set_node_config(c); !st) return st;
  if (!o_.enabled) {
    log::info("masquerade", "off (--masquerade false): pods reach outside the cluster with their own addresses");
  } else if (!ip) {
    log::warn("masquerade", "no node address (no --node-ip and no default route with an IPv4 address): pods reach outside "
                            "the cluster with their own addresses");
  } else {
    log::info("masquerade", "pod traffic leaving the cluster is SNATed to " + ip->str() + ", ports " + std::to_string(o_.port_min) + "-" +
                                std::to_string(o_.port_max) +
                                (o_.native_cidr ? ", except to " + o_.native_cidr->str() : std::string()) +
                                " (on the node devices NodePort attaches to)");
  }
  return {};
}

void MasqueradeComponent::collect(metrics::MetricSink& sink) const {
  int fd = dp_.map_fd(MYELIN_MAP_SNAT);
  if (fd < 0) return;
  std::array<uint64_t, 3> n{};  // pod flows, their reply entries, the node's own ports
  for (const auto& k : bpf::map_keys<myelin_snat_key>(fd)) {
    myelin_snat_entry e{};
    if (bpf_map_lookup_elem(fd, &k, &e) != 0) continue;
    if (e.flags & MYELIN_SNAT_F_HOST) ++n[2];
    else if (k.dir == MYELIN_SNAT_EGRESS) ++n[0];
    else ++n[1];
  }
  auto g = sink.gauge("myelin_masquerade_entries", "Entries of the masquerade's translation map (myelin_snat) by kind");
  g.add({{"kind", "flow"}}, static_cast<double>(n[0]));
  g.add({{"kind", "reply"}}, static_cast<double>(n[1]));
  g.add({{"kind", "node_port_record"}}, static_cast<double>(n[2]));
}

}  // namespace myelin::masquerade
