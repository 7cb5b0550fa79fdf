// SPDX-License-Identifier: Apache-2.0
// Policy from YAML to datapath entries: selectors, decoding errors that name
// file/line/field, and the compiler's Kubernetes and Cilium semantics.
#include <gtest/gtest.h>

#include "myelin/abi/net.h"
#include "myelin/policy/compiler.hpp"
#include "myelin/policy/decode.hpp"
#include "myelin/policy/yaml_limits.hpp"
#include "myelin/net.hpp"

namespace myelin::policy {
namespace {

std::vector<NetworkPolicy> policies(const std::string& yaml) {
  auto objs = decode_yaml(yaml, "test.yaml");
  EXPECT_TRUE(objs) << objs.error().message;
  std::vector<NetworkPolicy> out;
  if (objs)
    for (auto& o : *objs)
      if (auto* p = std::get_if<NetworkPolicy>(&o)) out.push_back(*p);
  return out;
}

std::string error_of(const std::string& yaml) {
  auto objs = decode_yaml(yaml, "bad.yaml");
  return objs ? "" : objs.error().message;
}

TEST(Selector, LabelsAndExpressions) {
  Selector s;
  s.match_labels["app"] = "web";
  s.exprs.push_back({"tier", Selector::Expr::Op::In, {"front", "edge"}});
  s.exprs.push_back({"canary", Selector::Expr::Op::DoesNotExist, {}});
  EXPECT_TRUE(s.matches({{"app", "web"}, {"tier", "edge"}}));
  EXPECT_FALSE(s.matches({{"app", "web"}, {"tier", "back"}}));
  EXPECT_FALSE(s.matches({{"app", "web"}, {"tier", "edge"}, {"canary", "1"}}));
  Selector n;
  n.exprs.push_back({"env", Selector::Expr::Op::NotIn, {"prod"}});
  n.exprs.push_back({"team", Selector::Expr::Op::Exists, {}});
  EXPECT_TRUE(n.matches({{"team", "a"}}));
  EXPECT_FALSE(n.matches({{"team", "a"}, {"env", "prod"}}));
  EXPECT_TRUE(Selector{}.matches({}));
}

TEST(Decode, ErrorsNameFileLineAndField) {
  EXPECT_EQ(error_of("kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: x}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - podSelektor: {}\n"),
            "bad.yaml:8: spec.ingress[0].from[0].podSelektor: is not supported by Myelin (supported here: ipBlock, namespaceSelector, podSelector)");
  EXPECT_NE(error_of("a: [1, 2\n").find("bad.yaml:2: invalid YAML"), std::string::npos);
  EXPECT_NE(error_of("kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: x}\nspec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - port: 99999\n").find("bad.yaml:8: spec.ingress[0].ports[0].port: must be a port number"),
            std::string::npos);
  EXPECT_NE(error_of("kind: CiliumNetworkPolicy\napiVersion: cilium.io/v2\nmetadata: {name: x}\nspec:\n  endpointSelector: {}\n  ingress:\n  - fromFQDNs: []\n").find("spec.ingress[0].fromFQDNs: is not supported"),
            std::string::npos);
  EXPECT_NE(error_of("kind: NetworkPolicy\napiVersion: v1\nmetadata: {name: x}\nspec: {podSelector: {}}\n").find("apiVersion: NetworkPolicy must be networking.k8s.io/v1"),
            std::string::npos);
  EXPECT_NE(error_of("kind: Pod\napiVersion: v1\nmetadata: {}\n").find("metadata.name: is required"), std::string::npos);
}

TEST(Decode, PodsWithAndWithoutPorts) {
  auto objs = decode_yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: x, labels: {pod: c}}\n---\n"
                          "apiVersion: v1\nkind: Pod\nmetadata: {name: d}\nspec:\n  containers:\n  - name: s\n    ports:\n"
                          "    - {name: http, containerPort: 8080}\n    - {name: dns, containerPort: 53, protocol: UDP}\n",
                          "pods.yaml");
  ASSERT_TRUE(objs) << objs.error().message;
  ASSERT_EQ(objs->size(), 2u);
  const auto& c = std::get<Pod>((*objs)[0]);
  EXPECT_EQ(c.labels.at("pod"), "c");
  EXPECT_TRUE(c.ports.empty());
  const auto& d = std::get<Pod>((*objs)[1]);
  EXPECT_EQ(d.ns, "default");
  ASSERT_EQ(d.ports.size(), 2u);
  EXPECT_EQ(d.ports[1].proto, 17);
}

TEST(Decode, WorkloadsFromOwnerReferences) {
  auto objs = decode_yaml("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-7d9c8-abcde\n  ownerReferences:\n"
                          "  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9c8, uid: u1}\n---\n"
                          "apiVersion: v1\nkind: Pod\nmetadata:\n  name: db-0\n  ownerReferences:\n"
                          "  - {apiVersion: apps/v1, kind: StatefulSet, name: db, uid: u2}\n",
                          "owners.yaml");
  ASSERT_TRUE(objs) << objs.error().message;
  const auto& web = std::get<Pod>((*objs)[0]);
  ASSERT_EQ(web.workloads.size(), 1u);
  EXPECT_EQ(web.workloads[0].kind, "Deployment") << "a ReplicaSet owner is reported as its Deployment, as Hubble does";
  EXPECT_EQ(web.workloads[0].name, "web");
  const auto& db = std::get<Pod>((*objs)[1]);
  EXPECT_EQ(db.workloads[0].kind, "StatefulSet");
  EXPECT_EQ(db.workloads[0].name, "db");
}

TEST(Decode, PolicyTypesDefaultsAndOtherKinds) {
  auto p = policies(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b, namespace: x}
spec:
  podSelector: {}
  egress: []
---
apiVersion: v1
kind: Service
metadata: {name: s}
)");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_TRUE(p[0].ingress_type);
  EXPECT_FALSE(p[0].egress_type) << "no egress section: Egress not enforced by default";
  EXPECT_TRUE(p[0].ingress[0].all_peers);
  EXPECT_FALSE(p[1].egress_type) << "egress: [] has no rule: SetDefaults_NetworkPolicy adds Egress only for len(egress) != 0";
  EXPECT_EQ(p[0].source, "test.yaml:2");
}

