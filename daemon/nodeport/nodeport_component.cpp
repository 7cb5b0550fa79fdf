// SPDX-License-Identifier: Apache-2.0
#include "nodeport/nodeport_component.hpp"

#include <bpf/bpf.h>
#include <net/if.h>

#include <algorithm>

#include "metrics/metric_sink.hpp"
#include "myelin/abi/lb.h"
#include "myelin/log.hpp"

namespace myelin::nodeport {
namespace {

// The range in the Services config slot; the rest of the slot is the LB
// writer's and kept as it is.
Status write_range(const datapath::Datapath& dp, const PortRange& r) {
  int fd = dp.map_fd(MYELIN_MAP_LB_CONFIG);
  if (fd < 0) return Error{"the pod datapath has no " MYELIN_MAP_LB_CONFIG};
  uint32_t zero = 0;
  myelin_lb_config cfg{};
  if (bpf_map_lookup_elem(fd, &zero, &cfg) != 0) return Error::from_errno("read " MYELIN_MAP_LB_CONFIG);
  cfg.node_port_min = r.min;
  cfg.node_port_max = r.max;
  if (bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY) != 0) return Error::from_errno("write " MYELIN_MAP_LB_CONFIG);
  return {};
}

std::string describe(const Device& d) {
  std::string s = d.name + " (";
  for (size_t i = 0; i < d.addrs.size(); ++i) s += (i ? ", " : "") + d.addrs[i].str();
  return s + (d.addrs.empty() ? "no IPv4 address)" : ")");
}

// Our filter on a device that is no longer one of --devices (an earlier
// start's, or a device whose default route went): removed, so a device
// never serves frontends it was taken out for.
void detach_stale(const std::vector<Device>& keep) {
  struct if_nameindex* all = if_nameindex();
  if (!all) return;
  for (struct if_nameindex* i = all; i->if_index; ++i) {
    int idx = static_cast<int>(i->if_index);
    if (std::any_of(keep.begin(), keep.end(), [idx](const Device& d) { return d.ifindex == idx; })) continue;
    if (!datapath::DeviceHook::attached(idx)) continue;
    if (auto st = datapath::DeviceHook::detach(idx); !st)
      log::warn("nodeport", std::string("detach from ") + i->if_name + " (no longer a device): " + st.error().message);
    else
      log::info("nodeport", std::string("detached from ") + i->if_name + ": no longer one of the devices");
  }
  if_freenameindex(all);
}

}  // namespace

Status NodePortComponent::start() {
  // Subscribed before the addresses are read: one added after the read is
  // seen. Without it NodePorts stay on the addresses of this start (said).
  auto watch = AddressWatch::open();
  auto devs = resolve_devices(o_.devices);
  if (!devs) return devs.error();
  if (auto st = write_range(dp_, o_.range); !st) return st;
  detach_stale(*devs);
  if (devs->empty()) {
    log::info("nodeport", "no devices (" + std::string(o_.devices.empty() ? "this namespace has no default route" : "--devices is empty") +
                              "): NodePort, externalIPs and LoadBalancer IPs are not served to clients outside the node");
    return {};
  }
  auto host = datapath::HostDatapath::load(dp_, {o_.redirect_peer});
  if (!host) return Error{"loading the node devices' program: " + host.error().message, host.error().code};
  // All or none: a device that refuses leaves the ones before it as they
  // were (the hooks detach when this vector goes).
  std::vector<datapath::DeviceHook> hooks;
  for (const auto& d : *devs) {
    auto h = datapath::DeviceHook::attach(d.ifindex, d.name, (*host)->from_netdev_fd(), (*host)->to_netdev_fd());
    if (!h) return Error{"attaching to device " + h.error().message, h.error().code};
    hooks.push_back(std::move(*h));
  }
  std::string list;
  for (const auto& d : *devs) list += (list.empty() ? "" : ", ") + describe(d);
  log::info("nodeport", "serving NodePorts " + o_.range.str() + ", externalIPs and LoadBalancer IPs on " + list);
  std::vector<Device> now;
  {
    std::lock_guard lock(mu_);
    devices_ = std::move(*devs);
    host_ = std::move(*host);
    hooks_ = std::move(hooks);
    now = devices_;
  }
  if (o_.on_devices) o_.on_devices(now);
  if (!watch) {
    log::warn("nodeport", "not following the devices' addresses (" + watch.error().message + "): NodePorts and externalIPs stay on " + list);
  } else {
    watch_.emplace(std::move(*watch));
    if (auto st = watch_->start([this] { refresh_addresses(); }); !st) log::warn("nodeport", "address watch: " + st.error().message);
  }
  return {};
}

void NodePortComponent::refresh_addresses() {
  std::string names;
  {
    std::lock_guard lock(mu_);
    for (const auto& d : devices_) names += (names.empty() ? "" : ",") + d.name;
  }
  auto devs = resolve_devices(names);
  if (!devs) {
    log::warn("nodeport", "re-reading the devices' addresses: " + devs.error().message);
    return;
  }
  std::vector<Device> now;
  {
    std::lock_guard lock(mu_);
    auto same = [](const Device& a, const Device& b) { return a.name == b.name && a.addrs == b.addrs; };
    if (std::equal(devs->begin(), devs->end(), devices_.begin(), devices_.end(), same)) return;
    for (size_t i = 0; i < devs->size() && i < devices_.size(); ++i)
      if ((*devs)[i].ifindex != devices_[i].ifindex)  // the hook went with the old device
        log::warn("nodeport", "device " + (*devs)[i].name + " was re-created: restart the agent to attach to it again");
    devices_ = std::move(*devs);
    now = devices_;
  }
  std::string list;
  for (const auto& d : now) list += (list.empty() ? "" : ", ") + describe(d);
  log::info("nodeport", "device addresses changed: NodePorts, externalIPs and LoadBalancer IPs now on " + list);
  if (o_.on_devices) o_.on_devices(now);
}

void NodePortComponent::stop() {
  if (watch_) watch_->stop();  // before the lock: its callback takes it
  std::lock_guard lock(mu_);
  for (auto& h : hooks_) h.release();
  hooks_.clear();
}

std::vector<Device> NodePortComponent::devices() const {
  std::lock_guard lock(mu_);
  return devices_;
}

void NodePortComponent::collect(metrics::MetricSink& sink) const {
  std::lock_guard lock(mu_);
  sink.gauge("myelin_nodeport_devices", "Devices the NodePort/externalIP/LoadBalancer program is attached to")
      .add({}, static_cast<double>(hooks_.size()));
}

}  // namespace myelin::nodeport
