// SPDX-License-Identifier: Apache-2.0
// ServiceManager over a real ObjectStore: what it hands the sink and when
// (each change of a kind it reads, endpoint changes, node addresses; never
// an unchanged table; all_synced only once every source has synced).
#include <gtest/gtest.h>

#include "myelin/services/service_manager.hpp"

using namespace myelin;
using namespace myelin::services;

namespace {

struct Recorder : TableSink {
  std::vector<std::pair<ServiceTable, bool>> applied;
  void apply(const ServiceTable& t, bool synced) override { applied.emplace_back(t, synced); }
};

net::Ipv4 ip(const std::string& s) { return *net::parse_ipv4(s); }

const std::string kSvc =
    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  type: NodePort\n  clusterIP: 10.96.0.10\n"
    "  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]\n";
const std::string kPod = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: shop, labels: {app: web}}\n";
const std::string kNode =
    "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus:\n  addresses: [{type: InternalIP, address: 192.168.1.10}, "
    "{type: ExternalIP, address: 203.0.113.1}, {type: Hostname, address: n1}]\n";

size_t backends(const ServiceTable& t) {
  auto it = t.find("shop/web");
  return it == t.end() || it->second.frontends.empty() ? 0 : it->second.frontends[0].backends.size();
}

}  // namespace

TEST(ServiceManager, HandsEachChangedTableAndSaysWhenEverySourceHasSynced) {
  objects::ObjectStore store;
  const size_t src = store.add_source("files");
  Recorder sink;
  std::vector<LocalEndpoint> eps;
  ServiceManager m(store, sink, [&] { return eps; }, {"n1"});
  m.start();
  ASSERT_EQ(sink.applied.size(), 1u);
  EXPECT_TRUE(sink.applied[0].first.empty());
  EXPECT_FALSE(sink.applied[0].second);  // a source has not synced: the sink keeps what it restored

  store.apply_text("f.yaml", kSvc + "---\n" + kPod);
  store.changed();
  ASSERT_EQ(sink.applied.size(), 2u);
  EXPECT_EQ(sink.applied[1].first.count("shop/web"), 1u);
  EXPECT_EQ(backends(sink.applied[1].first), 0u);  // the pod has no address yet
  EXPECT_FALSE(sink.applied[1].second);

  store.synced(src);
  ASSERT_EQ(sink.applied.size(), 3u);  // the same table, now synced
  EXPECT_TRUE(sink.applied[2].second);

  eps = {{"shop", "a", ip("10.0.0.1"), true}};
  m.endpoints_changed();
  ASSERT_EQ(sink.applied.size(), 4u);
  EXPECT_EQ(backends(sink.applied[3].first), 1u);
  EXPECT_EQ(m.snapshot()->generation, 4u);

  m.endpoints_changed();  // nothing changed: nothing handed
  EXPECT_EQ(sink.applied.size(), 4u);
  EXPECT_EQ(m.snapshot()->generation, 4u);
  EXPECT_GE(m.computations(), 5u);
}

TEST(ServiceManager, OnlyTheKindsItReadsRecompute) {
  objects::ObjectStore store;
  Recorder sink;
  ServiceManager m(store, sink, {}, {"n1"});
  m.start();
  const auto n = m.computations();
  store.apply_text("np.yaml", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: shop}\nspec: {podSelector: {}}\n");
  store.changed();
  EXPECT_EQ(m.computations(), n);
  store.apply_text("s.yaml", kSvc);
  store.changed();
  EXPECT_EQ(m.computations(), n + 1);
  ASSERT_EQ(m.snapshot()->services.size(), 1u);
  EXPECT_EQ(m.snapshot()->services[0].name, "web");
}

TEST(ServiceManager, NodePortsOnTheNodeObjectsAddressesUntilTheDevicesAreGiven) {
  objects::ObjectStore store;
  Recorder sink;
  ServiceManager m(store, sink, {}, {"n1"});
  store.apply_text("f.yaml", kSvc + "---\n" + kNode);
  m.start();
  auto node_ports = [&] {
    std::vector<std::string> out;
    for (const auto& f : m.snapshot()->table.at("shop/web").frontends)
      if (f.kind == FrontendKind::node_port) out.push_back(f.addr.str());
    return out;
  };
  EXPECT_EQ(node_ports(), (std::vector<std::string>{"192.168.1.10", "203.0.113.1"}));
  m.set_node_addresses({ip("192.168.7.7")});
  EXPECT_EQ(node_ports(), std::vector<std::string>{"192.168.7.7"});
  EXPECT_EQ(sink.applied.size(), 2u);
}