// A small world: namespaces x (ns=x) and y (ns=y), pods a,b in each.
struct World {
  std::map<std::string, Namespace> namespaces{{"x", {"x", {{"ns", "x"}, {"kubernetes.io/metadata.name", "x"}}}},
                                              {"y", {"y", {{"ns", "y"}, {"kubernetes.io/metadata.name", "y"}}}}};
  std::vector<IdentityView> ids;
  World() {
    uint32_t id = 300;
    for (std::string ns : {"x", "y"})
      for (std::string pod : {"a", "b"}) {
        IdentityView v;
        v.id = id++;
        v.ns = ns;
        v.labels = {{"pod", pod}};
        v.ns_labels = namespaces[ns].labels;
        v.ports = {{"serve-80-tcp", 80, 6}, {"serve-81-udp", 81, 17}};
        ids.push_back(v);
      }
    ids.push_back({MYELIN_IDENTITY_WORLD, IdentityView::Kind::reserved, "", {}, {}, {}, {}, "world"});
    ids.push_back({MYELIN_IDENTITY_HOST, IdentityView::Kind::reserved, "", {}, {}, {}, {}, "host"});
  }
  uint32_t id(const std::string& ns, const std::string& pod) const {
    for (const auto& v : ids)
      if (v.ns == ns && v.labels.count("pod") && v.labels.at("pod") == pod) return v.id;
    return 0;
  }
  LocalEndpoint ep(const std::string& ns, const std::string& pod) const {
    return {1, id(ns, pod), ns, {{"pod", pod}}, {{"serve-80-tcp", 80, 6}, {"serve-81-udp", 81, 17}}};
  }
  EndpointPolicy compile(const std::string& ns, const std::string& pod, const std::string& yaml) {
    auto p = policies(yaml);
    for (const auto& c : referenced_cidrs(p)) {  // a CIDR identity per referenced prefix
      IdentityView v;
      v.id = 20000 + static_cast<uint32_t>(ids.size());
      v.kind = IdentityView::Kind::cidr;
      for (const auto& other : referenced_cidrs(p)) {
        auto a = *net::parse_cidr4(c), b = *net::parse_cidr4(other);
        if (b.prefix <= a.prefix && b.contains(a.base)) v.cidrs.insert(other);
      }
      ids.push_back(v);
    }
    return policy::compile(ep(ns, pod), p, ids, namespaces);
  }
};

bool allows(const EndpointPolicy& ep, uint8_t dir, uint32_t identity, uint8_t proto, uint16_t port) {
  bool deny = false, allow = false;
  for (const auto& e : ep.entries) {
    if (e.dir != dir || (e.identity && e.identity != identity) || (e.proto && e.proto != proto) || port < e.lo || port > e.hi) continue;
    (e.deny ? deny : allow) = true;
  }
  if (deny) return false;
  if (allow) return true;
  return !(dir == MYELIN_DIR_INGRESS ? ep.ingress_enforced : ep.egress_enforced);
}

constexpr uint8_t IN = MYELIN_DIR_INGRESS, OUT = MYELIN_DIR_EGRESS;

TEST(Compiler, PodAndNamespaceSelectorsAndVersusOr) {
  World w;
  const std::string head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n";
  auto same_ns = w.compile("x", "a", head + "  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: b}}\n");
  EXPECT_TRUE(allows(same_ns, IN, w.id("x", "b"), 6, 80));
  EXPECT_FALSE(allows(same_ns, IN, w.id("y", "b"), 6, 80)) << "a podSelector alone means the policy's namespace";
  auto and_peer = w.compile("x", "a", head + "  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n      podSelector: {matchLabels: {pod: b}}\n");
  EXPECT_TRUE(allows(and_peer, IN, w.id("y", "b"), 6, 80));
  EXPECT_FALSE(allows(and_peer, IN, w.id("y", "a"), 6, 80));
  EXPECT_FALSE(allows(and_peer, IN, w.id("x", "b"), 6, 80));
  auto or_peers = w.compile("x", "a", head + "  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n    - podSelector: {matchLabels: {pod: b}}\n");
  EXPECT_TRUE(allows(or_peers, IN, w.id("y", "a"), 6, 80));
  EXPECT_TRUE(allows(or_peers, IN, w.id("x", "b"), 6, 80));
  EXPECT_FALSE(allows(or_peers, IN, w.id("x", "a"), 6, 80));
  auto all_ns = w.compile("x", "a", head + "  ingress:\n  - from:\n    - namespaceSelector: {}\n");
  EXPECT_TRUE(allows(all_ns, IN, w.id("y", "a"), 6, 80));
  EXPECT_FALSE(allows(all_ns, IN, 2, 6, 80)) << "namespaceSelector {} is every pod, not the world";
  auto other_pod = w.compile("x", "b", head + "  ingress: []\n");
  EXPECT_TRUE(other_pod.selected_by.empty());
  EXPECT_TRUE(allows(other_pod, IN, w.id("y", "a"), 6, 80)) << "not selected: not enforced";
}

TEST(Compiler, PortsNamedPortsRangesProtocols) {
  World w;
  const std::string head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n  ingress:\n  - ports:\n";
  auto p = w.compile("x", "a", head + "    - port: 80\n    - port: serve-81-udp\n      protocol: UDP\n    - port: 9000\n      endPort: 9010\n      protocol: SCTP\n");
  uint32_t any = w.id("y", "b");
  EXPECT_TRUE(allows(p, IN, any, 6, 80));
  EXPECT_FALSE(allows(p, IN, any, 17, 80)) << "protocol defaults to TCP";
  EXPECT_TRUE(allows(p, IN, any, 17, 81)) << "named port resolved on the pod";
  EXPECT_TRUE(allows(p, IN, any, 132, 9005));
  EXPECT_FALSE(allows(p, IN, any, 132, 9011));
  auto unknown = w.compile("x", "a", head + "    - port: no-such-port\n");
  EXPECT_FALSE(allows(unknown, IN, any, 6, 80)) << "an unknown named port matches nothing";
  EXPECT_TRUE(unknown.ingress_enforced);
}

TEST(Compiler, DefaultDenyAndAddingUp) {
  World w;
  const std::string deny_all = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: x}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n";
  auto p = w.compile("x", "a", deny_all);
  EXPECT_TRUE(p.ingress_enforced && p.egress_enforced);
  EXPECT_FALSE(allows(p, IN, w.id("x", "b"), 6, 80));
  EXPECT_FALSE(allows(p, OUT, w.id("x", "b"), 6, 80));
  auto both = w.compile("x", "a", deny_all + "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  egress:\n  - to:\n    - podSelector: {matchLabels: {pod: b}}\n    ports:\n    - port: 81\n      protocol: UDP\n");
  EXPECT_TRUE(allows(both, OUT, w.id("x", "b"), 17, 81)) << "policies add up";
  EXPECT_FALSE(allows(both, OUT, w.id("x", "b"), 6, 80));
  EXPECT_EQ(both.selected_by.size(), 2u);
}

TEST(Compiler, IpBlockWithExcept) {
  World w;
  auto p = w.compile("x", "a", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}\n");
  uint32_t wide = 0, hole = 0;
  for (const auto& v : w.ids)
    if (v.kind == IdentityView::Kind::cidr) (v.cidrs.count("10.1.0.0/16") ? hole : wide) = v.id;
  ASSERT_TRUE(wide && hole);
  EXPECT_TRUE(allows(p, OUT, wide, 6, 443));
  EXPECT_FALSE(allows(p, OUT, hole, 6, 443)) << "except carves a hole";
  EXPECT_FALSE(allows(p, OUT, 2, 6, 443)) << "the rest of the world is not allowed";
}

