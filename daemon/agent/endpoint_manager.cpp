// SPDX-License-Identifier: Apache-2.0
#include "endpoint_manager.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "myelin/log.hpp"
#include "myelin/net.hpp"
#include "myelin/netlink.hpp"

namespace myelin::agent {
namespace {

myelin_ep_key ep_key(net::Ipv4 ip) {
  myelin_ep_key k{};
  k.addr = net::to_addr(ip);
  k.family = MYELIN_FAMILY_IPV4;
  return k;
}

// Undo steps run in reverse on failure, so a failed add leaves nothing behind.
class Rollback {
 public:
  ~Rollback() {
    if (!committed_)
      for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) (*it)();
  }
  void push(std::function<void()> f) { steps_.push_back(std::move(f)); }
  void commit() { committed_ = true; }

 private:
  std::vector<std::function<void()>> steps_;
  bool committed_ = false;
};

}  // namespace

EndpointManager::EndpointManager(datapath::Datapath& dp, ipam::Ipam& ipam, endpoints::EndpointStore& store,
                                 identity::Identities& identities, metrics::AgentCounters& counters)
    : dp_(dp), ipam_(ipam), store_(store), identities_(identities), counters_(counters) {}

std::vector<std::string> EndpointManager::identity_labels(const api::Endpoint& ep) {
  std::vector<std::string> labels;
  labels.push_back("k8s:io.kubernetes.pod.namespace=" +
                   (ep.pod_namespace().empty() ? std::string("default") : ep.pod_namespace()));
  for (const auto& l : ep.labels()) labels.push_back(l.rfind("k8s:", 0) == 0 ? l : "k8s:" + l);
  return labels;
}

void EndpointManager::set_label_source(LabelSource s) {
  std::lock_guard lk(mu_);
  label_source_ = std::move(s);
}

std::vector<std::string> EndpointManager::labels_for(const api::Endpoint& ep) const {
  if (label_source_) return label_source_(ep.pod_namespace().empty() ? "default" : ep.pod_namespace(), ep.pod_name());
  return identity_labels(ep);
}

Result<size_t> EndpointManager::relabel_all() {
  std::lock_guard lk(mu_);
  size_t changed = 0;
  for (auto ep : store_.list()) {
    auto labels = labels_for(ep);
    std::vector<std::string> sorted = labels;
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::string> current(ep.labels().begin(), ep.labels().end());
    std::sort(current.begin(), current.end());
    if (sorted == current) continue;
    auto id = identities_.acquire(sorted);
    if (!id) return id.error();
    auto ip = net::parse_ipv4(ep.ip());
    if (!ip) continue;
    if (auto found = dp_.endpoint_get(ep_key(*ip))) {
      myelin_ep_info info = *found;
      info.identity = *id;
      auto s = dp_.endpoint_upsert(ep_key(*ip), info);
      counters_.map_op(MYELIN_MAP_ENDPOINTS, "update", s.ok());
      if (!s) return s.error();
    }
    uint32_t old = ep.identity();
    ep.set_identity(*id);
    ep.clear_labels();
    for (const auto& l : sorted) ep.add_labels(l);
    if (auto s = store_.upsert(ep); !s) return s.error();
    if (old) (void)identities_.release(old);
    log::info("endpoints", "endpoint " + std::to_string(ep.id()) + " " + ep.pod_namespace() + "/" + ep.pod_name() +
                               " now has identity " + std::to_string(*id) + " (labels changed)");
    ++changed;
  }
  return changed;
}

Status EndpointManager::set_policy_flags(uint32_t ep_id, uint32_t flags, bool policy_changed) {
  std::lock_guard lk(mu_);
  auto ep = store_.get_by_id(ep_id);
  if (!ep) return Error{"no endpoint " + std::to_string(ep_id)};
  auto ip = net::parse_ipv4(ep->ip());
  if (!ip) return Error{"endpoint " + std::to_string(ep_id) + " has no address"};
  auto found = dp_.endpoint_get(ep_key(*ip));
  if (!found) return Error{"endpoint " + std::to_string(ep_id) + " is not in the datapath"};
  myelin_ep_info info = *found;
  constexpr uint32_t policy_bits = MYELIN_EP_F_INGRESS_ENFORCED | MYELIN_EP_F_EGRESS_ENFORCED | MYELIN_EP_F_AUDIT |
                                   MYELIN_EP_F_POLICY_FAILED;
  uint32_t next = (info.flags & ~policy_bits) | (flags & policy_bits);
  if (next == info.flags && !policy_changed) return {};
  // A new revision makes the datapath check established connections of this
  // endpoint against the new policy on their next packet.
  info.policy_rev += 1;
  info.flags = next;
  auto s = dp_.endpoint_upsert(ep_key(*ip), info);
  counters_.map_op(MYELIN_MAP_ENDPOINTS, "update", s.ok());
  return s;
}

