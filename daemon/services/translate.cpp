// SPDX-License-Identifier: Apache-2.0
#include "myelin/services/translate.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace myelin::services {
namespace {

constexpr const char* kProxyNameLabel = "service.kubernetes.io/service-proxy-name";
constexpr const char* kHeadlessLabel = "service.kubernetes.io/headless";
constexpr uint8_t kUdp = 17;

// One endpoint of one ServicePort, as kube-proxy reads it.
struct Ep {
  net::Ipv4 addr;
  uint16_t port = 0;
  bool ready = true, serving = true, terminating = false, local = false;
  std::string pod;
};

class Warnings {
 public:
  explicit Warnings(Service& s) : s_(s) {}
  ~Warnings() {
    if (dropped_) s_.warnings.push_back("... and " + std::to_string(dropped_) + " more");
  }
  void add(std::string w) {
    if (std::find(s_.warnings.begin(), s_.warnings.end(), w) != s_.warnings.end()) return;
    if (s_.warnings.size() < kMaxWarnings) s_.warnings.push_back(std::move(w));
    else ++dropped_;
  }

 private:
  Service& s_;
  size_t dropped_ = 0;
};

std::string label(const policy::Labels& l, const char* key, bool* present = nullptr) {
  auto it = l.find(key);
  if (present) *present = it != l.end();
  return it == l.end() ? "" : it->second;
}

// kube-proxy's informers list Services and EndpointSlices without these
// labels; a proxy with a name (Cilium's --k8s-service-proxy-name) takes
// those labelled with its name instead.
bool for_this_proxy(const policy::Labels& l, const std::string& proxy_name) { return label(l, kProxyNameLabel) == proxy_name; }

bool selects(const policy::Labels& selector, const policy::Labels& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

std::string proto_name(uint8_t p) { return objects::protocol_name(p); }

std::string port_label(const objects::ServicePort& sp) {
  return (sp.name.empty() ? "" : "'" + sp.name + "' ") + std::to_string(sp.port) + "/" + proto_name(sp.proto);
}

struct Index {
  std::map<std::pair<std::string, std::string>, std::vector<const objects::EndpointSlice*>> slices;  // (ns, service)
  std::map<std::string, std::map<std::string, const policy::Pod*>> pods;                              // ns -> name
  std::map<std::pair<std::string, std::string>, const LocalEndpoint*> endpoints;                     // (ns, pod)
  std::set<net::Ipv4> node_addresses;
};

Index index(const Inputs& in) {
  Index x;
  for (const auto& s : in.slices) {
    if (s.service.empty() || s.labels.count(kHeadlessLabel) || !for_this_proxy(s.labels, in.proxy_name)) continue;
    x.slices[{s.ns, s.service}].push_back(&s);
  }
  for (auto& [k, v] : x.slices)
    std::stable_sort(v.begin(), v.end(), [](const auto* a, const auto* b) { return a->name < b->name; });
  for (const auto& p : in.pods) x.pods[p.ns][p.name] = &p;  // given twice: the last in source order
  for (const auto& e : in.endpoints) x.endpoints[{e.ns, e.pod}] = &e;
  x.node_addresses.insert(in.node_addresses.begin(), in.node_addresses.end());
  return x;
}

// The union of the Service's slices for one port: one endpoint per first
// address and port, a local one winning a duplicate (endpointslicecache.go).
std::vector<Ep> slice_endpoints(const std::vector<const objects::EndpointSlice*>& slices, const objects::ServicePort& sp,
                                const std::string& node_name, Warnings& warn) {
  std::map<std::pair<net::Ipv4, uint16_t>, Ep> set;
  for (const auto* s : slices) {
    if (s->address_type != objects::EndpointSlice::AddressType::ipv4) {
      warn.add("EndpointSlice " + s->name + ": addressType " + objects::address_type_name(s->address_type) + " is not served");
      continue;
    }
    for (const auto& p : s->ports) {
      if (p.name != sp.name || p.proto != sp.proto) continue;
      if (!p.port) {
        warn.add("EndpointSlice " + s->name + ": port '" + p.name + "' has no number: ignored");
        continue;
      }
      for (const auto& e : s->endpoints) {
        if (e.addresses.empty()) continue;
        auto ip = net::parse_ipv4(e.addresses[0]);
        if (!ip) continue;
        Ep ep{*ip, *p.port, e.ready, e.serving, e.terminating, !node_name.empty() && e.node_name == node_name, ""};
        if (e.target_kind == "Pod" && !e.target_name.empty()) ep.pod = (e.target_ns.empty() ? s->ns : e.target_ns) + "/" + e.target_name;
        auto [it, added] = set.try_emplace({ep.addr, ep.port}, ep);
        if (!added && ep.local) it->second = ep;
      }
    }
  }
  std::vector<Ep> out;
  for (auto& [k, e] : set) out.push_back(std::move(e));
  return out;
}

// As the EndpointSlice controller writes a selector Service's endpoints
// (podToEndpoint, ShouldPodBeInEndpoints with terminating pods included).
std::vector<Ep> derived_endpoints(const objects::Service& svc, const objects::ServicePort& sp, const Index& x,
                                  const std::string& node_name, Warnings& warn) {
  std::vector<Ep> out;
  auto ns = x.pods.find(svc.ns);
  if (ns == x.pods.end()) return out;
  std::set<std::pair<net::Ipv4, uint16_t>> seen;
  for (const auto& [name, pod] : ns->second) {
    if (!selects(svc.selector, pod->labels) || pod->terminal) continue;
    auto le = x.endpoints.find({pod->ns, pod->name});
    const LocalEndpoint* local = le == x.endpoints.end() ? nullptr : le->second;
    std::optional<net::Ipv4> addr;
    if (local) addr = local->ip;
    for (size_t i = 0; !addr && i < pod->ips.size(); ++i)
      if (auto ip = net::parse_ipv4(pod->ips[i])) addr = *ip;
    if (!addr) continue;  // no address yet: in no slice
    uint16_t port = sp.target.number;
    if (!port) {
      for (const auto& cp : pod->ports)
        if (cp.name == sp.target.name && cp.proto == sp.proto) {
          port = cp.port;
          break;
        }
      if (!port) {
        warn.add("pod " + pod->name + " has no containerPort named '" + sp.target.name + "' (" + proto_name(sp.proto) +
                 "): not an endpoint of port " + port_label(sp));
        continue;
      }
    }
    if (!seen.insert({*addr, port}).second) continue;
    // A pod of this node is ready when its endpoint is up (and the kubelet,
    // when it says, agrees); another node's pod when its Ready condition is True.
    const bool serving = local ? local->up && pod->ready.value_or(true) : pod->ready.value_or(false);
    Ep e;
    e.addr = *addr;
    e.port = port;
    e.serving = serving;
    e.terminating = pod->terminating;
    e.ready = svc.publish_not_ready || (serving && !e.terminating);
    e.local = local || (!node_name.empty() && pod->node_name == node_name);
    e.pod = pod->ns + "/" + pod->name;
    out.push_back(std::move(e));
  }
  return out;
}

// CategorizeEndpoints: which endpoints take new connections, for the
// cluster-wide set and the local set, each falling back apart to
// serving+terminating ones when it has no ready one.
struct Picked {
  std::vector<bool> cluster, local;
};

Picked categorize(const std::vector<Ep>& eps) {
  Picked p{std::vector<bool>(eps.size()), std::vector<bool>(eps.size())};
  auto pick = [&](std::vector<bool>& out, bool local_only) {
    bool any = false;
    for (size_t i = 0; i < eps.size(); ++i)
      if (eps[i].ready && (!local_only || eps[i].local)) out[i] = any = true;
    if (any) return;
    for (size_t i = 0; i < eps.size(); ++i)
      if (eps[i].serving && eps[i].terminating && (!local_only || eps[i].local)) out[i] = true;
  };
  pick(p.cluster, false);
  pick(p.local, true);
  return p;
}

bool external_kind(FrontendKind k) { return k != FrontendKind::cluster_ip; }

Frontend make_frontend(FrontendKind kind, net::Ipv4 addr, uint16_t port, const objects::Service& svc, const objects::ServicePort& sp,
                       const std::vector<Ep>& eps, const Picked& picked, bool maglev) {
  Frontend f;
  f.kind = kind;
  f.addr = addr;
  f.port = port;
  f.proto = sp.proto;
  f.port_name = sp.name;
  // internalTrafficPolicy applies to the ClusterIP, externalTrafficPolicy to
  // the externally reachable frontends only (ServicePort.UsesLocalEndpoints).
  f.internal_local = kind == FrontendKind::cluster_ip && svc.internal_local;
  f.external_local = external_kind(kind) && svc.external_local;
  f.affinity = svc.client_ip_affinity;
  f.affinity_timeout_s = svc.client_ip_affinity ? svc.affinity_timeout_s : 0;
  f.maglev = maglev && external_kind(kind);
  for (size_t i = 0; i < eps.size(); ++i) {
    const Ep& e = eps[i];
    if (f.internal_local && !e.local) continue;  // never a backend of a local-only ClusterIP
    const bool inside = f.internal_local ? picked.local[i] : picked.cluster[i];
    const bool outside = f.external_local ? picked.local[i] : inside;
    // Not picked: established connections continue, as kube-proxy leaves
    // their conntrack entries, except UDP ones once the endpoint stops serving.
    if (!inside && !outside && f.proto == kUdp && !e.serving) continue;
    Backend b;
    b.addr = e.addr;
    b.port = e.port;
    b.proto = f.proto;
    b.state = inside ? BackendState::active : BackendState::terminating;
    b.external_active = outside;
    b.local = e.local;
    b.ready = e.ready;
    b.serving = e.serving;
    b.terminating = e.terminating;
    b.pod = e.pod;
    f.backends.push_back(std::move(b));
  }
  std::sort(f.backends.begin(), f.backends.end());
  return f;
}

std::string why_not_proxied(const objects::Service& s, const std::string& proxy_name) {
  if (s.type == objects::Service::Type::external_name) return "ExternalName";
  if (!for_this_proxy(s.labels, proxy_name)) {
    const std::string n = label(s.labels, kProxyNameLabel);
    return "service-proxy-name " + (n.empty() ? "(none; this node serves " + proxy_name + ")" : n);
  }
  if (s.labels.count(kHeadlessLabel) || s.headless) return "headless";
  if (s.cluster_ips.empty()) return "no clusterIP";
  return "";
}

std::string frontend_text(const Frontend& f) {
  return f.addr.str() + ":" + std::to_string(f.port) + "/" + proto_name(f.proto);
}

}  // namespace

ServiceTable translate(const Inputs& in) {
  const Index x = index(in);
  // A Service given by two sources: the last in source order, as for Pods.
  std::map<std::string, const objects::Service*> services;
  for (const auto& s : in.services) services[s.ns + "/" + s.name] = &s;

  ServiceTable table;
  // Each (address, port, protocol) is one Service's: the first by name keeps it.
  std::map<std::tuple<net::Ipv4, uint16_t, uint8_t>, std::string> owners;
  for (const auto& entry : services) {
    const auto& key = entry.first;  // not a structured binding: clang 14 cannot capture one in a lambda
    const auto& svc = entry.second;
    Service& out = table[key];
    out.ns = svc->ns;
    out.name = svc->name;
    out.type = objects::type_name(svc->type);
    out.source = svc->source;
    Warnings warn(out);
    auto sl = x.slices.find({svc->ns, svc->name});
    const std::vector<const objects::EndpointSlice*> none;
    const auto& slices = sl == x.slices.end() ? none : sl->second;
    out.endpoints_from = !slices.empty() ? EndpointsFrom::endpoint_slices : !svc->selector.empty() ? EndpointsFrom::derived : EndpointsFrom::none;
    out.not_proxied = why_not_proxied(*svc, in.proxy_name);
    if (!out.not_proxied.empty()) continue;

    std::vector<net::Ipv4> cluster_ips;
    for (const auto& ip : svc->cluster_ips) {
      if (auto v4 = net::parse_ipv4(ip)) cluster_ips.push_back(*v4);
      else warn.add("clusterIP " + ip + ": IPv6 is not served");
    }
    auto assigned = [&](const std::string& ip, const char* what) -> std::optional<net::Ipv4> {
      auto v4 = net::parse_ipv4(ip);
      if (!v4) {
        warn.add(std::string(what) + " " + ip + ": IPv6 is not served");
        return std::nullopt;
      }
      if (!x.node_addresses.count(*v4)) {
        warn.add(std::string(what) + " " + ip + " is not an address of this node: not served here");
        return std::nullopt;
      }
      return *v4;
    };
    std::vector<net::Ipv4> external_ips, lb_ips;
    for (const auto& ip : svc->external_ips)
      if (auto v4 = assigned(ip, "externalIP")) external_ips.push_back(*v4);
    if (svc->type == objects::Service::Type::load_balancer)
      for (const auto& ing : svc->lb_ingress) {
        if (ing.ip.empty()) continue;
        if (ing.ip_mode_proxy) {
          warn.add("LoadBalancer ingress " + ing.ip + " has ipMode Proxy: the load balancer proxies, not served here");
          continue;
        }
        if (auto v4 = assigned(ing.ip, "LoadBalancer ingress")) lb_ips.push_back(*v4);
      }
    const bool node_ports = svc->type == objects::Service::Type::node_port || svc->type == objects::Service::Type::load_balancer;

    for (const auto& sp : svc->ports) {
      const std::vector<Ep> eps = out.endpoints_from == EndpointsFrom::endpoint_slices ? slice_endpoints(slices, sp, in.node_name, warn)
                                  : out.endpoints_from == EndpointsFrom::derived       ? derived_endpoints(*svc, sp, x, in.node_name, warn)
                                                                                       : std::vector<Ep>{};
      const Picked picked = categorize(eps);
      auto add = [&](FrontendKind kind, net::Ipv4 addr, uint16_t port) {
        Frontend f = make_frontend(kind, addr, port, *svc, sp, eps, picked, in.maglev);
        auto [it, mine] = owners.try_emplace({addr, port, sp.proto}, key);
        if (!mine && it->second != key) {
          warn.add(std::string(kind_name(kind)) + " " + frontend_text(f) + " is also Service " + it->second + "'s: not served for this one");
          return;
        }
        if (!mine) return;  // the same frontend twice in this Service (an externalIP that is also a node address)
        out.frontends.push_back(std::move(f));
      };
      for (auto ip : cluster_ips) add(FrontendKind::cluster_ip, ip, sp.port);
      if (node_ports && sp.node_port && (sp.node_port < in.node_port_min || sp.node_port > in.node_port_max))
        warn.add("nodePort " + std::to_string(sp.node_port) + " of port " + port_label(sp) + " is outside --node-port-range " +
                 std::to_string(in.node_port_min) + "-" + std::to_string(in.node_port_max) + ": not served");
      else if (node_ports && sp.node_port)
        for (auto ip : in.node_addresses) add(FrontendKind::node_port, ip, sp.node_port);
      for (auto ip : external_ips) add(FrontendKind::external_ip, ip, sp.port);
      for (auto ip : lb_ips) add(FrontendKind::load_balancer, ip, sp.port);
    }
    std::sort(out.frontends.begin(), out.frontends.end(), [](const Frontend& a, const Frontend& b) {
      return std::tie(a.kind, a.addr, a.port, a.proto) < std::tie(b.kind, b.addr, b.port, b.proto);
    });
  }
  return table;
}

}  // namespace myelin::services
