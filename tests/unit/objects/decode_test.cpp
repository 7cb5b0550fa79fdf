// SPDX-License-Identifier: Apache-2.0
// The decoders of Service, EndpointSlice and Node: the API's defaults and
// meaning of omitted fields, and refusals that name file:line: field.
#include <gtest/gtest.h>

#include "myelin/objects/decode.hpp"

using namespace myelin;
using namespace myelin::objects;

namespace {

std::vector<Object> ok(const std::string& text) {
  auto d = decode(text, "f.yaml");
  if (auto* r = std::get_if<policy::Refusal>(&d.objects)) ADD_FAILURE() << r->message();
  auto* v = std::get_if<std::vector<Object>>(&d.objects);
  return v ? *v : std::vector<Object>{};
}

policy::Refusal refused(const std::string& text) {
  auto d = decode(text, "f.yaml");
  auto* r = std::get_if<policy::Refusal>(&d.objects);
  if (!r) {
    ADD_FAILURE() << "decoded, expected a refusal";
    return {};
  }
  return *r;
}

}  // namespace

TEST(DecodeService, DefaultsAndEveryFieldUsed) {
  auto objs = ok(R"(apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels: {service.kubernetes.io/service-proxy-name: other-proxy, app: web}
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  selector: {app: web}
  sessionAffinity: ClientIP
  externalTrafficPolicy: Local
  ports:
  - name: http
    port: 80
    targetPort: http-alt
    nodePort: 30080
  - name: dns
    protocol: UDP
    port: 53
)");
  ASSERT_EQ(objs.size(), 1u);
  const auto& s = std::get<Service>(objs[0]);
  EXPECT_EQ(s.ns, "shop");
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.type, Service::Type::node_port);
  EXPECT_EQ(s.cluster_ips, std::vector<std::string>{"10.96.0.10"});
  EXPECT_FALSE(s.headless);
  EXPECT_EQ(s.selector, (policy::Labels{{"app", "web"}}));
  EXPECT_TRUE(s.client_ip_affinity);
  EXPECT_EQ(s.affinity_timeout_s, 10800u);  // the API's default
  EXPECT_TRUE(s.external_local);
  EXPECT_FALSE(s.internal_local);
  EXPECT_EQ(s.proxy_name, "other-proxy");
  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_EQ(s.ports[0].proto, 6);  // TCP by default
  EXPECT_EQ(s.ports[0].target, (TargetPort{0, "http-alt"}));
  EXPECT_EQ(s.ports[0].node_port, 30080);
  EXPECT_EQ(s.ports[1].proto, 17);
  EXPECT_EQ(s.ports[1].target, (TargetPort{53, ""}));  // targetPort omitted: the port
  EXPECT_EQ(s.source, "f.yaml:1");
}

TEST(DecodeService, HeadlessNamespaceDefaultAndExternalName) {
  auto objs = ok(R"(apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, ports: [{port: 5432, targetPort: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: x}
spec: {type: ExternalName, externalName: db.example.com}
)");
  ASSERT_EQ(objs.size(), 2u);
  const auto& db = std::get<Service>(objs[0]);
  EXPECT_EQ(db.ns, "default");
  EXPECT_TRUE(db.headless);
  EXPECT_TRUE(db.cluster_ips.empty());
  EXPECT_EQ(db.type, Service::Type::cluster_ip);
  const auto& ext = std::get<Service>(objs[1]);
  EXPECT_EQ(ext.type, Service::Type::external_name);
  EXPECT_EQ(ext.external_name, "db.example.com");
  EXPECT_EQ(ext.source, "f.yaml:6");
}

