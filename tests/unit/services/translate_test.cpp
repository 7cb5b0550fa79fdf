// SPDX-License-Identifier: Apache-2.0
// translate(): each kube-proxy rule with a case that fails if the rule is
// broken. Inputs are written as the manifests a user would write, through
// the one decoder (objects/decode.hpp), so the decoded fields are covered too.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "myelin/objects/decode.hpp"
#include "myelin/services/translate.hpp"

using namespace myelin;
using namespace myelin::services;

namespace {

net::Ipv4 ip(const std::string& s) { return *net::parse_ipv4(s); }

// The objects of a YAML text, added to `in` (its node name and addresses kept).
Inputs with(Inputs in, const std::string& yaml) {
  auto d = objects::decode(yaml, "t.yaml");
  if (auto* r = std::get_if<policy::Refusal>(&d.objects)) {
    ADD_FAILURE() << r->message();
    return in;
  }
  for (auto& o : std::get<std::vector<objects::Object>>(d.objects)) {
    if (auto* s = std::get_if<objects::Service>(&o)) in.services.push_back(*s);
    else if (auto* e = std::get_if<objects::EndpointSlice>(&o)) in.slices.push_back(*e);
    else if (auto* p = std::get_if<policy::Pod>(&o)) in.pods.push_back(*p);
  }
  return in;
}

Inputs node(const std::string& yaml) {
  Inputs in;
  in.node_name = "n1";
  in.node_addresses = {ip("192.168.1.10"), ip("192.168.2.10")};
  return with(std::move(in), yaml);
}

std::string svc(const std::string& name, const std::string& spec, const std::string& meta = "") {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: shop" + meta + "}\nspec:\n" + spec + "---\n";
}

// One endpoint line: {addresses: [IP], nodeName: N, conditions: {...}}
std::string slice(const std::string& name, const std::string& service, const std::string& endpoints, const std::string& ports,
                  const std::string& extra_labels = "", const std::string& address_type = "IPv4") {
  return "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
         ", namespace: shop, labels: {kubernetes.io/service-name: " + service + extra_labels + "}}\naddressType: " + address_type +
         "\nendpoints:\n" + endpoints + "ports:\n" + ports + "---\n";
}

std::string pod(const std::string& name, const std::string& labels, const std::string& rest = "") {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: shop, labels: " + labels + "}\n" + rest + "---\n";
}

const Service& get(const ServiceTable& t, const std::string& key) {
  static const Service empty;
  auto it = t.find(key);
  if (it == t.end()) {
    ADD_FAILURE() << "no Service " << key;
    return empty;
  }
  return it->second;
}

const Frontend& fe(const Service& s, FrontendKind kind, const std::string& addr, uint16_t port, uint8_t proto = 6) {
  static const Frontend empty;
  for (const auto& f : s.frontends)
    if (f.kind == kind && f.addr == ip(addr) && f.port == port && f.proto == proto) return f;
  ADD_FAILURE() << "no frontend " << kind_name(kind) << " " << addr << ":" << port << " in " << s.ns << "/" << s.name;
  return empty;
}

// "10.0.0.1:8080 active" per backend, for compact expectations.
std::vector<std::string> backends(const Frontend& f) {
  std::vector<std::string> out;
  for (const auto& b : f.backends) out.push_back(b.addr.str() + ":" + std::to_string(b.port) + " " + state_name(b.state));
  return out;
}
std::vector<std::string> outside(const Frontend& f) {
  std::vector<std::string> out;
  for (const auto& b : f.backends)
    if (b.external_active) out.push_back(b.addr.str());
  return out;
}

using V = std::vector<std::string>;

const std::string kWeb = svc("web", "  clusterIP: 10.96.0.10\n  ports: [{name: http, port: 80, targetPort: 8080}]\n");
const std::string kHttpPort = "- {name: http, port: 8080}\n";

}  // namespace

