// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/overlay_datapath.hpp"

#include <bpf/libbpf.h>

#include <fstream>

#include "myelin/bpf/tc_hook.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/log.hpp"
#include "myelin/netlink.hpp"
#include "overlay.skel.h"
#include "pod_maps.hpp"

namespace myelin::datapath {
namespace {

// tc filter identity of our programs on the VXLAN device (pod veths: 0x4d4c,
// node devices: 0x4d4e).
constexpr uint32_t kTcHandle = 0x4d4f;
constexpr uint32_t kTcPriority = 1;

bpf::TcHook hook(int ifindex, bpf::TcHook::Side side) { return bpf::TcHook(ifindex, side, kTcHandle, kTcPriority); }

}  // namespace

Result<std::unique_ptr<OverlayDatapath>> OverlayDatapath::load(const Datapath& dp, const Options& o) {
  auto od = std::unique_ptr<OverlayDatapath>(new OverlayDatapath());
  auto skel = bpf::Skeleton<overlay>::open("overlay");
  if (!skel) return skel.error();
  od->skel_ = std::move(*skel);
  auto& s = od->skel_;
  s->rodata->cfg_redirect_peer = o.redirect_peer ? 1 : 0;
  if (auto st = use_pod_maps(s->obj, dp, "overlay datapath"); !st) return st.error();
  if (auto st = s.load(); !st) return st.error();
  return od;
}

int OverlayDatapath::from_overlay_fd() const { return bpf_program__fd(skel_->progs.from_overlay); }
int OverlayDatapath::to_overlay_fd() const { return bpf_program__fd(skel_->progs.to_overlay); }

Result<TunnelDevice> TunnelDevice::ensure(const Spec& spec, int from_overlay_fd, int to_overlay_fd) {
  TunnelDevice d;
  d.name_ = spec.name;
  auto link = netlink::link_get(spec.name);
  if (link && link->kind != "vxlan")
    return Error{spec.name + " exists and is a " + (link->kind.empty() ? "plain" : link->kind) + " device, not a VXLAN device of ours"};
  if (link && spec.mtu && link->mtu != spec.mtu) {
    // An earlier start's, made for another underlay: made again.
    log::info("tunnel", spec.name + " has MTU " + std::to_string(link->mtu) + ", the underlay " + std::to_string(spec.mtu) + ": recreating it");
    if (auto st = netlink::link_delete(spec.name); !st) return st.error();
    link = Error{"deleted", ENODEV};
  }
  if (!link) {
    if (link.error().code != ENODEV) return link.error();
    if (auto st = netlink::vxlan_create({spec.name, spec.port, spec.local, spec.mtu}); !st) return st.error();
    d.created_ = true;
    link = netlink::link_get(spec.name);
    if (!link) return link.error();
  }
  d.ifindex_ = link->index;
  d.mtu_ = link->mtu;
  // IPv4 only, like the pods: no router solicitations into a device that cannot send them.
  std::ofstream("/proc/sys/net/ipv6/conf/" + spec.name + "/disable_ipv6") << "1";
  if (auto st = netlink::link_set_up(d.ifindex_); !st) return st.error();
  if (auto st = bpf::TcHook::create_clsact(d.ifindex_); !st) return Error{spec.name + ": " + st.error().message, st.error().code};
  if (auto st = hook(d.ifindex_, bpf::TcHook::Side::ingress).attach(from_overlay_fd); !st)
    return Error{spec.name + ": " + st.error().message, st.error().code};
  if (auto st = hook(d.ifindex_, bpf::TcHook::Side::egress).attach(to_overlay_fd); !st)
    return Error{spec.name + ": " + st.error().message, st.error().code};
  return d;
}

Status TunnelDevice::remove(const std::string& name) {
  auto link = netlink::link_get(name);
  if (!link) return link.error().code == ENODEV ? Status{} : Status{link.error()};
  if (link->kind != "vxlan") return Error{name + " is a " + link->kind + " device, not ours: left alone"};
  return netlink::link_delete(name);
}

Status TunnelDevice::route_pod_cidrs(const std::vector<net::Cidr4>& cidrs, unsigned mtu) const {
  if (!ifindex_) return Error{"no tunnel device"};
  auto have = netlink::route_list(ifindex_);
  if (!have) return have.error();
  auto same = [](const net::Cidr4& a, const net::Cidr4& b) { return a.base == b.base && a.prefix == b.prefix; };
  for (const auto& c : cidrs)
    if (auto st = netlink::route_replace(c, ifindex_, std::nullopt, true, mtu); !st) return st;
  for (const auto& h : *have) {
    bool keep = false;
    for (const auto& c : cidrs) keep = keep || same(c, h);
    if (!keep)
      if (auto st = netlink::route_delete(h, ifindex_); !st) return st;
  }
  return {};
}

void TunnelDevice::reset() {
  if (created_ && !name_.empty()) {
    if (auto st = netlink::link_delete(name_); !st) log::warn("tunnel", "delete " + name_ + ": " + st.error().message);
  }
  created_ = false;
  ifindex_ = 0;
}

}  // namespace myelin::datapath