TEST(DecodeEndpointSlice, ConditionsAsTheApiMeansNil) {
  auto objs = ok(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
- addresses: [10.244.1.5]
  nodeName: node-a
  targetRef: {kind: Pod, namespace: shop, name: web-1}
- addresses: [10.244.2.7]
  conditions: {ready: false, terminating: true}
- addresses: [10.244.2.8]
  conditions: {ready: false, serving: true}
ports:
- {name: http, port: 8080}
- {name: all, protocol: UDP}
)");
  ASSERT_EQ(objs.size(), 1u);
  const auto& s = std::get<EndpointSlice>(objs[0]);
  EXPECT_EQ(s.service, "web");
  EXPECT_EQ(s.address_type, EndpointSlice::AddressType::ipv4);
  ASSERT_EQ(s.endpoints.size(), 3u);
  // No conditions: ready, serving, not terminating.
  EXPECT_TRUE(s.endpoints[0].ready);
  EXPECT_TRUE(s.endpoints[0].serving);
  EXPECT_FALSE(s.endpoints[0].terminating);
  EXPECT_EQ(s.endpoints[0].node_name, "node-a");
  EXPECT_EQ(s.endpoints[0].target_name, "web-1");
  EXPECT_EQ(s.endpoints[0].target_kind, "Pod");
  // serving nil defers to ready.
  EXPECT_FALSE(s.endpoints[1].ready);
  EXPECT_FALSE(s.endpoints[1].serving);
  EXPECT_TRUE(s.endpoints[1].terminating);
  EXPECT_FALSE(s.endpoints[2].ready);
  EXPECT_TRUE(s.endpoints[2].serving);
  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_EQ(s.ports[0].port, std::optional<uint16_t>(8080));
  EXPECT_EQ(s.ports[1].port, std::nullopt);  // every port
  EXPECT_EQ(s.ports[1].proto, 17);
}

TEST(DecodeNode, InternalAddressesAndPodCidrs) {
  auto objs = ok(R"(apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {kubernetes.io/hostname: node-a}}
spec: {podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24, "fd00:1::/64"]}
status:
  addresses:
  - {type: Hostname, address: node-a}
  - {type: InternalIP, address: 192.168.1.10}
  - {type: ExternalIP, address: 203.0.113.10}
  - {type: InternalIP, address: "fd00::10"}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
spec: {podCIDR: 10.244.2.0/24}
)");
  ASSERT_EQ(objs.size(), 2u);
  const auto& a = std::get<Node>(objs[0]);
  EXPECT_EQ(a.name, "node-a");
  EXPECT_EQ(a.internal_ips, (std::vector<std::string>{"192.168.1.10", "fd00::10"}));
  EXPECT_EQ(a.external_ips, std::vector<std::string>{"203.0.113.10"});
  EXPECT_EQ(a.pod_cidrs, (std::vector<std::string>{"10.244.1.0/24", "fd00:1::/64"}));
  EXPECT_EQ(a.labels.at("kubernetes.io/hostname"), "node-a");
  EXPECT_EQ(std::get<Node>(objs[1]).pod_cidrs, std::vector<std::string>{"10.244.2.0/24"});  // podCIDR alone
}

struct RefusalCase {
  const char* name;
  std::string text;
  int line;
  std::string field, reason_starts, kind, object;
};

class DecodeRefusal : public testing::TestWithParam<RefusalCase> {};

TEST_P(DecodeRefusal, NamesLineFieldAndTheDocument) {
  const auto& c = GetParam();
  auto r = refused(c.text);
  EXPECT_EQ(r.source, "f.yaml");
  EXPECT_EQ(r.line, c.line) << r.message();
  EXPECT_EQ(r.field, c.field) << r.message();
  EXPECT_EQ(r.reason.rfind(c.reason_starts, 0), 0u) << r.message();
  EXPECT_EQ(r.kind, c.kind);
  EXPECT_EQ(r.name, c.object);
}

const std::string kSvc = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n";

