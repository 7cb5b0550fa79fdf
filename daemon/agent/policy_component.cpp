// SPDX-License-Identifier: Apache-2.0
#include "agent/policy_component.hpp"

#include <algorithm>

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

api::Response PolicyComponent::trace(const api::PolicyTraceRequest& req) const {
  // Endpoints, identities and policy from one snapshot: never a mix of two
  // regenerations, never a wait on one.
  const auto snap = policies_.snapshot();
  auto find = [&](const std::string& who) {
    auto slash = who.find('/');
    std::string ns = slash == std::string::npos ? "default" : who.substr(0, slash);
    std::string pod = slash == std::string::npos ? who : who.substr(slash + 1);
    return snap->endpoint(ns, pod);
  };
  auto from = find(req.from()), to = find(req.to());
  if (!from) return error_response(api::NOT_FOUND, "no endpoint " + req.from() + " on this node");
  if (!to) return error_response(api::NOT_FOUND, "no endpoint " + req.to() + " on this node");
  static const std::map<std::string, uint8_t> protos = {{"tcp", 6}, {"udp", 17}, {"sctp", 132}, {"icmp", 1}};
  auto proto = protos.find(req.protocol().empty() ? "tcp" : req.protocol());
  if (proto == protos.end()) return error_response(api::INVALID_ARGUMENT, "protocol must be tcp, udp, sctp or icmp");
  if (req.port() > 65535) return error_response(api::INVALID_ARGUMENT, "port must be 0-65535");
  auto explain = [&](const SnapshotEndpoint& ep, uint8_t dir, const SnapshotEndpoint& peer) {
    const auto* p = snap->endpoint_policy(ep.id);
    policy::EndpointPolicy none;
    auto addr = net::parse_ipv4(peer.ip);
    const uint32_t by_address = addr ? snap->ipblock_identity(addr->network_order()) : 0;
    auto d = policy::evaluate(p ? *p : none, dir, peer.identity, proto->second, static_cast<uint16_t>(req.port()),
                              by_address);
    std::string who = (dir == MYELIN_DIR_INGRESS ? "ingress of " : "egress of ") + ep.ns + "/" + ep.pod_name;
    switch (d.kind) {
      case policy::Decision::Kind::allowed_by_rule: return std::pair{true, who + ": allowed by " + entry_text(*d.entry, *snap)};
      case policy::Decision::Kind::allowed_not_enforced: return std::pair{true, who + ": allowed (no policy selects it in this direction)"};
      case policy::Decision::Kind::denied_by_rule: return std::pair{false, who + ": denied by " + entry_text(*d.entry, *snap)};
      case policy::Decision::Kind::denied_by_default: {
        std::string sel;
        for (uint32_t id : p->selected_by) sel += (sel.empty() ? "" : ", ") + ref_text(snap->policy(id));
        return std::pair{false, who + ": denied by default: selected by " + sel + " and no rule allows it"};
      }
    }
    return std::pair{false, who + ": ?"};
  };
  auto [eg_ok, eg] = explain(*from, MYELIN_DIR_EGRESS, *to);
  auto [in_ok, in] = explain(*to, MYELIN_DIR_INGRESS, *from);
  api::Response r;
  auto* t = r.mutable_policy_trace();
  bool audit = false;
  if (const auto* p = snap->endpoint_policy(eg_ok ? to->id : from->id)) audit = p->audit;
  t->set_verdict(eg_ok && in_ok ? "ALLOWED" : audit ? "AUDIT" : "DENIED");
  t->set_egress(eg);
  t->set_ingress(in);
  return r;
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
