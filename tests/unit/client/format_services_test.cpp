// SPDX-License-Identifier: Apache-2.0
// `myelin service list|get`: a row per Service with where its endpoints come
// from, its frontends, the backends taking new connections and why it is
// not proxied; the detail view's backend rows (state, outside clients under
// externalTrafficPolicy Local, local/remote, pod, conditions).
#include <gtest/gtest.h>

#include "format.hpp"

namespace myelin::cli {
namespace {

api::ServiceInfo web() {
  api::ServiceInfo s;
  s.set_namespace_("shop");
  s.set_name("web");
  s.set_type("NodePort");
  s.add_cluster_ips("10.96.0.10");
  auto* p = s.add_ports();
  p->set_name("http");
  p->set_protocol("TCP");
  p->set_port(80);
  p->set_target_port("8080");
  p->set_node_port(30080);
  s.set_session_affinity("None");
  s.set_external_traffic_policy("Local");
  s.set_internal_traffic_policy("Cluster");
  s.set_endpoints_from("EndpointSlice");
  s.set_source("/m/web.yaml:1");
  for (auto [kind, addr, port] : {std::tuple{"ClusterIP", "10.96.0.10", 80}, std::tuple{"NodePort", "192.168.1.10", 30080}}) {
    auto* f = s.add_frontends();
    f->set_kind(kind);
    f->set_address(addr);
    f->set_port(port);
    f->set_protocol("TCP");
    f->set_port_name("http");
    f->set_external_local(std::string(kind) == "NodePort");
    auto* a = f->add_backends();
    a->set_address("10.0.0.1");
    a->set_port(8080);
    a->set_state("active");
    a->set_ready(true);
    a->set_serving(true);
    a->set_pod("shop/a");
    a->set_external_active(false);
    auto* t = f->add_backends();
    t->set_address("10.0.0.2");
    t->set_port(8080);
    t->set_state("terminating");
    t->set_local(true);
    t->set_serving(true);
    t->set_terminating(true);
    t->set_external_active(f->external_local());
  }
  return s;
}

TEST(FormatServices, ListRowsCountDistinctBackendsAndSayWhyNotProxied) {
  api::ObjectList l;
  *l.add_services() = web();
  auto* h = l.add_services();
  h->set_namespace_("shop");
  h->set_name("db");
  h->set_type("ClusterIP");
  h->set_headless(true);
  h->set_endpoints_from("derived");
  h->set_not_proxied("headless");
  const auto t = services_table(l);
  // 10.0.0.2 is active for outside clients on the NodePort: 2 of 2 take new connections.
  EXPECT_NE(t.find("shop       web   NodePort   10.96.0.10   http:80/TCP->8080:30080  -         EndpointSlice  2          2/2 active  yes"),
            std::string::npos) << t;
  EXPECT_NE(t.find("no: headless"), std::string::npos) << t;
}

TEST(FormatServices, DetailShowsEachFrontendsBackends) {
  const auto d = service_detail(web());
  EXPECT_NE(d.find("NodePort 192.168.1.10:30080/TCP (http), externalTrafficPolicy Local\n"), std::string::npos) << d;
  EXPECT_NE(d.find("10.0.0.2:8080  terminating  active   local   -       serving,terminating"), std::string::npos) << d;
  EXPECT_NE(d.find("10.0.0.1:8080  active       -        remote  shop/a  ready,serving"), std::string::npos) << d;
  EXPECT_NE(d.find("10.0.0.1:8080  active       same     remote  shop/a  ready,serving"), std::string::npos) << d;  // the ClusterIP
  api::ServiceInfo empty = web();
  empty.mutable_frontends(0)->clear_backends();
  EXPECT_NE(service_detail(empty).find("ClusterIP 10.96.0.10:80/TCP (http): no backends (refused)"), std::string::npos);
}

}  // namespace
}  // namespace myelin::cli