INSTANTIATE_TEST_SUITE_P(
    Table, DecodeRefusal,
    testing::Values(
        RefusalCase{"port_out_of_range", kSvc + "  ports:\n  - port: 70000\n", 6, "spec.ports[0].port", "must be a port number", "Service", "web"},
        RefusalCase{"port_missing", kSvc + "  ports:\n  - name: x\n", 6, "spec.ports[0].port", "is required", "Service", "web"},
        RefusalCase{"target_port_bad_name", kSvc + "  ports:\n  - port: 80\n    targetPort: Not_A_Name\n", 7, "spec.ports[0].targetPort",
                    "must be a port number from 1 to 65535 or a port name", "Service", "web"},
        RefusalCase{"protocol", kSvc + "  ports:\n  - port: 80\n    protocol: ICMP\n", 7, "spec.ports[0].protocol", "must be TCP, UDP or SCTP",
                    "Service", "web"},
        RefusalCase{"type", kSvc + "  type: Magic\n", 5, "spec.type", "must be ClusterIP, NodePort", "Service", "web"},
        RefusalCase{"cluster_ip", kSvc + "  clusterIP: 10.96.0.300\n", 5, "spec.clusterIP", "'10.96.0.300' is not an IP address", "Service", "web"},
        RefusalCase{"unnamed_ports", kSvc + "  ports:\n  - port: 80\n  - port: 81\n", 6, "spec.ports[0].name", "is required when", "Service", "web"},
        RefusalCase{"traffic_policy", kSvc + "  internalTrafficPolicy: Global\n", 5, "spec.internalTrafficPolicy", "must be Cluster or Local",
                    "Service", "web"},
        RefusalCase{"service_api_version", "apiVersion: v2\nkind: Service\nmetadata: {name: web}\n", 1, "apiVersion", "Service must be v1",
                    "Service", "web"},
        RefusalCase{"slice_address_type", "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\nendpoints: []\n", 1,
                    "addressType", "is required", "EndpointSlice", "s"},
        RefusalCase{"slice_not_ipv4",
                    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\nendpoints:\n"
                    "- addresses:\n  - 10.0.0.1\n  - fd00::1\n",
                    8, "endpoints[0].addresses[1]", "'fd00::1' is not an IPv4 address", "EndpointSlice", "s"},
        RefusalCase{"slice_ready_not_bool",
                    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\nendpoints:\n"
                    "- addresses: [10.0.0.1]\n  conditions:\n    ready: yes\n",
                    8, "endpoints[0].conditions.ready", "must be true or false", "EndpointSlice", "s"},
        RefusalCase{"slice_no_addresses",
                    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\nendpoints:\n- nodeName: a\n",
                    6, "endpoints[0].addresses", "must list at least one address", "EndpointSlice", "s"},
        RefusalCase{"node_pod_cidr", "apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec:\n  podCIDR: 10.0.0.0/33\n", 5, "spec.podCIDR",
                    "'10.0.0.0/33' is not a CIDR", "Node", "n"},
        RefusalCase{"node_address", "apiVersion: v1\nkind: Node\nmetadata: {name: n}\nstatus:\n  addresses:\n  - type: InternalIP\n    address: nope\n",
                    7, "status.addresses[0].address", "'nope' is not an IP address", "Node", "n"},
        RefusalCase{"node_name", "apiVersion: v1\nkind: Node\nmetadata: {}\n", 1, "metadata.name", "is required", "Node", ""}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(DecodeParts, ABadServiceRefusesTheObjectsNotTheTracingPolicies) {
  auto d = decode(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np, namespace: shop}
spec: {podSelector: {}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 0}]}
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: tp}
spec:
  tracepoints:
  - {subsystem: syscalls, event: sys_enter_openat}
)", "f.yaml");
  auto* r = std::get_if<policy::Refusal>(&d.objects);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->message(), "f.yaml:9: spec.ports[0].port: must be a port number from 1 to 65535");
  EXPECT_EQ(r->kind, "Service");
  auto* tps = std::get_if<std::vector<tracing::TracingPolicy>>(&d.tracing);
  ASSERT_NE(tps, nullptr);
  ASSERT_EQ(tps->size(), 1u);
  EXPECT_EQ((*tps)[0].name, "tp");
}

