// SPDX-License-Identifier: Apache-2.0
#include "myelin/policy/compiler.hpp"

#include <algorithm>

#include "myelin/abi.h"
#include "myelin/net.hpp"

namespace myelin::policy {
namespace {

bool selects_namespace(const Peer& peer, const NetworkPolicy& p, const IdentityView& id,
                       const std::map<std::string, Namespace>& namespaces) {
  if (peer.any_namespace) return true;
  if (peer.namespaces) {
    Labels ns_labels = id.ns_labels;
    ns_labels["kubernetes.io/metadata.name"] = id.ns;
    (void)namespaces;
    return peer.namespaces->matches(ns_labels);
  }
  return id.ns == p.ns;  // a pod selector alone means the policy's namespace
}

bool peer_matches(const Peer& peer, const NetworkPolicy& p, const IdentityView& id,
                  const std::map<std::string, Namespace>& namespaces) {
  switch (id.kind) {
    case IdentityView::Kind::pod:
      if (!peer.pods && !peer.namespaces && !peer.any_namespace) break;
      if (!selects_namespace(peer, p, id, namespaces)) break;
      if (peer.pods && !peer.pods->matches(id.labels)) break;
      return true;
    case IdentityView::Kind::cidr:
      for (const auto& c : peer.cidrs) {
        if (!id.cidrs.count(c.cidr)) continue;
        bool excluded = std::any_of(c.except.begin(), c.except.end(), [&](const std::string& e) { return id.cidrs.count(e) > 0; });
        if (!excluded) return true;
      }
      break;
    case IdentityView::Kind::reserved:
      break;
  }
  for (const auto& e : peer.entities) {
    if (e == "all") return true;
    if (e == "world" && (id.reserved == "world" || id.kind == IdentityView::Kind::cidr)) return true;
    if (e == "host" && id.reserved == "host") return true;
    if (e == "remote-node" && id.reserved == "remote-node") return true;
    if (e == "cluster" && (id.kind == IdentityView::Kind::pod || id.reserved == "host" || id.reserved == "remote-node"))
      return true;
  }
  // A CIDR peer also covers world-addressed traffic when it is 0.0.0.0/0.
  if (id.reserved == "world")
    for (const auto& c : peer.cidrs)
      if (c.cidr == "0.0.0.0/0" && c.except.empty()) return true;
  return false;
}

// The (proto, lo, hi) ranges a port rule stands for, given who owns named ports.
std::vector<std::tuple<uint8_t, uint16_t, uint16_t>> resolve_ports(const PortRule& pr,
                                                                    const std::vector<NamedPort>& owner) {
  std::vector<std::tuple<uint8_t, uint16_t, uint16_t>> out;
  if (!pr.name.empty()) {
    for (const auto& np : owner)
      if (np.name == pr.name && (pr.proto == 0 || pr.proto == np.proto)) out.emplace_back(np.proto, np.port, np.port);
    return out;  // an unknown name matches nothing, as upstream
  }
  if (pr.port == 0) out.emplace_back(pr.proto, 0, 65535);
  else out.emplace_back(pr.proto, pr.port, pr.end_port ? pr.end_port : pr.port);
  return out;
}

}  // namespace

bool Selector::matches(const Labels& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& e : exprs) {
    auto it = labels.find(e.key);
    const bool has = it != labels.end();
    const bool in = has && std::find(e.values.begin(), e.values.end(), it->second) != e.values.end();
    switch (e.op) {
      case Expr::Op::In: if (!in) return false; break;
      case Expr::Op::NotIn: if (in) return false; break;
      case Expr::Op::Exists: if (!has) return false; break;
      case Expr::Op::DoesNotExist: if (has) return false; break;
    }
  }
  return true;
}

