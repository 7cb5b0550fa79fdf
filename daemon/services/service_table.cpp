// SPDX-License-Identifier: Apache-2.0
#include "myelin/services/service_table.hpp"

namespace myelin::services {

const char* kind_name(FrontendKind k) {
  switch (k) {
    case FrontendKind::cluster_ip: return "ClusterIP";
    case FrontendKind::node_port: return "NodePort";
    case FrontendKind::external_ip: return "ExternalIP";
    case FrontendKind::load_balancer: return "LoadBalancer";
  }
  return "unknown";
}

const char* state_name(BackendState s) { return s == BackendState::active ? "active" : "terminating"; }

const char* endpoints_from_name(EndpointsFrom e) {
  switch (e) {
    case EndpointsFrom::endpoint_slices: return "EndpointSlice";
    case EndpointsFrom::derived: return "derived";
    case EndpointsFrom::none: return "none";
  }
  return "unknown";
}

}  // namespace myelin::services
