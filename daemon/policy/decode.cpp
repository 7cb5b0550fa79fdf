// SPDX-License-Identifier: Apache-2.0
#include "myelin/policy/decode.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

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
    int line = doc_line;
    if (n.IsDefined()) line = n.Mark().line + 1;  // a missing child has no mark: its document's line
    throw DecodeError{line, field, what};
  }
  mutable int doc_line = 0;
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

// Null handling follows the Kubernetes API. Built-in kinds decode with Go's
// encoding/json: a null pointer, slice or map field is nil (= omitted), a
// null struct value (podSelector, spec) is its zero value, a null list item
// of struct type is the zero struct. Cilium's kinds are CRDs, whose
// apiserver prunes a null field that is not nullable before validation
// (apiextensions "Defaulting and Nullable"): null = omitted.
bool given(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

std::string str(const Ctx& c, const YAML::Node& n, const std::string& field) {
  if (!n.IsScalar()) c.fail(n, field, "must be a string");
  return n.as<std::string>();
}

// A list that may be omitted or null (both: empty); anything else is an error.
std::vector<YAML::Node> list_of(const Ctx& c, const YAML::Node& n, const std::string& field) {
  std::vector<YAML::Node> out;
  if (!given(n)) return out;
  if (!n.IsSequence()) c.fail(n, field, "must be a list");
  for (const auto& item : n) out.push_back(item);
  return out;
}

// Fields a decoder accepts at one level; anything else is named in an error.
// A null mapping has no fields.
void only(const Ctx& c, const YAML::Node& n, const std::string& where, const std::set<std::string>& allowed) {
  if (!given(n)) return;
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

// Which syntax a selector or label map is written in.
enum class Dialect { k8s, cilium };

Labels labels_of(const Ctx& c, const YAML::Node& n, const std::string& field, Dialect d) {
  Labels out;
  if (!given(n)) return out;
  if (!n.IsMap()) c.fail(n, field, "must be a mapping of label keys to values");
  for (const auto& kv : n) {
    std::string k = kv.first.as<std::string>();
    if (d == Dialect::cilium)
      for (const char* prefix : {"k8s:", "any:"})
        if (k.rfind(prefix, 0) == 0) k = k.substr(std::string(prefix).size());
    if (!given(kv.second)) {
      // Go decodes a null map[string]string value as "", the empty label
      // value (which a selector matches exactly). A CRD's apiserver would
      // prune it, widening a Cilium selector: refused there.
      if (d == Dialect::cilium) c.fail(kv.second, field + "." + k, "must be a string (quote an empty value: \"\")");
      out[k] = "";
      continue;
    }
    out[k] = str(c, kv.second, field + "." + k);
  }
  return out;
}

// A LabelSelector. Omitted, null, {}, {matchLabels: null}, {matchLabels: {}}
// and {matchExpressions: []} are all the empty selector, which matches
// everything; where an omitted selector means something else (a peer's
// podSelector), the caller tells them apart with given().
Selector selector_of(const Ctx& c, const YAML::Node& n, const std::string& field, Dialect d) {
  Selector s;
  if (!given(n)) return s;
  only(c, n, field, {"matchLabels", "matchExpressions"});
  s.match_labels = labels_of(c, n["matchLabels"], field + ".matchLabels", d);
  const auto exprs = list_of(c, n["matchExpressions"], field + ".matchExpressions");
  for (size_t i = 0; i < exprs.size(); ++i) {
    const auto& e = exprs[i];
    std::string f = field + ".matchExpressions[" + std::to_string(i) + "]";
    if (!given(e)) c.fail(e, f, "must be a mapping with key and operator");
    only(c, e, f, {"key", "operator", "values"});
    Selector::Expr x;
    if (!given(e["key"])) c.fail(e, f + ".key", "is required");
    x.key = str(c, e["key"], f + ".key");
    if (x.key.empty()) c.fail(e["key"], f + ".key", "must not be empty");
    if (d == Dialect::cilium)
      for (const char* prefix : {"k8s:", "any:"})
        if (x.key.rfind(prefix, 0) == 0) x.key = x.key.substr(std::string(prefix).size());
    if (!given(e["operator"])) c.fail(e, f + ".operator", "is required (In, NotIn, Exists or DoesNotExist)");
    std::string op = str(c, e["operator"], f + ".operator");
    if (op == "In") x.op = Selector::Expr::Op::In;
    else if (op == "NotIn") x.op = Selector::Expr::Op::NotIn;
    else if (op == "Exists") x.op = Selector::Expr::Op::Exists;
    else if (op == "DoesNotExist") x.op = Selector::Expr::Op::DoesNotExist;
    else c.fail(e["operator"], f + ".operator", "must be In, NotIn, Exists or DoesNotExist, not '" + op + "'");
    const auto vals = list_of(c, e["values"], f + ".values");
    for (size_t j = 0; j < vals.size(); ++j) x.values.push_back(str(c, vals[j], f + ".values[" + std::to_string(j) + "]"));
    // As apimachinery's ValidateLabelSelectorRequirement.
    const bool set_op = x.op == Selector::Expr::Op::In || x.op == Selector::Expr::Op::NotIn;
    if (set_op && x.values.empty()) c.fail(e, f + ".values", "must be specified (non-empty) for " + op);
    if (!set_op && !x.values.empty()) c.fail(e["values"], f + ".values", "may not be specified for " + op);
    s.exprs.push_back(x);
  }
  return s;
}

uint8_t protocol_of(const Ctx& c, const YAML::Node& n, const std::string& field, bool allow_any) {
  if (!given(n)) return allow_any ? 0 : 6;  // Kubernetes defaults to TCP, Cilium to ANY
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
  if (n.IsScalar()) {
    const std::string t = n.as<std::string>();
    if (!t.empty() && t.size() <= 5 && t.find_first_not_of("0123456789") == std::string::npos) v = std::stol(t);
  }
  if (v < 1 || v > 65535) c.fail(n, field, "must be a port number from 1 to 65535");
  return static_cast<uint16_t>(v);
}

net::Cidr4 cidr_value(const Ctx& c, const YAML::Node& n, const std::string& field, const YAML::Node& parent) {
  if (!given(n)) c.fail(n.IsDefined() ? n : parent, field, "is required (a CIDR such as 10.0.0.0/8)");
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
  return net::Cidr4{net::Ipv4{ip->host & mask}, static_cast<uint8_t>(len)};
}

// cidr plus except, each except inside cidr: strictly smaller for
// NetworkPolicy (ValidateIPBlock: "must be a strict subset of `cidr`"),
// contained for Cilium's CIDRRule.
Cidr cidr_rule(const Ctx& c, const YAML::Node& n, const std::string& f, bool strict) {
  Cidr out;
  const auto base = cidr_value(c, n["cidr"], f + ".cidr", n);
  out.cidr = base.str();
  const auto ex = list_of(c, n["except"], f + ".except");
  for (size_t i = 0; i < ex.size(); ++i) {
    const std::string ef = f + ".except[" + std::to_string(i) + "]";
    const auto e = cidr_value(c, ex[i], ef, ex[i]);
    if (!base.contains(e.base) || e.prefix < base.prefix || (strict && e.prefix == base.prefix))
      c.fail(ex[i], ef, "must be " + std::string(strict ? "a strict subset" : "inside") + " of cidr " + out.cidr);
    out.except.push_back(e.str());
  }
  return out;
}

// --- networking.k8s.io/v1 NetworkPolicy ---
// NetworkPolicyPeer: podSelector, namespaceSelector and ipBlock are pointers
// (null = omitted); an empty (non-null) selector matches everything.
Peer k8s_peer(const Ctx& c, const YAML::Node& n, const std::string& f, const std::string& field) {
  only(c, n, f, {"podSelector", "namespaceSelector", "ipBlock"});
  Peer p;
  p.field = field;
  const bool pods = given(n["podSelector"]), nss = given(n["namespaceSelector"]), block = given(n["ipBlock"]);
  if (!pods && !nss && !block) c.fail(n, f, "must specify a peer: podSelector, namespaceSelector or ipBlock");
  if (block) {
    if (pods || nss) c.fail(n, f, "ipBlock cannot be combined with podSelector or namespaceSelector");
    const auto& b = n["ipBlock"];
    only(c, b, f + ".ipBlock", {"cidr", "except"});
    p.cidrs.push_back(cidr_rule(c, b, f + ".ipBlock", true));
    p.ipblock = true;  // every address in it, pods and nodes included
    return p;
  }
  if (pods) p.pods = selector_of(c, n["podSelector"], f + ".podSelector", Dialect::k8s);
  if (nss) {
    p.namespaces = selector_of(c, n["namespaceSelector"], f + ".namespaceSelector", Dialect::k8s);
    if (p.namespaces->empty()) p.any_namespace = true, p.namespaces.reset();
  }
  return p;
}

// NetworkPolicyPort: protocol null = TCP (SetDefaults_NetworkPolicyPort),
// port null = every port, endPort null = a single port. A list that is
// omitted, null or [] = every port; a null item is the zero port (TCP, every port).
std::vector<PortRule> k8s_ports(const Ctx& c, const YAML::Node& n, const std::string& f) {
  std::vector<PortRule> out;
  const auto items = list_of(c, n, f);
  for (size_t i = 0; i < items.size(); ++i) {
    std::string pf = f + "[" + std::to_string(i) + "]";
    only(c, items[i], pf, {"port", "protocol", "endPort"});
    PortRule r;
    r.proto = protocol_of(c, items[i]["protocol"], pf + ".protocol", false);
    if (const auto& port = items[i]["port"]; given(port)) {
      if (!port.IsScalar()) c.fail(port, pf + ".port", "must be a port number or a port name");
      std::string v = port.as<std::string>();
      if (v.empty()) c.fail(port, pf + ".port", "must be a port number or a port name, not empty");
      if (v.find_first_not_of("0123456789") != std::string::npos) r.name = v;
      else r.port = port_number(c, port, pf + ".port");
    }
    if (const auto& end = items[i]["endPort"]; given(end)) {
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
  // spec and spec.podSelector are struct values, not pointers: omitted or
  // null they are empty, and an empty podSelector selects every pod of the
  // namespace ("An empty podSelector matches all pods in this namespace").
  // So a spec-less NetworkPolicy isolates every pod of its namespace for
  // ingress, as the apiserver stores it.
  const YAML::Node spec = given(doc["spec"]) ? doc["spec"] : YAML::Node();
  only(c, spec, "spec", {"podSelector", "policyTypes", "ingress", "egress"});
  p.subject = selector_of(c, spec["podSelector"], "spec.podSelector", Dialect::k8s);
  const auto egress = list_of(c, spec["egress"], "spec.egress");
  const auto types = list_of(c, spec["policyTypes"], "spec.policyTypes");
  for (size_t i = 0; i < types.size(); ++i) {
    std::string v = str(c, types[i], "spec.policyTypes[" + std::to_string(i) + "]");
    if (v == "Ingress") p.ingress_type = true;
    else if (v == "Egress") p.egress_type = true;
    else c.fail(types[i], "spec.policyTypes[" + std::to_string(i) + "]", "must be Ingress or Egress, not '" + v + "'");
  }
  if (types.empty()) {
    // SetDefaults_NetworkPolicy: policyTypes omitted, null or [] is Ingress,
    // plus Egress when there is at least one egress rule (egress: [] adds
    // nothing).
    p.ingress_type = true;
    p.egress_type = !egress.empty();
  }
  for (const auto& [key, peers_key, rules] : {std::tuple{"ingress", "from", &p.ingress}, std::tuple{"egress", "to", &p.egress}}) {
    // Omitted, null and [] are no rules (nothing allowed where the type is
    // enforced). A rule "{}" or a null rule (Go's zero struct) allows
    // everything: "If this field is empty or missing, this rule matches all
    // sources" (from/to), and every port (ports).
    const auto list = list_of(c, spec[key], std::string("spec.") + key);
    for (size_t i = 0; i < list.size(); ++i) {
      std::string f = std::string("spec.") + key + "[" + std::to_string(i) + "]";
      only(c, list[i], f, {peers_key, "ports"});
      Rule r;
      r.field = std::string(key) + "[" + std::to_string(i) + "]";
      const auto peers = list_of(c, list[i][peers_key], f + "." + peers_key);
      r.all_peers = peers.empty();
      for (size_t j = 0; j < peers.size(); ++j) {
        std::string pf = std::string(peers_key) + "[" + std::to_string(j) + "]";
        r.peers.push_back(k8s_peer(c, peers[j], f + "." + pf, pf));
      }
      r.ports = k8s_ports(c, list[i]["ports"], f + ".ports");
      rules->push_back(r);
    }
  }
  return p;
}

// --- cilium.io/v2 CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy (subset) ---
Peer cilium_endpoints(const Ctx& c, const YAML::Node& n, const std::string& f, bool clusterwide) {
  if (!given(n)) c.fail(n, f, "must be a label selector ({} selects every endpoint)");
  Peer p;
  Selector s = selector_of(c, n, f, Dialect::cilium);
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

// toPorts: each PortRule's ports; protocol null = ANY, port null, "" or "0" =
// every port. A PortRule without ports is every port.
std::vector<PortRule> cilium_ports(const Ctx& c, const std::vector<YAML::Node>& rules, const std::string& f) {
  std::vector<PortRule> out;
  for (size_t i = 0; i < rules.size(); ++i) {
    std::string pf = f + "[" + std::to_string(i) + "]";
    only(c, rules[i], pf, {"ports"});
    const auto ports = list_of(c, rules[i]["ports"], pf + ".ports");
    if (ports.empty()) out.push_back(PortRule{0, 0, 0, ""});
    for (size_t j = 0; j < ports.size(); ++j) {
      std::string ppf = pf + ".ports[" + std::to_string(j) + "]";
      if (!given(ports[j])) c.fail(ports[j], ppf, "must be a mapping with port and protocol");
      only(c, ports[j], ppf, {"port", "endPort", "protocol"});
      PortRule r;
      r.proto = protocol_of(c, ports[j]["protocol"], ppf + ".protocol", true);
      if (const auto& port = ports[j]["port"]; given(port)) {
        std::string v = port.IsScalar() ? port.as<std::string>() : "?";
        if (!v.empty() && v != "0") r.port = port_number(c, port, ppf + ".port");
      }
      if (const auto& end = ports[j]["endPort"]; given(end)) {
        if (r.port == 0) c.fail(end, ppf + ".endPort", "needs a port");
        r.end_port = port_number(c, end, ppf + ".endPort");
        if (r.end_port < r.port) c.fail(end, ppf + ".endPort", "must not be below port");
      }
      out.push_back(r);
    }
  }
  return out;
}

// One IngressRule / EgressRule (and their Deny forms). As Cilium's
// mergeEndpointSelectors: a peer field given as an empty list selects
// nothing; with no peer field at all, the rule's toPorts apply to every peer
// ("L4-only"), and a rule with neither ("- {}") allows nothing: it only puts
// the endpoint in default deny, Cilium's documented deny-all.
Rule cilium_rule(const Ctx& c, const YAML::Node& n, const std::string& f, const std::string& field, bool ingress,
                 bool deny, bool clusterwide) {
  const std::string dir = ingress ? "from" : "to";
  if (!given(n)) c.fail(n, f, "must be a mapping (\"{}\" selects nothing)");
  only(c, n, f, {dir + "Endpoints", dir + "CIDR", dir + "CIDRSet", dir + "Entities", "toPorts"});
  Rule r;
  r.field = field;
  r.deny = deny;
  bool has_l3 = false, empty_l3 = false;
  auto l3 = [&](const std::string& key) {
    const auto& v = n[key];
    auto items = list_of(c, v, f + "." + key);
    if (given(v)) has_l3 = true, empty_l3 = empty_l3 || items.empty();
    return items;
  };
  const auto eps = l3(dir + "Endpoints");
  for (size_t i = 0; i < eps.size(); ++i) {
    const std::string pf = dir + "Endpoints[" + std::to_string(i) + "]";
    r.peers.push_back(cilium_endpoints(c, eps[i], f + "." + pf, clusterwide));
    r.peers.back().field = pf;
  }
  if (const auto cidrs = l3(dir + "CIDR"); !cidrs.empty()) {
    Peer p;
    p.field = dir + "CIDR";
    for (size_t i = 0; i < cidrs.size(); ++i)
      p.cidrs.push_back({cidr_value(c, cidrs[i], f + "." + dir + "CIDR[" + std::to_string(i) + "]", cidrs[i]).str(), {}});
    r.peers.push_back(p);
  }
  if (const auto set = l3(dir + "CIDRSet"); !set.empty()) {
    Peer p;
    p.field = dir + "CIDRSet";
    for (size_t i = 0; i < set.size(); ++i) {
      std::string sf = f + "." + dir + "CIDRSet[" + std::to_string(i) + "]";
      if (!given(set[i])) c.fail(set[i], sf, "must be a mapping with cidr");
      only(c, set[i], sf, {"cidr", "except"});
      p.cidrs.push_back(cidr_rule(c, set[i], sf, false));
    }
    r.peers.push_back(p);
  }
  if (const auto ents = l3(dir + "Entities"); !ents.empty()) {
    Peer p;
    p.field = dir + "Entities";
    for (size_t i = 0; i < ents.size(); ++i) {
      const std::string ef = f + "." + dir + "Entities[" + std::to_string(i) + "]";
      if (!given(ents[i])) c.fail(ents[i], ef, "must be an entity name");
      std::string e = str(c, ents[i], ef);
      static const std::set<std::string> known = {"host", "world", "cluster", "all", "remote-node"};
      if (!known.count(e)) c.fail(ents[i], ef, "'" + e + "' is not supported (host, world, cluster, all, remote-node)");
      p.entities.push_back(e);
    }
    r.peers.push_back(p);
  }
  const auto to_ports = list_of(c, n["toPorts"], f + ".toPorts");
  r.ports = cilium_ports(c, to_ports, f + ".toPorts");
  if (empty_l3) r.peers.clear();                 // selects nothing
  r.all_peers = !has_l3 && !to_ports.empty();    // L4-only: every peer on these ports
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
  if (!given(spec)) c.fail(doc, "spec", "is required (specs: lists are not supported yet)");
  only(c, spec, "spec", {"endpointSelector", "ingress", "egress", "ingressDeny", "egressDeny", "description"});
  // Cilium's Sanitize refuses a rule with neither endpointSelector nor
  // nodeSelector; endpointSelector {} selects every endpoint of the
  // policy's namespace (every endpoint for a clusterwide policy).
  if (!given(spec["endpointSelector"]))
    c.fail(spec, "spec.endpointSelector", "is required ({} selects every endpoint; nodeSelector is not supported)");
  p.subject = selector_of(c, spec["endpointSelector"], "spec.endpointSelector", Dialect::cilium);
  if (const auto& d = spec["description"]; given(d)) (void)str(c, d, "spec.description");
  for (const auto& [key, ingress, deny] : {std::tuple{"ingress", true, false}, std::tuple{"egress", false, false},
                                           std::tuple{"ingressDeny", true, true}, std::tuple{"egressDeny", false, true}}) {
    // "If omitted or empty, this rule does not apply at ingress"; any rule,
    // allow or deny, puts its direction in default deny (Cilium's
    // evaluateDefaultDenyForRule: len(Ingress) > 0 || len(IngressDeny) > 0).
    const auto list = list_of(c, spec[key], std::string("spec.") + key);
    if (!list.empty()) (ingress ? p.ingress_type : p.egress_type) = true;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string field = std::string(key) + "[" + std::to_string(i) + "]";
      Rule r = cilium_rule(c, list[i], "spec." + field, field, ingress, deny, cw);
      (ingress ? p.ingress : p.egress).push_back(r);
    }
  }
  return p;
}

// What the EndpointSlice controller reads of a Pod (its addresses, node,
// readiness, deletion), for the endpoints Myelin derives. Written by the
// kubelet, not the user: a malformed value is passed over, never a refusal
// of the Pod (whose labels and named ports policy needs).
void pod_status(const YAML::Node& doc, Pod& p) {
  auto scalar = [](const YAML::Node& n) { return given(n) && n.IsScalar() ? n.as<std::string>() : std::string(); };
  const auto& meta = doc["metadata"];
  p.terminating = given(meta["deletionTimestamp"]);
  const auto& spec = doc["spec"];
  if (given(spec) && spec.IsMap()) p.node_name = scalar(spec["nodeName"]);
  const auto& status = doc["status"];
  if (!given(status) || !status.IsMap()) return;
  const std::string phase = scalar(status["phase"]);
  p.terminal = phase == "Succeeded" || phase == "Failed";
  auto add_ip = [&](const std::string& ip) {
    if (!ip.empty() && std::find(p.ips.begin(), p.ips.end(), ip) == p.ips.end()) p.ips.push_back(ip);
  };
  if (const auto& ips = status["podIPs"]; given(ips) && ips.IsSequence())
    for (const auto& i : ips)
      if (i.IsMap()) add_ip(scalar(i["ip"]));
  if (p.ips.empty()) add_ip(scalar(status["podIP"]));
  if (const auto& conds = status["conditions"]; given(conds) && conds.IsSequence())
    for (const auto& cnd : conds)
      if (cnd.IsMap() && scalar(cnd["type"]) == "Ready") {
        const std::string v = scalar(cnd["status"]);
        if (v == "True" || v == "False") p.ready = v == "True";
      }
}

Object decode_doc(const Ctx& c, const YAML::Node& doc) {
  c.doc_line = doc.Mark().line + 1;
  if (!doc.IsMap()) c.fail(doc, "", "a document must be a mapping with apiVersion and kind");
  if (!given(doc["kind"])) c.fail(doc, "kind", "is required");
  if (!given(doc["apiVersion"])) c.fail(doc, "apiVersion", "is required");
  const std::string kind = str(c, doc["kind"], "kind"), api = str(c, doc["apiVersion"], "apiVersion");
  const auto& meta = doc["metadata"];
  if (given(meta) && !meta.IsMap()) c.fail(meta, "metadata", "must be a mapping");
  if (!given(meta) || !given(meta["name"])) c.fail(doc, "metadata.name", "is required");
  const std::string name = str(c, meta["name"], "metadata.name");
  if (name.empty()) c.fail(meta["name"], "metadata.name", "must not be empty");
  // A namespaced object without a namespace (omitted, null or "") lands in
  // the client's namespace: "default" here, as kubectl without a context.
  std::string ns = given(meta["namespace"]) ? str(c, meta["namespace"], "metadata.namespace") : "";
  if (ns.empty()) ns = "default";
  auto check_api = [&](const std::string& want) {
    if (api != want) c.fail(doc["apiVersion"], "apiVersion", kind + " must be " + want + ", not " + api);
  };
  if (kind == "Namespace") {
    check_api("v1");
    Namespace n{name, labels_of(c, meta["labels"], "metadata.labels", Dialect::k8s)};
    n.labels["kubernetes.io/metadata.name"] = name;
    return n;
  }
  if (kind == "Pod") {
    check_api("v1");
    Pod p{ns, name, labels_of(c, meta["labels"], "metadata.labels", Dialect::k8s), {}, {}};
    const auto owners = list_of(c, meta["ownerReferences"], "metadata.ownerReferences");
    for (size_t i = 0; i < owners.size(); ++i) {
      const auto& o = owners[i];
      if (!given(o) || !o.IsMap() || !given(o["kind"]) || !given(o["name"])) continue;  // attribution only
      Workload w{str(c, o["kind"], "metadata.ownerReferences[" + std::to_string(i) + "].kind"),
                 str(c, o["name"], "metadata.ownerReferences[" + std::to_string(i) + "].name")};
      // Deployments own pods through ReplicaSets named <deployment>-<pod-template-hash>.
      auto dash = w.name.rfind('-');
      if (w.kind == "ReplicaSet" && dash != std::string::npos && dash + 1 < w.name.size()) {
        w.kind = "Deployment";
        w.name = w.name.substr(0, dash);
      }
      p.workloads.push_back(w);
    }
    // A Pod without spec, containers or ports is fine; only named ports matter.
    const auto& spec = doc["spec"];
    if (given(spec) && !spec.IsMap()) c.fail(spec, "spec", "must be a mapping");
    const auto containers = given(spec) ? list_of(c, spec["containers"], "spec.containers") : std::vector<YAML::Node>{};
    for (size_t i = 0; i < containers.size(); ++i) {
      const std::string cf = "spec.containers[" + std::to_string(i) + "]";
      if (!given(containers[i])) continue;
      if (!containers[i].IsMap()) c.fail(containers[i], cf, "must be a mapping");
      const auto ports = list_of(c, containers[i]["ports"], cf + ".ports");
      for (size_t j = 0; j < ports.size(); ++j) {
        const std::string pf = cf + ".ports[" + std::to_string(j) + "]";
        const auto& port = ports[j];
        if (!given(port)) continue;
        if (!port.IsMap()) c.fail(port, pf, "must be a mapping");
        if (!given(port["name"]) || !given(port["containerPort"])) continue;
        p.ports.push_back({str(c, port["name"], pf + ".name"), port_number(c, port["containerPort"], pf + ".containerPort"),
                           protocol_of(c, port["protocol"], pf + ".protocol", false)});
      }
    }
    pod_status(doc, p);
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
  const auto& ann = meta["annotations"];
  if (given(ann) && !ann.IsMap()) c.fail(ann, "metadata.annotations", "must be a mapping");
  if (given(ann) && given(ann["myelin.io/audit-mode"]))
    pol.audit = str(c, ann["myelin.io/audit-mode"], "metadata.annotations.myelin.io/audit-mode") == "true";
  pol.source = c.file() + ":" + std::to_string(doc.Mark().line + 1);
  return pol;
}

}  // namespace

// The kind, namespace and name of a document, as far as it has them (for a refusal).
void describe(const YAML::Node& doc, Refusal& r) {
  try {
    if (!doc.IsMap()) return;
    if (doc["kind"] && doc["kind"].IsScalar()) r.kind = doc["kind"].as<std::string>();
    const auto& meta = doc["metadata"];
    if (!meta || !meta.IsMap()) return;
    if (meta["name"] && meta["name"].IsScalar()) r.name = meta["name"].as<std::string>();
    if (meta["namespace"] && meta["namespace"].IsScalar()) r.ns = meta["namespace"].as<std::string>();
  } catch (const YAML::Exception&) {
  }
}

Decoded<Object> decode_document(const YAML::Node& doc, const std::string& file) {
  Ctx c(file);
  Refusal r;
  try {
    // TracingPolicies are the tracing decoder's (it refuses them with their own errors).
    if (doc.IsMap() && doc["kind"] && doc["kind"].IsScalar() && is_tracing_kind(doc["kind"].as<std::string>()))
      return Object{Other{doc["kind"].as<std::string>(), "", ""}};
    return decode_doc(c, doc);
  } catch (const DecodeError& e) {
    r = Refusal{file, e.line, e.field, e.what};
  } catch (const YAML::Exception& e) {
    r = Refusal{file, e.mark.line + 1, "", e.msg};
  }
  describe(doc, r);
  return r;
}

Decoded<std::vector<Object>> decode_manifest(const std::string& text, const std::string& file) {
  auto loaded = load_yaml_documents(text, file);
  if (auto* refusal = std::get_if<Refusal>(&loaded)) return std::move(*refusal);
  const auto& docs = std::get<std::vector<YAML::Node>>(loaded);
  std::vector<Object> out;
  for (const auto& doc : docs) {
    if (doc.IsNull()) continue;  // "---" with nothing after it
    auto d = decode_document(doc, file);
    if (auto* r = std::get_if<Refusal>(&d)) return std::move(*r);
    out.push_back(std::get<Object>(std::move(d)));
  }
  return out;
}

Result<std::vector<Object>> decode_yaml(const std::string& text, const std::string& file) {
  auto d = decode_manifest(text, file);
  if (auto* r = std::get_if<Refusal>(&d)) return Error{r->message()};
  return std::get<std::vector<Object>>(std::move(d));
}

}  // namespace myelin::policy

namespace myelin::policy {

Decoded<Selector> decode_label_selector(const YAML::Node& n, const std::string& file, const std::string& field) {
  try {
    return selector_of(Ctx(file), n, field, Dialect::k8s);
  } catch (const DecodeError& e) {
    return Refusal{file, e.line, e.field, e.what};
  }
}

}  // namespace myelin::policy