// The CIDR identity the datapath's LPM lookup gives an address: the longest
// referenced prefix holding it (0: none).
uint32_t cidr_id_of(const World& w, const std::string& addr) {
  auto ip = net::parse_ipv4(addr);
  int best = -1;
  uint32_t id = 0;
  for (const auto& v : w.ids) {
    if (v.kind != IdentityView::Kind::cidr) continue;
    // The prefix of a CIDR identity is the longest of its labels.
    const net::Cidr4* longest = nullptr;
    std::vector<net::Cidr4> cs;
    for (const auto& c : v.cidrs) cs.push_back(*net::parse_cidr4(c));
    for (const auto& c : cs)
      if (!longest || c.prefix > longest->prefix) longest = &c;
    if (longest && longest->contains(*ip) && longest->prefix > best) best = longest->prefix, id = v.id;
  }
  return id;
}

// Kubernetes' e2e "should allow egress access to server in CIDR block",
// "should enforce except clause ..." and "should ensure an IP overlapping
// both IPBlock.CIDR and IPBlock.Except is allowed": a NetworkPolicy ipBlock
// selects pods by their address, which keeps its own identity.
TEST(Compiler, IpBlockSelectsPodsAndNodesByAddress) {
  const std::string head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n";
  {
    World w;
    auto p = w.compile("x", "a", head + "  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}\n");
    const uint32_t yb = w.id("y", "b");
    auto in = evaluate(p, OUT, yb, 6, 80, cidr_id_of(w, "10.2.3.4"));
    ASSERT_EQ(in.kind, Decision::Kind::allowed_by_rule) << "a pod at 10.2.3.4 is inside the block";
    EXPECT_EQ(in.entry->identity, cidr_id_of(w, "10.2.3.4") | MYELIN_IDENTITY_IPBLOCK);
    EXPECT_EQ(rule_text(policies(head + "  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}\n")[0], *in.entry),
              "egress[0].to[0]: ipBlock 10.0.0.0/8 except 10.1.0.0/16");
    EXPECT_EQ(evaluate(p, OUT, yb, 6, 80, cidr_id_of(w, "10.1.2.3")).kind, Decision::Kind::denied_by_default)
        << "the same identity at an address in the except hole";
    EXPECT_EQ(evaluate(p, OUT, yb, 6, 80, 0).kind, Decision::Kind::denied_by_default) << "outside every block";
    EXPECT_EQ(evaluate(p, OUT, 1, 6, 80, cidr_id_of(w, "10.9.9.9")).kind, Decision::Kind::allowed_by_rule)
        << "the node (host identity) at an address inside the block";
    EXPECT_EQ(evaluate(p, OUT, cidr_id_of(w, "10.2.3.4"), 6, 80, cidr_id_of(w, "10.2.3.4")).kind, Decision::Kind::allowed_by_rule)
        << "the world inside the block, as before";
    for (const auto& e : p.entries) EXPECT_FALSE(e.identity == yb) << "the pod identity itself is never listed";
  }
  {
    World w;  // ingress, without except
    auto p = w.compile("x", "a", head + "  ingress:\n  - from:\n    - ipBlock: {cidr: 10.220.0.0/24}\n    ports: [{port: 80}]\n");
    const uint32_t in_block = cidr_id_of(w, "10.220.0.9");
    EXPECT_TRUE(evaluate(p, IN, w.id("y", "c"), 6, 80, in_block).allowed());
    EXPECT_FALSE(evaluate(p, IN, w.id("y", "c"), 6, 81, in_block).allowed()) << "ports still apply";
    EXPECT_FALSE(evaluate(p, IN, w.id("y", "c"), 6, 80, 0).allowed());
  }
  {
    World w;  // two policies: the except of one, the /32 of the other
    auto p = w.compile("x", "a", head + "  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.2/32]}\n---\n" +
                                     head.substr(0, head.find("name: p")) + "name: q, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.2/32}\n");
    auto d = evaluate(p, OUT, w.id("x", "b"), 6, 80, cidr_id_of(w, "10.0.0.2"));
    ASSERT_TRUE(d.allowed()) << "an IP in one policy's except and another's cidr is allowed";
    EXPECT_EQ(d.entry->policy, 2u);
    EXPECT_TRUE(evaluate(p, OUT, w.id("x", "b"), 6, 80, cidr_id_of(w, "10.0.0.3")).allowed());
  }
  {
    World w;  // named egress ports resolve against the destination pod: unknown by address, fail closed
    auto p = w.compile("x", "a", head + "  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8}\n    ports: [{port: serve-80-tcp}]\n");
    EXPECT_FALSE(evaluate(p, OUT, w.id("y", "b"), 6, 80, cidr_id_of(w, "10.0.0.9")).allowed());
  }
  {
    World w;  // 0.0.0.0/0 selects every pod too
    auto p = w.compile("x", "a", head + "  egress:\n  - to:\n    - ipBlock: {cidr: 0.0.0.0/0}\n");
    EXPECT_TRUE(evaluate(p, OUT, w.id("y", "b"), 6, 80, cidr_id_of(w, "10.0.0.9")).allowed());
  }
}

