// SPDX-License-Identifier: Apache-2.0
// The node devices' programs (datapath/host.bpf.c: NodePort, externalIP and
// LoadBalancer frontends for clients outside the cluster on ingress;
// masquerade of pods' traffic leaving the cluster on egress, its replies
// translated back on ingress), loaded over the
// pod datapath's own maps (their fds reused, not reopened by pin: one
// conntrack, one set of Services, whatever --bpf-map-max-entries sized them
// to), and its tc hooks on a device, owned by DeviceHook.
#pragma once

#include <memory>
#include <string>

#include "myelin/bpf/skeleton.hpp"
#include "myelin/result.hpp"

struct host;  // the bpftool skeleton

namespace myelin::datapath {

class Datapath;

class HostDatapath {
 public:
  struct Options {
    bool redirect_peer = true;  // as the pod datapath's (deliver_local)
  };
  // `dp` is loaded (and upgraded): its maps are the ones this object uses.
  static Result<std::unique_ptr<HostDatapath>> load(const Datapath& dp, const Options& o);
  int from_netdev_fd() const;
  int to_netdev_fd() const;

 private:
  HostDatapath() = default;
  bpf::Skeleton<host> skel_;
};

// from_netdev on one device's tc ingress and to_netdev on its egress.
// attach() creates the filters or replaces ours in place (a restarted agent
// leaves no moment without one). Destroying the hook removes them, so a
// failed start or a device
// taken out of --devices is left as it was found; release() keeps it
// attached instead (a stopping agent: NodePorts keep answering while it is
// away, like the pods' programs). Not copyable; movable.
class DeviceHook {
 public:
  static Result<DeviceHook> attach(int ifindex, std::string name, int ingress_fd, int egress_fd);
  // Whether our filter is on the device's ingress or egress.
  static bool attached(int ifindex);
  // Removes our filters from a device (none there is fine).
  static Status detach(int ifindex);

  DeviceHook() = default;
  ~DeviceHook() { reset(); }
  DeviceHook(const DeviceHook&) = delete;
  DeviceHook& operator=(const DeviceHook&) = delete;
  DeviceHook(DeviceHook&& o) noexcept : ifindex_(o.ifindex_), name_(std::move(o.name_)) { o.ifindex_ = 0; }
  DeviceHook& operator=(DeviceHook&& o) noexcept {
    if (this != &o) {
      reset();
      ifindex_ = o.ifindex_;
      name_ = std::move(o.name_);
      o.ifindex_ = 0;
    }
    return *this;
  }

  int ifindex() const { return ifindex_; }
  const std::string& name() const { return name_; }
  void release() { ifindex_ = 0; }  // stays attached
  void reset();                      // detaches now

 private:
  DeviceHook(int ifindex, std::string name) : ifindex_(ifindex), name_(std::move(name)) {}
  int ifindex_ = 0;
  std::string name_;
};

}  // namespace myelin::datapath
