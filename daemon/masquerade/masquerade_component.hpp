// SPDX-License-Identifier: Apache-2.0
// daemon/masquerade (myelin_masquerade): SNAT of pod traffic leaving the cluster.
// MasqueradeComponent writes the masquerade's fields of the node config
// (myelin_node: MYELIN_NODE_F_MASQUERADE, node_ip, native CIDR, SNAT port
// range) that datapath/lib/snat.h reads on the node devices (host.bpf.c,
// attached by NodePortComponent), keeping the fields others own (routing
// mode, tunnel device). The node address is --node-ip, or the first IPv4
// address of the device holding the default route. Off, or with no address
// to masquerade to, pods leave with their own address (said once).
#pragma once

#include <cstdint>
#include <optional>

#include "component/component.hpp"
#include "myelin/abi/nat.h"
#include "myelin/datapath/datapath.hpp"
#include "myelin/net.hpp"

namespace myelin::masquerade {

class MasqueradeComponent : public component::Component {
 public:
  struct Options {
    bool enabled = true;                    // --masquerade
    std::optional<net::Ipv4> node_ip;       // --node-ip; none: the default route's device's address
    std::optional<net::Cidr4> native_cidr;  // --native-routing-cidr: never masqueraded
    uint16_t port_min = MYELIN_SNAT_PORT_MIN_DEFAULT, port_max = MYELIN_SNAT_PORT_MAX_DEFAULT;
  };
  MasqueradeComponent(datapath::Datapath& dp, Options o) : dp_(dp), o_(std::move(o)) {}
  std::string name() const override { return "masquerade"; }
  Status start() override;
  void collect(metrics::MetricSink& sink) const override;

  // The node config with the masquerade's fields of `o` (pure: unit-tested).
  static myelin_node_config apply(myelin_node_config c, const Options& o, std::optional<net::Ipv4> node_ip);
  // The address pods are masqueraded to: --node-ip, else the first IPv4
  // address of the first device of the default routes; none: nullopt.
  static std::optional<net::Ipv4> node_address(const Options& o);

 private:
  datapath::Datapath& dp_;
  Options o_;
};

}  // namespace myelin::masquerade