Result<size_t> EndpointManager::restore() {
  Changed changed{on_change_};
  std::lock_guard lk(mu_);
  size_t restored = 0;
  std::set<std::string> live_ips;
  std::vector<api::Endpoint> adopted;  // saved once, after the loop
  for (const auto& ep : store_.list()) {
    auto link = netlink::link_get(ep.host_ifname());
    auto ip = net::parse_ipv4(ep.ip());
    if (!link || !ip) {
      log::warn("endpoints", "endpoint " + std::to_string(ep.id()) + " (" + ep.pod_namespace() + "/" + ep.pod_name() +
                                 "): host interface " + ep.host_ifname() + " is gone; removing it");
      (void)remove_locked(ep, false);
      continue;
    }
    auto mac = net::parse_mac(ep.mac());
    myelin_ep_info info{};
    info.ifindex = static_cast<__u32>(link->index);
    info.ep_id = ep.id();
    info.identity = ep.identity();
    info.flags = MYELIN_EP_F_READY;
    if (auto pinned = dp_.endpoint_get(ep_key(*ip)))
      info.flags |= pinned->flags;  // keep policy enforcement across the restart: no fail-open window
    if (mac) std::copy(mac->begin(), mac->end(), info.mac);
    std::copy(link->mac.begin(), link->mac.end(), info.node_mac);
    if (auto s = dp_.endpoint_upsert(ep_key(*ip), info); !s) return s.error();
    // Replace, never detach first: traffic keeps flowing through the old
    // program until the new one is in place.
    if (auto s = dp_.attach(link->index); !s) return s.error();
    auto host = net::Cidr4{*ip, 32};
    if (auto s = netlink::route_replace(host, link->index, std::nullopt, true); !s)
      log::warn("endpoints", "host route for " + ep.ip() + ": " + s.error().message);
    if (mac) (void)netlink::neigh_replace(link->index, *ip, *mac);
    api::Endpoint updated = ep;
    updated.set_host_ifindex(static_cast<uint32_t>(link->index));
    updated.set_host_mac(net::mac_str(link->mac.data()));
    updated.set_state("ready");
    adopted.push_back(std::move(updated));
    live_ips.insert(ep.ip());
    ++restored;
  }
  if (auto s = store_.upsert_all(adopted); !s) return s.error();
  // Map entries no stored endpoint explains (an agent killed mid-add) go.
  for (const auto& [key, info] : dp_.endpoints()) {
    std::string ip = net::addr_str(key.addr, key.family);
    if (!live_ips.count(ip)) {
      log::info("endpoints", "removing stale endpoint map entry " + ip);
      (void)dp_.endpoint_delete(key);
    }
  }
  return restored;
}

Result<api::Endpoint> EndpointManager::add(const api::Endpoint& req) {
  if (req.container_id().empty() || req.ifname().empty())
    return Error{"endpoint needs container_id and ifname", api::INVALID_ARGUMENT};
  if (req.host_ifname().empty()) return Error{"endpoint needs host_ifname", api::INVALID_ARGUMENT};
  auto ip = net::parse_ipv4(req.ip());
  if (!ip) return Error{"endpoint ip: " + ip.error().message, api::INVALID_ARGUMENT};
  auto mac = net::parse_mac(req.mac());
  if (!mac) return Error{"endpoint mac: " + mac.error().message, api::INVALID_ARGUMENT};
  const std::string who = owner(req.container_id(), req.ifname());
  auto allocated = ipam_.lookup(who);
  if (!allocated || *allocated != *ip)
    return Error{"address " + req.ip() + " is not allocated to " + who + " (ask IPAM first)", api::INVALID_ARGUMENT};

  Changed changed{on_change_};
  std::lock_guard lk(mu_);
  auto started = std::chrono::steady_clock::now();
  auto r = add_locked(req);
  counters_.endpoint_regenerated(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), r.ok());
  return r;
}

