// SPDX-License-Identifier: Apache-2.0
#include "agent/policy_component.hpp"

#include <algorithm>
#include <set>

#include "agent/refusals.hpp"
#include "component/status_builder.hpp"
#include "metrics/metric_sink.hpp"
#include "myelin/abi/net.hpp"
#include "myelin/net.hpp"
#include "server/router.hpp"
#include "tracing/tracing_manager.hpp"

namespace myelin::agent {

using server::error_response;

namespace {
std::string proto_name(uint8_t p) {
  switch (p) {
    case 0: return "any";
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 132: return "sctp";
  }
  return std::to_string(p);
}
std::string ref_text(const std::optional<PolicyRef>& r) {
  if (!r) return "?";
  return r->kind + " " + (r->ns.empty() ? "" : r->ns + "/") + r->name;
}
std::string rule_ref_text(const std::optional<PolicyRef>& r) {
  return ref_text(r) + (r && !r->rule.empty() ? ": " + r->rule : "");
}
std::string entry_text(const policy::Entry& e, const PolicySnapshot& snap) {
  std::string ports = e.lo == 0 && e.hi == 65535 ? "any port" : e.lo == e.hi ? std::to_string(e.lo) : std::to_string(e.lo) + "-" + std::to_string(e.hi);
  std::string who = e.identity == MYELIN_IDENTITY_ANY ? "any identity"
                    : e.identity & MYELIN_IDENTITY_IPBLOCK
                        ? "addresses of identity " + std::to_string(e.identity & ~MYELIN_IDENTITY_IPBLOCK)
                        : "identity " + std::to_string(e.identity);
  return std::string(e.dir == MYELIN_DIR_INGRESS ? "ingress " : "egress ") + (e.deny ? "deny " : "allow ") +
         proto_name(e.proto) + "/" + ports + (e.dir == MYELIN_DIR_INGRESS ? " from " : " to ") + who + " (" +
         (e.policy ? rule_ref_text(snap.policy(e.policy)) : "allow-localhost: the node reaches its pods") + ")" +
         (e.audit ? " [audit]" : "");
}
}  // namespace

void fill_policy(const PolicyManager& policies_, api::Endpoint& ep) {
  const auto snap = policies_.snapshot();  // one regeneration's policy, whole
  const auto* p = snap->endpoint_policy(ep.id());
  if (!p) return;
  auto* out = ep.mutable_policy();
  out->set_ingress_enforced(p->ingress_enforced);
  out->set_egress_enforced(p->egress_enforced);
  out->set_audit(p->audit);
  for (uint32_t id : p->selected_by) out->add_selected_by(ref_text(snap->policy(id)));
  for (const auto& e : p->entries) out->add_rules(entry_text(e, *snap));
}

api::Response PolicyComponent::list(const api::PolicyListRequest& req) const {
  api::Response r;
  auto* list = r.mutable_policies();
  std::map<uint32_t, std::vector<uint32_t>> selected;
  for (const auto& ep : store_.list())
    if (auto p = policies_.endpoint_policy(ep.id()))
      for (uint32_t id : p->selected_by) selected[id].push_back(ep.id());
  for (const auto& [id, p] : policies_.policies()) {
    if (!req.namespace_().empty() && p.ns != req.namespace_()) continue;
    if (!req.name().empty() && p.name != req.name()) continue;
    auto* info = list->add_policies();
    info->set_kind(p.kind);
    info->set_namespace_(p.ns);
    info->set_name(p.name);
    info->set_id(id);
    info->set_source(p.source);
    info->set_audit(p.audit);
    info->set_ingress(p.ingress_type);
    info->set_egress(p.egress_type);
    info->set_ingress_rules(static_cast<uint32_t>(p.ingress.size()));
    info->set_egress_rules(static_cast<uint32_t>(p.egress.size()));
    for (uint32_t ep : selected[id]) info->add_endpoints(ep);
    info->set_state("enabled");
  }
  // Refused sources, as policies in state error (the document at fault; its
  // namespace and name unknown when the YAML does not parse, so always listed).
  for (const auto& src : policies_.sources()) {
    if (src.ok) continue;
    const auto& r = src.refusal;
    list->add_errors(src.error);
    if (!req.namespace_().empty() && !r.ns.empty() && r.ns != req.namespace_()) continue;
    if (!req.name().empty() && r.name != req.name()) continue;
    auto* info = list->add_policies();
    info->set_kind(r.kind);
    info->set_namespace_(r.ns);
    info->set_name(r.name);
    info->set_source(r.source + (r.line ? ":" + std::to_string(r.line) : ""));
    info->set_state("error");
    to_proto(r, info->mutable_refusal());
  }
  if (!req.name().empty() && list->policies_size() == 0)
    return error_response(api::NOT_FOUND, "no policy " + (req.namespace_().empty() ? "" : req.namespace_() + "/") + req.name());
  return r;
}

api::Response PolicyComponent::identity_list() const {
  api::Response r;
  for (const auto& [id, name] : abi::kReservedIdentities) {
    auto* i = r.mutable_identities()->add_identities();
    i->set_id(id);
    i->set_kind("reserved");
    i->add_labels(std::string("reserved:") + name);
  }
  for (const auto& [id, labels] : policies_.identities()) {
    auto* i = r.mutable_identities()->add_identities();
    i->set_id(id);
    bool cidr = std::any_of(labels.begin(), labels.end(), [](const std::string& l) { return l.rfind("cidr:", 0) == 0; });
    i->set_kind(cidr ? "cidr" : "pod");
    for (const auto& l : labels) i->add_labels(l);
  }
  return r;
}

namespace {

std::string verdict_of(bool egress_ok, bool ingress_ok, const PolicySnapshot& snap, uint32_t from_id, uint32_t to_id) {
  if (egress_ok && ingress_ok) return "ALLOWED";
  bool audit = false;
  if (const auto* p = snap.endpoint_policy(egress_ok ? to_id : from_id)) audit = p->audit;
  return audit ? "AUDIT" : "DENIED";
}

// How `ep`'s policy in direction `dir` decides a new connection with `peer`
// on proto/port, and the text that says why.
std::pair<bool, std::string> explain(const PolicySnapshot& snap, const SnapshotEndpoint& ep, uint8_t dir,
                                     const SnapshotEndpoint& peer, uint8_t proto, uint16_t port) {
  const auto* p = snap.endpoint_policy(ep.id);
  policy::EndpointPolicy none;
  auto addr = net::parse_ipv4(peer.ip);
  const uint32_t by_address = addr ? snap.ipblock_identity(addr->network_order()) : 0;
  auto d = policy::evaluate(p ? *p : none, dir, peer.identity, proto, port, by_address);
  std::string who = (dir == MYELIN_DIR_INGRESS ? "ingress of " : "egress of ") + ep.ns + "/" + ep.pod_name;
  switch (d.kind) {
    case policy::Decision::Kind::allowed_by_rule: return {true, who + ": allowed by " + entry_text(*d.entry, snap)};
    case policy::Decision::Kind::allowed_not_enforced: return {true, who + ": allowed (no policy selects it in this direction)"};
    case policy::Decision::Kind::denied_by_rule: return {false, who + ": denied by " + entry_text(*d.entry, snap)};
    case policy::Decision::Kind::denied_by_default: {
      std::string sel;
      for (uint32_t id : p->selected_by) sel += (sel.empty() ? "" : ", ") + ref_text(snap.policy(id));
      return {false, who + ": denied by default: selected by " + sel + " and no rule allows it"};
    }
  }
  return {false, who + ": ?"};
}

const SnapshotEndpoint* find_endpoint(const PolicySnapshot& snap, const std::string& who) {
  auto slash = who.find('/');
  std::string ns = slash == std::string::npos ? "default" : who.substr(0, slash);
  std::string pod = slash == std::string::npos ? who : who.substr(slash + 1);
  return snap.endpoint(ns, pod);
}

// The frontend a pod reaching the Service on port/proto is translated by:
// its ClusterIP, else a LoadBalancer or external IP, else a NodePort of that
// number (pods reach those too, with all backends: externalTrafficPolicy
// limits only traffic from outside).
const services::Frontend* pick_frontend(const services::Service& svc, uint16_t port, uint8_t proto) {
  const services::Frontend* best = nullptr;
  auto rank = [](services::FrontendKind k) {
    switch (k) {
      case services::FrontendKind::cluster_ip: return 0;
      case services::FrontendKind::load_balancer: return 1;
      case services::FrontendKind::external_ip: return 2;
      case services::FrontendKind::node_port: return 3;
    }
    return 4;
  };
  for (const auto& fe : svc.frontends)
    if (fe.port == port && fe.proto == proto && (!best || rank(fe.kind) < rank(best->kind))) best = &fe;
  return best;
}

api::Response trace_service(const PolicySnapshot& snap, const services::ServiceTable* table, const SnapshotEndpoint& from,
                            const api::PolicyTraceRequest& req, uint8_t proto) {
  if (!table) return error_response(api::NOT_READY, "Services are not served by this agent (no service table)");
  std::string key = req.to_service();
  if (key.find('/') == std::string::npos) key = "default/" + key;
  auto it = table->find(key);
  if (it == table->end()) return error_response(api::NOT_FOUND, "no Service " + key);
  const services::Service& svc = it->second;
  if (!svc.not_proxied.empty())
    return error_response(api::NOT_FOUND, "Service " + key + " is not proxied (" + svc.not_proxied + "): there is no translation to trace");
  const auto* fe = pick_frontend(svc, static_cast<uint16_t>(req.port()), proto);
  if (!fe) {
    std::string ports;
    for (const auto& f : svc.frontends)
      ports += (ports.empty() ? "" : ", ") + std::to_string(f.port) + "/" + proto_name(f.proto) + " (" + services::kind_name(f.kind) + ")";
    return error_response(api::NOT_FOUND, "Service " + key + " has no port " + std::to_string(req.port()) + "/" + proto_name(proto) +
                                              (ports.empty() ? " (it has no frontends)" : " (its ports: " + ports + ")"));
  }
  api::Response r;
  auto* t = r.mutable_policy_trace();
  t->set_service(key);
  t->set_frontend(std::string(services::kind_name(fe->kind)) + " " + fe->addr.str() + ":" + std::to_string(fe->port) + "/" +
                  proto_name(fe->proto) + (fe->internal_local && fe->kind == services::FrontendKind::cluster_ip ? " (internalTrafficPolicy Local)" : ""));
  std::set<std::string> verdicts;
  for (const auto& be : fe->backends) {
    auto* b = t->add_backends();
    const std::string addr = be.addr.str();
    b->set_address(addr + ":" + std::to_string(be.port));
    const SnapshotEndpoint* ep = snap.endpoint_by_ip(addr);
    b->set_pod(ep ? ep->ns + "/" + ep->pod_name : be.pod);
    if (be.state != services::BackendState::active) {
      b->set_state("terminating");
      b->set_verdict("SKIPPED");
      b->set_egress("takes no new connections (terminating); its established connections continue");
      continue;
    }
    if (fe->internal_local && fe->kind == services::FrontendKind::cluster_ip && !be.local) {
      b->set_state("not-local");
      b->set_verdict("SKIPPED");
      b->set_egress("not picked: internalTrafficPolicy Local sends pods to this node's backends only");
      continue;
    }
    b->set_state("active");
    if (!ep) {
      b->set_verdict("UNKNOWN");
      b->set_egress("not traced: " + addr + " is not an endpoint of this node (its node decides its ingress)");
      verdicts.insert("UNKNOWN");
      continue;
    }
    // Policy meets the connection after translation: the backend's identity and its port.
    auto [eg_ok, eg] = explain(snap, from, MYELIN_DIR_EGRESS, *ep, proto, be.port);
    auto [in_ok, in] = explain(snap, *ep, MYELIN_DIR_INGRESS, from, proto, be.port);
    if (ep->id == from.id) in += " (hairpin: the source reaches itself, from the service-loopback address)";
    b->set_verdict(verdict_of(eg_ok, in_ok, snap, from.id, ep->id));
    b->set_egress(eg);
    b->set_ingress(in);
    verdicts.insert(b->verdict());
  }
  if (verdicts.empty()) {
    t->set_verdict("NO_BACKENDS");
    t->set_note("no backend takes new connections: a connection is refused (TCP RST or ICMP port unreachable; ECONNREFUSED on "
                "the socket path), drop reason SERVICE_BACKEND_NOT_FOUND");
  } else if (verdicts.size() == 1) {
    t->set_verdict(*verdicts.begin());
  } else {
    t->set_verdict("MIXED");
    t->set_note("the verdict depends on the backend a connection is given");
  }
  return r;
}

}  // namespace

api::Response trace_policy(const PolicySnapshot& snap, const services::ServiceTable* services, const api::PolicyTraceRequest& req) {
  static const std::map<std::string, uint8_t> protos = {{"tcp", 6}, {"udp", 17}, {"sctp", 132}, {"icmp", 1}};
  auto proto = protos.find(req.protocol().empty() ? "tcp" : req.protocol());
  if (proto == protos.end()) return error_response(api::INVALID_ARGUMENT, "protocol must be tcp, udp, sctp or icmp");
  if (req.port() > 65535) return error_response(api::INVALID_ARGUMENT, "port must be 0-65535");
  if (!req.to().empty() && !req.to_service().empty()) return error_response(api::INVALID_ARGUMENT, "give either to or to_service, not both");
  auto from = find_endpoint(snap, req.from());
  if (!from) return error_response(api::NOT_FOUND, "no endpoint " + req.from() + " on this node");
  if (!req.to_service().empty()) {
    if (proto->second == 1) return error_response(api::INVALID_ARGUMENT, "Services translate tcp, udp and sctp, not icmp");
    return trace_service(snap, services, *from, req, proto->second);
  }
  auto to = find_endpoint(snap, req.to());
  if (!to) return error_response(api::NOT_FOUND, "no endpoint " + req.to() + " on this node");
  auto [eg_ok, eg] = explain(snap, *from, MYELIN_DIR_EGRESS, *to, proto->second, static_cast<uint16_t>(req.port()));
  auto [in_ok, in] = explain(snap, *to, MYELIN_DIR_INGRESS, *from, proto->second, static_cast<uint16_t>(req.port()));
  api::Response r;
  auto* t = r.mutable_policy_trace();
  t->set_verdict(verdict_of(eg_ok, in_ok, snap, from->id, to->id));
  t->set_egress(eg);
  t->set_ingress(in);
  return r;
}

api::Response PolicyComponent::trace(const api::PolicyTraceRequest& req) const {
  // Endpoints, identities and policy from one snapshot (and Services from
  // one table): never a mix of two regenerations, never a wait on one.
  const auto snap = policies_.snapshot();
  const auto table = services_ ? services_() : nullptr;
  return trace_policy(*snap, table.get(), req);
}

void PolicyComponent::routes(server::Router& r) {
  r.add(api::Request::kPolicyList, [this](const api::Request& q) { return list(q.policy_list()); });
  r.add(api::Request::kIdentityList, [this](const api::Request&) { return identity_list(); });
  r.add(api::Request::kPolicyTrace, [this](const api::Request& q) { return trace(q.policy_trace()); });
}

void PolicyComponent::status(component::StatusBuilder& b) const {
  auto& s = b.out();
  s.set_policy_revision(policies_.revision());
  s.set_policies(static_cast<uint32_t>(policies_.policy_count()));
  s.set_policy_entries(policies_.installed_entries());
  for (const auto& f : policies_.failures()) s.add_policy_failures(f);
}

void PolicyComponent::collect(metrics::MetricSink& sink) const {
  sink.gauge("myelin_policy", "Network policies in force on this node").add({}, static_cast<double>(policies_.policy_count()));
  sink.gauge("myelin_identity", "Security identities allocated on this node").add({}, static_cast<double>(identities_.list().size()));
}

void RefusalsComponent::status(component::StatusBuilder& b) const {
  auto& s = b.out();
  const auto refused = refused_policies(policies_, tracing_ ? tracing_() : nullptr);
  s.set_policies_refused(static_cast<uint32_t>(refused.size()));
  for (const auto& r : refused) {
    s.add_policy_errors(r.message());
    to_proto(r, s.add_refused());
  }
}

void RefusalsComponent::collect(metrics::MetricSink& sink) const {
  auto refused = sink.gauge("myelin_policy_refused",
                            "Policies not in force because they were refused, by kind of the document at fault (unknown: the YAML does "
                            "not parse) and cause (decode: the source does not decode; kernel: this kernel cannot load it)");
  for (const auto& [k, n] : count_refused(refused_policies(policies_, tracing_ ? tracing_() : nullptr)))
    refused.add({{"cause", k.second}, {"kind", k.first}}, static_cast<double>(n));
}

}  // namespace myelin::agent
