// SPDX-License-Identifier: Apache-2.0
#include "myelin/objects/decode.hpp"

#include <yaml-cpp/yaml.h>

#include <set>

#include "myelin/net.hpp"
#include "myelin/policy/yaml_documents.hpp"

namespace myelin::objects {

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> k{
      {Kind::namespace_, "Namespace", "v1", "namespaces", "/api/v1/namespaces", false},
      {Kind::pod, "Pod", "v1", "pods", "/api/v1/pods", false},
      {Kind::network_policy, "NetworkPolicy", "networking.k8s.io/v1", "networkpolicies", "/apis/networking.k8s.io/v1/networkpolicies", false},
      {Kind::cilium_network_policy, "CiliumNetworkPolicy", "cilium.io/v2", "ciliumnetworkpolicies", "/apis/cilium.io/v2/ciliumnetworkpolicies", false},
      {Kind::cilium_clusterwide_network_policy, "CiliumClusterwideNetworkPolicy", "cilium.io/v2", "ciliumclusterwidenetworkpolicies",
       "/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies", false},
      {Kind::service, "Service", "v1", "services", "/api/v1/services", false},
      {Kind::endpoint_slice, "EndpointSlice", "discovery.k8s.io/v1", "endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", false},
      {Kind::node, "Node", "v1", "nodes", "/api/v1/nodes", false},
      {Kind::tracing_policy, "TracingPolicy", "cilium.io/v1alpha1", "tracingpolicies", "/apis/cilium.io/v1alpha1/tracingpolicies", true},
      {Kind::tracing_policy_namespaced, "TracingPolicyNamespaced", "cilium.io/v1alpha1", "tracingpoliciesnamespaced",
       "/apis/cilium.io/v1alpha1/tracingpoliciesnamespaced", true},
  };
  return k;
}

const KindInfo& info(Kind k) { return kinds()[static_cast<size_t>(k)]; }

const KindInfo* find_kind(std::string_view name) {
  for (const auto& k : kinds())
    if (name == k.name) return &k;
  return nullptr;
}

Kind kind_of(const Object& o) {
  struct V {
    Kind operator()(const policy::Namespace&) const { return Kind::namespace_; }
    Kind operator()(const policy::Pod&) const { return Kind::pod; }
    Kind operator()(const policy::NetworkPolicy& p) const { return find_kind(p.kind)->kind; }
    Kind operator()(const Service&) const { return Kind::service; }
    Kind operator()(const EndpointSlice&) const { return Kind::endpoint_slice; }
    Kind operator()(const Node&) const { return Kind::node; }
    Kind operator()(const tracing::TracingPolicy& p) const { return find_kind(p.kind)->kind; }
  };
  return std::visit(V{}, o);
}

std::string ns_of(const Object& o) {
  return std::visit([](const auto& v) -> std::string {
    if constexpr (requires { v.ns; }) return v.ns;
    else return "";
  }, o);
}

std::string name_of(const Object& o) {
  return std::visit([](const auto& v) -> std::string { return v.name; }, o);
}

const char* type_name(Service::Type t) {
  switch (t) {
    case Service::Type::cluster_ip: return "ClusterIP";
    case Service::Type::node_port: return "NodePort";
    case Service::Type::load_balancer: return "LoadBalancer";
    case Service::Type::external_name: return "ExternalName";
  }
  return "?";
}

const char* address_type_name(EndpointSlice::AddressType t) {
  switch (t) {
    case EndpointSlice::AddressType::ipv4: return "IPv4";
    case EndpointSlice::AddressType::ipv6: return "IPv6";
    case EndpointSlice::AddressType::fqdn: return "FQDN";
  }
  return "?";
}

const char* protocol_name(uint8_t proto) { return proto == 17 ? "UDP" : proto == 132 ? "SCTP" : "TCP"; }

