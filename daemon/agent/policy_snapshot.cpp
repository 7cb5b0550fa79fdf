// SPDX-License-Identifier: Apache-2.0
#include "policy_snapshot.hpp"

#include <arpa/inet.h>

namespace myelin::agent {

PolicySnapshot::PolicySnapshot(std::shared_ptr<const PolicyState> policy, std::vector<SnapshotEndpoint> endpoints,
                               std::shared_ptr<const RemoteViews> remote)
    : policy_(policy ? std::move(policy) : std::make_shared<const PolicyState>()), remote_(std::move(remote)) {
  for (auto& ep : endpoints) {
    // A pod with two interfaces is found by its first (the store lists by id).
    by_name_.try_emplace({ep.ns.empty() ? "default" : ep.ns, ep.pod_name}, ep.id);
    if (!ep.ip.empty()) by_ip_.try_emplace(ep.ip, ep.id);
    const uint32_t id = ep.id;
    endpoints_.emplace(id, std::move(ep));
  }
}

const SnapshotEndpoint* PolicySnapshot::endpoint(uint32_t ep_id) const {
  auto it = endpoints_.find(ep_id);
  return it == endpoints_.end() ? nullptr : &it->second;
}

const flows::EndpointView* PolicySnapshot::remote(uint32_t addr) const {
  if (!remote_) return nullptr;
  auto it = remote_->find(addr);
  return it == remote_->end() ? nullptr : &it->second;
}

const SnapshotEndpoint* PolicySnapshot::endpoint(const std::string& ns, const std::string& pod) const {
  auto it = by_name_.find({ns.empty() ? "default" : ns, pod});
  return it == by_name_.end() ? nullptr : endpoint(it->second);
}

const SnapshotEndpoint* PolicySnapshot::endpoint_by_ip(const std::string& ip) const {
  auto it = by_ip_.find(ip);
  return it == by_ip_.end() ? nullptr : endpoint(it->second);
}

const policy::EndpointPolicy* PolicySnapshot::endpoint_policy(uint32_t ep_id) const {
  auto it = policy_->endpoint_policies.find(ep_id);
  return it == policy_->endpoint_policies.end() ? nullptr : it->second.get();
}

const PolicyRef* PolicySnapshot::ref(uint32_t id) const {
  auto it = policy_->refs.find(id);
  return it == policy_->refs.end() ? nullptr : &it->second;
}

std::optional<PolicyRef> PolicySnapshot::policy(uint32_t id) const {
  if (const auto* r = ref(id)) return *r;
  return std::nullopt;
}

std::vector<PolicyRef> PolicySnapshot::selecting(uint32_t ep_id) const {
  std::vector<PolicyRef> out;
  if (const auto* p = endpoint_policy(ep_id))
    for (uint32_t id : p->selected_by)
      if (const auto* r = ref(id)) out.push_back(*r);
  return out;
}

// A node address answers with its own entry; any other address with the
// longest policy CIDR holding it, as the datapath's LPM lookup does.
uint32_t PolicySnapshot::ipblock_identity(uint32_t addr) const {
  if (auto it = policy_->host_ipblock.find(addr); it != policy_->host_ipblock.end()) return it->second;
  const net::Ipv4 ip{ntohl(addr)};
  int best = -1;
  uint32_t id = 0;
  for (const auto& [prefix, identity] : policy_->cidrs)
    if (prefix.contains(ip) && static_cast<int>(prefix.prefix) > best) best = prefix.prefix, id = identity;
  return id;
}

void PolicySnapshot::annotate(const myelin_flow_event& ev, flow::Flow& f) const { annotate_policy(*this, ev, f); }

void annotate_policy(const PolicySnapshot& s, const myelin_flow_event& ev, flow::Flow& f) {
  const bool ingress = ev.direction == MYELIN_DIR_INGRESS;
  auto set = [](flow::Policy* p, const PolicyRef& r) {
    p->set_name(r.name);
    p->set_namespace_(r.ns);
    p->set_kind(r.kind);
    p->set_rule(r.rule);
  };
  const bool policy_drop = ev.drop_reason == MYELIN_DROP_POLICY_DENY || ev.drop_reason == MYELIN_DROP_POLICY_DENIED;
  if (ev.verdict == MYELIN_VERDICT_FORWARDED) {
    // A connection between two local pods passes both the source's egress
    // and the destination's ingress policy: both are named.
    if (ev.egress_policy_id)
      if (const auto* r = s.ref(ev.egress_policy_id)) set(f.add_egress_allowed_by(), *r);
    if (ev.ingress_policy_id)
      if (const auto* r = s.ref(ev.ingress_policy_id)) set(f.add_ingress_allowed_by(), *r);
  } else if ((ev.verdict == MYELIN_VERDICT_DROPPED || ev.verdict == MYELIN_VERDICT_AUDIT) && policy_drop) {
    auto denied = [&] { return ingress ? f.add_ingress_denied_by() : f.add_egress_denied_by(); };
    const uint32_t id = ingress ? ev.ingress_policy_id : ev.egress_policy_id;
    if (ev.drop_reason == MYELIN_DROP_POLICY_DENY && id) {
      if (const auto* r = s.ref(id)) set(denied(), *r);
    } else if (const auto* p = s.endpoint_policy(ingress ? ev.dst_ep : ev.src_ep)) {
      for (uint32_t pid : p->selected_by)
        if (const auto* r = s.ref(pid)) set(denied(), *r);
    }
  }
}

}  // namespace myelin::agent
