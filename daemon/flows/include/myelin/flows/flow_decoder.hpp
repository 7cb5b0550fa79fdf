// SPDX-License-Identifier: Apache-2.0
// daemon/flows (myelin_flows): datapath events into Hubble flows, the flow store and Hubble's flow filters.
// FlowDecoder: turns a datapath event (abi/net.h) into a Hubble flow, adding
// what only the agent knows: wall-clock time, a uuid, endpoint names and
// labels, interface names, the node name, the Services a translated packet
// went to or came back from (destination_service/source_service).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flow.pb.h"
#include "myelin/abi/lb.h"
#include "myelin/abi/net.h"
#include "myelin/services/service_table.hpp"

namespace myelin::flows {

// An endpoint as a flow names it.
struct EndpointView {
  uint32_t id = 0, identity = 0;
  std::string ns, pod_name;
  std::vector<std::string> labels;  // "source:key=value"
  std::vector<std::pair<std::string, std::string>> workloads;  // (kind, name)
};

// What the decoder reads about endpoints (and what else annotates a flow,
// e.g. which policy decided) at one instant. One view serves a whole decode:
// a flow never mixes two states of the agent.
class FlowView {
 public:
  virtual ~FlowView() = default;
  virtual const EndpointView* endpoint(uint32_t ep_id) const = 0;
  // A pod of another node by its address (network order; the ipcache's
  // cluster view): a flow names it though it is no endpoint here.
  virtual const EndpointView* remote(uint32_t /*addr*/) const { return nullptr; }
  virtual void annotate(const myelin_flow_event& /*ev*/, flow::Flow& /*f*/) const {}
};

// A fixed set of endpoints and nothing else (tests, benchmarks).
class StaticView final : public FlowView {
 public:
  explicit StaticView(std::map<uint32_t, EndpointView> eps) : eps_(std::move(eps)) {}
  const EndpointView* endpoint(uint32_t ep_id) const override {
    auto it = eps_.find(ep_id);
    return it == eps_.end() ? nullptr : &it->second;
  }

 private:
  std::map<uint32_t, EndpointView> eps_;
};

// The frontends by rev_nat_index as the LbWriter last published them (one
// pointer copy per decode); null: none published yet.
using FrontendIndexSource = std::function<std::shared_ptr<const services::FrontendIndex>()>;

// Hubble's destination_service/source_service from the event's rev_nat
// indexes (0: not translated). An index the FrontendIndex does not hold (the
// writer has not published it yet, or already removed it) leaves the field
// unset: a flow never names a Service it cannot vouch for. Also for the
// socket path's events.
void fill_services(const services::FrontendIndex* index, uint16_t dst_service, uint16_t src_service, flow::Flow& f);

class FlowDecoder {
 public:
  using EndpointView = flows::EndpointView;
  // The current view, taken once per decode (a pointer copy for the agent's
  // snapshot); null: no endpoint is known.
  using ViewSource = std::function<std::shared_ptr<const FlowView>()>;
  using IfnameLookup = std::function<std::string(uint32_t ifindex)>;
  static ViewSource fixed(std::shared_ptr<const FlowView> v) {
    return [v = std::move(v)] { return v; };
  }

  FlowDecoder(std::string node_name, ViewSource views, IfnameLookup ifnames);
  // Where the Services come from; set before the first decode (the agent
  // wires it before the event pump starts). Unset: no flow names a Service.
  void set_frontends(FrontendIndexSource frontends) { frontends_ = std::move(frontends); }
  // This node's underlay address: the local end of a tunnelled flow's
  // `tunnel` (network order; 0: unknown, left out).
  void set_node_ip(uint32_t node_ip_be) { node_ip_ = node_ip_be; }
  flow::Flow decode(const myelin_flow_event& ev) const;
  // A socket-level Service translation (sock_lb.bpf.c) as Hubble's trace-sock
  // flow (sock_flow.cpp): Type SOCK, verdict TRANSLATED, sock_xlate_point,
  // socket_cookie, cgroup_id, destination_service/source_service; a refusal
  // (no backends) verdict DROPPED with its drop_reason_desc. `pod_ep_id` is
  // the endpoint of the process's pod (0: not a pod's process).
  flow::Flow decode(const myelin_sock_xlate_event& ev, uint32_t pod_ep_id) const;

 private:
  void fill_endpoint(const FlowView* view, flow::Endpoint* out, uint32_t ep_id, uint32_t identity, const myelin_addr& addr,
                     uint8_t family) const;

  std::string node_name_;
  ViewSource views_;
  IfnameLookup ifnames_;
  FrontendIndexSource frontends_;
  uint32_t node_ip_ = 0;
  int64_t mono_to_wall_ns_;  // CLOCK_REALTIME - CLOCK_MONOTONIC, measured once
};

// A random (version 4) uuid, a flow's `uuid`.
std::string uuid_v4();

// Human summary as Hubble writes it ("TCP Flags: SYN, ACK", "ICMPv4 EchoRequest").
std::string flow_summary(const flow::Flow& f);

}  // namespace myelin::flows