Result<api::Endpoint> EndpointManager::add_locked(const api::Endpoint& req) {
  auto ip = net::parse_ipv4(req.ip());
  auto mac = net::parse_mac(req.mac());
  auto link = netlink::link_get(req.host_ifname());
  if (!link) return Error{"host interface " + req.host_ifname() + ": " + link.error().message, api::NOT_FOUND};

  auto existing = store_.get(req.container_id(), req.ifname());
  Rollback undo;
  api::Endpoint ep = req;
  if (existing) {
    ep.set_id(existing->id());
    ep.set_identity(existing->identity());
    *ep.mutable_created() = existing->created();
  } else {
    ep.set_id(store_.next_id());
    auto labels = labels_for(ep);
    std::sort(labels.begin(), labels.end());
    ep.clear_labels();
    for (const auto& l : labels) ep.add_labels(l);
    auto id = identities_.acquire(labels);
    if (!id) return Error{"identity: " + id.error().message, api::INTERNAL};
    ep.set_identity(*id);
    undo.push([this, id = *id] { (void)identities_.release(id); });
    *ep.mutable_created() = google::protobuf::util::TimeUtil::GetCurrentTime();
  }
  ep.set_host_ifindex(static_cast<uint32_t>(link->index));
  ep.set_host_mac(net::mac_str(link->mac.data()));

  myelin_ep_info info{};
  info.ifindex = static_cast<__u32>(link->index);
  info.ep_id = ep.id();
  info.identity = ep.identity();
  info.flags = MYELIN_EP_F_READY;
  std::copy(mac->begin(), mac->end(), info.mac);
  std::copy(link->mac.begin(), link->mac.end(), info.node_mac);
  const myelin_ep_key key = ep_key(*ip);
  auto upserted = dp_.endpoint_upsert(key, info);
  counters_.map_op(MYELIN_MAP_ENDPOINTS, "update", upserted.ok());
  // Full (E2BIG): the ADD fails and the rollback leaves no trace of the pod
  // here; the CNI plugin then removes its interface and address.
  if (!upserted && upserted.error().code == E2BIG)
    return Error{"this node is full: the endpoint map " MYELIN_MAP_ENDPOINTS " holds its " +
                     std::to_string(dp_.capacity(MYELIN_MAP_ENDPOINTS)) +
                     " endpoints (myelind --bpf-map-max-entries endpoints=N raises it)",
                 api::EXHAUSTED};
  if (!upserted) return Error{"endpoint map: " + upserted.error().message, api::EXHAUSTED};
  if (!existing) undo.push([this, key] { (void)dp_.endpoint_delete(key); });

  if (auto s = dp_.attach(link->index); !s) return Error{"attach to " + req.host_ifname() + ": " + s.error().message, api::INTERNAL};
  if (!existing) undo.push([this, idx = link->index] { (void)dp_.detach(idx); });

  const net::Cidr4 host{*ip, 32};
  if (auto s = netlink::route_replace(host, link->index, std::nullopt, true); !s)
    return Error{"host route " + host.str() + ": " + s.error().message, api::INTERNAL};
  if (!existing) undo.push([host, idx = link->index] { (void)netlink::route_delete(host, idx); });
  if (auto s = netlink::neigh_replace(link->index, *ip, *mac); !s)
    return Error{"neighbour " + req.ip() + ": " + s.error().message, api::INTERNAL};

  ep.set_state("ready");
  if (auto s = store_.upsert(ep); !s) return Error{"endpoint state: " + s.error().message, api::INTERNAL};
  undo.commit();
  log::info("endpoints", "endpoint " + std::to_string(ep.id()) + " " + ep.pod_namespace() + "/" + ep.pod_name() + " " +
                             ep.ip() + " on " + ep.host_ifname() + " identity " + std::to_string(ep.identity()));
  return ep;
}

Status EndpointManager::remove_locked(const api::Endpoint& ep, bool delete_link) {
  Status result;
  if (auto ip = net::parse_ipv4(ep.ip())) {
    auto deleted = dp_.endpoint_delete(ep_key(*ip));
    counters_.map_op(MYELIN_MAP_ENDPOINTS, "delete", deleted.ok());
    if (!deleted) result = deleted;
    auto link = netlink::link_get(ep.host_ifname());
    if (link && static_cast<uint32_t>(link->index) == ep.host_ifindex()) {
      (void)netlink::route_delete(net::Cidr4{*ip, 32}, link->index);
      if (delete_link) (void)netlink::link_delete(ep.host_ifname());
    }
  }
  if (ep.identity() != 0) (void)identities_.release(ep.identity());
  if (auto s = store_.remove(ep.container_id(), ep.ifname()); !s) result = s;
  if (auto s = ipam_.release(owner(ep.container_id(), ep.ifname())); !s) result = s;
  log::info("endpoints", "endpoint " + std::to_string(ep.id()) + " " + ep.pod_namespace() + "/" + ep.pod_name() + " removed");
  return result;
}

Status EndpointManager::remove(const std::string& container_id, const std::string& ifname) {
  Changed changed{on_change_};
  std::lock_guard lk(mu_);
  auto ep = store_.get(container_id, ifname);
  if (!ep) return ipam_.release(owner(container_id, ifname));  // ADD may have failed after IPAM
  return remove_locked(*ep, false);
}

Result<std::vector<api::Attachment>> EndpointManager::gc(const std::vector<api::Attachment>& valid) {
  Changed changed{on_change_};
  std::lock_guard lk(mu_);
  std::set<std::string> keep;
  for (const auto& a : valid) keep.insert(owner(a.container_id(), a.ifname()));
  std::vector<api::Attachment> removed;
  for (const auto& ep : store_.list()) {
    if (keep.count(owner(ep.container_id(), ep.ifname()))) continue;
    if (auto s = remove_locked(ep, true); !s) return s.error();
    api::Attachment a;
    a.set_container_id(ep.container_id());
    a.set_ifname(ep.ifname());
    removed.push_back(a);
  }
  // Addresses handed out for an ADD that never completed.
  for (const auto& [who, ip] : ipam_.allocations()) {
    if (keep.count(who)) continue;
    auto slash = who.rfind('/');
    if (slash != std::string::npos && store_.get(who.substr(0, slash), who.substr(slash + 1))) continue;
    (void)ipam_.release(who);
  }
  return removed;
}

}  // namespace myelin::agent
