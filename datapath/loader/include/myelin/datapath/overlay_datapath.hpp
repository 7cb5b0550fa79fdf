// SPDX-License-Identifier: Apache-2.0
// Tunnel mode's side of the node: the VXLAN device's program
// (datapath/overlay.bpf.c: from_overlay, to_overlay), loaded over the pod
// datapath's own maps (their fds reused, as HostDatapath does: one
// conntrack, one ipcache), and TunnelDevice, the owner of the
// collect-metadata VXLAN device and of our two tc filters on it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "myelin/abi/net.h"
#include "myelin/bpf/skeleton.hpp"
#include "myelin/net.hpp"
#include "myelin/result.hpp"

struct overlay;  // the bpftool skeleton

namespace myelin::datapath {

class Datapath;

class OverlayDatapath {
 public:
  struct Options {
    bool redirect_peer = true;  // as the pod datapath's (deliver_local)
  };
  // `dp` is loaded (and upgraded): its maps are the ones this object uses.
  static Result<std::unique_ptr<OverlayDatapath>> load(const Datapath& dp, const Options& o);
  int from_overlay_fd() const;
  int to_overlay_fd() const;

 private:
  OverlayDatapath() = default;
  bpf::Skeleton<overlay> skel_;
};

// The VXLAN device of tunnel mode ("external": the remote and the VNI come
// per packet from the programs' tunnel key), UDP 8472, outer source the
// node's address, MTU the underlay's (pods' routes carry underlay - 50, so
// the device never has to fragment), no ARP, no learning, IPv6 off; from_overlay
// on its ingress, to_overlay on its egress. ensure() creates it, or adopts
// the one an earlier start made (same kind: kept, so traffic through it
// never stops across a restart; the filters are replaced in place).
// Destroying the owner removes a device this owner created (a failed start
// leaves the node as it found it); release() keeps it (a stopping agent:
// cross-node traffic goes on while it is away). Not copyable; movable.
class TunnelDevice {
 public:
  struct Spec {
    std::string name = "myelin_vxlan";
    net::Ipv4 local;     // the node's underlay address (outer source)
    unsigned mtu = 0;    // the underlay device's MTU
    uint16_t port = MYELIN_VXLAN_PORT;
  };
  static Result<TunnelDevice> ensure(const Spec& spec, int from_overlay_fd, int to_overlay_fd);
  // Deletes a device of ours by name (none there is fine): routing mode
  // changed away from tunnel.
  static Status remove(const std::string& name);

  TunnelDevice() = default;
  ~TunnelDevice() { reset(); }
  TunnelDevice(const TunnelDevice&) = delete;
  TunnelDevice& operator=(const TunnelDevice&) = delete;
  TunnelDevice(TunnelDevice&& o) noexcept { *this = std::move(o); }
  TunnelDevice& operator=(TunnelDevice&& o) noexcept {
    if (this != &o) {
      reset();
      ifindex_ = o.ifindex_;
      mtu_ = o.mtu_;
      created_ = o.created_;
      name_ = std::move(o.name_);
      o.ifindex_ = 0;
      o.created_ = false;
    }
    return *this;
  }

  int ifindex() const { return ifindex_; }
  unsigned mtu() const { return mtu_; }
  const std::string& name() const { return name_; }
  bool created() const { return created_; }  // by this owner (not adopted)
  void release() { created_ = false; }       // stays, whatever happens to the owner
  void reset();                              // removes a device this owner created

 private:
  int ifindex_ = 0;
  unsigned mtu_ = 0;
  bool created_ = false;
  std::string name_;
};

}  // namespace myelin::datapath
