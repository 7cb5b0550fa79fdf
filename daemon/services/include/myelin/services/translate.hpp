// SPDX-License-Identifier: Apache-2.0
// translate(): the one pure function from what the store and the node know
// (Services, EndpointSlices, Pods, this node's endpoints and addresses) to
// the ServiceTable this node serves, with kube-proxy's semantics:
//
//   - not proxied: clusterIP None or unset, type ExternalName, the labels
//     service.kubernetes.io/service-proxy-name (unless it names this proxy)
//     and service.kubernetes.io/headless (kube-proxy's informers filter
//     Services and EndpointSlices by both labels);
//   - a Service's endpoints: the union of the EndpointSlices labelled
//     kubernetes.io/service-name with its name, matched to a ServicePort by
//     (port name, protocol), one endpoint per first address and port (a local
//     one wins a duplicate); a selector Service without slices gets them
//     derived from the Pods, as the EndpointSlice controller would (pods with
//     an address, not Succeeded/Failed; ready = publishNotReadyAddresses or
//     ready and not terminating; serving = ready; a named targetPort resolved
//     against the pod's containerPorts of that protocol);
//   - conditions (pkg/proxy/topology.go CategorizeEndpoints): ready ones take
//     new connections; when none is ready, serving+terminating ones do; the
//     Local traffic policies pick local ones the same way, apart; the others
//     keep their established connections (TCP, SCTP) or are left out (UDP:
//     kube-proxy clears a UDP endpoint's conntrack entries once it stops
//     serving, so the socket path destroys its connected sockets);
//   - frontends: every IPv4 clusterIP; NodePort on each node address; an
//     externalIP or LoadBalancer ingress IP only when it is one of this
//     node's addresses (an address of someone else is never hijacked,
//     CVE-2020-8554).
#pragma once

#include <string>
#include <vector>

#include "myelin/net.hpp"
#include "myelin/objects/model.hpp"
#include "myelin/services/service_table.hpp"

namespace myelin::services {

// A pod interface of this node (the endpoint store's record of it).
struct LocalEndpoint {
  std::string ns, pod;
  net::Ipv4 ip;
  bool up = true;  // the endpoint is ready (its interface programmed)
  bool operator==(const LocalEndpoint&) const = default;
};

struct Inputs {
  std::vector<objects::Service> services;
  std::vector<objects::EndpointSlice> slices;
  std::vector<policy::Pod> pods;
  std::vector<LocalEndpoint> endpoints;    // this node's
  std::vector<net::Ipv4> node_addresses;   // NodePort frontends; which externalIPs are this node's
  std::string node_name;                   // an endpoint whose nodeName is this is local
  // The service-proxy-name this node serves (Cilium's --k8s-service-proxy-name):
  // "" serves only Services without the label, as kube-proxy does.
  std::string proxy_name;
  bool maglev = false;                     // outside traffic picks by Maglev (--lb-algorithm maglev)
  // --node-port-range: the device program serves no other port, so a
  // nodePort outside it is not installed, and the Service says why.
  uint16_t node_port_min = 1, node_port_max = 65535;
};

// Per Service: frontends sorted (kind, address, port, protocol), each
// frontend's backends sorted and each once. Also the Services not proxied,
// with why (Service::not_proxied), so the CLI can say it.
ServiceTable translate(const Inputs& in);

// At most this many warnings per Service (then one "... and N more").
inline constexpr size_t kMaxWarnings = 8;

}  // namespace myelin::services