TEST(Translate, BackendsAreTheUnionOfTheServicesSlicesByLabel) {
  auto t = translate(node(kWeb + slice("web-a", "web", "- {addresses: [10.0.0.1]}\n", kHttpPort) +
                          slice("web-b", "web", "- {addresses: [10.0.0.2]}\n", kHttpPort) +
                          slice("other-a", "other", "- {addresses: [10.0.0.3]}\n", kHttpPort)));
  const auto& s = get(t, "shop/web");
  EXPECT_EQ(s.endpoints_from, EndpointsFrom::endpoint_slices);
  ASSERT_EQ(s.frontends.size(), 1u);
  EXPECT_EQ(backends(fe(s, FrontendKind::cluster_ip, "10.96.0.10", 80)), (V{"10.0.0.1:8080 active", "10.0.0.2:8080 active"}));
}

TEST(Translate, SlicePortsMatchTheServicePortByNameAndProtocol) {
  auto t = translate(node(svc("dns", "  clusterIP: 10.96.0.53\n  ports:\n  - {name: dns, port: 53, protocol: UDP, targetPort: 5353}\n"
                                     "  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 5353}\n  - {name: metrics, port: 9153}\n") +
                          slice("dns-1", "dns", "- {addresses: [10.0.0.1]}\n",
                                "- {name: dns, port: 5353, protocol: UDP}\n- {name: dns-tcp, port: 5354, protocol: TCP}\n"
                                "- {name: metrics, port: 9153, protocol: UDP}\n")));
  const auto& s = get(t, "shop/dns");
  EXPECT_EQ(backends(fe(s, FrontendKind::cluster_ip, "10.96.0.53", 53, 17)), V{"10.0.0.1:5353 active"});
  EXPECT_EQ(backends(fe(s, FrontendKind::cluster_ip, "10.96.0.53", 53, 6)), V{"10.0.0.1:5354 active"});
  // The slice's metrics port is UDP, the Service's TCP: no backend (refused, not a wrong one).
  EXPECT_EQ(backends(fe(s, FrontendKind::cluster_ip, "10.96.0.53", 9153, 6)), V{});
  EXPECT_EQ(fe(s, FrontendKind::cluster_ip, "10.96.0.53", 53, 17).port_name, "dns");
}

