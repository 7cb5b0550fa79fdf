// SPDX-License-Identifier: Apache-2.0
#include "tunnel/tunnel_component.hpp"

#include "metrics/metric_sink.hpp"
#include "myelin/log.hpp"
#include "myelin/netlink.hpp"

namespace myelin::tunnel {

Status TunnelComponent::disable() {
  myelin_node_config c = dp_.node_config();
  if (c.routing_mode == MYELIN_ROUTING_TUNNEL || c.tunnel_ifindex) {
    if (c.routing_mode == MYELIN_ROUTING_TUNNEL) c.routing_mode = MYELIN_ROUTING_NONE;
    c.tunnel_ifindex = 0;
    if (auto st = dp_.set_node_config(c); !st) return st;
    log::info("tunnel", "not in tunnel mode: pods' packets are no longer encapsulated");
  }
  bool had = static_cast<bool>(netlink::link_get(o_.device));
  if (auto st = datapath::TunnelDevice::remove(o_.device); !st) {
    log::warn("tunnel", st.error().message);  // someone else's device of that name: not ours to judge
    return {};
  }
  if (had) log::info("tunnel", "removed " + o_.device + ", left by an earlier start in tunnel mode");
  return {};
}

Status TunnelComponent::start() {
  if (!o_.enabled) return disable();
  const auto& u = o_.underlay;
  auto od = datapath::OverlayDatapath::load(dp_, {o_.redirect_peer});
  if (!od) return Error{"loading the VXLAN device's program: " + od.error().message, od.error().code};
  overlay_ = std::move(*od);
  auto dev = datapath::TunnelDevice::ensure({o_.device, u.node_ip, u.mtu, MYELIN_VXLAN_PORT}, overlay_->from_overlay_fd(),
                                            overlay_->to_overlay_fd());
  if (!dev) return Error{"the VXLAN device: " + dev.error().message, dev.error().code};
  dev_ = std::move(*dev);
  // Read, change ours, write: the masquerade settings are another part's.
  myelin_node_config c = dp_.node_config();
  c.routing_mode = MYELIN_ROUTING_TUNNEL;
  c.node_ip = u.node_ip.network_order();
  c.tunnel_ifindex = static_cast<uint32_t>(dev_.ifindex());
  if (auto st = dp_.set_node_config(c); !st) return st;  // dev_ goes (if made now): all or none
  log::info("tunnel", std::string(dev_.created() ? "created " : "adopted ") + o_.device + " (ifindex " + std::to_string(dev_.ifindex()) +
                          ", VXLAN UDP " + std::to_string(MYELIN_VXLAN_PORT) + ", outer source " + u.node_ip.str() + ", MTU " +
                          std::to_string(dev_.mtu()) + "; underlay " + u.device + " MTU " + std::to_string(u.mtu) +
                          ", pod routes MTU " + std::to_string(pod_route_mtu(u.mtu)) + ")");
  dev_.release();  // from now on the device outlives the agent
  return {};
}

void TunnelComponent::stop() {
  // The device and its programs stay; the node config stays pinned.
  overlay_.reset();
}

void TunnelComponent::collect(metrics::MetricSink& sink) const {
  sink.gauge("myelin_tunnel_device_ifindex", "Interface index of the VXLAN device of tunnel mode (0: none)")
      .add({{"device", o_.device}}, static_cast<double>(dev_.ifindex()));
}

}  // namespace myelin::tunnel