TEST(DecodeParts, KindsTheStoreDoesNotKeepArePassedOver) {
  auto objs = ok("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
  ASSERT_EQ(objs.size(), 1u);
  EXPECT_EQ(kind_of(objs[0]), Kind::namespace_);
  EXPECT_EQ(name_of(objs[0]), "shop");
}

TEST(Kinds, OneRowPerKindInEnumOrder) {
  ASSERT_EQ(kinds().size(), 10u);
  for (size_t i = 0; i < kinds().size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(kinds()[i].kind), i);
    EXPECT_EQ(find_kind(kinds()[i].name), &kinds()[i]);
    EXPECT_NE(std::string(kinds()[i].path).find(kinds()[i].resource), std::string::npos);
  }
  EXPECT_EQ(find_kind("ConfigMap"), nullptr);
}

TEST(DecodeService, PublishNotReadyAddressesAndLoadBalancerIngress) {
  auto objs = ok("apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec:\n  type: LoadBalancer\n  publishNotReadyAddresses: true\n"
                 "  ports: [{port: 80}]\nstatus:\n  loadBalancer:\n    ingress: [{ip: 192.0.2.1}, {ip: 192.0.2.2, ipMode: Proxy}, {hostname: lb.example.com}]\n");
  ASSERT_EQ(objs.size(), 1u);
  const auto& s = std::get<Service>(objs[0]);
  EXPECT_TRUE(s.publish_not_ready);
  ASSERT_EQ(s.lb_ingress.size(), 3u);
  EXPECT_EQ(s.lb_ingress[0], (Service::Ingress{"192.0.2.1", false}));
  EXPECT_EQ(s.lb_ingress[1], (Service::Ingress{"192.0.2.2", true}));
  EXPECT_EQ(s.lb_ingress[2].ip, "");
  EXPECT_FALSE(std::get<Service>(ok("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}]}\n")[0]).publish_not_ready);
  auto r = refused("apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec:\n  publishNotReadyAddresses: yes\n");
  EXPECT_EQ(r.field, "spec.publishNotReadyAddresses");
  r = refused("apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec: {ports: [{port: 80}]}\nstatus:\n  loadBalancer:\n    ingress: [{ip: 192.0.2.1, ipMode: Magic}]\n");
  EXPECT_EQ(r.field, "status.loadBalancer.ingress[0].ipMode");
  EXPECT_EQ(r.line, 7);
}

TEST(DecodePod, WhatTheEndpointSliceControllerReadsAndAMalformedStatusPassedOver) {
  auto objs = ok("apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: shop, deletionTimestamp: '2026-01-01T00:00:00Z'}\n"
                 "spec: {nodeName: n1}\nstatus:\n  phase: Running\n  podIP: 10.0.0.9\n  podIPs: [{ip: 10.0.0.1}, {ip: 'fd00::1'}]\n"
                 "  conditions: [{type: PodScheduled, status: 'True'}, {type: Ready, status: 'False'}]\n");
  ASSERT_EQ(objs.size(), 1u);
  const auto& p = std::get<policy::Pod>(objs[0]);
  EXPECT_EQ(p.ips, (std::vector<std::string>{"10.0.0.1", "fd00::1"}));  // podIPs over podIP
  EXPECT_EQ(p.node_name, "n1");
  EXPECT_TRUE(p.terminating);
  EXPECT_FALSE(p.terminal);
  EXPECT_EQ(p.ready, std::optional<bool>(false));
  const auto plain = std::get<policy::Pod>(ok("apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nstatus: {phase: Failed, podIP: 10.0.0.2}\n")[0]);
  EXPECT_TRUE(plain.terminal);
  EXPECT_FALSE(plain.ready.has_value());
  EXPECT_EQ(plain.ips, std::vector<std::string>{"10.0.0.2"});
  // The kubelet's status malformed: the Pod (its labels, for policy) is kept.
  const auto odd = std::get<policy::Pod>(ok("apiVersion: v1\nkind: Pod\nmetadata: {name: c, labels: {app: x}}\nstatus: {podIPs: 7, conditions: [1]}\n")[0]);
  EXPECT_EQ(odd.labels.at("app"), "x");
  EXPECT_TRUE(odd.ips.empty());
}
