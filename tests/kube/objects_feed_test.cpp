// SPDX-License-Identifier: Apache-2.0
// The Kubernetes backend of ClusterState (cluster::ObjectsFeed) from the
// object store, fed real manifests: Nodes (InternalIP, podCIDRs) become
// cluster nodes, other nodes' Pods remote endpoints with the identity their
// labels have in the identities (the node's own pods, hostNetwork pods and
// pods whose labels have no number yet are left out, the last until one
// appears), deletes and label changes followed.
#include <gtest/gtest.h>

#include <filesystem>

#include "myelin/cluster/objects_feed.hpp"

namespace myelin::test {
namespace {

const char* kManifests = R"(apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24]}
status: {addresses: [{type: Hostname, address: n1}, {type: InternalIP, address: 192.168.50.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
spec: {podCIDRs: [10.244.2.0/24]}
status: {addresses: [{type: InternalIP, address: 192.168.50.2}]}
---
apiVersion: v1
kind: Node
metadata: {name: no-address}
spec: {podCIDRs: [10.244.9.0/24]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: shop, labels: {app: web}}
spec: {nodeName: n2, containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080}]}]}
status: {podIPs: [{ip: 10.244.2.10}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec: {nodeName: n1, containers: [{name: c, image: x}]}
status: {podIPs: [{ip: 10.244.1.10}]}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: shop, labels: {app: web}}
spec: {nodeName: n2, hostNetwork: true, containers: [{name: c, image: x}]}
status: {podIPs: [{ip: 192.168.50.2}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db-2, namespace: shop, labels: {app: db}}
spec: {nodeName: n2, containers: [{name: c, image: x}]}
status: {podIPs: [{ip: 10.244.2.11}]}
)";

TEST(ObjectsFeed, NodesAndRemotePodsWithTheirIdentities) {
  char tmpl[] = "/tmp/myelin-feed-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto ids = identity::IdentityAllocator::open(dir + "/ids.json");
  ASSERT_TRUE(ids);
  const auto web_labels = cluster::pod_identity_labels("shop", {{"app", "web"}}, {{"kubernetes.io/metadata.name", "shop"}, {"team", "a"}});
  EXPECT_EQ(web_labels, (std::vector<std::string>{"k8s:app=web", "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop",
                                                  "k8s:io.cilium.k8s.namespace.labels.team=a", "k8s:io.kubernetes.pod.namespace=shop"}));
  const uint32_t web = *(*ids)->acquire(web_labels);

  objects::ObjectStore store;
  cluster::ClusterState state("n1");
  cluster::ObjectsFeed feed(store, state, **ids, cluster::Source::manifests);
  const size_t src = store.add_source("manifests");
  store.apply_text("pods.yaml", kManifests);
  store.synced(src);
  store.changed();

  auto s = state.snapshot();
  EXPECT_TRUE(s->synced.at(cluster::Source::manifests));
  ASSERT_EQ(s->nodes.size(), 2u);  // no-address has nothing to route to
  const auto* n2 = s->node("n2");
  ASSERT_TRUE(n2);
  EXPECT_EQ(n2->ip.str(), "192.168.50.2");
  ASSERT_EQ(n2->pod_cidrs.size(), 1u);
  EXPECT_EQ(n2->pod_cidrs[0].str(), "10.244.2.0/24");
  EXPECT_FALSE(n2->local);
  EXPECT_TRUE(s->node("n1")->local);
  // web-2 only: web-1 is this node's, agent is hostNetwork, db has no number yet.
  ASSERT_EQ(s->endpoints.size(), 1u);
  const auto* e = s->endpoint(*net::parse_ipv4("10.244.2.10"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->identity, web);
  EXPECT_EQ(e->node, "n2");
  EXPECT_EQ(e->pod, "web-2");
  ASSERT_EQ(e->named_ports.size(), 1u);
  EXPECT_EQ(e->named_ports[0].name, "http");
  EXPECT_EQ(e->named_ports[0].port, 8080);
  EXPECT_EQ(feed.pending(), 1u);

  // db's labels numbered (by its node): it appears on resync.
  const uint32_t db = *(*ids)->acquire(cluster::pod_identity_labels("shop", {{"app", "db"}}, {{"kubernetes.io/metadata.name", "shop"}, {"team", "a"}}));
  feed.resync();
  s = state.snapshot();
  ASSERT_TRUE(s->endpoint(*net::parse_ipv4("10.244.2.11")));
  EXPECT_EQ(s->endpoint(*net::parse_ipv4("10.244.2.11"))->identity, db);
  EXPECT_EQ(feed.pending(), 0u);

  // Node n2 deleted before its Pods (the pod GC removes them later): its
  // pods leave with it, and come back with it.
  std::string without_n2 = kManifests;
  const auto n2_doc = without_n2.find("apiVersion: v1\nkind: Node\nmetadata: {name: n2}");
  ASSERT_NE(n2_doc, std::string::npos);
  without_n2.erase(n2_doc, without_n2.find("---\n", n2_doc) + 4 - n2_doc);
  store.apply_text("pods.yaml", without_n2);
  store.changed();
  s = state.snapshot();
  EXPECT_EQ(s->nodes.size(), 1u);
  EXPECT_TRUE(s->endpoints.empty());
  store.apply_text("pods.yaml", kManifests);
  store.changed();
  EXPECT_EQ(state.snapshot()->endpoints.size(), 2u);

  // Node n2 and its pods go away; the labels of web-2... gone with the file.
  store.apply_text("pods.yaml", "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: 192.168.50.1}]}\n");
  store.changed();
  s = state.snapshot();
  EXPECT_EQ(s->nodes.size(), 1u);
  EXPECT_TRUE(s->endpoints.empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace myelin::test
