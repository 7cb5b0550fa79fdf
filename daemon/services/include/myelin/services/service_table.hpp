// SPDX-License-Identifier: Apache-2.0
// What this node must serve for Services: every frontend (address, port,
// protocol, scope) with the backends that take new connections and those
// whose established connections continue, as the Service, EndpointSlice,
// Pod and Node objects in the store say (services/translate.hpp computes it,
// a pure function), and what the load-balancing maps hold (abi/lb.h) once
// written (services/lb_writer.hpp). The one shape both sides, the CLI and
// the metrics share.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "myelin/net.hpp"

namespace myelin::services {

enum class FrontendKind : uint8_t { cluster_ip, node_port, external_ip, load_balancer };
const char* kind_name(FrontendKind k);  // "ClusterIP", "NodePort", "ExternalIP", "LoadBalancer"

// An endpoint's state as kube-proxy reads its EndpointSlice conditions.
enum class BackendState : uint8_t {
  active,       // ready (or, when no endpoint of the port is ready, serving+terminating): new connections
  terminating,  // terminating and not picked: no new connections, established ones continue
};
const char* state_name(BackendState s);  // "active", "terminating"

struct Backend {
  net::Ipv4 addr;
  uint16_t port = 0;     // host order, the resolved targetPort
  uint8_t proto = 6;
  // For clients inside the cluster (pods, the node): the single entry of a
  // frontend, or the INTERNAL one of a two-scope frontend (abi/lb.h).
  BackendState state = BackendState::active;
  bool local = false;    // an endpoint of this node
  bool serving = true, terminating = false;  // the conditions as read (for display)
  std::string pod;       // "ns/name" of the targetRef, "" if none
  // For clients outside the cluster on a frontend with external_local (the
  // EXTERNAL entry of a two-scope frontend): kube-proxy picks that set apart
  // (a local ready endpoint, or when none is, a local serving+terminating
  // one), so a local terminating endpoint may serve outside clients while
  // inside ones go to remote ready ones. Equal to state == active on every
  // other frontend.
  bool external_active = false;
  bool ready = true;     // the ready condition as read (for display)
  auto operator<=>(const Backend&) const = default;
};

// Where a Service's endpoints came from (`myelin service list` shows it).
enum class EndpointsFrom : uint8_t {
  endpoint_slices,  // EndpointSlices (from the API, or written in the manifests)
  derived,          // derived by Myelin from the Pods it knows (a selector, no EndpointSlice)
  none,             // no selector and no EndpointSlice
};
const char* endpoints_from_name(EndpointsFrom e);  // "EndpointSlice", "derived", "none"

struct Frontend {
  FrontendKind kind = FrontendKind::cluster_ip;
  net::Ipv4 addr;
  uint16_t port = 0;          // host order
  uint8_t proto = 6;          // IPPROTO_TCP, _UDP, _SCTP
  std::string port_name;      // the ServicePort's name
  // Traffic policy: external frontends (NodePort, externalIP, LoadBalancer)
  // of externalTrafficPolicy Local serve outside clients from local backends
  // only (and inside clients from all); internalTrafficPolicy Local limits
  // a ClusterIP to local backends.
  bool external_local = false;
  bool internal_local = false;
  bool affinity = false;      // sessionAffinity ClientIP
  uint32_t affinity_timeout_s = 0;
  bool maglev = false;        // outside traffic picks by Maglev (--lb-algorithm maglev)
  std::vector<Backend> backends;  // sorted, each once
  auto operator<=>(const Frontend&) const = default;
};

// A Service, as translated.
struct Service {
  std::string ns, name;
  std::string type;            // the Service's type ("ClusterIP", "NodePort", ...)
  EndpointsFrom endpoints_from = EndpointsFrom::none;
  // Why it is not proxied, "" when it is: "headless", "ExternalName",
  // "service-proxy-name <name>", "no clusterIP".
  std::string not_proxied;
  std::vector<Frontend> frontends;
  std::vector<std::string> warnings;  // e.g. a named targetPort no pod declares
  std::string source;
  auto operator<=>(const Service&) const = default;
};

// Keyed by "ns/name".
using ServiceTable = std::map<std::string, Service>;

// A frontend as the maps number it (its rev_nat_index, in flow events and
// conntrack entries), for flows (destination_service/source_service) and
// `myelin bpf lb list`. The LbWriter publishes a new index after each apply.
struct FrontendRef {
  std::string ns, name;       // the Service
  FrontendKind kind = FrontendKind::cluster_ip;
  net::Ipv4 addr;
  uint16_t port = 0;          // host order
  uint8_t proto = 6;
};
using FrontendIndex = std::map<uint16_t, FrontendRef>;

// Where the ServiceManager hands each new table: the LbWriter, which makes
// the maps hold it (tests record it instead). `all_synced`: every object
// source has listed once; before that, backends restored from the pinned
// maps that the table lacks stay in use (never pruned on a partial view).
class TableSink {
 public:
  virtual ~TableSink() = default;
  virtual void apply(const ServiceTable& table, bool all_synced) = 0;
};

}  // namespace myelin::services