TEST(Compiler, CiliumCidrRulesDoNotSelectPods) {
  World w;
  auto p = w.compile("x", "a", R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: c, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  egress:
  - toCIDR: [10.0.0.0/8]
  - toCIDRSet: [{cidr: 172.16.0.0/12}]
  ingress:
  - fromEndpoints: [{}]
  ingressDeny:
  - fromCIDR: [10.0.0.0/8]
)");
  const uint32_t pod = w.id("x", "b"), block = cidr_id_of(w, "10.0.0.9");
  EXPECT_FALSE(evaluate(p, OUT, pod, 6, 80, block).allowed()) << "toCIDR covering a pod does not select it";
  EXPECT_FALSE(evaluate(p, OUT, pod, 6, 80, cidr_id_of(w, "172.16.1.1")).allowed()) << "nor does toCIDRSet";
  auto world = evaluate(p, OUT, block, 6, 80, block);
  ASSERT_TRUE(world.allowed()) << "toCIDR selects the world in it";
  EXPECT_EQ(rule_text(policies(R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: c, namespace: x}
spec:
  endpointSelector: {}
  egress:
  - toCIDR: [10.0.0.0/8]
)")[0], *world.entry), "egress[0].toCIDR: 10.0.0.0/8");
  EXPECT_TRUE(evaluate(p, IN, pod, 6, 80, block).allowed()) << "a fromCIDR deny does not select a pod in it";
  EXPECT_EQ(evaluate(p, IN, block, 6, 80, block).kind, Decision::Kind::denied_by_rule) << "it denies the world in it";
  for (const auto& e : p.entries) EXPECT_FALSE(e.identity & MYELIN_IDENTITY_IPBLOCK) << "no entry by address";
}

TEST(Compiler, CiliumEndpointsEntitiesCidrsAndDenyWins) {
  World w;
  auto p = w.compile("x", "a", R"(
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: c, namespace: x}
spec:
  endpointSelector: {matchLabels: {"k8s:pod": a}}
  ingress:
  - fromEndpoints:
    - matchLabels: {"k8s:io.kubernetes.pod.namespace": y}
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
  - fromEntities: [host]
  ingressDeny:
  - fromEndpoints:
    - matchLabels: {"k8s:io.kubernetes.pod.namespace": y, pod: b}
  egress:
  - toCIDRSet: [{cidr: 192.168.0.0/16, except: [192.168.1.0/24]}]
)");
  EXPECT_TRUE(allows(p, IN, w.id("y", "a"), 6, 80));
  EXPECT_FALSE(allows(p, IN, w.id("y", "b"), 6, 80)) << "a deny always wins over an allow";
  EXPECT_FALSE(allows(p, IN, w.id("x", "b"), 6, 80)) << "namespace label limits fromEndpoints";
  EXPECT_TRUE(allows(p, IN, 1, 6, 22)) << "fromEntities host";
  EXPECT_TRUE(p.egress_enforced);
  auto cw = w.compile("y", "b", R"(
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: cw}
spec:
  endpointSelector: {}
  ingress:
  - fromEndpoints: [{matchLabels: {pod: a}}]
)");
  EXPECT_TRUE(allows(cw, IN, w.id("x", "a"), 6, 80)) << "cluster-wide selectors span namespaces";
  EXPECT_FALSE(allows(cw, IN, w.id("x", "b"), 6, 80));
}


// --- Null, empty and omitted, field by field, as the Kubernetes API reads them ---

std::string sel_text(const Selector& s) {
  std::string out;
  for (const auto& [k, v] : s.match_labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  for (const auto& e : s.exprs) {
    static const char* ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
    out += (out.empty() ? "" : ",") + e.key + " " + ops[static_cast<int>(e.op)];
    for (size_t i = 0; i < e.values.size(); ++i) out += (i ? "|" : "(") + e.values[i] + (i + 1 == e.values.size() ? ")" : "");
  }
  return "{" + out + "}";
}

std::string rule_summary(const Rule& r) {
  std::string peers;
  if (r.all_peers) peers = "*";
  for (const auto& p : r.peers) {
    std::string t;
    if (p.namespaces) t += "ns" + sel_text(*p.namespaces);
    if (p.any_namespace) t += "anyns";
    if (p.pods) t += std::string(t.empty() ? "" : "+") + "pods" + sel_text(*p.pods);
    for (const auto& c : p.cidrs) {
      t += std::string(p.ipblock ? "ipblock(" : "cidr(") + c.cidr;
      for (const auto& e : c.except) t += "-" + e;
      t += ")";
    }
    for (const auto& e : p.entities) t += "ent(" + e + ")";
    peers += (peers.empty() ? "" : ",") + t;
  }
  if (peers.empty()) peers = "none";
  std::string ports;
  for (const auto& pr : r.ports)
    ports += (ports.empty() ? "" : ",") + std::to_string(pr.proto) + "/" +
             (!pr.name.empty() ? pr.name : pr.port == 0 ? "*" : std::to_string(pr.port) + (pr.end_port ? "-" + std::to_string(pr.end_port) : ""));
  return std::string(r.deny ? "!" : "") + peers + "->" + (ports.empty() ? "*" : ports);
}

std::string summary(const NetworkPolicy& p) {
  std::string out = std::string("types=") + (p.ingress_type ? "I" : "") + (p.egress_type ? "E" : "") +
                    (!p.ingress_type && !p.egress_type ? "-" : "") + " ns=" + p.ns + " subject=" + sel_text(p.subject);
  for (const auto& [name, rules] : {std::pair{" in=[", &p.ingress}, std::pair{" eg=[", &p.egress}}) {
    out += name;
    for (size_t i = 0; i < rules->size(); ++i) out += (i ? ";" : "") + rule_summary((*rules)[i]);
    out += "]";
  }
  return out;
}

// One document: the model summary, or the error ("bad.yaml:line: field: why").
std::string decoded(const std::string& doc) {
  auto objs = decode_yaml(doc, "bad.yaml");
  if (!objs) return objs.error().message;
  if (objs->size() != 1) return "documents: " + std::to_string(objs->size());
  if (auto* p = std::get_if<NetworkPolicy>(&(*objs)[0])) return summary(*p);
  if (auto* n = std::get_if<Namespace>(&(*objs)[0])) return "namespace " + n->name + " " + sel_text(Selector{n->labels, {}});
  if (auto* p = std::get_if<Pod>(&(*objs)[0])) {
    std::string ports;
    for (const auto& np : p->ports) ports += " " + np.name + "=" + std::to_string(np.proto) + "/" + std::to_string(np.port);
    return "pod " + p->ns + "/" + p->name + " " + sel_text(Selector{p->labels, {}}) + ports + " owners=" + std::to_string(p->workloads.size());
  }
  return "other";
}

struct DecodeCase {
  const char* name;
  std::string doc;
  std::string want;
};

const std::string NP = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n";
const std::string CNP = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: c, namespace: x}\n";
const std::string CCNP = "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: cc}\n";

