// SPDX-License-Identifier: Apache-2.0
// The Kubernetes objects the store keeps besides policy's (policy/model.hpp)
// and tracing's (tracing/tracing_policy.hpp): Service (v1), EndpointSlice
// (discovery.k8s.io/v1) and Node (v1), as plain values with the API's
// defaults applied, for the coming Service load balancing and multi-node.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "myelin/policy/model.hpp"

namespace myelin::objects {

// A ServicePort's targetPort: a number, or the name of a container port.
struct TargetPort {
  uint16_t number = 0;  // 0 when it names a port
  std::string name;
  bool operator==(const TargetPort&) const = default;
};

struct ServicePort {
  std::string name;
  uint8_t proto = 6;          // TCP, UDP (17), SCTP (132); the API's default is TCP
  uint16_t port = 0;
  TargetPort target;          // omitted: the same number as port
  uint16_t node_port = 0;     // 0: none (ClusterIP) or not allocated yet
  bool operator==(const ServicePort&) const = default;
};

struct Service {
  enum class Type { cluster_ip, node_port, load_balancer, external_name };
  std::string ns, name;
  policy::Labels labels;
  Type type = Type::cluster_ip;
  std::vector<std::string> cluster_ips;   // clusterIPs (clusterIP first); empty: not allocated yet
  bool headless = false;                  // clusterIP "None"
  std::vector<ServicePort> ports;
  policy::Labels selector;                // empty: endpoints are managed by hand (no selector)
  bool client_ip_affinity = false;        // sessionAffinity ClientIP
  uint32_t affinity_timeout_s = 10800;    // sessionAffinityConfig.clientIP.timeoutSeconds (the API's default)
  bool external_local = false;            // externalTrafficPolicy Local (Cluster otherwise)
  bool internal_local = false;            // internalTrafficPolicy Local (Cluster otherwise)
  std::string external_name;              // type ExternalName
  std::vector<std::string> external_ips;
  // Label service.kubernetes.io/service-proxy-name: another proxy serves it,
  // as kube-proxy skips such a Service.
  std::string proxy_name;
  // spec.publishNotReadyAddresses: endpoints derived from pods are ready
  // whether the pods are or not (as the EndpointSlice controller writes them).
  bool publish_not_ready = false;
  // status.loadBalancer.ingress: the addresses a load balancer gave it.
  struct Ingress {
    std::string ip;                       // "" when the ingress has a hostname only
    bool ip_mode_proxy = false;           // ipMode Proxy: the load balancer proxies, the node is not sent the address
    bool operator==(const Ingress&) const = default;
  };
  std::vector<Ingress> lb_ingress;
  std::string source;                     // file:line it came from
  bool operator==(const Service&) const = default;
};

struct EndpointPort {
  std::string name;
  uint8_t proto = 6;
  std::optional<uint16_t> port;  // unset: every port (EndpointPort.port nil)
  bool operator==(const EndpointPort&) const = default;
};

struct Endpoint {
  std::vector<std::string> addresses;
  // Conditions, with the API's meaning of nil: ready nil is ready, serving
  // nil is as ready, terminating nil is not terminating.
  bool ready = true, serving = true, terminating = false;
  std::string node_name, hostname, zone;
  std::string target_kind, target_ns, target_name;  // targetRef (usually the Pod)
  bool operator==(const Endpoint&) const = default;
};

struct EndpointSlice {
  enum class AddressType { ipv4, ipv6, fqdn };
  std::string ns, name;
  policy::Labels labels;
  std::string service;  // label kubernetes.io/service-name; empty: not a Service's
  AddressType address_type = AddressType::ipv4;
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;
  std::string source;
  bool operator==(const EndpointSlice&) const = default;
};

struct Node {
  std::string name;
  policy::Labels labels;
  std::vector<std::string> internal_ips;  // status.addresses of type InternalIP, in order
  std::vector<std::string> external_ips;  // of type ExternalIP
  std::vector<std::string> pod_cidrs;     // spec.podCIDRs (spec.podCIDR alone when only it is set)
  std::string source;
  bool operator==(const Node&) const = default;
};

const char* type_name(Service::Type t);
const char* address_type_name(EndpointSlice::AddressType t);
const char* protocol_name(uint8_t proto);

}  // namespace myelin::objects
