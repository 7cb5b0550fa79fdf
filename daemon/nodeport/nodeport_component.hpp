// SPDX-License-Identifier: Apache-2.0
// NodePortComponent: serves NodePort, externalIP and LoadBalancer frontends
// to clients outside the cluster on the node's devices: loads host.bpf.c
// over the pod datapath's maps, attaches it to the tc ingress of every
// device (--devices, or those of the default routes), and records the
// node-port range in the Services config slot. No device (a namespace
// without a default route, the test harness's bare node): nothing is
// attached, said once, and the rest of the agent runs as before.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "component/component.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/datapath/host_datapath.hpp"
#include "nodeport/address_watch.hpp"
#include "nodeport/devices.hpp"

namespace myelin::nodeport {

class NodePortComponent : public component::Component {
 public:
  struct Options {
    std::string devices;  // --devices; "" = detect
    PortRange range;      // --node-port-range
    bool redirect_peer = true;
    // Told the devices served, once attached and again whenever their
    // addresses change (the ServiceManager's NodePort addresses).
    std::function<void(const std::vector<Device>&)> on_devices;
  };
  NodePortComponent(datapath::Datapath& dp, Options o) : dp_(dp), o_(std::move(o)) {}
  std::string name() const override { return "nodeport"; }
  Status start() override;
  // Hooks stay attached: NodePorts keep answering while the agent is away;
  // the next start replaces the program in place.
  void stop() override;
  void collect(metrics::MetricSink& sink) const override;

  // The devices served and their addresses (the NodePort frontends' addresses).
  std::vector<Device> devices() const;

 private:
  // Re-reads the devices' addresses; tells on_devices when they changed.
  void refresh_addresses();

  datapath::Datapath& dp_;
  Options o_;
  mutable std::mutex mu_;
  std::vector<Device> devices_;
  std::unique_ptr<datapath::HostDatapath> host_;
  std::vector<datapath::DeviceHook> hooks_;
  std::optional<AddressWatch> watch_;  // outside mu_: its thread takes mu_
};

}  // namespace myelin::nodeport
