// SPDX-License-Identifier: Apache-2.0
// The service list|get answer: each Service's spec beside its translation,
// a namespace filter, one by name (NOT_FOUND when there is none), and the
// sources refused for a Service; status and metrics counts.
#include <gtest/gtest.h>

#include "agent/services_component.hpp"
#include "component/status_builder.hpp"
#include "metrics/metric_sink.hpp"

using namespace myelin;

namespace {

struct Null : services::TableSink {
  void apply(const services::ServiceTable&, bool) override {}
};

const std::string kText =
    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  clusterIP: 10.96.0.10\n  ports: [{port: 80}]\n---\n"
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}\n"
    "addressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}, {addresses: [10.0.0.2], conditions: {ready: false, terminating: true}}]\n"
    "ports: [{port: 80}]\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: other}\nspec: {clusterIP: None}\n";

}  // namespace

TEST(ServicesComponent, ListGetNotFoundAndRefused) {
  objects::ObjectStore store;
  Null sink;
  services::ServiceManager m(store, sink, {}, {"n1"});
  store.apply_text("f.yaml", kText);
  store.apply_text("bad.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: shop}\nspec: {ports: [{port: 0}]}\n");
  m.start();
  const auto snap = m.snapshot();

  auto all = agent::service_list(*snap, store, {});
  ASSERT_EQ(all.objects().services_size(), 2);
  const auto& web = all.objects().services(1);  // by ns/name: other/db, shop/web
  EXPECT_EQ(web.name(), "web");
  EXPECT_EQ(web.cluster_ips(0), "10.96.0.10");  // the spec
  EXPECT_EQ(web.endpoints_from(), "EndpointSlice");
  ASSERT_EQ(web.frontends_size(), 1);
  ASSERT_EQ(web.frontends(0).backends_size(), 2);
  EXPECT_EQ(web.frontends(0).backends(1).state(), "terminating");
  EXPECT_EQ(all.objects().services(0).not_proxied(), "headless");
  ASSERT_EQ(all.objects().refused_size(), 1);
  EXPECT_EQ(all.objects().refused(0).field(), "spec.ports[0].port");

  api::ServiceListRequest q;
  q.set_namespace_("other");
  auto other = agent::service_list(*snap, store, q);
  ASSERT_EQ(other.objects().services_size(), 1);
  EXPECT_EQ(other.objects().refused_size(), 0);  // the refused one is of namespace shop

  q.set_namespace_("shop");
  q.set_name("nope");
  auto missing = agent::service_list(*snap, store, q);
  EXPECT_EQ(missing.error().code(), api::NOT_FOUND);
  EXPECT_EQ(missing.error().message(), "service shop/nope not found");

  agent::ServicesComponent c(m, store);
  api::StatusResponse st;
  component::StatusBuilder b(st, {});
  c.status(b);
  EXPECT_EQ(st.services().services(), 2u);
  EXPECT_EQ(st.services().proxied(), 1u);
  EXPECT_EQ(st.services().not_proxied().at("headless"), 1u);
  EXPECT_EQ(st.services().backends_active(), 1u);
  EXPECT_EQ(st.services().backends_terminating(), 1u);
  EXPECT_TRUE(st.services().synced());  // no source registered

  metrics::MetricSink sink_m;
  c.collect(sink_m);
  bool found = false;
  for (const auto& f : sink_m.take())
    if (f.name == "myelin_service_backends")
      for (const auto& s : f.metric) {
        if (s.label[0].value == "terminating") {
          EXPECT_EQ(s.gauge.value, 1);
        }
        found = true;
      }
  EXPECT_TRUE(found);
}
