// SPDX-License-Identifier: Apache-2.0
// FlowDecoder: turns a datapath event (abi/net.h) into a Hubble flow, adding
// what only the agent knows: wall-clock time, a uuid, endpoint names and
// labels, interface names, the node name.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "flow.pb.h"
#include "myelin/abi/net.h"

namespace myelin::flows {

class FlowDecoder {
 public:
  struct EndpointView {
    uint32_t id = 0, identity = 0;
    std::string ns, pod_name;
    std::vector<std::string> labels;  // "source:key=value"
    std::vector<std::pair<std::string, std::string>> workloads;  // (kind, name)
  };
  using EndpointLookup = std::function<std::optional<EndpointView>(uint32_t ep_id)>;
  using IfnameLookup = std::function<std::string(uint32_t ifindex)>;

  // Adds what other components know (e.g. which policy decided) to a decoded flow.
  using Annotator = std::function<void(const myelin_flow_event& ev, flow::Flow& f)>;
  FlowDecoder(std::string node_name, EndpointLookup eps, IfnameLookup ifnames, Annotator annotate = {});
  flow::Flow decode(const myelin_flow_event& ev) const;

 private:
  void fill_endpoint(flow::Endpoint* out, uint32_t ep_id, uint32_t identity) const;

  std::string node_name_;
  EndpointLookup eps_;
  IfnameLookup ifnames_;
  Annotator annotate_;
  int64_t mono_to_wall_ns_;  // CLOCK_REALTIME - CLOCK_MONOTONIC, measured once
};

// Human summary as Hubble writes it ("TCP Flags: SYN, ACK", "ICMPv4 EchoRequest").
std::string flow_summary(const flow::Flow& f);

}  // namespace myelin::flows
