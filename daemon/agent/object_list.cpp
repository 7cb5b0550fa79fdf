// SPDX-License-Identifier: Apache-2.0
#include "object_list.hpp"

#include "refusals.hpp"
#include "server/router.hpp"

namespace myelin::agent {
namespace {

void labels(const policy::Labels& from, google::protobuf::Map<std::string, std::string>* to) {
  for (const auto& [k, v] : from) (*to)[k] = v;
}

}  // namespace

void to_proto(const objects::Service& s, api::ServiceInfo* out) {
  out->set_namespace_(s.ns);
  out->set_name(s.name);
  out->set_type(objects::type_name(s.type));
  for (const auto& ip : s.cluster_ips) out->add_cluster_ips(ip);
  out->set_headless(s.headless);
  for (const auto& p : s.ports) {
    auto* o = out->add_ports();
    o->set_name(p.name);
    o->set_protocol(objects::protocol_name(p.proto));
    o->set_port(p.port);
    o->set_target_port(p.target.name.empty() ? std::to_string(p.target.number) : p.target.name);
    o->set_node_port(p.node_port);
  }
  labels(s.selector, out->mutable_selector());
  out->set_session_affinity(s.client_ip_affinity ? "ClientIP" : "None");
  out->set_affinity_timeout_seconds(s.affinity_timeout_s);
  out->set_external_traffic_policy(s.external_local ? "Local" : "Cluster");
  out->set_internal_traffic_policy(s.internal_local ? "Local" : "Cluster");
  out->set_proxy_name(s.proxy_name);
  out->set_external_name(s.external_name);
  for (const auto& ip : s.external_ips) out->add_external_ips(ip);
  out->set_publish_not_ready_addresses(s.publish_not_ready);
  for (const auto& i : s.lb_ingress)
    if (!i.ip.empty()) out->add_load_balancer_ingress(i.ip);
  labels(s.labels, out->mutable_labels());
  out->set_source(s.source);
}

namespace {

void to_proto(const objects::EndpointSlice& s, api::EndpointSliceInfo* out) {
  out->set_namespace_(s.ns);
  out->set_name(s.name);
  out->set_service(s.service);
  out->set_address_type(objects::address_type_name(s.address_type));
  for (const auto& e : s.endpoints) {
    auto* o = out->add_endpoints();
    for (const auto& a : e.addresses) o->add_addresses(a);
    o->set_ready(e.ready);
    o->set_serving(e.serving);
    o->set_terminating(e.terminating);
    o->set_node_name(e.node_name);
    if (!e.target_name.empty())
      o->set_target(e.target_kind + " " + (e.target_ns.empty() ? "" : e.target_ns + "/") + e.target_name);
    o->set_hostname(e.hostname);
    o->set_zone(e.zone);
  }
  for (const auto& p : s.ports) {
    auto* o = out->add_ports();
    o->set_name(p.name);
    o->set_protocol(objects::protocol_name(p.proto));
    o->set_port(p.port.value_or(0));
  }
  labels(s.labels, out->mutable_labels());
  out->set_source(s.source);
}

void to_proto(const objects::Node& n, api::NodeInfo* out) {
  out->set_name(n.name);
  for (const auto& a : n.internal_ips) out->add_internal_ips(a);
  for (const auto& a : n.external_ips) out->add_external_ips(a);
  for (const auto& c : n.pod_cidrs) out->add_pod_cidrs(c);
  labels(n.labels, out->mutable_labels());
  out->set_source(n.source);
}

}  // namespace

api::Response object_list(const objects::ObjectStore& store, const api::ObjectListRequest& req) {
  api::Response r;
  const auto* k = objects::find_kind(req.kind());
  if (!k || (k->kind != objects::Kind::service && k->kind != objects::Kind::endpoint_slice && k->kind != objects::Kind::node)) {
    r.mutable_error()->set_code(api::INVALID_ARGUMENT);
    r.mutable_error()->set_message("object list: kind must be Service, EndpointSlice or Node, not '" + req.kind() + "'");
    return r;
  }
  auto* out = r.mutable_objects();
  if (k->kind == objects::Kind::service) store.each<objects::Service>([&](const auto& s) { to_proto(s, out->add_services()); });
  if (k->kind == objects::Kind::endpoint_slice)
    store.each<objects::EndpointSlice>([&](const auto& s) { to_proto(s, out->add_endpoint_slices()); });
  if (k->kind == objects::Kind::node) store.each<objects::Node>([&](const auto& n) { to_proto(n, out->add_nodes()); });
  for (const auto& s : store.sources(objects::Part::objects))
    if (!s.ok && s.refusal.kind == k->name) agent::to_proto(s.refusal, out->add_refused());
  return r;
}

void ObjectsComponent::routes(server::Router& r) {
  r.add(api::Request::kObjectList, [this](const api::Request& q) { return object_list(store_, q.object_list()); });
}

}  // namespace myelin::agent