const std::vector<DecodeCase> kDecodeCases = {
    // NetworkPolicy spec and podSelector (struct values: null/omitted = empty = every pod of the namespace)
    {"recipe: podSelector {matchLabels: null}", NP + "spec:\n  podSelector:\n    matchLabels:\n  ingress: []\n", "types=I ns=x subject={} in=[] eg=[]"},
    {"podSelector {matchLabels: {}, matchExpressions: []}", NP + "spec:\n  podSelector: {matchLabels: {}, matchExpressions: []}\n", "types=I ns=x subject={} in=[] eg=[]"},
    {"podSelector null", NP + "spec:\n  podSelector: null\n", "types=I ns=x subject={} in=[] eg=[]"},
    {"podSelector omitted", NP + "spec:\n  policyTypes: [Egress]\n", "types=E ns=x subject={} in=[] eg=[]"},
    {"spec null: every pod isolated for ingress", NP + "spec: null\n", "types=I ns=x subject={} in=[] eg=[]"},
    {"spec omitted", NP, "types=I ns=x subject={} in=[] eg=[]"},
    {"podSelector with labels", NP + "spec:\n  podSelector: {matchLabels: {app: web}}\n", "types=I ns=x subject={app=web} in=[] eg=[]"},
    {"matchLabels value null is the empty value (Go)", NP + "spec:\n  podSelector: {matchLabels: {app: null}}\n", "types=I ns=x subject={app=} in=[] eg=[]"},
    // policyTypes defaulting
    {"policyTypes null, egress rules: Ingress+Egress", NP + "spec:\n  podSelector: {}\n  policyTypes: null\n  egress: [{}]\n", "types=IE ns=x subject={} in=[] eg=[*->*]"},
    {"policyTypes [] defaults too", NP + "spec:\n  podSelector: {}\n  policyTypes: []\n", "types=I ns=x subject={} in=[] eg=[]"},
    {"egress: [] adds no Egress", NP + "spec:\n  podSelector: {}\n  egress: []\n", "types=I ns=x subject={} in=[] eg=[]"},
    {"egress null adds no Egress", NP + "spec:\n  podSelector: {}\n  egress: null\n", "types=I ns=x subject={} in=[] eg=[]"},
    {"explicit policyTypes [Egress] with egress: []", NP + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress: []\n", "types=E ns=x subject={} in=[] eg=[]"},
    {"policyTypes entry unknown", NP + "spec:\n  podSelector: {}\n  policyTypes: [Ingres]\n", "bad.yaml:6: spec.policyTypes[0]: must be Ingress or Egress, not 'Ingres'"},
    {"policyTypes not a list", NP + "spec:\n  podSelector: {}\n  policyTypes: Ingress\n", "bad.yaml:6: spec.policyTypes: must be a list"},
    // rules: [] / null = none; {} / null item = allow all
    {"ingress: [{}] allows all", NP + "spec:\n  podSelector: {}\n  ingress: [{}]\n", "types=I ns=x subject={} in=[*->*] eg=[]"},
    {"ingress: a null rule is the zero rule (all)", NP + "spec:\n  podSelector: {}\n  ingress:\n  -\n", "types=I ns=x subject={} in=[*->*] eg=[]"},
    {"ingress null", NP + "spec:\n  podSelector: {}\n  ingress: null\n", "types=I ns=x subject={} in=[] eg=[]"},
    {"from null, ports null", NP + "spec:\n  podSelector: {}\n  ingress:\n  - from: null\n    ports: null\n", "types=I ns=x subject={} in=[*->*] eg=[]"},
    {"from: [] is from everywhere", NP + "spec:\n  podSelector: {}\n  ingress:\n  - from: []\n    ports: [{port: 80}]\n", "types=I ns=x subject={} in=[*->6/80] eg=[]"},
    {"to: [] is to everywhere", NP + "spec:\n  podSelector: {}\n  egress:\n  - to: []\n", "types=IE ns=x subject={} in=[] eg=[*->*]"},
    {"ingress not a list", NP + "spec:\n  podSelector: {}\n  ingress: {from: []}\n", "bad.yaml:6: spec.ingress: must be a list"},
    // peers: pointers, null = omitted; {} = everything
    {"peer podSelector {}", NP + "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {}\n", "types=I ns=x subject={} in=[pods{}->*] eg=[]"},
    {"peer podSelector {matchLabels: null}", NP + "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: null}\n", "types=I ns=x subject={} in=[pods{}->*] eg=[]"},
    {"peer namespaceSelector {} with podSelector null", NP + "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {}\n      podSelector: null\n", "types=I ns=x subject={} in=[anyns->*] eg=[]"},
    {"peer namespaceSelector {matchLabels: null}", NP + "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: null}\n", "types=I ns=x subject={} in=[anyns->*] eg=[]"},
    {"peer namespaceSelector and podSelector", NP + "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n      podSelector: {matchLabels: {pod: b}}\n", "types=I ns=x subject={} in=[ns{ns=y}+pods{pod=b}->*] eg=[]"},
    {"peer ipBlock null beside podSelector", NP + "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: b}}\n      ipBlock: null\n", "types=I ns=x subject={} in=[pods{pod=b}->*] eg=[]"},
    {"peer {} specifies nothing", NP + "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - {}\n", "bad.yaml:8: spec.ingress[0].from[0]: must specify a peer: podSelector, namespaceSelector or ipBlock"},
    {"peer null specifies nothing", NP + "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - null\n", "bad.yaml:8: spec.ingress[0].from[0]: must specify a peer: podSelector, namespaceSelector or ipBlock"},
    {"peer with only null fields", NP + "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: null\n      namespaceSelector: null\n", "bad.yaml:8: spec.ingress[0].from[0]: must specify a peer: podSelector, namespaceSelector or ipBlock"},
    {"ipBlock with a selector", NP + "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/8}\n      podSelector: {}\n", "bad.yaml:8: spec.ingress[0].from[0]: ipBlock cannot be combined with podSelector or namespaceSelector"},
    // ipBlock
    {"ipBlock except null", NP + "spec:\n  podSelector: {}\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: null}\n", "types=IE ns=x subject={} in=[] eg=[ipblock(10.0.0.0/8)->*]"},
    {"ipBlock except []", NP + "spec:\n  podSelector: {}\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.1.2.3/8, except: []}\n", "types=IE ns=x subject={} in=[] eg=[ipblock(10.0.0.0/8)->*]"},
    {"ipBlock with except", NP + "spec:\n  podSelector: {}\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}\n", "types=IE ns=x subject={} in=[] eg=[ipblock(10.0.0.0/8-10.1.0.0/16)->*]"},
    {"ipBlock cidr null", NP + "spec:\n  podSelector: {}\n  egress:\n  - to:\n    - ipBlock: {cidr: null}\n", "bad.yaml:8: spec.egress[0].to[0].ipBlock.cidr: is required (a CIDR such as 10.0.0.0/8)"},
    {"ipBlock {}", NP + "spec:\n  podSelector: {}\n  egress:\n  - to:\n    - ipBlock: {}\n", "bad.yaml:8: spec.egress[0].to[0].ipBlock.cidr: is required (a CIDR such as 10.0.0.0/8)"},
    {"ipBlock cidr empty", NP + "spec:\n  podSelector: {}\n  egress:\n  - to:\n    - ipBlock: {cidr: \"\"}\n", "bad.yaml:8: spec.egress[0].to[0].ipBlock.cidr: '' is not an IPv4 CIDR (IPv6 policy is not supported yet)"},
    {"ipBlock except outside cidr", NP + "spec:\n  podSelector: {}\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}\n", "bad.yaml:8: spec.egress[0].to[0].ipBlock.except[0]: must be a strict subset of cidr 10.0.0.0/8"},
    {"ipBlock except equal to cidr", NP + "spec:\n  podSelector: {}\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}\n", "bad.yaml:8: spec.egress[0].to[0].ipBlock.except[0]: must be a strict subset of cidr 10.0.0.0/8"},
    // ports
    {"ports []", NP + "spec:\n  podSelector: {}\n  ingress:\n  - ports: []\n", "types=I ns=x subject={} in=[*->*] eg=[]"},
    {"ports: [{}] is every TCP port", NP + "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{}]\n", "types=I ns=x subject={} in=[*->6/*] eg=[]"},
    {"ports: a null item is every TCP port", NP + "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    -\n", "types=I ns=x subject={} in=[*->6/*] eg=[]"},
    {"protocol null is TCP", NP + "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 80, protocol: null}]\n", "types=I ns=x subject={} in=[*->6/80] eg=[]"},
    {"port null is every port of the protocol", NP + "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: null, protocol: UDP}]\n", "types=I ns=x subject={} in=[*->17/*] eg=[]"},
    {"endPort null", NP + "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 80, endPort: null}]\n", "types=I ns=x subject={} in=[*->6/80] eg=[]"},
    {"endPort range and named port", NP + "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 80, endPort: 90}, {port: http}]\n", "types=I ns=x subject={} in=[*->6/80-90,6/http] eg=[]"},
    {"port empty", NP + "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: \"\"}]\n", "bad.yaml:7: spec.ingress[0].ports[0].port: must be a port number or a port name, not empty"},
    {"port 0", NP + "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 0}]\n", "bad.yaml:7: spec.ingress[0].ports[0].port: must be a port number from 1 to 65535"},
    {"endPort without port", NP + "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{endPort: 90}]\n", "bad.yaml:7: spec.ingress[0].ports[0].endPort: needs a numeric port"},
    {"protocol unknown", NP + "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{protocol: ICMP}]\n", "bad.yaml:7: spec.ingress[0].ports[0].protocol: must be TCP, UDP or SCTP, not 'ICMP'"},
    // matchExpressions
    {"matchExpressions null", NP + "spec:\n  podSelector: {matchExpressions: null}\n", "types=I ns=x subject={} in=[] eg=[]"},
    {"Exists with values null", NP + "spec:\n  podSelector: {matchExpressions: [{key: a, operator: Exists, values: null}]}\n", "types=I ns=x subject={a Exists} in=[] eg=[]"},
    {"DoesNotExist with values []", NP + "spec:\n  podSelector: {matchExpressions: [{key: a, operator: DoesNotExist, values: []}]}\n", "types=I ns=x subject={a DoesNotExist} in=[] eg=[]"},
    {"In with values", NP + "spec:\n  podSelector: {matchExpressions: [{key: a, operator: In, values: [x, y]}]}\n", "types=I ns=x subject={a In(x|y)} in=[] eg=[]"},
    {"In with values null", NP + "spec:\n  podSelector: {matchExpressions: [{key: a, operator: In, values: null}]}\n", "bad.yaml:5: spec.podSelector.matchExpressions[0].values: must be specified (non-empty) for In"},
    {"Exists with values", NP + "spec:\n  podSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}\n", "bad.yaml:5: spec.podSelector.matchExpressions[0].values: may not be specified for Exists"},
    {"matchExpressions null item", NP + "spec:\n  podSelector:\n    matchExpressions:\n    -\n", "bad.yaml:8: spec.podSelector.matchExpressions[0]: must be a mapping with key and operator"},
    {"operator null", NP + "spec:\n  podSelector: {matchExpressions: [{key: a, operator: null}]}\n", "bad.yaml:5: spec.podSelector.matchExpressions[0].operator: is required (In, NotIn, Exists or DoesNotExist)"},
    {"key null", NP + "spec:\n  podSelector: {matchExpressions: [{key: null, operator: Exists}]}\n", "bad.yaml:5: spec.podSelector.matchExpressions[0].key: is required"},
    // metadata
    {"namespace null is default", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: null, labels: null, annotations: null}\nspec: {podSelector: {}}\n", "types=I ns=default subject={} in=[] eg=[]"},
    {"namespace empty is default", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: \"\"}\nspec: {podSelector: {}}\n", "types=I ns=default subject={} in=[] eg=[]"},
    {"name null", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: null}\n", "bad.yaml:1: metadata.name: is required"},
    {"metadata null", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: null\n", "bad.yaml:1: metadata.name: is required"},
    {"kind null", "apiVersion: v1\nkind: null\nmetadata: {name: p}\n", "bad.yaml:1: kind: is required"},
    // Namespace and Pod
    {"Namespace labels null", "apiVersion: v1\nkind: Namespace\nmetadata: {name: y, labels: null}\n", "namespace y {kubernetes.io/metadata.name=y}"},
    {"Namespace labels {}", "apiVersion: v1\nkind: Namespace\nmetadata: {name: y, labels: {}}\nspec: null\n", "namespace y {kubernetes.io/metadata.name=y}"},
    {"Pod with nulls everywhere", "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: null, labels: null, ownerReferences: null}\nspec: null\n", "pod default/a {} owners=0"},
    {"Pod containers and ports null", "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {app: web}}\nspec:\n  containers:\n  - name: c\n    ports: null\n  - null\n  - name: d\n    ports:\n    - {name: http, containerPort: 80, protocol: null}\n    - null\n    - {containerPort: 81}\n", "pod default/a {app=web} http=6/80 owners=0"},
    {"Pod containers not a list", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: {name: c}}\n", "bad.yaml:4: spec.containers: must be a list"},
    // CiliumNetworkPolicy: CRD, null = omitted
    {"CNP endpointSelector {}", CNP + "spec:\n  endpointSelector: {}\n  ingress:\n  - fromEndpoints: [{}]\n", "types=I ns=x subject={} in=[pods{}->*] eg=[]"},
    {"CNP endpointSelector {matchLabels: null}", CNP + "spec:\n  endpointSelector: {matchLabels: null}\n  egress:\n  - toEntities: [world]\n", "types=E ns=x subject={} in=[] eg=[ent(world)->*]"},
    {"CNP endpointSelector null", CNP + "spec:\n  endpointSelector: null\n", "bad.yaml:5: spec.endpointSelector: is required ({} selects every endpoint; nodeSelector is not supported)"},
    {"CNP spec null", CNP + "spec: null\n", "bad.yaml:1: spec: is required (specs: lists are not supported yet)"},
    {"CNP ingress: [] does not apply", CNP + "spec:\n  endpointSelector: {}\n  ingress: []\n  egress: null\n", "types=- ns=x subject={} in=[] eg=[]"},
    {"CNP ingress: [{}] is deny-all (default deny, nothing allowed)", CNP + "spec:\n  endpointSelector: {}\n  ingress:\n  - {}\n", "types=I ns=x subject={} in=[none->*] eg=[]"},
    {"CNP a rule with only null fields is {}", CNP + "spec:\n  endpointSelector: {}\n  egress:\n  - toEndpoints: null\n    toPorts: null\n", "types=E ns=x subject={} in=[] eg=[none->*]"},
    {"CNP toPorts alone: every peer on those ports", CNP + "spec:\n  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{port: \"80\", protocol: null}]}]\n", "types=I ns=x subject={} in=[*->0/80] eg=[]"},
    {"CNP fromEndpoints: [] selects nothing, even with toPorts", CNP + "spec:\n  endpointSelector: {}\n  ingress:\n  - fromEndpoints: []\n    toPorts: [{ports: [{port: \"80\", protocol: TCP}]}]\n", "types=I ns=x subject={} in=[none->6/80] eg=[]"},
    {"CNP fromEntities: [] selects nothing", CNP + "spec:\n  endpointSelector: {}\n  ingress:\n  - fromEntities: []\n", "types=I ns=x subject={} in=[none->*] eg=[]"},
    {"CNP fromEndpoints null item", CNP + "spec:\n  endpointSelector: {}\n  ingress:\n  - fromEndpoints:\n    -\n", "bad.yaml:9: spec.ingress[0].fromEndpoints[0]: must be a label selector ({} selects every endpoint)"},
    {"CNP a null rule", CNP + "spec:\n  endpointSelector: {}\n  ingress:\n  -\n", "bad.yaml:8: spec.ingress[0]: must be a mapping (\"{}\" selects nothing)"},
    {"CNP toPorts ports null: every port", CNP + "spec:\n  endpointSelector: {}\n  egress:\n  - toEntities: [all]\n    toPorts: [{ports: null}]\n", "types=E ns=x subject={} in=[] eg=[ent(all)->0/*]"},
    {"CNP toPorts [] alone selects nothing", CNP + "spec:\n  endpointSelector: {}\n  egress:\n  - toPorts: []\n", "types=E ns=x subject={} in=[] eg=[none->*]"},
    {"CNP ingressDeny alone puts ingress in default deny", CNP + "spec:\n  endpointSelector: {}\n  ingressDeny:\n  - fromEntities: [world]\n", "types=I ns=x subject={} in=[!ent(world)->*] eg=[]"},
    {"CNP fromCIDRSet except null", CNP + "spec:\n  endpointSelector: {}\n  ingress:\n  - fromCIDRSet: [{cidr: 10.0.0.0/8, except: null}]\n    fromCIDR: null\n", "types=I ns=x subject={} in=[cidr(10.0.0.0/8)->*] eg=[]"},
    {"CNP fromCIDRSet except outside", CNP + "spec:\n  endpointSelector: {}\n  ingress:\n  - fromCIDRSet: [{cidr: 10.0.0.0/8, except: [12.0.0.0/8]}]\n", "bad.yaml:7: spec.ingress[0].fromCIDRSet[0].except[0]: must be inside of cidr 10.0.0.0/8"},
    {"CNP matchLabels value null refused (the CRD would prune it)", CNP + "spec:\n  endpointSelector: {matchLabels: {app: null}}\n", "bad.yaml:5: spec.endpointSelector.matchLabels.app: must be a string (quote an empty value: \"\")"},
    {"CNP description null", CNP + "spec:\n  endpointSelector: {}\n  description: null\n", "types=- ns=x subject={} in=[] eg=[]"},
    {"CNP endPort null", CNP + "spec:\n  endpointSelector: {}\n  egress:\n  - toPorts: [{ports: [{port: \"53\", endPort: null, protocol: UDP}]}]\n", "types=E ns=x subject={} in=[] eg=[*->17/53]"},
    {"CCNP fromEndpoints {} spans namespaces", CCNP + "spec:\n  endpointSelector: {}\n  ingress:\n  - fromEndpoints: [{matchLabels: null}]\n", "types=I ns= subject={} in=[anyns+pods{}->*] eg=[]"},
};

class DecodeNulls : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(DecodeNulls, AsTheApiReadsThem) { EXPECT_EQ(decoded(GetParam().doc), GetParam().want) << GetParam().doc; }

INSTANTIATE_TEST_SUITE_P(Table, DecodeNulls, ::testing::ValuesIn(kDecodeCases), [](const auto& info) {
  std::string n;
  for (char ch : std::string(info.param.name)) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return n;
});

// The API source hands the decoder JSON (daemon/sources/kube_source.cpp): the
// same nulls, written as JSON, decode the same.
TEST(DecodeNulls, JsonFromTheApi) {
  EXPECT_EQ(decoded(R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "p", "namespace": "x", "labels": null, "annotations": null},
    "spec": {"podSelector": {"matchLabels": null, "matchExpressions": null}, "policyTypes": null,
             "ingress": [{"from": null, "ports": null}, null], "egress": null}})"),
            "types=I ns=x subject={} in=[*->*;*->*] eg=[]");
  EXPECT_EQ(decoded(R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "x"},
    "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress", "Egress"],
             "ingress": [{"from": [{"podSelector": null, "namespaceSelector": {"matchLabels": null}}],
                          "ports": [{"port": 5432, "protocol": null, "endPort": null}]}],
             "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": null}}]}]}})"),
            "types=IE ns=x subject={app=db} in=[anyns->6/5432] eg=[ipblock(10.0.0.0/8)->*]");
  EXPECT_EQ(decoded(R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "x"}, "spec": null})"),
            "types=I ns=x subject={} in=[] eg=[]");
  EXPECT_EQ(decoded(R"({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "c", "namespace": "x"},
    "spec": {"endpointSelector": {"matchLabels": null}, "ingress": [{}], "egress": null, "egressDeny": [{"toCIDR": ["169.254.169.254/32"], "toPorts": null}]}})"),
            "types=IE ns=x subject={} in=[none->*] eg=[!cidr(169.254.169.254/32)->*]");
  EXPECT_EQ(decoded(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "x", "labels": {"app": "web"}, "ownerReferences": null},
    "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080, "protocol": null}]}]}})"),
            "pod x/a {app=web} http=6/8080 owners=0");
  EXPECT_EQ(decoded(R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p"},
    "spec": {"ingress": [{"from": [{}]}]}})"),
            "bad.yaml:2: spec.ingress[0].from[0]: must specify a peer: podSelector, namespaceSelector or ipBlock");
}

