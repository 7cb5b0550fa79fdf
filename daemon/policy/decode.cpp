// SPDX-License-Identifier: Apache-2.0
#include "myelin/policy/decode.hpp"

#include <yaml-cpp/yaml.h>

#include <set>

#include "myelin/abi.h"
#include "myelin/net.hpp"
#include "myelin/policy/yaml_documents.hpp"

namespace myelin::policy {
namespace {

// Thrown inside the decoder, turned into an Error at the top: "file:line: field: what".
struct DecodeError {
  int line;
  std::string field, what;
};

class Ctx {
 public:
  explicit Ctx(std::string file) : file_(std::move(file)) {}
  [[noreturn]] void fail(const YAML::Node& n, const std::string& field, const std::string& what) const {
    throw DecodeError{n.Mark().line + 1, field, what};
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

std::string str(const Ctx& c, const YAML::Node& n, const std::string& field) {
  if (!n.IsScalar()) c.fail(n, field, "must be a string");
  return n.as<std::string>();
}

// Fields a decoder accepts at one level; anything else is named in an error.
void only(const Ctx& c, const YAML::Node& n, const std::string& where, const std::set<std::string>& allowed) {
  if (!n.IsMap()) c.fail(n, where, "must be a mapping");
  for (const auto& kv : n) {
    std::string key = kv.first.as<std::string>();
    if (!allowed.count(key))
      c.fail(kv.first, where.empty() ? key : where + "." + key,
             "is not supported by Myelin (supported here: " + [&] {
               std::string s;
               for (const auto& a : allowed) s += (s.empty() ? "" : ", ") + a;
               return s;
             }() + ")");
  }
}

Labels labels_of(const Ctx& c, const YAML::Node& n, const std::string& field, bool strip_source) {
  Labels out;
  if (!n) return out;
  if (!n.IsMap()) c.fail(n, field, "must be a mapping of label keys to values");
  for (const auto& kv : n) {
    std::string k = kv.first.as<std::string>();
    if (strip_source)
      for (const char* prefix : {"k8s:", "any:"})
        if (k.rfind(prefix, 0) == 0) k = k.substr(std::string(prefix).size());
    out[k] = str(c, kv.second, field + "." + k);
  }
  return out;
}

Selector selector_of(const Ctx& c, const YAML::Node& n, const std::string& field, bool cilium) {
  Selector s;
  if (!n || n.IsNull()) return s;
  only(c, n, field, {"matchLabels", "matchExpressions"});
  s.match_labels = labels_of(c, n["matchLabels"], field + ".matchLabels", cilium);
  if (const auto& exprs = n["matchExpressions"]) {
    if (!exprs.IsSequence()) c.fail(exprs, field + ".matchExpressions", "must be a list");
    for (size_t i = 0; i < exprs.size(); ++i) {
      const auto& e = exprs[i];
      std::string f = field + ".matchExpressions[" + std::to_string(i) + "]";
      only(c, e, f, {"key", "operator", "values"});
      Selector::Expr x;
      if (!e["key"]) c.fail(e, f + ".key", "is required");
      x.key = str(c, e["key"], f + ".key");
      if (cilium)
        for (const char* prefix : {"k8s:", "any:"})
          if (x.key.rfind(prefix, 0) == 0) x.key = x.key.substr(std::string(prefix).size());
      std::string op = e["operator"] ? str(c, e["operator"], f + ".operator") : "";
      if (op == "In") x.op = Selector::Expr::Op::In;
      else if (op == "NotIn") x.op = Selector::Expr::Op::NotIn;
      else if (op == "Exists") x.op = Selector::Expr::Op::Exists;
      else if (op == "DoesNotExist") x.op = Selector::Expr::Op::DoesNotExist;
      else c.fail(e, f + ".operator", "must be In, NotIn, Exists or DoesNotExist, not '" + op + "'");
      if (const auto& vals = e["values"]) {
        if (!vals.IsSequence()) c.fail(vals, f + ".values", "must be a list");
        for (const auto& v : vals) x.values.push_back(str(c, v, f + ".values"));
      }
      if ((x.op == Selector::Expr::Op::In || x.op == Selector::Expr::Op::NotIn) && x.values.empty())
        c.fail(e, f + ".values", "must not be empty for " + op);
      s.exprs.push_back(x);
    }
  }
  return s;
}

uint8_t protocol_of(const Ctx& c, const YAML::Node& n, const std::string& field, bool allow_any) {
  if (!n) return 6;  // TCP by default, as Kubernetes
  std::string p = str(c, n, field);
  if (p == "TCP") return 6;
  if (p == "UDP") return 17;
  if (p == "SCTP") return 132;
  if (allow_any && p == "ANY") return 0;
  if (allow_any && p == "ICMP") return 1;
  c.fail(n, field, "must be TCP, UDP or SCTP" + std::string(allow_any ? ", ANY or ICMP" : "") + ", not '" + p + "'");
}

uint16_t port_number(const Ctx& c, const YAML::Node& n, const std::string& field) {
  long v = -1;
  try {
    v = std::stol(n.as<std::string>());
  } catch (...) {
  }
  if (v < 1 || v > 65535) c.fail(n, field, "must be a port number from 1 to 65535");
  return static_cast<uint16_t>(v);
}

std::string cidr_of(const Ctx& c, const YAML::Node& n, const std::string& field) {
  std::string v = str(c, n, field);
  auto slash = v.find('/');
  auto ip = net::parse_ipv4(v.substr(0, slash));
  int len = 32;
  if (slash != std::string::npos) {
    std::string l = v.substr(slash + 1);
    if (l.empty() || l.size() > 2 || l.find_first_not_of("0123456789") != std::string::npos || std::stoi(l) > 32) ip = Error{""};
    else len = std::stoi(l);
  }
  if (!ip) c.fail(n, field, "'" + v + "' is not an IPv4 CIDR (IPv6 policy is not supported yet)");
  uint32_t mask = len == 0 ? 0 : (len == 32 ? 0xffffffffu : ~((1u << (32 - len)) - 1));
  return net::Cidr4{net::Ipv4{ip->host & mask}, static_cast<uint8_t>(len)}.str();
}

// --- networking.k8s.io/v1 NetworkPolicy ---
Peer k8s_peer(const Ctx& c, const YAML::Node& n, const std::string& f) {
  only(c, n, f, {"podSelector", "namespaceSelector", "ipBlock"});
  Peer p;
  if (n["ipBlock"]) {
    if (n["podSelector"] || n["namespaceSelector"]) c.fail(n, f, "ipBlock cannot be combined with selectors");
    const auto& b = n["ipBlock"];
    only(c, b, f + ".ipBlock", {"cidr", "except"});
    if (!b["cidr"]) c.fail(b, f + ".ipBlock.cidr", "is required");
    Cidr cidr{cidr_of(c, b["cidr"], f + ".ipBlock.cidr"), {}};
    if (const auto& ex = b["except"])
      for (size_t i = 0; i < ex.size(); ++i) cidr.except.push_back(cidr_of(c, ex[i], f + ".ipBlock.except[" + std::to_string(i) + "]"));
    p.cidrs.push_back(cidr);
    return p;
  }
  if (n["podSelector"]) p.pods = selector_of(c, n["podSelector"], f + ".podSelector", false);
  if (n["namespaceSelector"]) {
    p.namespaces = selector_of(c, n["namespaceSelector"], f + ".namespaceSelector", false);
    if (p.namespaces->empty()) p.any_namespace = true, p.namespaces.reset();
  }
  if (!n["podSelector"] && !n["namespaceSelector"]) c.fail(n, f, "needs podSelector, namespaceSelector or ipBlock");
  return p;
}

std::vector<PortRule> k8s_ports(const Ctx& c, const YAML::Node& n, const std::string& f) {
  std::vector<PortRule> out;
  if (!n) return out;
  for (size_t i = 0; i < n.size(); ++i) {
    std::string pf = f + "[" + std::to_string(i) + "]";
    only(c, n[i], pf, {"port", "protocol", "endPort"});
    PortRule r;
    r.proto = protocol_of(c, n[i]["protocol"], pf + ".protocol", false);
    if (const auto& port = n[i]["port"]) {
      std::string v = port.as<std::string>();
      if (!v.empty() && v.find_first_not_of("0123456789") != std::string::npos) r.name = v;
      else r.port = port_number(c, port, pf + ".port");
    }
    if (const auto& end = n[i]["endPort"]) {
      if (!r.name.empty() || r.port == 0) c.fail(end, pf + ".endPort", "needs a numeric port");
      r.end_port = port_number(c, end, pf + ".endPort");
      if (r.end_port < r.port) c.fail(end, pf + ".endPort", "must not be below port");
    }
    out.push_back(r);
  }
  return out;
}

NetworkPolicy k8s_network_policy(const Ctx& c, const YAML::Node& doc, const std::string& ns, const std::string& name) {
  NetworkPolicy p;
  p.kind = "NetworkPolicy";
  p.ns = ns;
  p.name = name;
  const auto& spec = doc["spec"];
  if (!spec) c.fail(doc, "spec", "is required");
  only(c, spec, "spec", {"podSelector", "policyTypes", "ingress", "egress"});
  if (!spec["podSelector"]) c.fail(spec, "spec.podSelector", "is required");
  p.subject = selector_of(c, spec["podSelector"], "spec.podSelector", false);
  if (const auto& types = spec["policyTypes"]) {
    for (const auto& t : types) {
      std::string v = str(c, t, "spec.policyTypes");
      if (v == "Ingress") p.ingress_type = true;
      else if (v == "Egress") p.egress_type = true;
      else c.fail(t, "spec.policyTypes", "must be Ingress or Egress, not '" + v + "'");
    }
  } else {
    p.ingress_type = true;  // the Kubernetes defaults
    p.egress_type = static_cast<bool>(spec["egress"]);
  }
  for (const auto& [key, peers_key, rules] : {std::tuple{"ingress", "from", &p.ingress}, std::tuple{"egress", "to", &p.egress}}) {
    const auto& list = spec[key];
    if (!list) continue;
    for (size_t i = 0; i < list.size(); ++i) {
      std::string f = std::string("spec.") + key + "[" + std::to_string(i) + "]";
      only(c, list[i], f, {peers_key, "ports"});
      Rule r;
      const auto& peers = list[i][peers_key];
      r.all_peers = !peers || peers.size() == 0;
      if (peers)
        for (size_t j = 0; j < peers.size(); ++j)
          r.peers.push_back(k8s_peer(c, peers[j], f + "." + peers_key + "[" + std::to_string(j) + "]"));
      r.ports = k8s_ports(c, list[i]["ports"], f + ".ports");
      rules->push_back(r);
    }
  }
  return p;
}

// --- cilium.io/v2 CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy (subset) ---
Peer cilium_endpoints(const Ctx& c, const YAML::Node& n, const std::string& f, bool clusterwide) {
  Peer p;
  Selector s = selector_of(c, n, f, true);
  // The namespace is a label in Cilium's selectors.
  auto ns = s.match_labels.find("io.kubernetes.pod.namespace");
  if (ns != s.match_labels.end()) {
    Selector nsel;
    nsel.match_labels["kubernetes.io/metadata.name"] = ns->second;
    p.namespaces = nsel;
    s.match_labels.erase(ns);
  } else if (clusterwide) {
    p.any_namespace = true;
  }
  p.pods = s;
  return p;
}

std::vector<PortRule> cilium_ports(const Ctx& c, const YAML::Node& n, const std::string& f) {
  std::vector<PortRule> out;
  for (size_t i = 0; i < n.size(); ++i) {
    std::string pf = f + "[" + std::to_string(i) + "]";
    only(c, n[i], pf, {"ports"});
    const auto& ports = n[i]["ports"];
    if (!ports) continue;
    for (size_t j = 0; j < ports.size(); ++j) {
      std::string ppf = pf + ".ports[" + std::to_string(j) + "]";
      only(c, ports[j], ppf, {"port", "endPort", "protocol"});
      PortRule r;
      r.proto = ports[j]["protocol"] ? protocol_of(c, ports[j]["protocol"], ppf + ".protocol", true) : 0;
      if (const auto& port = ports[j]["port"]) {
        std::string v = port.as<std::string>();
        if (v != "0") r.port = port_number(c, port, ppf + ".port");
      }
      if (const auto& end = ports[j]["endPort"]) {
        r.end_port = port_number(c, end, ppf + ".endPort");
        if (r.port && r.end_port < r.port) c.fail(end, ppf + ".endPort", "must not be below port");  // a range of nothing
      }
      out.push_back(r);
    }
  }
  return out;
}

Rule cilium_rule(const Ctx& c, const YAML::Node& n, const std::string& f, bool ingress, bool deny, bool clusterwide) {
  const std::string dir = ingress ? "from" : "to";
  only(c, n, f, {dir + "Endpoints", dir + "CIDR", dir + "CIDRSet", dir + "Entities", "toPorts"});
  Rule r;
  r.deny = deny;
  if (const auto& eps = n[dir + "Endpoints"])
    for (size_t i = 0; i < eps.size(); ++i)
      r.peers.push_back(cilium_endpoints(c, eps[i], f + "." + dir + "Endpoints[" + std::to_string(i) + "]", clusterwide));
  if (const auto& cidrs = n[dir + "CIDR"]) {
    Peer p;
    for (size_t i = 0; i < cidrs.size(); ++i) p.cidrs.push_back({cidr_of(c, cidrs[i], f + "." + dir + "CIDR[" + std::to_string(i) + "]"), {}});
    r.peers.push_back(p);
  }
  if (const auto& set = n[dir + "CIDRSet"]) {
    Peer p;
    for (size_t i = 0; i < set.size(); ++i) {
      std::string sf = f + "." + dir + "CIDRSet[" + std::to_string(i) + "]";
      only(c, set[i], sf, {"cidr", "except"});
      Cidr cidr{cidr_of(c, set[i]["cidr"], sf + ".cidr"), {}};
      if (const auto& ex = set[i]["except"])
        for (size_t j = 0; j < ex.size(); ++j) cidr.except.push_back(cidr_of(c, ex[j], sf + ".except[" + std::to_string(j) + "]"));
      p.cidrs.push_back(cidr);
    }
    r.peers.push_back(p);
  }
  if (const auto& ents = n[dir + "Entities"]) {
    Peer p;
    for (size_t i = 0; i < ents.size(); ++i) {
      std::string e = str(c, ents[i], f + "." + dir + "Entities");
      static const std::set<std::string> known = {"host", "world", "cluster", "all", "remote-node"};
      if (!known.count(e)) c.fail(ents[i], f + "." + dir + "Entities", "'" + e + "' is not supported (host, world, cluster, all, remote-node)");
      p.entities.push_back(e);
    }
    r.peers.push_back(p);
  }
  r.all_peers = r.peers.empty();
  if (const auto& tp = n["toPorts"]) r.ports = cilium_ports(c, tp, f + ".toPorts");
  return r;
}

NetworkPolicy cilium_policy(const Ctx& c, const YAML::Node& doc, const std::string& kind, const std::string& ns,
                            const std::string& name) {
  NetworkPolicy p;
  p.kind = kind;
  const bool cw = kind == "CiliumClusterwideNetworkPolicy";
  p.ns = cw ? "" : ns;
  p.name = name;
  const auto& spec = doc["spec"];
  if (!spec) c.fail(doc, "spec", "is required (specs: lists are not supported yet)");
  only(c, spec, "spec", {"endpointSelector", "ingress", "egress", "ingressDeny", "egressDeny", "description"});
  if (!spec["endpointSelector"]) c.fail(spec, "spec.endpointSelector", "is required (nodeSelector is not supported)");
  p.subject = selector_of(c, spec["endpointSelector"], "spec.endpointSelector", true);
  for (const auto& [key, ingress, deny] : {std::tuple{"ingress", true, false}, std::tuple{"egress", false, false},
                                           std::tuple{"ingressDeny", true, true}, std::tuple{"egressDeny", false, true}}) {
    const auto& list = spec[key];
    if (!list) continue;
    if (!deny) (ingress ? p.ingress_type : p.egress_type) = true;  // allow rules put the direction in default deny
    for (size_t i = 0; i < list.size(); ++i) {
      Rule r = cilium_rule(c, list[i], std::string("spec.") + key + "[" + std::to_string(i) + "]", ingress, deny, cw);
      (ingress ? p.ingress : p.egress).push_back(r);
    }
  }
  return p;
}

Object decode_doc(const Ctx& c, const YAML::Node& doc) {
  if (!doc.IsMap()) c.fail(doc, "", "a document must be a mapping with apiVersion and kind");
  if (!doc["kind"]) c.fail(doc, "kind", "is required");
  if (!doc["apiVersion"]) c.fail(doc, "apiVersion", "is required");
  const std::string kind = str(c, doc["kind"], "kind"), api = str(c, doc["apiVersion"], "apiVersion");
  const auto& meta = doc["metadata"];
  if (!meta || !meta["name"]) c.fail(doc, "metadata.name", "is required");
  const std::string name = str(c, meta["name"], "metadata.name");
  std::string ns = meta["namespace"] ? str(c, meta["namespace"], "metadata.namespace") : "default";
  auto check_api = [&](const std::string& want) {
    if (api != want) c.fail(doc["apiVersion"], "apiVersion", kind + " must be " + want + ", not " + api);
  };
  if (kind == "Namespace") {
    check_api("v1");
    Namespace n{name, labels_of(c, meta["labels"], "metadata.labels", false)};
    n.labels["kubernetes.io/metadata.name"] = name;
    return n;
  }
  if (kind == "Pod") {
    check_api("v1");
    Pod p{ns, name, labels_of(c, meta["labels"], "metadata.labels", false), {}, {}};
    if (const auto& owners = meta["ownerReferences"])
      for (const auto& o : owners) {
        if (!o["kind"] || !o["name"]) continue;
        Workload w{o["kind"].as<std::string>(), o["name"].as<std::string>()};
        // Deployments own pods through ReplicaSets named <deployment>-<pod-template-hash>.
        auto dash = w.name.rfind('-');
        if (w.kind == "ReplicaSet" && dash != std::string::npos && dash + 1 < w.name.size()) {
          w.kind = "Deployment";
          w.name = w.name.substr(0, dash);
        }
        p.workloads.push_back(w);
      }
    const auto& spec = doc["spec"];  // a Pod without spec or ports is fine
    if (const auto& containers = spec ? spec["containers"] : YAML::Node())
      for (const auto& ct : containers)
        if (const auto& ports = ct["ports"])
          for (const auto& port : ports)
            if (port["name"] && port["containerPort"])
              p.ports.push_back({port["name"].as<std::string>(), port_number(c, port["containerPort"], "containerPort"),
                                 protocol_of(c, port["protocol"], "ports.protocol", false)});
    return p;
  }
  NetworkPolicy pol;
  if (kind == "NetworkPolicy") {
    check_api("networking.k8s.io/v1");
    pol = k8s_network_policy(c, doc, ns, name);
  } else if (kind == "CiliumNetworkPolicy" || kind == "CiliumClusterwideNetworkPolicy") {
    check_api("cilium.io/v2");
    pol = cilium_policy(c, doc, kind, ns, name);
  } else {
    return Other{kind, ns, name};
  }
  if (const auto& ann = meta["annotations"])
    if (ann["myelin.io/audit-mode"] && ann["myelin.io/audit-mode"].as<std::string>() == "true") pol.audit = true;
  pol.source = c.file() + ":" + std::to_string(doc.Mark().line + 1);
  return pol;
}

}  // namespace

Result<std::vector<Object>> decode_yaml(const std::string& text, const std::string& file) {
  Ctx c(file);
  auto docs = load_yaml_documents(text, file);
  if (!docs) return docs.error();
  std::vector<Object> out;
  for (const auto& doc : *docs) {
    if (doc.IsNull()) continue;  // "---" with nothing after it
    try {
      out.push_back(decode_doc(c, doc));
    } catch (const DecodeError& e) {
      return Error{file + ":" + std::to_string(e.line) + ": " + (e.field.empty() ? "" : e.field + ": ") + e.what};
    } catch (const YAML::Exception& e) {
      return Error{file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg};
    }
  }
  return out;
}

}  // namespace myelin::policy

namespace myelin::policy {

Result<Selector> decode_label_selector(const YAML::Node& n, const std::string& file, const std::string& field) {
  try {
    return selector_of(Ctx(file), n, field, false);
  } catch (const DecodeError& e) {
    return Error{file + ":" + std::to_string(e.line) + ": " + e.field + ": " + e.what};
  }
}

}  // namespace myelin::policy