Decision evaluate(const EndpointPolicy& ep, uint8_t dir, uint32_t remote, uint8_t proto, uint16_t port) {
  const Entry* allow = nullptr;
  for (const auto& e : ep.entries) {
    if (e.dir != dir || (e.identity && e.identity != remote) || (e.proto && e.proto != proto) || port < e.lo || port > e.hi)
      continue;
    if (e.deny) return {Decision::Kind::denied_by_rule, &e};  // deny wins
    if (!allow) allow = &e;
  }
  if (allow) return {Decision::Kind::allowed_by_rule, allow};
  const bool enforced = dir == MYELIN_DIR_INGRESS ? ep.ingress_enforced : ep.egress_enforced;
  return {enforced ? Decision::Kind::denied_by_default : Decision::Kind::allowed_not_enforced, nullptr};
}

std::set<std::string> referenced_cidrs(const std::vector<NetworkPolicy>& policies) {
  std::set<std::string> out;
  for (const auto& p : policies)
    for (const auto* rules : {&p.ingress, &p.egress})
      for (const auto& r : *rules)
        for (const auto& peer : r.peers)
          for (const auto& c : peer.cidrs) {
            out.insert(c.cidr);
            out.insert(c.except.begin(), c.except.end());
          }
  return out;
}

EndpointPolicy compile(const LocalEndpoint& ep, const std::vector<NetworkPolicy>& policies,
                       const std::vector<IdentityView>& identities, const std::map<std::string, Namespace>& namespaces,
                       bool audit_all) {
  EndpointPolicy out;
  bool all_audit = true;
  for (size_t i = 0; i < policies.size(); ++i) {
    const NetworkPolicy& p = policies[i];
    if (!p.ns.empty() && p.ns != ep.ns) continue;
    if (!p.subject.matches(ep.labels)) continue;
    const uint32_t pid = static_cast<uint32_t>(i + 1);
    out.selected_by.push_back(pid);
    all_audit = all_audit && p.audit;
    if (p.ingress_type) out.ingress_enforced = true;
    if (p.egress_type) out.egress_enforced = true;
    for (const auto& [rules, dir] : {std::pair{&p.ingress, uint8_t{MYELIN_DIR_INGRESS}}, std::pair{&p.egress, uint8_t{MYELIN_DIR_EGRESS}}}) {
      for (const auto& rule : *rules) {
        // Which remote identities, and for each, whose named ports apply.
        std::vector<const IdentityView*> peers;
        if (!rule.all_peers)
          for (const auto& id : identities)
            if (std::any_of(rule.peers.begin(), rule.peers.end(),
                            [&](const Peer& peer) { return peer_matches(peer, p, id, namespaces); }))
              peers.push_back(&id);
        auto add = [&, dir = dir](uint32_t identity, const std::vector<NamedPort>& port_owner) {  // clang 14 cannot capture a binding
          std::vector<std::tuple<uint8_t, uint16_t, uint16_t>> ranges;
          if (rule.ports.empty()) ranges.emplace_back(0, 0, 65535);
          for (const auto& pr : rule.ports) {
            auto r = resolve_ports(pr, port_owner);
            ranges.insert(ranges.end(), r.begin(), r.end());
          }
          for (auto [proto, lo, hi] : ranges)
            out.entries.push_back(Entry{rule.deny, dir, proto, lo, hi, identity, pid, p.audit});
        };
        // Ingress: named ports are the local pod's; egress: the peer's.
        if (rule.all_peers) {
          add(0, dir == MYELIN_DIR_INGRESS ? ep.ports : std::vector<NamedPort>{});
          if (dir == MYELIN_DIR_EGRESS)  // named ports of every peer that has them
            for (const auto& id : identities)
              for (const auto& pr : rule.ports)
                if (!pr.name.empty())
                  for (auto [proto, lo, hi] : resolve_ports(pr, id.ports))
                    out.entries.push_back(Entry{rule.deny, dir, proto, lo, hi, id.id, pid, p.audit});
        } else {
          for (const auto* id : peers) add(id->id, dir == MYELIN_DIR_INGRESS ? ep.ports : id->ports);
        }
      }
    }
  }
  out.audit = audit_all || (!out.selected_by.empty() && all_audit);
  std::sort(out.entries.begin(), out.entries.end());
  out.entries.erase(std::unique(out.entries.begin(), out.entries.end()), out.entries.end());
  return out;
}

}  // namespace myelin::policy
