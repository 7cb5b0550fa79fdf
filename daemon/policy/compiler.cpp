// SPDX-License-Identifier: Apache-2.0
#include "myelin/policy/compiler.hpp"

#include <algorithm>

#include "myelin/abi/net.h"
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

// Whether a peer selects an identity, and by which of its CIDRs (1-based; 0:
// by selector or entity).
struct PeerMatch {
  bool hit = false;
  uint16_t cidr = 0;
};

PeerMatch peer_match(const Peer& peer, const NetworkPolicy& p, const IdentityView& id,
                     const std::map<std::string, Namespace>& namespaces) {
  switch (id.kind) {
    case IdentityView::Kind::pod:
      if (!peer.pods && !peer.namespaces && !peer.any_namespace) break;
      if (!selects_namespace(peer, p, id, namespaces)) break;
      if (peer.pods && !peer.pods->matches(id.labels)) break;
      return {true, 0};
    case IdentityView::Kind::cidr:
      for (size_t i = 0; i < peer.cidrs.size(); ++i) {
        const auto& c = peer.cidrs[i];
        if (!id.cidrs.count(c.cidr)) continue;
        bool excluded = std::any_of(c.except.begin(), c.except.end(), [&](const std::string& e) { return id.cidrs.count(e) > 0; });
        if (!excluded) return {true, static_cast<uint16_t>(i + 1)};
      }
      break;
    case IdentityView::Kind::reserved:
      break;
  }
  for (const auto& e : peer.entities) {
    if (e == "all") return {true, 0};
    if (e == "world" && (id.reserved == "world" || id.kind == IdentityView::Kind::cidr)) return {true, 0};
    if (e == "host" && id.reserved == "host") return {true, 0};
    if (e == "remote-node" && id.reserved == "remote-node") return {true, 0};
    if (e == "cluster" && (id.kind == IdentityView::Kind::pod || id.reserved == "host" || id.reserved == "remote-node"))
      return {true, 0};
  }
  // A CIDR peer also covers world-addressed traffic when it is 0.0.0.0/0.
  if (id.reserved == "world")
    for (size_t i = 0; i < peer.cidrs.size(); ++i)
      if (peer.cidrs[i].cidr == "0.0.0.0/0" && peer.cidrs[i].except.empty()) return {true, static_cast<uint16_t>(i + 1)};
  return {};
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

Decision evaluate(const EndpointPolicy& ep, uint8_t dir, uint32_t remote, uint8_t proto, uint16_t port,
                  uint32_t remote_ipblock) {
  const Entry *allow = nullptr, *by_address = nullptr;
  const uint32_t tagged = remote_ipblock && remote_ipblock != remote ? remote_ipblock | MYELIN_IDENTITY_IPBLOCK : 0;
  for (const auto& e : ep.entries) {
    if (e.dir != dir || (e.proto && e.proto != proto) || port < e.lo || port > e.hi) continue;
    if (tagged && e.identity == tagged && !e.deny) {
      if (!by_address) by_address = &e;
      continue;
    }
    if (e.identity && e.identity != remote) continue;
    if (e.deny) return {Decision::Kind::denied_by_rule, &e};  // deny wins
    if (!allow) allow = &e;
  }
  if (allow) return {Decision::Kind::allowed_by_rule, allow};
  if (by_address) return {Decision::Kind::allowed_by_rule, by_address};
  const bool enforced = dir == MYELIN_DIR_INGRESS ? ep.ingress_enforced : ep.egress_enforced;
  return {enforced ? Decision::Kind::denied_by_default : Decision::Kind::allowed_not_enforced, nullptr};
}

bool fallback_widens(const EndpointPolicy& ep, Remote meant, Remote got) {
  if (meant.identity == got.identity && meant.ipblock == got.ipblock) return false;
  auto applies = [](const Entry& e, Remote r) {
    return !e.identity || e.identity == r.identity || (r.ipblock && e.identity == (r.ipblock | MYELIN_IDENTITY_IPBLOCK));
  };
  for (uint8_t dir : {uint8_t{MYELIN_DIR_INGRESS}, uint8_t{MYELIN_DIR_EGRESS}}) {
    // Where a decision can change: the protocols and port edges of the
    // entries that apply to either remote, plus one protocol none names.
    std::set<uint8_t> protos{255};
    std::set<uint32_t> ports{0};
    for (const auto& e : ep.entries) {
      if (e.dir != dir || !(applies(e, meant) || applies(e, got))) continue;
      if (e.proto) protos.insert(e.proto);
      ports.insert(e.lo);
      if (e.hi < 65535) ports.insert(e.hi + 1u);
    }
    for (uint8_t proto : protos)
      for (uint32_t port : ports) {
        const auto p = static_cast<uint16_t>(port);
        if (evaluate(ep, dir, got.identity, proto, p, got.ipblock).allowed() &&
            !evaluate(ep, dir, meant.identity, proto, p, meant.ipblock).allowed())
          return true;
      }
  }
  return false;
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

std::string rule_text(const NetworkPolicy& p, const Entry& e) {
  const auto& rules = e.dir == MYELIN_DIR_INGRESS ? p.ingress : p.egress;
  if (e.rule == 0 || e.rule > rules.size()) return "";
  const Rule& r = rules[e.rule - 1];
  std::string out = r.field;
  if (e.peer == 0 || e.peer > r.peers.size()) return out;
  const Peer& peer = r.peers[e.peer - 1];
  out += "." + peer.field;
  if (e.cidr == 0 || e.cidr > peer.cidrs.size()) return out;
  const Cidr& c = peer.cidrs[e.cidr - 1];
  if (!peer.ipblock && peer.cidrs.size() > 1) out += "[" + std::to_string(e.cidr - 1) + "]";
  out += std::string(": ") + (peer.ipblock ? "ipBlock " : "") + c.cidr;
  for (size_t i = 0; i < c.except.size(); ++i) out += (i ? ", " : " except ") + c.except[i];
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
        const uint16_t rule_no = static_cast<uint16_t>(&rule - rules->data() + 1);
        // clang 14 cannot capture a structured binding: dir is copied.
        auto add = [&, dir = dir](uint32_t identity, const std::vector<NamedPort>& port_owner, uint16_t peer_no, uint16_t cidr_no) {
          std::vector<std::tuple<uint8_t, uint16_t, uint16_t>> ranges;
          if (rule.ports.empty()) ranges.emplace_back(0, 0, 65535);
          for (const auto& pr : rule.ports) {
            auto r = resolve_ports(pr, port_owner);
            ranges.insert(ranges.end(), r.begin(), r.end());
          }
          for (auto [proto, lo, hi] : ranges)
            out.entries.push_back(Entry{rule.deny, dir, proto, lo, hi, identity, pid, p.audit, rule_no, peer_no, cidr_no});
        };
        // Ingress: named ports are the local pod's; egress: the peer's.
        if (rule.all_peers) {
          add(MYELIN_IDENTITY_ANY, dir == MYELIN_DIR_INGRESS ? ep.ports : std::vector<NamedPort>{}, 0, 0);
          if (dir == MYELIN_DIR_EGRESS)  // named ports of every peer that has them
            for (const auto& id : identities)
              for (const auto& pr : rule.ports)
                if (!pr.name.empty())
                  for (auto [proto, lo, hi] : resolve_ports(pr, id.ports))
                    out.entries.push_back(Entry{rule.deny, dir, proto, lo, hi, id.id, pid, p.audit, rule_no, 0, 0});
          continue;
        }
        for (const auto& id : identities) {
          const auto& port_owner = dir == MYELIN_DIR_INGRESS ? ep.ports : id.ports;
          for (size_t j = 0; j < rule.peers.size(); ++j)  // the first peer that selects it names the entry
            if (auto m = peer_match(rule.peers[j], p, id, namespaces); m.hit) {
              add(id.id, port_owner, static_cast<uint16_t>(j + 1), m.cidr);
              break;
            }
          // NetworkPolicy ipBlock selects pods and nodes too, by address: an
          // entry for the CIDR identity tagged MYELIN_IDENTITY_IPBLOCK, which
          // the datapath looks up with the ipcache's ipblock_identity of the
          // remote address (the longest policy CIDR holding it) once the
          // remote's own identity found no allow. Per address, not per pod
          // identity: an identity whose pods lie partly inside the block
          // would otherwise be allowed whole (fail open) or not at all, and a
          // pod added later would be wrong until the next compilation; the
          // LPM answers for every address at the packet, with except holes
          // as their own, longer prefixes. The pod keeps its identity for
          // label rules and flows. Deny rules (CNP only) get no such entry.
          // Named egress ports resolve against the destination pod, unknown
          // here: they match nothing by address (fail closed).
          if (id.kind != IdentityView::Kind::cidr || rule.deny || (id.id & MYELIN_IDENTITY_IPBLOCK)) continue;
          for (size_t j = 0; j < rule.peers.size(); ++j) {
            if (!rule.peers[j].ipblock) continue;
            if (auto m = peer_match(rule.peers[j], p, id, namespaces); m.hit && m.cidr) {
              add(id.id | MYELIN_IDENTITY_IPBLOCK, dir == MYELIN_DIR_INGRESS ? ep.ports : std::vector<NamedPort>{},
                  static_cast<uint16_t>(j + 1), m.cidr);
              break;
            }
          }
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
