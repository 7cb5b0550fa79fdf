// SPDX-License-Identifier: Apache-2.0
// `myelin node list` and the cluster's part of `myelin status`, from a
// ClusterState snapshot, as the agent answers and the CLI prints them (no
// kernel): every node with its health and problem, this node marked local
// (listed from its flags when no source lists it), a single node saying so.
#include <gtest/gtest.h>

#include "myelin/cluster/nodes_component.hpp"
#include "node_format.hpp"

namespace myelin::cluster {
namespace {

Node node(const char* name, const char* addr, const char* cidr, bool local = false) {
  Node n;
  n.name = name;
  n.ip = *net::parse_ipv4(addr);
  n.pod_cidrs = {*net::parse_cidr4(cidr)};
  n.local = local;
  n.source = Source::etcd;
  n.updated = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000));
  return n;
}

TEST(NodesComponent, ListsEveryNodeWithItsHealth) {
  ClusterState cs("a");
  cs.replace_nodes(Source::etcd, {node("a", "192.168.50.1", "10.1.1.0/24", true), node("b", "192.168.50.2", "10.1.2.0/24")});
  RemoteEndpoint e;
  e.ip = *net::parse_ipv4("10.1.2.7");
  e.node = "b";
  e.identity = 300;
  cs.replace_endpoints(Source::etcd, {e});
  cs.set_problem("b", "not directly reachable: 192.168.50.2 is routed via 192.168.9.1");
  NodesComponent::Options o;
  o.sources = {Source::etcd};
  o.mode = RoutingMode::native;
  o.node_name = "a";
  const auto l = NodesComponent::node_list(*cs.snapshot(), o);
  EXPECT_EQ(l.mode(), "cluster");
  ASSERT_EQ(l.nodes_size(), 2);
  EXPECT_EQ(l.nodes(0).name(), "a");
  EXPECT_TRUE(l.nodes(0).local());
  EXPECT_EQ(l.nodes(1).addresses(0), "192.168.50.2");
  EXPECT_EQ(l.nodes(1).pod_cidrs(0), "10.1.2.0/24");
  EXPECT_EQ(l.nodes(1).source(), "etcd");
  EXPECT_EQ(l.nodes(1).health(), "problem");
  EXPECT_EQ(l.nodes(1).endpoints(), 1u);
  EXPECT_EQ(l.nodes(1).last_update().seconds(), 1800000000);
  const std::string table = cli::nodes_table(l);
  EXPECT_NE(table.find("a (local)"), std::string::npos) << table;
  EXPECT_NE(table.find("b: not directly reachable"), std::string::npos) << table;

  const auto st = NodesComponent::cluster_status(*cs.snapshot(), o, nullptr);
  EXPECT_EQ(st.mode(), "cluster");
  EXPECT_EQ(st.routing_mode(), "native");
  EXPECT_EQ(st.nodes(), 2u);
  EXPECT_EQ(st.remote_endpoints(), 1u);
  EXPECT_FALSE(st.synced());
  ASSERT_EQ(st.problems_size(), 1);
  EXPECT_EQ(st.problems(0), "b: not directly reachable: 192.168.50.2 is routed via 192.168.9.1");
  cs.set_synced(Source::etcd);
  EXPECT_TRUE(NodesComponent::cluster_status(*cs.snapshot(), o, nullptr).synced());
}

TEST(NodesComponent, ASingleNodeSaysSo) {
  ClusterState cs("solo");
  NodesComponent::Options o;
  o.node_name = "solo";
  o.node_ip = *net::parse_ipv4("192.168.7.1");
  o.pod_cidr = *net::parse_cidr4("10.7.0.0/24");
  const auto l = NodesComponent::node_list(*cs.snapshot(), o);
  EXPECT_EQ(l.mode(), kSingleNode);
  ASSERT_EQ(l.nodes_size(), 1);
  EXPECT_EQ(l.nodes(0).name(), "solo");
  EXPECT_TRUE(l.nodes(0).local());
  EXPECT_EQ(l.nodes(0).source(), "local");
  EXPECT_EQ(l.nodes(0).pod_cidrs(0), "10.7.0.0/24");
  api::StatusResponse s;
  *s.mutable_cluster() = NodesComponent::cluster_status(*cs.snapshot(), o, nullptr);
  EXPECT_EQ(s.cluster().nodes(), 1u);
  EXPECT_TRUE(s.cluster().synced()) << "nothing to wait for";
  EXPECT_NE(cli::cluster_status_text(s).find("Cluster:              single node: no --kvstore and no Kubernetes API"), std::string::npos)
      << cli::cluster_status_text(s);
}

// A single node reads Node objects and routes to none: each is listed as
// ignored with the reason (its own Node object is not listed twice), and
// status names it; the node count stays one.
TEST(NodesComponent, ListsUnroutedNodeObjectsAsIgnored) {
  ClusterState cs("solo");
  NodesComponent::Options o;
  o.node_name = "solo";
  o.pod_cidr = *net::parse_cidr4("10.9.0.0/24");
  o.unrouted_reason = "not routed: a single node";
  auto other = node("other", "192.168.9.2", "10.9.1.0/24");
  other.source = Source::manifests;
  auto self = node("solo", "192.168.9.1", "10.9.0.0/24");
  self.source = Source::manifests;
  const std::vector<Node> unrouted{self, other};
  const auto l = NodesComponent::node_list(*cs.snapshot(), o, unrouted);
  EXPECT_EQ(l.mode(), kSingleNode);
  ASSERT_EQ(l.nodes_size(), 2);
  EXPECT_EQ(l.nodes(0).name(), "solo");
  EXPECT_TRUE(l.nodes(0).local());
  EXPECT_EQ(l.nodes(1).name(), "other");
  EXPECT_FALSE(l.nodes(1).local());
  EXPECT_EQ(l.nodes(1).health(), "ignored");
  EXPECT_EQ(l.nodes(1).source(), "manifests");
  EXPECT_EQ(l.nodes(1).problem(), "not routed: a single node");
  const auto st = NodesComponent::cluster_status(*cs.snapshot(), o, nullptr, unrouted);
  EXPECT_EQ(st.nodes(), 1u);
  ASSERT_EQ(st.problems_size(), 1);
  EXPECT_EQ(st.problems(0), "other (Node object): ignored: not routed: a single node");
  // Without unrouted nodes: this node alone, no problem (the control).
  EXPECT_EQ(NodesComponent::node_list(*cs.snapshot(), o).nodes_size(), 1);
  EXPECT_EQ(NodesComponent::cluster_status(*cs.snapshot(), o, nullptr).problems_size(), 0);
}

}  // namespace
}  // namespace myelin::cluster