// A prefix the ipcache had no room for is judged as the longest installed
// prefix holding it, or world. Whether that lets more through decides
// whether the endpoint fails closed: an except or a deny whose prefix is
// missing would widen; an allow whose prefix is missing only narrows.
TEST(Compiler, FallbackWidensOnlyWhereAMissingPrefixWouldAllowMore) {
  auto cidr_id = [](const World& w, const std::string& c, const std::string& not_c = "") {
    for (const auto& v : w.ids)
      if (v.kind == IdentityView::Kind::cidr && v.cidrs.count(c) && (not_c.empty() || !v.cidrs.count(not_c))) {
        bool narrowest = true;  // the identity of c itself: no referenced CIDR inside c
        for (const auto& o : v.cidrs)
          if (o != c && net::parse_cidr4(o)->prefix > net::parse_cidr4(c)->prefix) narrowest = false;
        if (narrowest) return v.id;
      }
    return 0u;
  };
  const std::string np = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n";
  const std::string cnp = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: c, namespace: x}\nspec:\n  endpointSelector: {}\n";
  struct Case {
    const char* what;
    std::string yaml;
    std::string missing, wider;  // the missing prefix; the installed prefix it falls back to ("" = world)
    bool widens;
  };
  const std::vector<Case> cases = {
      {"except missing: its addresses would be allowed as the wider block",
       np + "  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}\n",
       "10.1.0.0/16", "10.0.0.0/8", true},
      {"allowed block missing: world is not allowed either (narrower)",
       np + "  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8}\n", "10.0.0.0/8", "", false},
      {"allowed block missing inside another allowed block: it carries the wider block's labels, so never more",
       np + "  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8}\n    ports: [{port: 53, protocol: UDP}]\n"
            "  - to:\n    - ipBlock: {cidr: 10.1.0.0/16}\n    ports: [{port: 443}]\n",
       "10.1.0.0/16", "10.0.0.0/8", false},
      {"deny missing while world is allowed: fail closed",
       cnp + "  egress:\n  - toEntities: [world]\n  egressDeny:\n  - toCIDR: [203.0.113.0/24]\n", "203.0.113.0/24", "", true},
      {"deny missing, nothing else allowed: default deny already covers it",
       cnp + "  egress:\n  - toEndpoints: [{}]\n  egressDeny:\n  - toCIDR: [203.0.113.0/24]\n", "203.0.113.0/24", "", false},
      {"ingress except missing",
       np + "  ingress:\n  - from:\n    - ipBlock: {cidr: 192.168.0.0/16, except: [192.168.5.0/24]}\n    ports: [{port: 22}]\n",
       "192.168.5.0/24", "192.168.0.0/16", true},
      {"an except of one rule that another rule allows outright: no hole to lose",
       np + "  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}\n"
            "  - to:\n    - ipBlock: {cidr: 10.1.0.0/16}\n",
       "10.1.0.0/16", "10.0.0.0/8", false},
  };
  for (const auto& c : cases) {
    World w;
    auto p = w.compile("x", "a", c.yaml);
    uint32_t missing = cidr_id(w, c.missing);
    uint32_t wider = c.wider.empty() ? 2 : cidr_id(w, c.wider, c.missing);
    ASSERT_TRUE(missing && wider) << c.what;
    const Remote meant{missing, missing}, got{wider, c.wider.empty() ? 0 : wider};
    EXPECT_EQ(fallback_widens(p, meant, got), c.widens) << c.what;
    EXPECT_FALSE(fallback_widens(p, meant, meant)) << c.what << ": the same remote never widens";
  }
  // A pod whose address is in a missing except: NetworkPolicy ipBlock selects
  // pods by address, so it would be allowed by the wider block's ipBlock entry.
  World w;
  auto p = w.compile("x", "a", np + "  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}\n");
  const uint32_t hole = cidr_id(w, "10.1.0.0/16"), wide = cidr_id(w, "10.0.0.0/8", "10.1.0.0/16"), pod = w.id("y", "b");
  ASSERT_TRUE(hole && wide && pod);
  EXPECT_FALSE(evaluate(p, MYELIN_DIR_EGRESS, pod, 6, 80, hole).allowed()) << "as meant: the pod is in the except";
  EXPECT_TRUE(fallback_widens(p, {pod, hole}, {pod, wide})) << "the pod would pass as the wider block";
  EXPECT_FALSE(fallback_widens(p, {pod, wide}, {pod, 0})) << "losing an allowed block only narrows";
}


