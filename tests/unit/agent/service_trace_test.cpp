// SPDX-License-Identifier: Apache-2.0
// `policy trace --to-service`: a Service traced to each backend after
// translation (the backend's identity and targetPort meet policy, as
// Kubernetes defines), terminating and not-local backends skipped, backends
// of other nodes said to be unknown, the Service's verdict over the rest.
// Pure: a PolicySnapshot and a ServiceTable built by hand, no kernel.
#include <gtest/gtest.h>

#include "agent/policy_component.hpp"
#include "myelin/abi/net.h"

namespace myelin::agent {
namespace {

constexpr uint32_t kClientId = 1000, kWeb1Id = 2000, kWeb2Id = 3000;

SnapshotEndpoint ep(uint32_t id, uint32_t identity, const std::string& pod, const std::string& ip) {
  SnapshotEndpoint e;
  e.id = id;
  e.identity = identity;
  e.ns = "shop";
  e.pod_name = pod;
  e.ip = ip;
  return e;
}

policy::Entry allow_in(uint32_t from, uint16_t port, uint32_t policy) {
  policy::Entry e;
  e.dir = MYELIN_DIR_INGRESS;
  e.proto = 6;
  e.lo = e.hi = port;
  e.identity = from;
  e.policy = policy;
  return e;
}

// client (10.0.0.1) -> web-1 (10.0.0.2), web-2 (10.0.0.3) on this node.
// web-1's ingress policy allows the client on 8080 (the targetPort) only;
// web-2's allows it on 80 (the Service port) only, which no translated
// connection ever meets.
std::shared_ptr<const PolicySnapshot> snapshot(bool web2_audit = false) {
  auto st = std::make_shared<PolicyState>();
  st->refs[1] = PolicyRef{"NetworkPolicy", "shop", "web-1-in", ""};
  st->refs[2] = PolicyRef{"NetworkPolicy", "shop", "web-2-in", ""};
  auto p1 = std::make_shared<policy::EndpointPolicy>();
  p1->ingress_enforced = true;
  p1->entries = {allow_in(kClientId, 8080, 1)};
  p1->selected_by = {1};
  auto p2 = std::make_shared<policy::EndpointPolicy>();
  p2->ingress_enforced = true;
  p2->audit = web2_audit;
  p2->entries = {allow_in(kClientId, 80, 2)};
  p2->selected_by = {2};
  st->endpoint_policies[2] = p1;
  st->endpoint_policies[3] = p2;
  return std::make_shared<const PolicySnapshot>(
      st, std::vector<SnapshotEndpoint>{ep(1, kClientId, "client", "10.0.0.1"), ep(2, kWeb1Id, "web-1", "10.0.0.2"),
                                        ep(3, kWeb2Id, "web-2", "10.0.0.3")});
}

services::Backend backend(const std::string& ip, bool active = true, bool local = true) {
  services::Backend b;
  b.addr = *net::parse_ipv4(ip);
  b.port = 8080;
  b.state = active ? services::BackendState::active : services::BackendState::terminating;
  b.local = local;
  return b;
}

services::ServiceTable table(std::vector<services::Backend> backends, bool internal_local = false) {
  services::Service s;
  s.ns = "shop";
  s.name = "web";
  s.type = "NodePort";
  services::Frontend cip;
  cip.kind = services::FrontendKind::cluster_ip;
  cip.addr = *net::parse_ipv4("10.96.0.10");
  cip.port = 80;
  cip.proto = 6;
  cip.internal_local = internal_local;
  cip.backends = backends;
  services::Frontend np = cip;  // NodePort 30080 listed first: the ClusterIP is still the one picked for port 80
  np.kind = services::FrontendKind::node_port;
  np.addr = *net::parse_ipv4("192.168.1.10");
  np.port = 30080;
  np.internal_local = false;
  s.frontends = {np, cip};
  services::Service headless;
  headless.ns = "shop";
  headless.name = "db";
  headless.not_proxied = "headless";
  return {{"shop/web", s}, {"shop/db", headless}};
}

api::PolicyTraceRequest to_service(const std::string& svc, uint32_t port = 80, const std::string& proto = "tcp") {
  api::PolicyTraceRequest r;
  r.set_from("shop/client");
  r.set_to_service(svc);
  r.set_port(port);
  r.set_protocol(proto);
  return r;
}

const api::PolicyTraceBackend* find(const api::PolicyTraceResponse& t, const std::string& addr) {
  for (const auto& b : t.backends())
    if (b.address() == addr) return &b;
  return nullptr;
}

TEST(ServiceTrace, EachBackendAfterTranslation) {
  auto tbl = table({backend("10.0.0.2"), backend("10.0.0.3"), backend("10.0.0.4", false), backend("10.1.0.9", true, false)});
  auto r = trace_policy(*snapshot(), &tbl, to_service("shop/web"));
  ASSERT_FALSE(r.has_error()) << r.error().message();
  const auto& t = r.policy_trace();
  EXPECT_EQ(t.service(), "shop/web");
  EXPECT_EQ(t.frontend(), "ClusterIP 10.96.0.10:80/tcp");
  ASSERT_EQ(t.backends_size(), 4);
  const auto* web1 = find(t, "10.0.0.2:8080");
  ASSERT_NE(web1, nullptr);
  EXPECT_EQ(web1->pod(), "shop/web-1");
  EXPECT_EQ(web1->state(), "active");
  EXPECT_EQ(web1->verdict(), "ALLOWED") << "web-1 allows the targetPort 8080: " << web1->ingress();
  EXPECT_NE(web1->ingress().find("allowed by ingress allow tcp/8080"), std::string::npos) << web1->ingress();
  const auto* web2 = find(t, "10.0.0.3:8080");
  ASSERT_NE(web2, nullptr);
  EXPECT_EQ(web2->verdict(), "DENIED") << "web-2 allows the Service port 80, which a translated connection never meets";
  EXPECT_NE(web2->ingress().find("denied by default: selected by NetworkPolicy shop/web-2-in"), std::string::npos) << web2->ingress();
  const auto* term = find(t, "10.0.0.4:8080");
  ASSERT_NE(term, nullptr);
  EXPECT_EQ(term->state(), "terminating");
  EXPECT_EQ(term->verdict(), "SKIPPED");
  const auto* remote = find(t, "10.1.0.9:8080");
  ASSERT_NE(remote, nullptr);
  EXPECT_EQ(remote->verdict(), "UNKNOWN");
  EXPECT_NE(remote->egress().find("not an endpoint of this node"), std::string::npos);
  EXPECT_EQ(t.verdict(), "MIXED");
}

TEST(ServiceTrace, TheVerdictOfTheBackendsThatTakeNewConnections) {
  // Only web-1 active (web-2 terminating): ALLOWED; only web-2: DENIED.
  auto only1 = table({backend("10.0.0.2"), backend("10.0.0.3", false)});
  EXPECT_EQ(trace_policy(*snapshot(), &only1, to_service("shop/web")).policy_trace().verdict(), "ALLOWED");
  auto only2 = table({backend("10.0.0.3"), backend("10.0.0.2", false)});
  EXPECT_EQ(trace_policy(*snapshot(), &only2, to_service("shop/web")).policy_trace().verdict(), "DENIED");
  EXPECT_EQ(trace_policy(*snapshot(), &only2, to_service("web")).error().code(), api::NOT_FOUND)
      << "no namespace: default, where there is no web";
  auto audit = trace_policy(*snapshot(true), &only2, to_service("shop/web"));
  EXPECT_EQ(audit.policy_trace().verdict(), "AUDIT") << "web-2 in audit mode";
  // No backend takes new connections: refused, and said so.
  auto none = table({backend("10.0.0.2", false)});
  auto r = trace_policy(*snapshot(), &none, to_service("shop/web"));
  ASSERT_FALSE(r.has_error());
  EXPECT_EQ(r.policy_trace().verdict(), "NO_BACKENDS");
  EXPECT_NE(r.policy_trace().note().find("SERVICE_BACKEND_NOT_FOUND"), std::string::npos);
  auto empty = table({});
  EXPECT_EQ(trace_policy(*snapshot(), &empty, to_service("shop/web")).policy_trace().verdict(), "NO_BACKENDS");
}

TEST(ServiceTrace, InternalTrafficPolicyLocalSkipsOtherNodesBackends) {
  auto tbl = table({backend("10.0.0.2"), backend("10.1.0.9", true, false)}, /*internal_local=*/true);
  auto r = trace_policy(*snapshot(), &tbl, to_service("shop/web"));
  ASSERT_FALSE(r.has_error());
  EXPECT_EQ(find(r.policy_trace(), "10.1.0.9:8080")->state(), "not-local");
  EXPECT_EQ(find(r.policy_trace(), "10.1.0.9:8080")->verdict(), "SKIPPED");
  EXPECT_EQ(r.policy_trace().verdict(), "ALLOWED");
  EXPECT_NE(r.policy_trace().frontend().find("internalTrafficPolicy Local"), std::string::npos);
  // The NodePort frontend (by its own port) has no such limit for pods.
  auto np = trace_policy(*snapshot(), &tbl, to_service("shop/web", 30080));
  ASSERT_FALSE(np.has_error()) << np.error().message();
  EXPECT_EQ(np.policy_trace().frontend(), "NodePort 192.168.1.10:30080/tcp");
  EXPECT_EQ(find(np.policy_trace(), "10.1.0.9:8080")->verdict(), "UNKNOWN");
}

TEST(ServiceTrace, ClearErrors) {
  auto tbl = table({backend("10.0.0.2")});
  auto err = [&](const api::PolicyTraceRequest& q, const services::ServiceTable* t = nullptr) {
    auto r = trace_policy(*snapshot(), t, q);
    EXPECT_TRUE(r.has_error());
    return r.error();
  };
  auto e = err(to_service("shop/nope"), &tbl);
  EXPECT_EQ(e.code(), api::NOT_FOUND);
  EXPECT_NE(e.message().find("no Service shop/nope"), std::string::npos) << e.message();
  e = err(to_service("shop/web", 81), &tbl);
  EXPECT_NE(e.message().find("has no port 81/tcp (its ports: 30080/tcp (NodePort), 80/tcp (ClusterIP))"), std::string::npos)
      << e.message();
  e = err(to_service("shop/web", 80, "udp"), &tbl);
  EXPECT_NE(e.message().find("has no port 80/udp"), std::string::npos) << e.message();
  e = err(to_service("shop/db"), &tbl);
  EXPECT_NE(e.message().find("not proxied (headless)"), std::string::npos) << e.message();
  e = err(to_service("shop/web"));
  EXPECT_EQ(e.code(), api::NOT_READY);
  auto q = to_service("shop/web");
  q.set_to("shop/web-1");
  EXPECT_EQ(err(q, &tbl).code(), api::INVALID_ARGUMENT);
  q = to_service("shop/web");
  q.set_from("shop/ghost");
  EXPECT_NE(err(q, &tbl).message().find("no endpoint shop/ghost"), std::string::npos);
}

TEST(PolicyTrace, PodToPodUnchanged) {
  api::PolicyTraceRequest q;
  q.set_from("shop/client");
  q.set_to("shop/web-1");
  q.set_port(8080);
  auto r = trace_policy(*snapshot(), nullptr, q);
  ASSERT_FALSE(r.has_error()) << r.error().message();
  EXPECT_EQ(r.policy_trace().verdict(), "ALLOWED");
  EXPECT_TRUE(r.policy_trace().service().empty());
  EXPECT_EQ(r.policy_trace().backends_size(), 0);
  q.set_port(80);
  EXPECT_EQ(trace_policy(*snapshot(), nullptr, q).policy_trace().verdict(), "DENIED");
}

}  // namespace
}  // namespace myelin::agent
