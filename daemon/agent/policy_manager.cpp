// SPDX-License-Identifier: Apache-2.0
#include "policy_manager.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "myelin/log.hpp"
#include "myelin/net.hpp"
#include "myelin/netlink.hpp"

namespace myelin::agent {
namespace {

constexpr const char* kNsLabel = "k8s:io.kubernetes.pod.namespace=";
constexpr const char* kNsLabelsPrefix = "k8s:io.cilium.k8s.namespace.labels.";

myelin_ipcache_key ipcache_key(const net::Cidr4& c) {
  myelin_ipcache_key k{};
  k.prefixlen = 32 + c.prefix;
  k.family = MYELIN_FAMILY_IPV4;
  k.addr.w[0] = c.base.network_order();
  return k;
}

}  // namespace

bool PolicyManager::KeyLess::operator()(const InstalledKey& a, const InstalledKey& b) const {
  if (a.first != b.first) return a.first < b.first;
  return std::memcmp(&a.second, &b.second, sizeof(myelin_policy_key)) < 0;
}

PolicyManager::PolicyManager(datapath::Datapath& dp, EndpointManager& endpoints, endpoints::EndpointStore& store,
                             identity::Identities& identities, metrics::AgentCounters& counters,
                             objects::ObjectStore& objects, bool audit_all, bool allow_localhost)
    : dp_(dp), endpoints_(endpoints), store_(store), identities_(identities), counters_(counters), audit_all_(audit_all),
      allow_localhost_(allow_localhost), objects_(objects) {
  // Pods and Namespaces change identity labels at once (an endpoint added
  // next gets them); policy is computed when a source completes a batch.
  objects::ObjectStore::Subscriber s;
  s.kinds = {objects::Kind::namespace_, objects::Kind::pod};
  s.on_event = [this](const objects::Event&) { rebuild_label_index(); };
  // Not before every source has synced: a half-synced store (the files
  // read, the API not listed yet) must not replace enforced policy with less.
  s.on_changed = [this] {
    if (objects_.all_synced()) (void)regenerate();
  };
  subscription_ = objects_.subscribe(std::move(s));
}

PolicyManager::~PolicyManager() { objects_.unsubscribe(subscription_); }

// From the store (a Pod given by two sources: the last in source order).
void PolicyManager::rebuild_label_index() {
  std::map<std::pair<std::string, std::string>, policy::Pod> pods;
  std::map<std::string, policy::Namespace> namespaces;
  objects_.each<policy::Pod>([&](const policy::Pod& p) { pods[{p.ns, p.name}] = p; });
  objects_.each<policy::Namespace>([&](const policy::Namespace& n) { namespaces[n.name] = n; });
  set_label_index(pods, namespaces);
}

void PolicyManager::set_label_index(const std::map<std::pair<std::string, std::string>, policy::Pod>& pods,
                                    const std::map<std::string, policy::Namespace>& namespaces) {
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> labels;
  std::map<std::pair<std::string, std::string>, std::vector<policy::Workload>> workloads;
  std::map<std::string, std::vector<std::string>> nss;
  for (const auto& [key, p] : pods) {
    auto& l = labels[key];
    for (const auto& [k, v] : p.labels) l.push_back("k8s:" + k + "=" + v);
    workloads[key] = p.workloads;
  }
  for (const auto& [name, n] : namespaces) {
    auto& l = nss[name];
    for (const auto& [k, v] : n.labels) l.push_back(kNsLabelsPrefix + k + "=" + v);
  }
  std::lock_guard lk(labels_mu_);
  pod_labels_ = std::move(labels);
  ns_labels_ = std::move(nss);
  pod_workloads_ = std::move(workloads);
}

std::vector<policy::Workload> PolicyManager::workloads(const std::string& ns, const std::string& pod) const {
  std::lock_guard lk(labels_mu_);
  auto it = pod_workloads_.find({ns, pod});
  return it == pod_workloads_.end() ? std::vector<policy::Workload>{} : it->second;
}

std::vector<std::string> PolicyManager::identity_labels(const std::string& ns, const std::string& pod) const {
  std::lock_guard lk(labels_mu_);
  std::vector<std::string> out{kNsLabel + ns};
  if (auto it = pod_labels_.find({ns, pod}); it != pod_labels_.end()) out.insert(out.end(), it->second.begin(), it->second.end());
  if (auto it = ns_labels_.find(ns); it != ns_labels_.end()) out.insert(out.end(), it->second.begin(), it->second.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<policy::IdentityView> PolicyManager::identity_views(const PodPorts& pod_ports) const {
  std::vector<policy::IdentityView> out;
  // Named ports of the pods behind each identity (egress rules with port names).
  std::map<uint32_t, std::vector<policy::NamedPort>> ports;
  for (const auto& ep : store_.list())
    if (auto it = pod_ports.find({ep.pod_namespace(), ep.pod_name()}); it != pod_ports.end())
      for (const auto& pp : it->second) ports[ep.identity()].insert(ports[ep.identity()].end(), pp.begin(), pp.end());
  // Other nodes' pods: the named ports they published (egress by port name
  // to a pod on another node).
  if (cluster_)
    for (const auto& [ip, ep] : cluster_->snapshot()->endpoints)
      for (const auto& np : ep.named_ports) ports[ep.identity].push_back(policy::NamedPort{np.name, np.port, np.proto});
  for (const auto& [id, labels] : identities_.list()) {
    policy::IdentityView v;
    v.id = id;
    for (const auto& l : labels) {
      if (l.rfind("cidr:", 0) == 0) {
        v.kind = policy::IdentityView::Kind::cidr;
        v.cidrs.insert(l.substr(5));
      } else if (l.rfind(kNsLabel, 0) == 0) {
        v.ns = l.substr(std::strlen(kNsLabel));
      } else if (l.rfind(kNsLabelsPrefix, 0) == 0) {
        auto kv = l.substr(std::strlen(kNsLabelsPrefix));
        auto eq = kv.find('=');
        if (eq != std::string::npos) v.ns_labels[kv.substr(0, eq)] = kv.substr(eq + 1);
      } else if (l.rfind("k8s:", 0) == 0) {
        auto kv = l.substr(4);
        auto eq = kv.find('=');
        if (eq != std::string::npos) v.labels[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
    v.ports = ports[id];
    out.push_back(std::move(v));
  }
  for (uint32_t r : {uint32_t{identity::kHost}, uint32_t{identity::kWorld}, uint32_t{identity::kRemoteNode}}) {
    policy::IdentityView v;
    v.id = r;
    v.kind = policy::IdentityView::Kind::reserved;
    v.reserved = identity::Identities::reserved_name(r);
    out.push_back(v);
  }
  return out;
}

// A full ipcache (ENOSPC) is not an error that stops the regeneration: the
// prefixes that did not fit are gaps (ipcache_gaps_), and each endpoint whose
// policy would let a gap's traffic through under what answers for it instead
// fails closed (regenerate_locked).
Status PolicyManager::sync_cidrs(const std::vector<policy::NetworkPolicy>& all) {
  const auto wanted = policy::referenced_cidrs(all);
  std::map<std::string, CidrEntry> next;
  for (const auto& c : wanted) {
    auto cidr = net::parse_cidr4(c);
    if (!cidr) continue;
    // The identity of a prefix names every referenced CIDR that contains it,
    // so one LPM lookup answers for all of them (and their excepts).
    std::vector<std::string> labels{"reserved:world"};
    for (const auto& other : wanted) {
      auto o = net::parse_cidr4(other);
      if (o && o->prefix <= cidr->prefix && o->contains(cidr->base)) labels.push_back("cidr:" + other);
    }
    auto id = identities_.acquire(labels);
    if (!id) return id.error();
    auto key = ipcache_key(*cidr);
    if (ipcache_owned_ && ipcache_owned_(key)) {
      // Another node's prefix (or this node's pod CIDR): the node datapath
      // writes it with this CIDR identity merged in (policy_cidrs()).
      next[c] = {*id, key, *cidr, true};
      continue;
    }
    myelin_ipcache_val val{*id, *id};  // a policy CIDR is its own ipBlock identity
    auto s = dp_.ipcache_upsert(key, val);
    counters_.map_op(MYELIN_MAP_IPCACHE, "update", s.ok());
    next[c] = {*id, key, *cidr, s.ok()};
  }
  for (const auto& [c, old] : cidr_ids_) {
    if (!next.count(c) && old.installed && !(ipcache_owned_ && ipcache_owned_(old.key))) {
      auto s = dp_.ipcache_delete(old.key);
      counters_.map_op(MYELIN_MAP_IPCACHE, "delete", s.ok());
    }
    (void)identities_.release(old.id);  // the new acquire holds its own reference
  }
  // Prefixes no policy references any more are gone: room for those that did not fit.
  for (auto& [c, e] : next) {
    if (e.installed) continue;
    if (ipcache_owned_ && ipcache_owned_(e.key)) {
      e.installed = true;
      continue;
    }
    auto s = dp_.ipcache_upsert(e.key, myelin_ipcache_val{e.id, e.id});
    counters_.map_op(MYELIN_MAP_IPCACHE, "update", s.ok());
    e.installed = s.ok();
    if (!s) ipcache_gaps_.push_back({e.prefix, {e.id, e.id}, c + " (" + s.error().message + ")"});
  }
  cidr_ids_ = std::move(next);
  return {};
}

// The node's own addresses are the "host" identity (entity host; the
// source of kubelet probes). Read from the node's namespace at every
// regeneration: addresses come and go rarely, and a stale one only errs
// towards "world".
// A node address also carries the CIDR identity it has for NetworkPolicy
// ipBlock (its /32 hides the policy CIDRs around it from the LPM lookup).
Status PolicyManager::sync_host_addresses() {
  // An address dump, not getifaddrs: that also dumps every link, and with a
  // veth per pod each link dump costs the kernel a lookup per namespace
  // (the peer's netns id), quadratic in pods on every regeneration.
  auto addrs = netlink::addr_list(0);
  if (!addrs) return addrs.error();
  std::map<uint32_t, std::pair<myelin_ipcache_key, myelin_ipcache_val>> next;
  for (const auto& addr : *addrs) {
    const net::Ipv4 ip = addr.first;
    if ((ip.host >> 24) == 127) continue;  // loopback never reaches a pod
    const uint32_t a = ip.network_order();
    next[a] = {ipcache_key(net::Cidr4{ip, 32}), myelin_ipcache_val{identity::kHost, ipblock_identity_locked(a), 0, MYELIN_IPCACHE_F_CLUSTER}};
  }
  Status result;
  for (auto it = next.begin(); it != next.end();) {
    const auto& [a, kv] = *it;
    auto old = host_addrs_.find(a);
    if (old != host_addrs_.end() && std::memcmp(&old->second.second, &kv.second, sizeof kv.second) == 0) {
      ++it;
      continue;
    }
    auto s = dp_.ipcache_upsert(kv.first, kv.second);
    counters_.map_op(MYELIN_MAP_IPCACHE, "update", s.ok());
    if (!s) {
      result = s;  // not installed: tried again at the next regeneration
      net::Cidr4 host{net::Ipv4{ntohl(a)}, 32};
      ipcache_gaps_.push_back({host, {kv.second.identity, kv.second.ipblock_identity},
                               "node address " + host.str() + " (" + s.error().message + ")"});
      it = next.erase(it);
      continue;
    }
    ++it;
  }
  for (const auto& [a, kv] : host_addrs_)
    if (!next.count(a)) {
      auto s = dp_.ipcache_delete(kv.first);
      counters_.map_op(MYELIN_MAP_IPCACHE, "delete", s.ok());
    }
  host_addrs_ = std::move(next);
  return result;
}

// The longest policy CIDR holding the address, as the datapath's LPM lookup
// answers for a pod's address.
uint32_t PolicyManager::ipblock_identity_locked(uint32_t addr) const {
  const net::Ipv4 ip{ntohl(addr)};
  int best = -1;
  uint32_t id = 0;
  for (const auto& [c, v] : cidr_ids_)
    if (v.prefix.contains(ip) && v.prefix.prefix > best) best = v.prefix.prefix, id = v.id;
  return id;
}

// What answers the datapath's LPM lookup in place of a gap: the longest
// installed policy CIDR strictly holding it, else nothing (world). A node
// address's /32 never holds a wider gap.
policy::Remote PolicyManager::fallback_locked(const net::Cidr4& gap) const {
  policy::Remote r{identity::kWorld, 0};
  int best = -1;
  for (const auto& [c, e] : cidr_ids_)
    if (e.installed && e.prefix.prefix < gap.prefix && e.prefix.contains(gap.base) && static_cast<int>(e.prefix.prefix) > best) {
      best = e.prefix.prefix;
      r = {e.id, e.id};
    }
  return r;
}

// The ipBlock identity a pod's address gets from the installed prefixes only.
uint32_t PolicyManager::installed_ipblock_locked(uint32_t addr) const {
  const net::Ipv4 ip{ntohl(addr)};
  int best = -1;
  uint32_t id = 0;
  for (const auto& [c, v] : cidr_ids_)
    if (v.installed && v.prefix.contains(ip) && v.prefix.prefix > best) best = v.prefix.prefix, id = v.id;
  return id;
}

uint32_t PolicyManager::ipblock_identity(uint32_t addr) const { return snapshot()->ipblock_identity(addr); }

uint32_t PolicyManager::policy_id_locked(const policy::NetworkPolicy& p) {
  auto key = std::make_tuple(p.kind, p.ns, p.name);
  auto it = policy_ids_.find(key);
  if (it != policy_ids_.end()) return it->second;
  uint32_t id = next_id_++;
  policy_ids_[key] = id;
  policy_refs_[id] = PolicyRef{p.kind, p.ns, p.name, ""};
  return id;
}

uint32_t PolicyManager::rule_id_locked(uint32_t policy_id, const std::string& rule) {
  auto [it, added] = rule_ids_.try_emplace({policy_id, rule}, 0);
  if (added) {
    it->second = next_id_++;
    PolicyRef ref = policy_refs_[policy_id];
    ref.rule = rule;
    policy_refs_[it->second] = ref;
  }
  live_rules_.insert(it->second);
  return it->second;
}

Status PolicyManager::regenerate() {
  Status s;
  {
    std::lock_guard lk(mu_);
    s = regenerate_locked();
    counters_.policy_change(s.ok());
    ++revision_;
    rebuild_remote_views_locked();
    publish_locked();
  }
  if (on_regenerated_) on_regenerated_();
  return s;
}

// Other nodes' pods as flows name them: their namespace, name, identity and
// the identity's labels, as the cluster and the identities say now.
void PolicyManager::rebuild_remote_views_locked() {
  if (!cluster_) return;
  auto views = std::make_shared<RemoteViews>();
  std::map<uint32_t, std::vector<std::string>> labels;
  for (const auto& [ip, ep] : cluster_->snapshot()->endpoints) {
    flows::EndpointView v;
    v.identity = ep.identity;
    v.ns = ep.ns;
    v.pod_name = ep.pod;
    auto it = labels.find(ep.identity);
    if (it == labels.end()) it = labels.emplace(ep.identity, identities_.labels(ep.identity).value_or(std::vector<std::string>{})).first;
    v.labels = it->second;
    (*views)[ip.network_order()] = std::move(v);
  }
  std::lock_guard lk(publish_mu_);
  remote_views_ = std::move(views);
}

// Under mu_: what this regeneration decided, as the snapshot readers take.
void PolicyManager::publish_locked() {
  auto state = std::make_shared<PolicyState>();
  state->revision = revision_;
  state->policy_count = compiled_policies_.size();
  state->refs = policy_refs_;
  state->endpoint_policies = endpoint_policies_;  // shared, not copied
  for (const auto& [c, e] : cidr_ids_) state->cidrs.emplace_back(e.prefix, e.id);
  for (const auto& [addr, kv] : host_addrs_) state->host_ipblock[addr] = kv.second.ipblock_identity;
  std::lock_guard lk(publish_mu_);
  published_policy_ = std::move(state);
  publish_endpoints_locked();
}

void PolicyManager::publish_endpoints() {
  std::lock_guard lk(publish_mu_);
  publish_endpoints_locked();
}

// Under publish_mu_: the endpoints read now, so the last publisher always
// has the newest; the policy of the last regeneration.
void PolicyManager::publish_endpoints_locked() {
  std::vector<SnapshotEndpoint> eps;
  for (const auto& ep : store_.list()) {
    SnapshotEndpoint v;
    v.id = ep.id();
    v.identity = ep.identity();
    v.ns = ep.pod_namespace();
    v.pod_name = ep.pod_name();
    v.ip = ep.ip();
    if (auto labels = identities_.labels(ep.identity())) v.labels = std::move(*labels);
    for (auto& w : workloads(v.ns.empty() ? "default" : v.ns, v.pod_name)) v.workloads.emplace_back(std::move(w.kind), std::move(w.name));
    eps.push_back(std::move(v));
  }
  snapshot_.publish(std::make_shared<const PolicySnapshot>(published_policy_, std::move(eps), remote_views_));
}

Status PolicyManager::regenerate_locked() {
  // One consistent view of the store, read in one pass in source order.
  std::map<std::string, policy::Namespace> namespaces;
  std::vector<policy::NetworkPolicy> all;
  std::map<std::pair<std::string, std::string>, policy::Pod> pods;  // a Pod given twice: the last, as the label index
  PodPorts pod_ports;
  objects_.each_object([&](const objects::Object& o) {
    if (const auto* n = std::get_if<policy::Namespace>(&o)) namespaces[n->name] = *n;
    if (const auto* p = std::get_if<policy::NetworkPolicy>(&o)) all.push_back(*p);
    if (const auto* p = std::get_if<policy::Pod>(&o)) {
      pods[{p->ns, p->name}] = *p;
      pod_ports[{p->ns, p->name}].push_back(p->ports);
    }
  });
  // Endpoints are labelled from the same view as the policies compiled.
  set_label_index(pods, namespaces);
  std::vector<uint32_t> ids;
  for (const auto& p : all) ids.push_back(policy_id_locked(p));
  // On every way out, `all` becomes the policies in force: moved, not copied
  // (100k policies are ~100 MB; a copy per regeneration doubled the peak).
  struct Publish {
    PolicyManager& pm;
    std::vector<policy::NetworkPolicy>& all;
    const std::vector<uint32_t>& ids;
    ~Publish() {
      pm.compiled_policies_.clear();
      pm.compiled_policies_.reserve(all.size());
      for (size_t i = 0; i < all.size(); ++i) pm.compiled_policies_.emplace_back(ids[i], std::move(all[i]));
    }
  } publish{*this, all, ids};
  if (auto r = endpoints_.relabel_all(); !r) return r.error();
  ipcache_gaps_.clear();
  if (auto s = sync_cidrs(all); !s) return s;
  if (auto s = sync_host_addresses(); !s) log::warn("policy", "node addresses as the host identity: " + s.error().message);
  const auto views = identity_views(pod_ports);
  // Remotes judged otherwise than policy meant, because the ipcache had no
  // room: a gap's addresses get what answers instead of the gap (a wider
  // prefix, or world), and a pod address inside a gap loses the gap's ipBlock
  // identity. Each pair is (meant, got), checked against every endpoint.
  struct Misjudged {
    policy::Remote meant, got;
    const IpcacheGap* gap;
  };
  std::vector<Misjudged> misjudged;
  for (const auto& g : ipcache_gaps_) {
    misjudged.push_back({g.meant, fallback_locked(g.prefix), &g});
    for (const auto& ep : store_.list()) {
      auto ip = net::parse_ipv4(ep.ip());
      if (!ip || !g.prefix.contains(*ip)) continue;
      const uint32_t addr = ip->network_order();
      policy::Remote meant{ep.identity(), ipblock_identity_locked(addr)}, got{ep.identity(), installed_ipblock_locked(addr)};
      if (meant.ipblock != got.ipblock) misjudged.push_back({meant, got, &g});
    }
  }

  Status result;
  std::vector<std::string> failures;
  for (const auto& g : ipcache_gaps_)
    failures.push_back("ipcache full: " + g.what + " is not installed; its addresses are judged as a wider prefix or world, "
                       "and endpoints whose policy would then allow more fail closed");
  std::set<uint32_t> live;
  for (const auto& ep : store_.list()) {
    live.insert(ep.id());
    policy::LocalEndpoint local{ep.id(), ep.identity(), ep.pod_namespace().empty() ? "default" : ep.pod_namespace(), {}, {}};
    if (auto it = pods.find({local.ns, ep.pod_name()}); it != pods.end()) {
      local.labels = it->second.labels;
      local.ports = it->second.ports;
    }
    auto compiled = policy::compile(local, all, views, namespaces, audit_all_);
    if (allow_localhost_ && compiled.ingress_enforced) {
      // As Cilium's allow-localhost: the node (kubelet probes) always reaches
      // its pods. Policy id 0: no policy decided it.
      policy::Entry host;
      host.dir = MYELIN_DIR_INGRESS;
      host.identity = identity::kHost;
      compiled.entries.push_back(host);
    }
    // The datapath reports the rule that decided: entries carry rule ids.
    for (auto& e : compiled.entries)
      e.policy = e.policy ? rule_id_locked(ids[e.policy - 1], policy::rule_text(all[e.policy - 1], e)) : 0;
    Installed want;
    for (const auto& e : compiled.entries)
      for (auto [port, bits] : datapath::port_range_prefixes(e.lo, e.hi))
        want[{e.deny, datapath::policy_key(ep.id(), e.dir, e.proto, e.identity, port, bits)}] =
            myelin_policy_val{e.policy, e.audit ? uint32_t{MYELIN_POLICY_F_AUDIT} : 0u};
    Installed& have = installed_[ep.id()];
    bool failed = false, changed = false;
    for (const auto& m : misjudged)
      if (policy::fallback_widens(compiled, m.meant, m.got)) {
        // Allowing what the missing entry was there to deny (an except, a
        // deny rule) would be failing open: fail closed instead.
        failed = true;
        result = Error{"endpoint " + std::to_string(ep.id()) + " (" + local.ns + "/" + ep.pod_name() + "): ipcache full: " +
                       m.gap->what + " is missing and its traffic would be allowed as identity " + std::to_string(m.got.identity) +
                       ": new connections are dropped"};
        failures.push_back(result.error().message);
        break;
      }
    for (const auto& [k, v] : want) {  // add first, remove after: no transient default-deny gap
      auto it = have.find(k);
      if (it != have.end() && std::memcmp(&it->second, &v, sizeof v) == 0) continue;
      changed = true;
      auto s = dp_.policy_upsert(k.first, k.second, v);
      counters_.map_op(k.first ? MYELIN_MAP_POL_DENY : MYELIN_MAP_POL_ALLOW, "update", s.ok());
      if (!s) {
        // Full (ENOSPC): what did not fit is absent, which alone could
        // still allow less or more than intended: the endpoint fails closed.
        failed = true;
        result = Error{"endpoint " + std::to_string(ep.id()) + " (" + local.ns + "/" + ep.pod_name() +
                       "): policy map full or unavailable (" + s.error().message + "): new connections are dropped"};
        failures.push_back(result.error().message);
        break;
      }
      have[k] = v;
    }
    for (auto it = have.begin(); it != have.end();) {
      if (want.count(it->first)) {
        ++it;
        continue;
      }
      changed = true;
      auto s = dp_.policy_delete(it->first.first, it->first.second);
      counters_.map_op(it->first.first ? MYELIN_MAP_POL_DENY : MYELIN_MAP_POL_ALLOW, "delete", s.ok());
      it = have.erase(it);
    }
    uint32_t flags = (compiled.ingress_enforced ? MYELIN_EP_F_INGRESS_ENFORCED : 0) |
                     (compiled.egress_enforced ? MYELIN_EP_F_EGRESS_ENFORCED : 0) | (compiled.audit ? MYELIN_EP_F_AUDIT : 0) |
                     (failed ? MYELIN_EP_F_POLICY_FAILED : 0);
    if (auto s = endpoints_.set_policy_flags(ep.id(), flags, changed); !s) result = s;
    for (auto& pid : compiled.selected_by) pid = ids[pid - 1];
    endpoint_policies_[ep.id()] = std::make_shared<const policy::EndpointPolicy>(std::move(compiled));
  }
  for (auto it = installed_.begin(); it != installed_.end();) {  // endpoints that went away
    if (live.count(it->first)) {
      ++it;
      continue;
    }
    for (const auto& [k, v] : it->second) (void)dp_.policy_delete(k.first, k.second);
    endpoint_policies_.erase(it->first);
    it = installed_.erase(it);
  }
  // Forget rule ids no regeneration of the last two used.
  for (auto it = rule_ids_.begin(); it != rule_ids_.end();) {
    if (live_rules_.count(it->second) || prev_live_rules_.count(it->second)) {
      ++it;
      continue;
    }
    policy_refs_.erase(it->second);
    it = rule_ids_.erase(it);
  }
  prev_live_rules_ = std::move(live_rules_);
  live_rules_.clear();
  if (result && !ipcache_gaps_.empty()) result = Error{failures.front()};
  failures_ = std::move(failures);
  if (!result) log::error("policy", result.error().message);
  return result;
}

std::vector<std::pair<uint32_t, policy::NetworkPolicy>> PolicyManager::policies() const {
  std::lock_guard lk(mu_);
  return compiled_policies_;
}

size_t PolicyManager::policy_count() const { return snapshot()->policy_count(); }

std::optional<PolicyRef> PolicyManager::policy(uint32_t id) const { return snapshot()->policy(id); }

std::vector<PolicyRef> PolicyManager::selecting(uint32_t ep_id) const { return snapshot()->selecting(ep_id); }

std::optional<policy::EndpointPolicy> PolicyManager::endpoint_policy(uint32_t ep_id) const {
  const auto s = snapshot();
  if (const auto* p = s->endpoint_policy(ep_id)) return *p;
  return std::nullopt;
}

std::vector<SourceState> PolicyManager::sources() const { return objects_.sources(objects::Part::objects); }

std::vector<std::string> PolicyManager::failures() const {
  std::lock_guard lk(mu_);
  return failures_;
}

uint64_t PolicyManager::installed_entries() const {
  std::lock_guard lk(mu_);
  uint64_t n = 0;
  for (const auto& [ep, m] : installed_) n += m.size();
  return n;
}

}  // namespace myelin::agent
