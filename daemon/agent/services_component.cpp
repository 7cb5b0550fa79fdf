// SPDX-License-Identifier: Apache-2.0
#include "services_component.hpp"

#include <map>
#include <set>
#include <tuple>

#include "component/status_builder.hpp"
#include "metrics/metric_sink.hpp"
#include "myelin/log.hpp"
#include "object_list.hpp"
#include "refusals.hpp"
#include "server/router.hpp"

namespace myelin::agent {
namespace {

// The reason's first word: the label stays bounded whatever proxy name a Service gives.
std::string reason_kind(const std::string& why) {
  return why.rfind("service-proxy-name", 0) == 0 ? "service-proxy-name" : why;
}

struct Counts {
  uint32_t proxied = 0, with_warnings = 0;
  std::map<std::string, uint32_t> not_proxied, by_type, frontends;
  uint32_t active = 0, terminating = 0;
};

Counts count(const services::ServiceTable& t) {
  Counts c;
  std::set<std::tuple<net::Ipv4, uint16_t, uint8_t>> active, terminating;
  for (const auto& [key, s] : t) {
    ++c.by_type[s.type];
    if (!s.warnings.empty()) ++c.with_warnings;
    if (!s.not_proxied.empty()) {
      ++c.not_proxied[reason_kind(s.not_proxied)];
      continue;
    }
    ++c.proxied;
    for (const auto& f : s.frontends) {
      ++c.frontends[services::kind_name(f.kind)];
      for (const auto& b : f.backends)
        (b.state == services::BackendState::active || b.external_active ? active : terminating).insert({b.addr, b.port, b.proto});
    }
  }
  for (const auto& k : active) terminating.erase(k);  // active for one frontend: active
  c.active = static_cast<uint32_t>(active.size());
  c.terminating = static_cast<uint32_t>(terminating.size());
  return c;
}

}  // namespace

std::vector<services::LocalEndpoint> local_endpoints(const endpoints::EndpointStore& store) {
  std::vector<services::LocalEndpoint> out;
  for (const auto& ep : store.list()) {
    auto ip = net::parse_ipv4(ep.ip());
    if (!ip || ep.pod_name().empty()) continue;
    out.push_back({ep.pod_namespace(), ep.pod_name(), *ip, ep.state() == "ready"});
  }
  return out;
}

void to_proto(const services::Service& s, api::ServiceInfo* out) {
  out->set_endpoints_from(services::endpoints_from_name(s.endpoints_from));
  out->set_not_proxied(s.not_proxied);
  for (const auto& w : s.warnings) out->add_warnings(w);
  for (const auto& f : s.frontends) {
    auto* o = out->add_frontends();
    o->set_kind(services::kind_name(f.kind));
    o->set_address(f.addr.str());
    o->set_port(f.port);
    o->set_protocol(objects::protocol_name(f.proto));
    o->set_port_name(f.port_name);
    o->set_external_local(f.external_local);
    o->set_internal_local(f.internal_local);
    o->set_affinity(f.affinity);
    o->set_affinity_timeout_seconds(f.affinity_timeout_s);
    o->set_maglev(f.maglev);
    for (const auto& b : f.backends) {
      auto* ob = o->add_backends();
      ob->set_address(b.addr.str());
      ob->set_port(b.port);
      ob->set_state(services::state_name(b.state));
      ob->set_local(b.local);
      ob->set_ready(b.ready);
      ob->set_serving(b.serving);
      ob->set_terminating(b.terminating);
      ob->set_pod(b.pod);
      ob->set_external_active(b.external_active);
    }
  }
}

api::Response service_list(const services::ServiceManager::Snapshot& snap, const objects::ObjectStore& store,
                           const api::ServiceListRequest& req) {
  api::Response r;
  auto* out = r.mutable_objects();
  const std::string ns = req.namespace_().empty() && !req.name().empty() ? "default" : req.namespace_();
  for (const auto& s : snap.services) {
    if ((!ns.empty() && s.ns != ns) || (!req.name().empty() && s.name != req.name())) continue;
    auto* info = out->add_services();
    to_proto(s, info);
    if (auto it = snap.table.find(s.ns + "/" + s.name); it != snap.table.end()) to_proto(it->second, info);
  }
  if (!req.name().empty() && out->services().empty()) {
    r.mutable_error()->set_code(api::NOT_FOUND);
    r.mutable_error()->set_message("service " + ns + "/" + req.name() + " not found");
    return r;
  }
  for (const auto& s : store.sources(objects::Part::objects))
    if (!s.ok && s.refusal.kind == "Service" && (ns.empty() || s.refusal.ns == ns || s.refusal.ns.empty()))
      agent::to_proto(s.refusal, out->add_refused());
  return r;
}

Status ServicesComponent::start() {
  manager_.start();
  return {};
}

void ServicesComponent::routes(server::Router& r) {
  r.add(api::Request::kServiceList, [this](const api::Request& q) { return service_list(*manager_.snapshot(), store_, q.service_list()); });
}

void ServicesComponent::status(component::StatusBuilder& b) const {
  const auto snap = manager_.snapshot();
  const Counts c = count(snap->table);
  auto* s = b.out().mutable_services();
  s->set_services(static_cast<uint32_t>(snap->table.size()));
  s->set_proxied(c.proxied);
  for (const auto& [why, n] : c.not_proxied) (*s->mutable_not_proxied())[why] = n;
  uint32_t frontends = 0;
  for (const auto& [k, n] : c.frontends) frontends += n;
  s->set_frontends(frontends);
  s->set_backends_active(c.active);
  s->set_backends_terminating(c.terminating);
  s->set_synced(snap->all_synced);
  s->set_generation(snap->generation);
  s->set_warnings(c.with_warnings);
}

void ServicesComponent::collect(metrics::MetricSink& sink) const {
  const auto snap = manager_.snapshot();
  const Counts c = count(snap->table);
  auto svcs = sink.gauge("myelin_services", "Services stored, by type");
  for (const char* t : {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"}) {
    auto it = c.by_type.find(t);
    svcs.add({{"type", t}}, it == c.by_type.end() ? 0 : it->second);
  }
  auto np = sink.gauge("myelin_services_not_proxied", "Services this node does not proxy, by reason");
  for (const char* why : {"headless", "ExternalName", "service-proxy-name", "no clusterIP"}) {
    auto it = c.not_proxied.find(why);
    np.add({{"reason", why}}, it == c.not_proxied.end() ? 0 : it->second);
  }
  auto fe = sink.gauge("myelin_service_frontends", "Service frontends this node serves, by kind");
  for (const char* k : {"ClusterIP", "NodePort", "ExternalIP", "LoadBalancer"}) {
    auto it = c.frontends.find(k);
    fe.add({{"kind", k}}, it == c.frontends.end() ? 0 : it->second);
  }
  sink.gauge("myelin_service_backends", "Distinct Service backends (address, port, protocol), by state: active takes new connections, "
                                        "terminating keeps its established ones")
      .add({{"state", "active"}}, c.active)
      .add({{"state", "terminating"}}, c.terminating);
  sink.counter("myelin_service_table_computations_total", "Times the ServiceTable was recomputed from the objects and endpoints")
      .add({}, static_cast<double>(manager_.computations()));
  sink.gauge("myelin_service_table_generation", "ServiceTables handed to the load-balancing maps' writer").add({}, static_cast<double>(snap->generation));
  sink.gauge("myelin_services_with_warnings", "Services whose translation has a warning (myelin service get shows it)").add({}, c.with_warnings);
}

void LoggingSink::apply(const services::ServiceTable& table, bool all_synced) {
  size_t frontends = 0, backends = 0;
  for (const auto& [k, s] : table)
    for (const auto& f : s.frontends) ++frontends, backends += f.backends.size();
  log::info("services", std::to_string(table.size()) + " services, " + std::to_string(frontends) + " frontends, " +
                            std::to_string(backends) + " backend slots" + (all_synced ? "" : " (sources not all synced)") +
                            "; no load-balancing maps writer yet");
}

}  // namespace myelin::agent
