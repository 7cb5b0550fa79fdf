// SPDX-License-Identifier: Apache-2.0
// `myelin service|endpointslice|node list` tables: a row per object with
// what the next features read (ports with their target, endpoint states),
// and each refused source on its own line.
#include <gtest/gtest.h>

#include "format.hpp"

namespace myelin::cli {
namespace {

TEST(FormatObjects, ServiceRowsAndRefusals) {
  api::ObjectList l;
  auto* s = l.add_services();
  s->set_namespace_("shop");
  s->set_name("web");
  s->set_type("NodePort");
  s->add_cluster_ips("10.96.0.10");
  auto* p = s->add_ports();
  p->set_name("http");
  p->set_protocol("TCP");
  p->set_port(80);
  p->set_target_port("http");
  p->set_node_port(30080);
  (*s->mutable_selector())["app"] = "web";
  s->set_session_affinity("None");
  s->set_external_traffic_policy("Local");
  s->set_internal_traffic_policy("Cluster");
  s->set_source("/m/web.yaml:1");
  auto* h = l.add_services();
  h->set_namespace_("shop");
  h->set_name("db");
  h->set_type("ClusterIP");
  h->set_headless(true);
  auto* r = l.add_refused();
  r->set_source("/m/bad.yaml");
  r->set_line(9);
  r->set_field("spec.ports[0].port");
  r->set_reason("must be a port number from 1 to 65535");
  r->set_kind("Service");
  r->set_namespace_("shop");
  r->set_name("bad");
  const auto t = objects_table(l, "Service");
  EXPECT_NE(t.find("http:80/TCP->http:30080"), std::string::npos) << t;
  EXPECT_NE(t.find("app=web"), std::string::npos) << t;
  EXPECT_NE(t.find("None"), std::string::npos) << t;  // the headless one's cluster IP
  EXPECT_NE(t.find("refused: /m/bad.yaml:9 (Service shop/bad): spec.ports[0].port: must be a port number from 1 to 65535; nothing of /m/bad.yaml is in force"),
            std::string::npos) << t;
}

TEST(FormatObjects, EndpointStatesAndNodes) {
  api::ObjectList l;
  auto* s = l.add_endpoint_slices();
  s->set_namespace_("shop");
  s->set_name("web-1");
  s->set_service("web");
  s->set_address_type("IPv4");
  auto* e = s->add_endpoints();
  e->add_addresses("10.0.0.5");
  e->set_ready(true);
  e->set_node_name("a");
  auto* t = s->add_endpoints();
  t->add_addresses("10.0.0.6");
  t->set_terminating(true);
  auto* p = s->add_ports();
  p->set_protocol("UDP");
  const auto eps = objects_table(l, "EndpointSlice");
  EXPECT_NE(eps.find("10.0.0.5@a,10.0.0.6(not ready)(terminating)"), std::string::npos) << eps;
  EXPECT_NE(eps.find("*/UDP"), std::string::npos) << eps;  // port unset: every port
  auto* n = l.add_nodes();
  n->set_name("node-a");
  n->add_internal_ips("192.168.0.1");
  n->add_pod_cidrs("10.244.1.0/24");
  const auto nodes = objects_table(l, "Node");
  EXPECT_NE(nodes.find("node-a"), std::string::npos);
  EXPECT_NE(nodes.find("192.168.0.1"), std::string::npos);
  EXPECT_NE(nodes.find("10.244.1.0/24"), std::string::npos);
  EXPECT_EQ(nodes.find("refused:"), std::string::npos);
}

}  // namespace
}  // namespace myelin::cli
