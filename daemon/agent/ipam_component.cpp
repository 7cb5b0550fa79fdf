// SPDX-License-Identifier: Apache-2.0
// IpamComponent: `ipam allocate/release` and the IPAM part of status (apart from the other adapters: it needs no kernel, so it is unit-tested).
#include "agent/components.hpp"
#include "component/status_builder.hpp"
#include "metrics/metric_sink.hpp"
#include "server/router.hpp"

namespace myelin::agent {

using server::error_response;

// ---- IPAM ----

void IpamComponent::routes(server::Router& r) {
  r.add(api::Request::kIpamAllocate, [this](const api::Request& q) { return allocate(q.ipam_allocate()); });
  r.add(api::Request::kIpamRelease, [this](const api::Request& q) { return release(q.ipam_release()); });
}

void IpamComponent::status(component::StatusBuilder& b) const {
  b.out().set_ipam_used(ipam_.used());
  b.out().set_ipam_capacity(ipam_.capacity());
}

api::Response IpamComponent::allocate(const api::IpamAllocateRequest& req) {
  if (req.owner().empty()) return error_response(api::INVALID_ARGUMENT, "IPAM allocate needs an owner");
  auto ip = ipam_.allocate(req.owner());
  if (!ip) {
    if (ip.error().code == ENOSPC)
      return error_response(api::EXHAUSTED, "no free address in pod CIDR " + pod_cidr_.str() + " (" +
                                                std::to_string(ipam_.used()) + " of " + std::to_string(ipam_.capacity()) + " in use)");
    return error_response(api::INTERNAL, ip.error().message);
  }
  api::Response r;
  auto* a = r.mutable_ipam_allocate();
  a->set_ip(ip->str());
  a->set_prefix_len(32);
  a->set_gateway(MYELIN_GATEWAY_IPV4);
  a->set_pod_cidr(pod_cidr_.str());
  a->set_device_mtu(device_mtu_);
  a->set_route_mtu(route_mtu_);
  return r;
}

api::Response IpamComponent::release(const api::IpamReleaseRequest& req) {
  if (auto s = ipam_.release(req.owner()); !s) return error_response(api::INTERNAL, s.error().message);
  api::Response r;
  r.mutable_empty();
  return r;
}

}  // namespace myelin::agent