TEST(Translate, AnEndpointInTwoSlicesIsOneBackendAndALocalOneWins) {
  auto t = translate(node(kWeb + slice("web-a", "web", "- {addresses: [10.0.0.1], nodeName: n2}\n", kHttpPort) +
                          slice("web-b", "web", "- {addresses: [10.0.0.1], nodeName: n1}\n", kHttpPort)));
  const auto& f = fe(get(t, "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80);
  ASSERT_EQ(f.backends.size(), 1u);
  EXPECT_TRUE(f.backends[0].local);
  // The local one first: a later remote duplicate does not replace it.
  auto u = translate(node(kWeb + slice("web-a", "web", "- {addresses: [10.0.0.1], nodeName: n1}\n", kHttpPort) +
                          slice("web-b", "web", "- {addresses: [10.0.0.1], nodeName: n2}\n", kHttpPort)));
  const auto& g = fe(get(u, "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80);
  ASSERT_EQ(g.backends.size(), 1u);
  EXPECT_TRUE(g.backends[0].local);
}

TEST(Translate, ReadyEndpointsServeAndServingTerminatingOnesOnlyKeepTheirConnections) {
  auto t = translate(node(kWeb + slice("web-a", "web",
                                       "- {addresses: [10.0.0.1]}\n"
                                       "- {addresses: [10.0.0.2], conditions: {ready: false, serving: true, terminating: true}}\n",
                                       kHttpPort)));
  const auto& f = fe(get(t, "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80);
  EXPECT_EQ(backends(f), (V{"10.0.0.1:8080 active", "10.0.0.2:8080 terminating"}));
}

TEST(Translate, NoneReadyServingTerminatingOnesTakeNewConnections) {
  const std::string eps =
      "- {addresses: [10.0.0.1], conditions: {ready: false, serving: true, terminating: true}}\n"
      "- {addresses: [10.0.0.2], conditions: {ready: false, serving: false, terminating: true}}\n";
  auto t = translate(node(svc("web", "  clusterIP: 10.96.0.10\n  ports:\n  - {name: http, port: 80, targetPort: 8080}\n"
                                     "  - {name: q, port: 81, protocol: UDP, targetPort: 8081}\n") +
                          slice("web-a", "web", eps, kHttpPort + "- {name: q, port: 8081, protocol: UDP}\n")));
  const auto& s = get(t, "shop/web");
  // TCP: the terminating-not-serving one keeps its established connections.
  EXPECT_EQ(backends(fe(s, FrontendKind::cluster_ip, "10.96.0.10", 80)), (V{"10.0.0.1:8080 active", "10.0.0.2:8080 terminating"}));
  // UDP: kube-proxy clears a non-serving endpoint's conntrack entries: it is left out.
  EXPECT_EQ(backends(fe(s, FrontendKind::cluster_ip, "10.96.0.10", 81, 17)), V{"10.0.0.1:8081 active"});
}

TEST(Translate, NotReadyEndpointsTakeNoNewConnections) {
  auto t = translate(node(kWeb + slice("web-a", "web", "- {addresses: [10.0.0.1], conditions: {ready: false}}\n", kHttpPort)));
  const auto& f = fe(get(t, "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80);
  EXPECT_EQ(backends(f), V{"10.0.0.1:8080 terminating"});  // no fallback: it is not terminating
  EXPECT_FALSE(f.backends[0].ready);
  EXPECT_FALSE(f.backends[0].serving);  // serving nil reads as ready
}

TEST(Translate, WhatKubeProxyDoesNotProxy) {
  auto t = translate(node(svc("headless", "  clusterIP: None\n  ports: [{port: 80}]\n") +
                          svc("ext", "  type: ExternalName\n  externalName: example.com\n") +
                          svc("other", "  clusterIP: 10.96.0.2\n  ports: [{port: 80}]\n", ", labels: {service.kubernetes.io/service-proxy-name: x}") +
                          svc("hl", "  clusterIP: 10.96.0.3\n  ports: [{port: 80}]\n", ", labels: {service.kubernetes.io/headless: ''}") +
                          svc("pending", "  ports: [{port: 80}]\n") + svc("plain", "  clusterIP: 10.96.0.4\n  ports: [{port: 80}]\n")));
  EXPECT_EQ(get(t, "shop/headless").not_proxied, "headless");
  EXPECT_EQ(get(t, "shop/ext").not_proxied, "ExternalName");
  EXPECT_EQ(get(t, "shop/other").not_proxied, "service-proxy-name x");
  EXPECT_EQ(get(t, "shop/hl").not_proxied, "headless");
  EXPECT_EQ(get(t, "shop/pending").not_proxied, "no clusterIP");
  for (const char* k : {"shop/headless", "shop/ext", "shop/other", "shop/hl", "shop/pending"}) EXPECT_TRUE(get(t, k).frontends.empty()) << k;
  EXPECT_EQ(get(t, "shop/plain").not_proxied, "");
  EXPECT_EQ(get(t, "shop/plain").frontends.size(), 1u);
}

TEST(Translate, AProxyWithANameServesOnlyThoseLabelledWithIt) {
  Inputs in = node(svc("mine", "  clusterIP: 10.96.0.2\n  ports: [{port: 80}]\n", ", labels: {service.kubernetes.io/service-proxy-name: myelin}") +
                   svc("plain", "  clusterIP: 10.96.0.4\n  ports: [{port: 80}]\n"));
  in.proxy_name = "myelin";
  auto t = translate(in);
  EXPECT_EQ(get(t, "shop/mine").not_proxied, "");
  EXPECT_EQ(get(t, "shop/mine").frontends.size(), 1u);
  EXPECT_NE(get(t, "shop/plain").not_proxied, "");
}

TEST(Translate, SlicesLabelledHeadlessOrForAnotherProxyAreIgnored) {
  auto t = translate(node(kWeb + slice("web-a", "web", "- {addresses: [10.0.0.1]}\n", kHttpPort) +
                          slice("web-h", "web", "- {addresses: [10.0.0.2]}\n", kHttpPort, ", service.kubernetes.io/headless: ''") +
                          slice("web-p", "web", "- {addresses: [10.0.0.3]}\n", kHttpPort, ", service.kubernetes.io/service-proxy-name: x")));
  EXPECT_EQ(backends(fe(get(t, "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80)), V{"10.0.0.1:8080 active"});
}

TEST(Translate, IPv6AndFqdnSlicesAreNotServedAndSaySo) {
  auto t = translate(node(kWeb + slice("web-6", "web", "- {addresses: ['fd00::1']}\n", kHttpPort, "", "IPv6")));
  const auto& s = get(t, "shop/web");
  EXPECT_TRUE(fe(s, FrontendKind::cluster_ip, "10.96.0.10", 80).backends.empty());
  ASSERT_FALSE(s.warnings.empty());
  EXPECT_NE(s.warnings[0].find("IPv6 is not served"), std::string::npos) << s.warnings[0];
}

// ---- endpoints derived from the Pods (a selector, no EndpointSlice)

namespace {
const std::string kSel = svc("web", "  clusterIP: 10.96.0.10\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n");
}

TEST(Translate, DerivedFromThePodsWhoseEndpointIsUp) {
  Inputs in = node(kSel + pod("a", "{app: web}") + pod("b", "{app: web}") + pod("c", "{app: db}") + pod("d", "{app: web}"));
  in.endpoints = {{"shop", "a", ip("10.0.0.1"), true}, {"shop", "b", ip("10.0.0.2"), false}, {"shop", "c", ip("10.0.0.3"), true}};
  // d: no endpoint and no status.podIP: no address, in no slice.
  auto t = translate(in);
  const auto& s = get(t, "shop/web");
  EXPECT_EQ(s.endpoints_from, EndpointsFrom::derived);
  const auto& f = fe(s, FrontendKind::cluster_ip, "10.96.0.10", 80);
  EXPECT_EQ(backends(f), (V{"10.0.0.1:8080 active", "10.0.0.2:8080 terminating"}));
  EXPECT_TRUE(f.backends[0].local);
  EXPECT_EQ(f.backends[0].pod, "shop/a");
}

TEST(Translate, DerivedIgnoresPodsOfOtherNamespacesAndFinishedOnes) {
  Inputs in = node(kSel + pod("a", "{app: web}") + pod("done", "{app: web}", "status: {phase: Succeeded}\n") +
                   "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: other, labels: {app: web}}\n");
  in.endpoints = {{"shop", "a", ip("10.0.0.1"), true}, {"shop", "done", ip("10.0.0.2"), true}, {"other", "x", ip("10.0.0.3"), true}};
  EXPECT_EQ(backends(fe(get(translate(in), "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80)), V{"10.0.0.1:8080 active"});
}

TEST(Translate, PublishNotReadyAddressesMakesDerivedEndpointsReady) {
  const std::string s = svc("web", "  clusterIP: 10.96.0.10\n  publishNotReadyAddresses: true\n  selector: {app: web}\n  ports: [{port: 80}]\n");
  Inputs in = node(s + pod("a", "{app: web}"));
  in.endpoints = {{"shop", "a", ip("10.0.0.1"), false}};
  const auto t = translate(in);
  const auto& f = fe(get(t, "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80);
  EXPECT_EQ(backends(f), V{"10.0.0.1:80 active"});
  EXPECT_TRUE(f.backends[0].ready);
  EXPECT_FALSE(f.backends[0].serving);
  // Positive control: without it the same pod takes no new connections.
  Inputs plain = node(kSel + pod("a", "{app: web}"));
  plain.endpoints = in.endpoints;
  EXPECT_EQ(backends(fe(get(translate(plain), "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80)), V{"10.0.0.1:8080 terminating"});
}

TEST(Translate, ADeletedPodIsTerminatingAndServesWhenNoneIsReady) {
  Inputs in = node(kSel + pod("a", "{app: web}") +
                   "apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: shop, labels: {app: web}, deletionTimestamp: '2026-01-01T00:00:00Z'}\n");
  in.endpoints = {{"shop", "a", ip("10.0.0.1"), true}, {"shop", "b", ip("10.0.0.2"), true}};
  const auto t = translate(in);
  const auto& f = fe(get(t, "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80);
  EXPECT_EQ(backends(f), (V{"10.0.0.1:8080 active", "10.0.0.2:8080 terminating"}));
  EXPECT_TRUE(f.backends[1].terminating && f.backends[1].serving && !f.backends[1].ready);
  in.endpoints.erase(in.endpoints.begin());  // a is gone: b, serving+terminating, takes new connections
  EXPECT_EQ(backends(fe(get(translate(in), "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80)), V{"10.0.0.2:8080 active"});
}

TEST(Translate, AnotherNodesPodIsReadyWhenItsReadyConditionIsTrue) {
  Inputs in = node(kSel +
                   pod("r", "{app: web}", "spec: {nodeName: n2}\nstatus: {podIP: 10.1.0.1, conditions: [{type: Ready, status: 'True'}]}\n") +
                   pod("u", "{app: web}", "spec: {nodeName: n2}\nstatus: {podIPs: [{ip: 10.1.0.2}], conditions: [{type: Ready, status: 'False'}]}\n") +
                   pod("x", "{app: web}", "spec: {nodeName: n2}\nstatus: {podIP: 10.1.0.3}\n"));
  const auto t = translate(in);
  const auto& f = fe(get(t, "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80);
  EXPECT_EQ(backends(f), (V{"10.1.0.1:8080 active", "10.1.0.2:8080 terminating", "10.1.0.3:8080 terminating"}));
  EXPECT_FALSE(f.backends[0].local);
}

TEST(Translate, NamedTargetPortResolvesPerPodAgainstItsContainerPortsOfThatProtocol) {
  const std::string s = svc("web", "  clusterIP: 10.96.0.10\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: web}]\n");
  auto ports = [](const std::string& list) { return "spec:\n  containers:\n  - name: c\n    ports: " + list + "\n"; };
  Inputs in = node(s + pod("a", "{app: web}", ports("[{name: web, containerPort: 8080}]")) +
                   pod("b", "{app: web}", ports("[{name: web, containerPort: 9090}]")) +
                   pod("c", "{app: web}", ports("[{name: web, containerPort: 7070, protocol: UDP}]")) + pod("d", "{app: web}"));
  in.endpoints = {{"shop", "a", ip("10.0.0.1"), true}, {"shop", "b", ip("10.0.0.2"), true}, {"shop", "c", ip("10.0.0.3"), true},
                  {"shop", "d", ip("10.0.0.4"), true}};
  const auto t = translate(in);
  const auto& sv = get(t, "shop/web");
  EXPECT_EQ(backends(fe(sv, FrontendKind::cluster_ip, "10.96.0.10", 80)), (V{"10.0.0.1:8080 active", "10.0.0.2:9090 active"}));
  ASSERT_EQ(sv.warnings.size(), 2u);  // c (UDP only) and d (no ports)
  EXPECT_NE(sv.warnings[0].find("pod c has no containerPort named 'web' (TCP)"), std::string::npos) << sv.warnings[0];
}

TEST(Translate, SlicesWinOverDerivingForASelectorService) {
  Inputs in = node(kSel + pod("a", "{app: web}") + slice("web-a", "web", "- {addresses: [10.0.0.9]}\n", kHttpPort));
  in.endpoints = {{"shop", "a", ip("10.0.0.1"), true}};
  const auto t = translate(in);
  const auto& s = get(t, "shop/web");
  EXPECT_EQ(s.endpoints_from, EndpointsFrom::endpoint_slices);
  EXPECT_EQ(backends(fe(s, FrontendKind::cluster_ip, "10.96.0.10", 80)), V{"10.0.0.9:8080 active"});
  EXPECT_EQ(get(translate(node(svc("x", "  clusterIP: 10.96.0.11\n  ports: [{port: 80}]\n"))), "shop/x").endpoints_from, EndpointsFrom::none);
}

// ---- traffic policies

TEST(Translate, InternalTrafficPolicyLocalServesOnlyLocalEndpointsWithItsOwnFallback) {
  auto t = translate(node(svc("web", "  clusterIP: 10.96.0.10\n  internalTrafficPolicy: Local\n  ports: [{name: http, port: 80, targetPort: 8080}]\n") +
                          slice("web-a", "web",
                                "- {addresses: [10.0.0.1], nodeName: n2}\n"
                                "- {addresses: [10.0.0.2], nodeName: n1, conditions: {ready: false, serving: true, terminating: true}}\n",
                                kHttpPort)));
  const auto& f = fe(get(t, "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80);
  EXPECT_TRUE(f.internal_local);
  // The remote ready one is never a backend; the local serving+terminating one
  // serves, though a ready one exists elsewhere (the local set falls back apart).
  EXPECT_EQ(backends(f), V{"10.0.0.2:8080 active"});
}

TEST(Translate, ExternalTrafficPolicyLocalPicksOutsideClientsBackendsApart) {
  auto t = translate(node(svc("web", "  type: NodePort\n  clusterIP: 10.96.0.10\n  externalTrafficPolicy: Local\n"
                                     "  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]\n") +
                          slice("web-a", "web",
                                "- {addresses: [10.0.0.1], nodeName: n2}\n"
                                "- {addresses: [10.0.0.2], nodeName: n1, conditions: {ready: false, serving: true, terminating: true}}\n",
                                kHttpPort)));
  const auto& s = get(t, "shop/web");
  const auto& np = fe(s, FrontendKind::node_port, "192.168.1.10", 30080);
  EXPECT_TRUE(np.external_local);
  EXPECT_EQ(backends(np), (V{"10.0.0.1:8080 active", "10.0.0.2:8080 terminating"}));  // inside clients: cluster-wide
  EXPECT_EQ(outside(np), V{"10.0.0.2"});                                             // outside clients: local only
  const auto& cip = fe(s, FrontendKind::cluster_ip, "10.96.0.10", 80);
  EXPECT_FALSE(cip.external_local);  // the ClusterIP is not external
  EXPECT_EQ(outside(cip), V{"10.0.0.1"});
}

// ---- frontends

TEST(Translate, NodePortsOnEveryNodeAddressForNodePortAndLoadBalancerOnly) {
  const std::string ports = "  ports: [{port: 80, nodePort: 30080}]\n";
  auto t = translate(node(svc("np", "  type: NodePort\n  clusterIP: 10.96.0.1\n" + ports) +
                          svc("lb", "  type: LoadBalancer\n  clusterIP: 10.96.0.2\n  ports: [{port: 80, nodePort: 30081}]\n") +
                          svc("cip", "  clusterIP: 10.96.0.3\n  ports: [{port: 80, nodePort: 30082}]\n")));
  EXPECT_EQ(get(t, "shop/np").frontends.size(), 3u);
  fe(get(t, "shop/np"), FrontendKind::node_port, "192.168.1.10", 30080);
  fe(get(t, "shop/np"), FrontendKind::node_port, "192.168.2.10", 30080);
  fe(get(t, "shop/lb"), FrontendKind::node_port, "192.168.2.10", 30081);
  EXPECT_EQ(get(t, "shop/cip").frontends.size(), 1u);
}

TEST(Translate, ANodePortOutsideTheNodePortRangeIsNotServedAndSaysWhy) {
  Inputs in = node(svc("np", "  type: NodePort\n  clusterIP: 10.96.0.1\n  ports: [{name: in, port: 80, nodePort: 30080}, {name: out, port: 81, nodePort: 32000}]\n"));
  in.node_port_min = 30000;
  in.node_port_max = 30999;
  auto t = translate(in);
  const auto& s = get(t, "shop/np");
  EXPECT_EQ(s.frontends.size(), 4u);  // two ClusterIP ports, 30080 on both node addresses
  fe(s, FrontendKind::node_port, "192.168.1.10", 30080);
  for (const auto& f : s.frontends) EXPECT_NE(f.port, 32000);
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_NE(s.warnings[0].find("nodePort 32000"), std::string::npos) << s.warnings[0];
  EXPECT_NE(s.warnings[0].find("outside --node-port-range 30000-30999"), std::string::npos) << s.warnings[0];
}

TEST(Translate, ExternalAndLoadBalancerIPsOnlyWhenTheyAreThisNodes) {
  auto t = translate(node(svc("lb", "  type: LoadBalancer\n  clusterIP: 10.96.0.2\n  externalIPs: [192.168.1.10, 203.0.113.9]\n"
                                    "  ports: [{port: 443}]\nstatus:\n  loadBalancer:\n    ingress: [{ip: 192.168.2.10}, {ip: 198.51.100.1}, "
                                    "{ip: 192.168.1.10, ipMode: Proxy}, {hostname: lb.example.com}]\n")));
  const auto& s = get(t, "shop/lb");
  fe(s, FrontendKind::external_ip, "192.168.1.10", 443);
  fe(s, FrontendKind::load_balancer, "192.168.2.10", 443);
  EXPECT_EQ(s.frontends.size(), 3u);  // ClusterIP, one externalIP, one LoadBalancer IP
  auto warned = [&](const std::string& w) {
    return std::any_of(s.warnings.begin(), s.warnings.end(), [&](const std::string& x) { return x.find(w) != std::string::npos; });
  };
  EXPECT_TRUE(warned("externalIP 203.0.113.9 is not an address of this node"));
  EXPECT_TRUE(warned("LoadBalancer ingress 198.51.100.1 is not an address of this node"));
  EXPECT_TRUE(warned("ipMode Proxy"));
}

TEST(Translate, AffinityOnEveryFrontendMaglevOnlyForOutsideTraffic) {
  Inputs in = node(svc("web", "  type: NodePort\n  clusterIP: 10.96.0.10\n  sessionAffinity: ClientIP\n"
                              "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 30}}\n  ports: [{port: 80, nodePort: 30080}]\n") +
                   svc("plain", "  clusterIP: 10.96.0.11\n  ports: [{port: 80}]\n"));
  in.maglev = true;
  auto t = translate(in);
  const auto& cip = fe(get(t, "shop/web"), FrontendKind::cluster_ip, "10.96.0.10", 80);
  const auto& np = fe(get(t, "shop/web"), FrontendKind::node_port, "192.168.1.10", 30080);
  EXPECT_TRUE(cip.affinity && np.affinity);
  EXPECT_EQ(np.affinity_timeout_s, 30u);
  EXPECT_FALSE(cip.maglev);
  EXPECT_TRUE(np.maglev);
  const auto& plain = fe(get(t, "shop/plain"), FrontendKind::cluster_ip, "10.96.0.11", 80);
  EXPECT_FALSE(plain.affinity);
  EXPECT_EQ(plain.affinity_timeout_s, 0u);
}

TEST(Translate, AFrontendTwoServicesClaimIsTheFirstOnesOnly) {
  auto t = translate(node(svc("a", "  clusterIP: 10.96.0.10\n  ports: [{port: 80}]\n") + svc("b", "  clusterIP: 10.96.0.10\n  ports: [{name: w, port: 80}, {name: x, port: 81}]\n")));
  EXPECT_EQ(get(t, "shop/a").frontends.size(), 1u);
  const auto& b = get(t, "shop/b");
  ASSERT_EQ(b.frontends.size(), 1u);
  EXPECT_EQ(b.frontends[0].port, 81);
  ASSERT_FALSE(b.warnings.empty());
  EXPECT_NE(b.warnings[0].find("is also Service shop/a's"), std::string::npos) << b.warnings[0];
}

TEST(Translate, WarningsAreBounded) {
  std::string pods;
  for (int i = 0; i < 20; ++i) pods += pod("p" + std::to_string(i), "{app: web}");
  Inputs in = node(svc("web", "  clusterIP: 10.96.0.10\n  selector: {app: web}\n  ports: [{port: 80, targetPort: nope}]\n") + pods);
  for (int i = 0; i < 20; ++i) in.endpoints.push_back({"shop", "p" + std::to_string(i), ip("10.0.0." + std::to_string(i + 1)), true});
  const auto t = translate(in);
  const auto& s = get(t, "shop/web");
  ASSERT_EQ(s.warnings.size(), kMaxWarnings + 1);
  EXPECT_EQ(s.warnings.back(), "... and 12 more");
}

TEST(Translate, TheSameInputsInAnyOrderGiveTheSameTable) {
  Inputs in = node(kWeb + slice("web-b", "web", "- {addresses: [10.0.0.2]}\n- {addresses: [10.0.0.1], nodeName: n1}\n", kHttpPort) +
                   slice("web-a", "web", "- {addresses: [10.0.0.1], nodeName: n2}\n- {addresses: [10.0.0.3]}\n", kHttpPort) +
                   svc("np", "  type: NodePort\n  clusterIP: 10.96.0.1\n  ports: [{name: a, port: 80, nodePort: 30080}, {name: b, port: 81, nodePort: 30081}]\n"));
  const auto want = translate(in);
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    Inputs s = in;
    std::shuffle(s.slices.begin(), s.slices.end(), rng);
    std::shuffle(s.services.begin(), s.services.end(), rng);
    std::shuffle(s.node_addresses.begin(), s.node_addresses.end(), rng);
    EXPECT_EQ(translate(s), want);
  }
}