namespace {

// Thrown inside a decoder, a refusal at the top: file:line: field: what.
struct Fail {
  int line;
  std::string field, what;
};

// Built-in kinds decode as Go's encoding/json does: null is omitted. Only
// the fields these objects are used for are read; the others are passed
// over (nothing is enforced from them, and the API server validated them).
bool given(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

class Reader {
 public:
  explicit Reader(int doc_line) : doc_line_(doc_line) {}
  [[noreturn]] void fail(const YAML::Node& n, const std::string& field, const std::string& what) const {
    throw Fail{n.IsDefined() ? static_cast<int>(n.Mark().line) + 1 : doc_line_, field, what};
  }
  std::string str(const YAML::Node& n, const std::string& field) const {
    if (!n.IsScalar()) fail(n, field, "must be a string");
    return n.as<std::string>();
  }
  std::string opt_str(const YAML::Node& parent, const char* key, const std::string& field) const {
    return given(parent[key]) ? str(parent[key], field) : "";
  }
  void map(const YAML::Node& n, const std::string& field) const {
    if (given(n) && !n.IsMap()) fail(n, field, "must be a mapping");
  }
  std::vector<YAML::Node> list(const YAML::Node& n, const std::string& field) const {
    std::vector<YAML::Node> out;
    if (!given(n)) return out;
    if (!n.IsSequence()) fail(n, field, "must be a list");
    for (const auto& i : n) out.push_back(i);
    return out;
  }
  std::vector<std::string> strings(const YAML::Node& n, const std::string& field) const {
    std::vector<std::string> out;
    const auto items = list(n, field);
    for (size_t i = 0; i < items.size(); ++i) out.push_back(str(items[i], field + "[" + std::to_string(i) + "]"));
    return out;
  }
  policy::Labels labels(const YAML::Node& n, const std::string& field) const {
    policy::Labels out;
    if (!given(n)) return out;
    if (!n.IsMap()) fail(n, field, "must be a mapping of label keys to values");
    for (const auto& kv : n) {
      const std::string k = kv.first.as<std::string>();
      out[k] = given(kv.second) ? str(kv.second, field + "." + k) : "";
    }
    return out;
  }
  // Go's JSON booleans: true or false, nothing else.
  std::optional<bool> boolean(const YAML::Node& n, const std::string& field) const {
    if (!given(n)) return std::nullopt;
    const std::string v = n.IsScalar() ? n.as<std::string>() : "";
    if (v == "true") return true;
    if (v == "false") return false;
    fail(n, field, "must be true or false");
  }
  long number(const YAML::Node& n, const std::string& field, long lo, long hi, const std::string& what) const {
    long v = -1;
    if (n.IsScalar()) {
      const std::string t = n.as<std::string>();
      if (!t.empty() && t.size() <= 10 && t.find_first_not_of("0123456789") == std::string::npos) v = std::stol(t);
    }
    if (v < lo || v > hi) fail(n, field, "must be " + what);
    return v;
  }
  uint16_t port(const YAML::Node& n, const std::string& field) const {
    return static_cast<uint16_t>(number(n, field, 1, 65535, "a port number from 1 to 65535"));
  }
  uint8_t protocol(const YAML::Node& n, const std::string& field) const {
    if (!given(n)) return 6;  // SetDefaults: TCP
    const std::string p = str(n, field);
    if (p == "TCP") return 6;
    if (p == "UDP") return 17;
    if (p == "SCTP") return 132;
    fail(n, field, "must be TCP, UDP or SCTP, not '" + p + "'");
  }
  // An IP address as the API stores one (IPv4 dotted, or IPv6).
  std::string address(const YAML::Node& n, const std::string& field) const {
    const std::string v = str(n, field);
    if (net::parse_ipv4(v) || (v.find(':') != std::string::npos && v.find_first_not_of("0123456789abcdefABCDEF:.") == std::string::npos))
      return v;
    fail(n, field, "'" + v + "' is not an IP address");
  }
  std::string cidr(const YAML::Node& n, const std::string& field) const {
    const std::string v = str(n, field);
    const auto slash = v.find('/');
    if (slash != std::string::npos && (net::parse_cidr4(v) || v.find(':') < slash)) return v;
    fail(n, field, "'" + v + "' is not a CIDR");
  }

 private:
  int doc_line_;
};

// IANA_SVC_NAME, as validation.IsValidPortName: at most 15 characters of
// a-z, 0-9 and '-', at least one letter, no '-' at either end nor two together.
bool port_name(const std::string& s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-' || s.find("--") != std::string::npos) return false;
  if (s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) return false;
  return s.find_first_of("abcdefghijklmnopqrstuvwxyz") != std::string::npos;
}

struct Meta {
  std::string ns, name;
  policy::Labels labels;
};

Meta meta_of(const Reader& r, const YAML::Node& doc, const KindInfo& k, bool namespaced) {
  const std::string api = r.str(doc["apiVersion"], "apiVersion");
  if (api != k.api_version) r.fail(doc["apiVersion"], "apiVersion", std::string(k.name) + " must be " + k.api_version + ", not " + api);
  const auto& m = doc["metadata"];
  r.map(m, "metadata");
  if (!given(m) || !given(m["name"])) r.fail(doc, "metadata.name", "is required");
  Meta out;
  out.name = r.str(m["name"], "metadata.name");
  if (out.name.empty()) r.fail(m["name"], "metadata.name", "must not be empty");
  if (namespaced) {
    out.ns = r.opt_str(m, "namespace", "metadata.namespace");
    if (out.ns.empty()) out.ns = "default";  // as kubectl without a context
  }
  out.labels = r.labels(m["labels"], "metadata.labels");
  return out;
}

Service service(const Reader& r, const YAML::Node& doc) {
  auto m = meta_of(r, doc, info(Kind::service), true);
  Service s;
  s.ns = m.ns, s.name = m.name, s.labels = std::move(m.labels);
  if (auto it = s.labels.find("service.kubernetes.io/service-proxy-name"); it != s.labels.end()) s.proxy_name = it->second;
  const auto& spec = doc["spec"];
  r.map(spec, "spec");
  if (!given(spec)) return s;
  const std::string type = r.opt_str(spec, "type", "spec.type");
  if (type.empty() || type == "ClusterIP") s.type = Service::Type::cluster_ip;
  else if (type == "NodePort") s.type = Service::Type::node_port;
  else if (type == "LoadBalancer") s.type = Service::Type::load_balancer;
  else if (type == "ExternalName") s.type = Service::Type::external_name;
  else r.fail(spec["type"], "spec.type", "must be ClusterIP, NodePort, LoadBalancer or ExternalName, not '" + type + "'");
  // clusterIPs holds clusterIP first; either may be given alone.
  const std::string ip = r.opt_str(spec, "clusterIP", "spec.clusterIP");
  auto ips = r.list(spec["clusterIPs"], "spec.clusterIPs");
  if (ip == "None" || (!ips.empty() && ips[0].IsScalar() && ips[0].as<std::string>() == "None")) {
    s.headless = true;
  } else {
    for (size_t i = 0; i < ips.size(); ++i) s.cluster_ips.push_back(r.address(ips[i], "spec.clusterIPs[" + std::to_string(i) + "]"));
    if (!ip.empty()) {
      (void)r.address(spec["clusterIP"], "spec.clusterIP");
      if (s.cluster_ips.empty()) s.cluster_ips.push_back(ip);
      else if (s.cluster_ips[0] != ip) r.fail(spec["clusterIP"], "spec.clusterIP", "must be the first of spec.clusterIPs (" + s.cluster_ips[0] + ")");
    }
  }
  const auto ports = r.list(spec["ports"], "spec.ports");
  for (size_t i = 0; i < ports.size(); ++i) {
    const std::string f = "spec.ports[" + std::to_string(i) + "]";
    const auto& p = ports[i];
    if (!given(p) || !p.IsMap()) r.fail(p, f, "must be a mapping with port");
    ServicePort sp;
    sp.name = r.opt_str(p, "name", f + ".name");
    sp.proto = r.protocol(p["protocol"], f + ".protocol");
    if (!given(p["port"])) r.fail(p, f + ".port", "is required");
    sp.port = r.port(p["port"], f + ".port");
    sp.target.number = sp.port;  // SetDefaults_Service: targetPort omitted is port
    if (const auto& t = p["targetPort"]; given(t)) {
      const std::string v = r.str(t, f + ".targetPort");
      if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos) {
        sp.target.number = r.port(t, f + ".targetPort");
      } else if (port_name(v)) {
        sp.target = TargetPort{0, v};
      } else {
        r.fail(t, f + ".targetPort", "must be a port number from 1 to 65535 or a port name (up to 15 of a-z, 0-9, '-'), not '" + v + "'");
      }
    }
    if (given(p["nodePort"])) {
      const long np = r.number(p["nodePort"], f + ".nodePort", 0, 65535, "a port number from 1 to 65535");
      sp.node_port = static_cast<uint16_t>(np);
    }
    if (ports.size() > 1 && sp.name.empty()) r.fail(p, f + ".name", "is required when a Service has more than one port");
    s.ports.push_back(sp);
  }
  s.selector = r.labels(spec["selector"], "spec.selector");
  const std::string aff = r.opt_str(spec, "sessionAffinity", "spec.sessionAffinity");
  if (aff == "ClientIP") s.client_ip_affinity = true;
  else if (!aff.empty() && aff != "None") r.fail(spec["sessionAffinity"], "spec.sessionAffinity", "must be None or ClientIP, not '" + aff + "'");
  if (const auto& c = spec["sessionAffinityConfig"]; given(c)) {
    r.map(c, "spec.sessionAffinityConfig");
    const auto& cip = c["clientIP"];
    r.map(cip, "spec.sessionAffinityConfig.clientIP");
    if (given(cip) && given(cip["timeoutSeconds"]))
      s.affinity_timeout_s = static_cast<uint32_t>(r.number(cip["timeoutSeconds"], "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                                                            1, 86400, "from 1 to 86400 seconds"));
  }
  for (auto [key, out] : {std::pair{"externalTrafficPolicy", &s.external_local}, std::pair{"internalTrafficPolicy", &s.internal_local}}) {
    const std::string f = std::string("spec.") + key;
    const std::string v = r.opt_str(spec, key, f);
    if (v == "Local") *out = true;
    else if (!v.empty() && v != "Cluster") r.fail(spec[key], f, "must be Cluster or Local, not '" + v + "'");
  }
  s.external_name = r.opt_str(spec, "externalName", "spec.externalName");
  if (s.type == Service::Type::external_name && s.external_name.empty())
    r.fail(spec, "spec.externalName", "is required for type ExternalName");
  const auto ext = r.list(spec["externalIPs"], "spec.externalIPs");
  for (size_t i = 0; i < ext.size(); ++i) s.external_ips.push_back(r.address(ext[i], "spec.externalIPs[" + std::to_string(i) + "]"));
  s.publish_not_ready = r.boolean(spec["publishNotReadyAddresses"], "spec.publishNotReadyAddresses").value_or(false);
  const auto& status = doc["status"];
  r.map(status, "status");
  if (given(status)) {
    const auto& lb = status["loadBalancer"];
    r.map(lb, "status.loadBalancer");
    const auto ing = given(lb) ? r.list(lb["ingress"], "status.loadBalancer.ingress") : std::vector<YAML::Node>{};
    for (size_t i = 0; i < ing.size(); ++i) {
      const std::string f = "status.loadBalancer.ingress[" + std::to_string(i) + "]";
      if (!given(ing[i]) || !ing[i].IsMap()) r.fail(ing[i], f, "must be a mapping with ip or hostname");
      Service::Ingress in;
      if (given(ing[i]["ip"])) in.ip = r.address(ing[i]["ip"], f + ".ip");
      const std::string mode = r.opt_str(ing[i], "ipMode", f + ".ipMode");
      if (mode == "Proxy") in.ip_mode_proxy = true;
      else if (!mode.empty() && mode != "VIP") r.fail(ing[i]["ipMode"], f + ".ipMode", "must be VIP or Proxy, not '" + mode + "'");
      s.lb_ingress.push_back(std::move(in));
    }
  }
  return s;
}

EndpointSlice endpoint_slice(const Reader& r, const YAML::Node& doc) {
  auto m = meta_of(r, doc, info(Kind::endpoint_slice), true);
  EndpointSlice s;
  s.ns = m.ns, s.name = m.name, s.labels = std::move(m.labels);
  if (auto it = s.labels.find("kubernetes.io/service-name"); it != s.labels.end()) s.service = it->second;
  // addressType is required and immutable; FQDN slices carry names.
  if (!given(doc["addressType"])) r.fail(doc, "addressType", "is required (IPv4, IPv6 or FQDN)");
  const std::string at = r.str(doc["addressType"], "addressType");
  if (at == "IPv4") s.address_type = EndpointSlice::AddressType::ipv4;
  else if (at == "IPv6") s.address_type = EndpointSlice::AddressType::ipv6;
  else if (at == "FQDN") s.address_type = EndpointSlice::AddressType::fqdn;
  else r.fail(doc["addressType"], "addressType", "must be IPv4, IPv6 or FQDN, not '" + at + "'");
  const auto eps = r.list(doc["endpoints"], "endpoints");
  for (size_t i = 0; i < eps.size(); ++i) {
    const std::string f = "endpoints[" + std::to_string(i) + "]";
    const auto& e = eps[i];
    if (!given(e) || !e.IsMap()) r.fail(e, f, "must be a mapping with addresses");
    Endpoint ep;
    const auto addrs = r.list(e["addresses"], f + ".addresses");
    if (addrs.empty()) r.fail(given(e["addresses"]) ? e["addresses"] : e, f + ".addresses", "must list at least one address");
    for (size_t j = 0; j < addrs.size(); ++j) {
      const std::string af = f + ".addresses[" + std::to_string(j) + "]";
      const std::string a = r.str(addrs[j], af);
      const bool v4 = net::parse_ipv4(a).ok();
      if (s.address_type == EndpointSlice::AddressType::ipv4 && !v4) r.fail(addrs[j], af, "'" + a + "' is not an IPv4 address (addressType IPv4)");
      if (s.address_type == EndpointSlice::AddressType::ipv6) (void)r.address(addrs[j], af);
      ep.addresses.push_back(a);
    }
    if (const auto& c = e["conditions"]; given(c)) {
      r.map(c, f + ".conditions");
      const auto ready = r.boolean(c["ready"], f + ".conditions.ready");
      const auto serving = r.boolean(c["serving"], f + ".conditions.serving");
      const auto terminating = r.boolean(c["terminating"], f + ".conditions.terminating");
      ep.ready = ready.value_or(true);
      ep.serving = serving.value_or(ep.ready);
      ep.terminating = terminating.value_or(false);
    }
    ep.node_name = r.opt_str(e, "nodeName", f + ".nodeName");
    ep.hostname = r.opt_str(e, "hostname", f + ".hostname");
    ep.zone = r.opt_str(e, "zone", f + ".zone");
    if (const auto& t = e["targetRef"]; given(t)) {
      r.map(t, f + ".targetRef");
      ep.target_kind = r.opt_str(t, "kind", f + ".targetRef.kind");
      ep.target_ns = r.opt_str(t, "namespace", f + ".targetRef.namespace");
      ep.target_name = r.opt_str(t, "name", f + ".targetRef.name");
    }
    s.endpoints.push_back(std::move(ep));
  }
  const auto ports = r.list(doc["ports"], "ports");
  for (size_t i = 0; i < ports.size(); ++i) {
    const std::string f = "ports[" + std::to_string(i) + "]";
    const auto& p = ports[i];
    if (!given(p)) continue;  // a null item is the zero port: every port, TCP
    if (!p.IsMap()) r.fail(p, f, "must be a mapping");
    EndpointPort ep;
    ep.name = r.opt_str(p, "name", f + ".name");
    ep.proto = r.protocol(p["protocol"], f + ".protocol");
    if (given(p["port"])) ep.port = r.port(p["port"], f + ".port");
    s.ports.push_back(ep);
  }
  return s;
}

Node node(const Reader& r, const YAML::Node& doc) {
  auto m = meta_of(r, doc, info(Kind::node), false);
  Node n;
  n.name = m.name, n.labels = std::move(m.labels);
  const auto& spec = doc["spec"];
  r.map(spec, "spec");
  if (given(spec)) {
    const auto cidrs = r.list(spec["podCIDRs"], "spec.podCIDRs");
    for (size_t i = 0; i < cidrs.size(); ++i) n.pod_cidrs.push_back(r.cidr(cidrs[i], "spec.podCIDRs[" + std::to_string(i) + "]"));
    if (given(spec["podCIDR"])) {
      const std::string c = r.cidr(spec["podCIDR"], "spec.podCIDR");
      if (n.pod_cidrs.empty()) n.pod_cidrs.push_back(c);
      else if (n.pod_cidrs[0] != c) r.fail(spec["podCIDR"], "spec.podCIDR", "must be the first of spec.podCIDRs (" + n.pod_cidrs[0] + ")");
    }
  }
  const auto& status = doc["status"];
  r.map(status, "status");
  if (given(status)) {
    const auto addrs = r.list(status["addresses"], "status.addresses");
    for (size_t i = 0; i < addrs.size(); ++i) {
      const std::string f = "status.addresses[" + std::to_string(i) + "]";
      if (!given(addrs[i]) || !addrs[i].IsMap()) r.fail(addrs[i], f, "must be a mapping with type and address");
      const std::string type = r.opt_str(addrs[i], "type", f + ".type");
      if (type != "InternalIP" && type != "ExternalIP") continue;  // Hostname, InternalDNS, ExternalDNS: names
      if (!given(addrs[i]["address"])) r.fail(addrs[i], f + ".address", "is required");
      (type == "InternalIP" ? n.internal_ips : n.external_ips).push_back(r.address(addrs[i]["address"], f + ".address"));
    }
  }
  return n;
}

// Whether a document is one of the kinds defined here (else policy's decoder has it).
const KindInfo* own_kind(const YAML::Node& doc) {
  if (!doc.IsMap() || !doc["kind"] || !doc["kind"].IsScalar()) return nullptr;
  const auto* k = find_kind(doc["kind"].as<std::string>());
  return k && (k->kind == Kind::service || k->kind == Kind::endpoint_slice || k->kind == Kind::node) ? k : nullptr;
}

}  // namespace

policy::Decoded<Object> decode_service_kind(const YAML::Node& doc, const std::string& file) {
  policy::Refusal refusal;
  try {
    const Reader r(static_cast<int>(doc.Mark().line) + 1);
    const std::string source = file + ":" + std::to_string(doc.Mark().line + 1);
    const auto* k = own_kind(doc);
    if (!k) r.fail(doc, "kind", "must be Service, EndpointSlice or Node");
    if (!given(doc["apiVersion"])) r.fail(doc, "apiVersion", "is required");
    if (k->kind == Kind::service) {
      auto s = service(r, doc);
      s.source = source;
      return Object{std::move(s)};
    }
    if (k->kind == Kind::endpoint_slice) {
      auto s = endpoint_slice(r, doc);
      s.source = source;
      return Object{std::move(s)};
    }
    auto n = node(r, doc);
    n.source = source;
    return Object{std::move(n)};
  } catch (const Fail& f) {
    refusal = policy::Refusal{file, f.line, f.field, f.what};
  } catch (const YAML::Exception& e) {
    refusal = policy::Refusal{file, e.mark.line + 1, "", e.msg};
  }
  policy::describe(doc, refusal);
  return refusal;
}

Decoded decode(const std::string& text, const std::string& source) {
  Decoded out{std::vector<Object>{}, tracing::decode_tracing(text, source)};
  auto loaded = policy::load_yaml_documents(text, source);
  if (auto* refusal = std::get_if<policy::Refusal>(&loaded)) {
    out.objects = std::move(*refusal);
    return out;
  }
  std::vector<Object> objects;
  for (const auto& doc : std::get<std::vector<YAML::Node>>(loaded)) {
    if (doc.IsNull()) continue;  // "---" with nothing after it
    auto d = own_kind(doc) ? decode_service_kind(doc, source) : [&]() -> policy::Decoded<Object> {
      auto p = policy::decode_document(doc, source);
      if (auto* r = std::get_if<policy::Refusal>(&p)) return std::move(*r);
      return std::visit([](auto&& v) -> policy::Decoded<Object> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, policy::Other>) return policy::Refusal{};  // passed over (marked by an empty reason)
        else return Object{std::move(v)};
      }, std::get<policy::Object>(std::move(p)));
    }();
    if (auto* r = std::get_if<policy::Refusal>(&d)) {
      if (r->reason.empty()) continue;
      out.objects = std::move(*r);
      return out;
    }
    objects.push_back(std::get<Object>(std::move(d)));
  }
  out.objects = std::move(objects);
  return out;
}

}  // namespace myelin::objects