// Hostile YAML is stopped before a node tree exists: nesting past the depth
// limit (also far past yaml-cpp's own recursion), alias bombs, alias cycles;
// ordinary multi-document manifests pass.
TEST(YamlLimits, DepthNodesAliasesAndCycles) {
  auto check = [](const std::string& text, YamlLimits l = {}) -> Status {
    if (auto r = check_yaml_limits(text, "f.yaml", l)) return Error{r->message()};
    return {};
  };
  EXPECT_TRUE(check("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n"
                    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec:\n  podSelector: {}\n"));
  std::string deep63, deep65, deep_huge;
  for (int i = 0; i < 63; ++i) deep63 += "[";
  for (int i = 0; i < 63; ++i) deep63 += "]";
  for (int i = 0; i < 65; ++i) deep65 += "- ";
  deep65 += "x\n";
  for (int i = 0; i < 200000; ++i) deep_huge += "{a: ";
  EXPECT_TRUE(check(deep63)) << "63 levels are fine";
  auto d = check(deep65);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message, "f.yaml:1: nested deeper than 64 levels");
  auto h = check(deep_huge);
  ASSERT_FALSE(h) << "200,000 open mappings: stopped at the limit, long before the parser's stack is";
  EXPECT_NE(h.error().message.find("nested deeper than 64 levels"), std::string::npos);
  // Billion laughs: 9 levels of 10 aliases each stand for 10^9 nodes.
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) bomb += (k ? ", *a" : "*a") + std::to_string(i - 1);
    bomb += "]\n";
  }
  auto b = check(bomb);
  ASSERT_FALSE(b) << "a " << bomb.size() << "-byte alias bomb";
  EXPECT_NE(b.error().message.find("more than 250000 YAML nodes (aliases expanded)"), std::string::npos) << b.error().message;
  auto cycle = check("a: &x [1, *x]\n");
  ASSERT_FALSE(cycle);
  EXPECT_NE(cycle.error().message.find("a cycle"), std::string::npos) << cycle.error().message;
  // The node count is exact: "a:" and a list of n scalars is n + 3 nodes (the mapping, its key, the list).
  std::string list = "a:\n";
  for (int i = 0; i < 97; ++i) list += "- x\n";
  EXPECT_TRUE(check(list, {64, 100}));
  EXPECT_FALSE(check(list + "- y\n", {64, 100}));
  // A run of flow openers is stopped before yaml-cpp's scanner reads it
  // whole (2 MB of '[' cost it 270 MB): counted on the bytes.
  auto run = check("a: " + std::string(2'000'000, '['));
  ASSERT_FALSE(run);
  EXPECT_NE(run.error().message.find("(brackets)"), std::string::npos) << run.error().message;
  EXPECT_TRUE(check("a: \"" + std::string(300, '[') + "\"\nb: '" + std::string(300, '{') + "'\n# " + std::string(300, '[') +
                    "\nc: it's [fine]\n"))
      << "brackets in quotes and comments are not nesting";
  auto garbage = check(std::string("\x00\xff\xfe{[:\x01", 8));
  EXPECT_TRUE(garbage || garbage.error().message.rfind("f.yaml:", 0) == 0) << "garbage is at worst a clear error";
  EXPECT_TRUE(check("a: [1, 2\n")) << "a syntax error is the decoders' to report";
}

}  // namespace
}  // namespace myelin::policy
