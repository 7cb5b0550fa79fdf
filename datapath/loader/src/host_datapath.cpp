// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/host_datapath.hpp"

#include <bpf/libbpf.h>
#include <unistd.h>

#include "host.skel.h"
#include "myelin/bpf/tc_hook.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/log.hpp"
#include "pod_maps.hpp"

namespace myelin::datapath {
namespace {

// tc filter identity of from_netdev on a device (the pods' veths use 0x4d4c).
constexpr uint32_t kTcHandle = 0x4d4e;
constexpr uint32_t kTcPriority = 1;

bpf::TcHook ingress(int ifindex) { return bpf::TcHook(ifindex, bpf::TcHook::Side::ingress, kTcHandle, kTcPriority); }
bpf::TcHook egress(int ifindex) { return bpf::TcHook(ifindex, bpf::TcHook::Side::egress, kTcHandle, kTcPriority); }

}  // namespace

Result<std::unique_ptr<HostDatapath>> HostDatapath::load(const Datapath& dp, const Options& o) {
  auto hd = std::unique_ptr<HostDatapath>(new HostDatapath());
  auto skel = bpf::Skeleton<host>::open("host");
  if (!skel) return skel.error();
  hd->skel_ = std::move(*skel);
  auto& s = hd->skel_;
  s->rodata->cfg_redirect_peer = o.redirect_peer ? 1 : 0;
  if (auto st = use_pod_maps(s->obj, dp, "host datapath"); !st) return st.error();
  if (auto st = s.load(); !st) return st.error();
  return hd;
}

int HostDatapath::from_netdev_fd() const { return bpf_program__fd(skel_->progs.from_netdev); }
int HostDatapath::to_netdev_fd() const { return bpf_program__fd(skel_->progs.to_netdev); }

Result<DeviceHook> DeviceHook::attach(int ifindex, std::string name, int ingress_fd, int egress_fd) {
  if (auto st = bpf::TcHook::create_clsact(ifindex); !st) return Error{name + ": " + st.error().message, st.error().code};
  // Owned from here: an egress that refuses takes the ingress filter away again.
  DeviceHook h(ifindex, name);
  if (auto st = ingress(ifindex).attach(ingress_fd); !st) return Error{name + ": " + st.error().message, st.error().code};
  if (auto st = egress(ifindex).attach(egress_fd); !st) return Error{name + ": " + st.error().message, st.error().code};
  return h;
}

bool DeviceHook::attached(int ifindex) { return ingress(ifindex).attached() || egress(ifindex).attached(); }

Status DeviceHook::detach(int ifindex) {
  if (auto st = ingress(ifindex).detach(); !st) return st;
  return egress(ifindex).detach();
}

void DeviceHook::reset() {
  if (!ifindex_) return;
  if (auto st = detach(ifindex_); !st) log::warn("nodeport", "detach from " + name_ + ": " + st.error().message);
  ifindex_ = 0;
}

}  // namespace myelin::datapath
