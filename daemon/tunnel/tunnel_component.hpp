// SPDX-License-Identifier: Apache-2.0
// TunnelComponent: tunnel mode on this node. At start: loads
// datapath/overlay.bpf.c over the pod datapath's maps, creates (or adopts)
// the collect-metadata VXLAN device myelin_vxlan with from_overlay /
// to_overlay on it, then writes the node config (routing TUNNEL, node
// address, the device's ifindex) the pods' from_container reads to
// encapsulate; the rest of the node config (masquerade, ...) is kept as it
// was. Stopping keeps the device and its programs: cross-node traffic goes
// on while the agent is away, and the next start replaces them in place.
// Not enabled (a single node, native routing): what an earlier start in
// tunnel mode left is undone, the node config first (nothing is sent into
// a device about to go), then the device.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "component/component.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/datapath/overlay_datapath.hpp"
#include "tunnel/underlay.hpp"

namespace myelin::tunnel {

class TunnelComponent : public component::Component {
 public:
  struct Options {
    bool enabled = true;         // tunnel mode in a cluster
    Underlay underlay;           // resolve_underlay(--node-ip); enabled only
    bool redirect_peer = true;   // as the pod datapath's
    std::string device = "myelin_vxlan";
  };
  TunnelComponent(datapath::Datapath& dp, Options o) : dp_(dp), o_(std::move(o)) {}
  std::string name() const override { return "tunnel"; }
  Status start() override;
  void stop() override;
  void collect(metrics::MetricSink& sink) const override;

  int tunnel_ifindex() const { return dev_.ifindex(); }

 private:
  Status disable();

  datapath::Datapath& dp_;
  Options o_;
  std::unique_ptr<datapath::OverlayDatapath> overlay_;
  datapath::TunnelDevice dev_;
};

}  // namespace myelin::tunnel
