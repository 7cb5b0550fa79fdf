// SPDX-License-Identifier: Apache-2.0
// node_plan: a cluster::Snapshot into ipcache entries, routes and node
// problems, and the difference to what the datapath holds (keep until
// synced, then prune), without a kernel.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "myelin/cluster/node_plan.hpp"

namespace myelin::cluster {
namespace {

net::Ipv4 ip(const char* s) { return *net::parse_ipv4(s); }
net::Cidr4 cidr(const char* s) { return *net::parse_cidr4(s); }
Prefix pfx(const char* s) { return Prefix::of(cidr(s)); }

constexpr uint32_t kCluster = MYELIN_IPCACHE_F_CLUSTER, kRemote = MYELIN_IPCACHE_F_REMOTE, kPodCidr = MYELIN_IPCACHE_F_POD_CIDR;

Node node(const char* name, const char* addr, std::vector<const char*> cidrs, bool local = false) {
  Node n;
  n.name = name;
  n.ip = ip(addr);
  for (auto c : cidrs) n.pod_cidrs.push_back(cidr(c));
  n.local = local;
  return n;
}

RemoteEndpoint ep(const char* addr, uint32_t id, const char* on, const char* ns = "prod", const char* pod = "web") {
  RemoteEndpoint e;
  e.ip = ip(addr);
  e.identity = id;
  e.node = on;
  e.ns = ns;
  e.pod = pod;
  return e;
}

// Three nodes: this one (a), b and c, with a pod on b.
Snapshot three_nodes() {
  Snapshot s;
  s.nodes["a"] = node("a", "192.168.50.1", {"10.1.1.0/24"}, true);
  s.nodes["b"] = node("b", "192.168.50.2", {"10.1.2.0/24"});
  s.nodes["c"] = node("c", "192.168.50.3", {"10.1.3.0/24"});
  s.endpoints[ip("10.1.2.7")] = ep("10.1.2.7", 300, "b");
  return s;
}

std::string show(const myelin_ipcache_val& v) {
  return "{identity " + std::to_string(v.identity) + ", ipblock " + std::to_string(v.ipblock_identity) + ", tunnel " +
         net::Ipv4{ntohl(v.tunnel_endpoint)}.str() + ", flags " + std::to_string(v.flags) + "}";
}

void expect_entry(const Plan& p, const char* prefix, uint32_t identity, uint32_t ipblock, const char* tunnel, uint32_t flags) {
  auto it = p.ipcache.find(pfx(prefix));
  ASSERT_NE(it, p.ipcache.end()) << prefix << " has no entry";
  const myelin_ipcache_val want{identity, ipblock, tunnel ? ip(tunnel).network_order() : 0u, flags};
  EXPECT_EQ(show(it->second), show(want)) << prefix;
}

TEST(NodePlan, RemotePodsNodesAndPodCidrs) {
  PlanInputs in;
  in.mode = RoutingMode::tunnel;
  in.local_pod_cidr = cidr("10.1.1.0/24");
  const Plan p = plan(three_nodes(), in);
  expect_entry(p, "10.1.2.7/32", 300, 0, "192.168.50.2", kCluster | kRemote);
  expect_entry(p, "10.1.2.0/24", MYELIN_IDENTITY_WORLD, 0, "192.168.50.2", kCluster | kRemote | kPodCidr);
  expect_entry(p, "10.1.3.0/24", MYELIN_IDENTITY_WORLD, 0, "192.168.50.3", kCluster | kRemote | kPodCidr);
  expect_entry(p, "192.168.50.2/32", MYELIN_IDENTITY_REMOTE_NODE, 0, nullptr, kCluster | kRemote);
  expect_entry(p, "192.168.50.3/32", MYELIN_IDENTITY_REMOTE_NODE, 0, nullptr, kCluster | kRemote);
  expect_entry(p, "10.1.1.0/24", MYELIN_IDENTITY_WORLD, 0, nullptr, kCluster);
  // This node's own address is policy's (host), never the cluster's.
  EXPECT_FALSE(p.ipcache.count(pfx("192.168.50.1/32")));
  EXPECT_EQ(p.ipcache.size(), 6u);
  EXPECT_TRUE(p.routes.empty()) << "tunnel mode without a tunnel device: no routes";
  EXPECT_EQ(p.problems.size(), 2u);
  EXPECT_EQ(p.problems.at("b"), "");
}

// A single node (no store) keeps the ipcache it had before clusters: not even
// its own pod CIDR (its pods are endpoints), so its map budget is unchanged.
TEST(NodePlan, ASingleNodeWritesNoClusterPrefix) {
  PlanInputs in;
  in.local_pod_cidr = cidr("10.1.1.0/24");
  EXPECT_TRUE(plan(Snapshot{}, in).ipcache.empty());
  in.mode = RoutingMode::tunnel;  // positive control: in a cluster it does
  EXPECT_EQ(plan(Snapshot{}, in).ipcache.size(), 1u);
}

TEST(NodePlan, TunnelRoutesThroughTheDevice) {
  PlanInputs in;
  in.mode = RoutingMode::tunnel;
  in.tunnel_ifindex = 42;
  in.tunnel_route_mtu = 1450;
  const Plan p = plan(three_nodes(), in);
  ASSERT_EQ(p.routes.size(), 2u);
  EXPECT_EQ(p.routes.at(pfx("10.1.2.0/24")), (Route{cidr("10.1.2.0/24"), {}, 42, 1450}));
  EXPECT_EQ(p.routes.at(pfx("10.1.3.0/24")), (Route{cidr("10.1.3.0/24"), {}, 42, 1450}));
}

TEST(NodePlan, NativeRoutesViaReachableNodesOnly) {
  PlanInputs in;
  in.mode = RoutingMode::native;
  in.unreachable = [](net::Ipv4 a) { return a == net::Ipv4{ip("192.168.50.3")} ? std::string("routed via 192.168.9.9") : ""; };
  const Plan p = plan(three_nodes(), in);
  ASSERT_EQ(p.routes.size(), 1u);
  EXPECT_EQ(p.routes.at(pfx("10.1.2.0/24")), (Route{cidr("10.1.2.0/24"), ip("192.168.50.2"), 0, 0}));
  EXPECT_EQ(p.problems.at("c"), "routed via 192.168.9.9");
  EXPECT_EQ(p.problems.at("b"), "");
  // Its identities stay known: policy still judges its traffic.
  expect_entry(p, "10.1.3.0/24", MYELIN_IDENTITY_WORLD, 0, "192.168.50.3", kCluster | kRemote | kPodCidr);
}

TEST(NodePlan, IpblockIdentitiesAndPolicyCidrsOnClusterPrefixes) {
  PlanInputs in;
  in.mode = RoutingMode::tunnel;  // a cluster: a single node writes no cluster prefix at all
  in.local_pod_cidr = cidr("10.1.1.0/24");
  in.policy_cidrs = {{cidr("10.0.0.0/8"), 1u << 24}, {cidr("10.1.3.0/24"), (1u << 24) + 1}, {cidr("10.1.2.7/32"), (1u << 24) + 2},
                     {cidr("10.1.2.128/25"), (1u << 24) + 3}};
  const Plan p = plan(three_nodes(), in);
  // The longest policy CIDR holding the whole prefix.
  expect_entry(p, "10.1.2.7/32", 300, (1u << 24) + 2, "192.168.50.2", kCluster | kRemote);
  // A /25 inside b's pod CIDR does not hold all of it; an address of it
  // that is no known pod is judged as before the entry: by the policy CIDR.
  expect_entry(p, "10.1.2.0/24", 1u << 24, 1u << 24, "192.168.50.2", kCluster | kRemote | kPodCidr);
  // A pod CIDR that is itself a policy CIDR keeps its CIDR identity (and the tunnel).
  expect_entry(p, "10.1.3.0/24", (1u << 24) + 1, (1u << 24) + 1, "192.168.50.3", kCluster | kRemote | kPodCidr);
  expect_entry(p, "192.168.50.2/32", MYELIN_IDENTITY_REMOTE_NODE, 0, nullptr, kCluster | kRemote);
  expect_entry(p, "10.1.1.0/24", 1u << 24, 1u << 24, nullptr, kCluster);
}

TEST(NodePlan, ConflictsAndStrays) {
  Snapshot s = three_nodes();
  s.nodes["d"] = node("d", "192.168.50.4", {"10.1.2.0/25"});  // inside b's
  s.nodes["e"] = node("e", "192.168.50.5", {"10.1.1.0/24"});  // this node's
  s.nodes["f"] = node("f", "0.0.0.0", {"10.1.6.0/24"});
  s.endpoints[ip("10.1.1.9")] = ep("10.1.1.9", 301, "b");    // an address of this node's pod CIDR
  s.endpoints[ip("10.1.9.9")] = ep("10.1.9.9", 0, "gone");   // its node unknown, no identity yet
  s.endpoints[ip("192.168.50.3")] = ep("192.168.50.3", 302, "c");  // a host-network pod: node c's address
  PlanInputs in;
  in.mode = RoutingMode::native;
  in.unreachable = [](net::Ipv4) { return std::string(); };
  const Plan p = plan(s, in);
  EXPECT_EQ(p.problems.at("d"), "pod CIDR 10.1.2.0/25 overlaps node b's: ignored");
  EXPECT_EQ(p.problems.at("e"), "pod CIDR 10.1.1.0/24 overlaps this node's: ignored");
  EXPECT_EQ(p.problems.at("f"), "no node address");
  EXPECT_FALSE(p.ipcache.count(pfx("10.1.2.0/25")));
  EXPECT_FALSE(p.routes.count(pfx("10.1.2.0/25")));
  EXPECT_FALSE(p.routes.count(pfx("10.1.1.0/24")));
  EXPECT_FALSE(p.ipcache.count(pfx("10.1.6.0/24")));
  expect_entry(p, "10.1.2.0/24", MYELIN_IDENTITY_WORLD, 0, "192.168.50.2", kCluster | kRemote | kPodCidr);
  // The local pod CIDR comes from this node's own record when not given.
  expect_entry(p, "10.1.1.0/24", MYELIN_IDENTITY_WORLD, 0, nullptr, kCluster);
  EXPECT_FALSE(p.ipcache.count(pfx("10.1.1.9/32")));
  EXPECT_EQ(p.endpoints_refused, 2u);
  expect_entry(p, "192.168.50.3/32", MYELIN_IDENTITY_REMOTE_NODE, 0, nullptr, kCluster | kRemote);
  // Policy's "any identity" (0) never reaches the ipcache: world, no tunnel.
  expect_entry(p, "10.1.9.9/32", MYELIN_IDENTITY_WORLD, 0, nullptr, kCluster | kRemote);
  EXPECT_EQ(p.endpoints_without_node, 1u);
}

TEST(NodePlan, KeptUntilSyncedThenPruned) {
  PlanInputs in;
  const Plan p = plan(three_nodes(), in);
  // Before the restart: node z (gone while the agent was down) and an old
  // value for b's pod.
  std::map<Prefix, myelin_ipcache_val> have = {
      {pfx("10.1.9.0/24"), {MYELIN_IDENTITY_WORLD, 0, ip("192.168.50.9").network_order(), kCluster | kRemote | kPodCidr}},
      {pfx("192.168.50.9/32"), {MYELIN_IDENTITY_REMOTE_NODE, 0, 0, kCluster | kRemote}},
      {pfx("10.1.2.7/32"), {299, 0, ip("192.168.50.2").network_order(), kCluster | kRemote}},
      {pfx("10.1.3.0/24"), p.ipcache.at(pfx("10.1.3.0/24"))},
  };
  auto d = diff_ipcache(p.ipcache, have, {}, /*prune=*/false);
  EXPECT_TRUE(d.deletes.empty());
  EXPECT_TRUE(d.restores.empty());
  EXPECT_EQ(d.upserts.size(), p.ipcache.size() - 1) << "everything but the unchanged entry";
  d = diff_ipcache(p.ipcache, have, {{cidr("192.168.50.9/32"), 1u << 24}}, /*prune=*/true);
  ASSERT_EQ(d.deletes.size(), 1u);
  EXPECT_EQ(d.deletes[0], pfx("10.1.9.0/24"));
  // Still a policy CIDR: its policy entry again, not a hole.
  ASSERT_EQ(d.restores.size(), 1u);
  EXPECT_EQ(d.restores[0].first, pfx("192.168.50.9/32"));
  EXPECT_EQ(show(d.restores[0].second), show(myelin_ipcache_val{1u << 24, 1u << 24, 0, 0}));
  // Nothing left to do once written.
  d = diff_ipcache(p.ipcache, p.ipcache, {}, true);
  EXPECT_TRUE(d.upserts.empty() && d.deletes.empty() && d.restores.empty());
}

TEST(NodePlan, RouteDiff) {
  std::map<Prefix, Route> want = {{pfx("10.1.2.0/24"), Route{cidr("10.1.2.0/24"), ip("192.168.50.2"), 0, 0}},
                                  {pfx("10.1.3.0/24"), Route{cidr("10.1.3.0/24"), ip("192.168.50.3"), 0, 0}}};
  // Read back from the kernel: the device it chose, one next hop moved, one stale route.
  std::map<Prefix, Route> have = {{pfx("10.1.2.0/24"), Route{cidr("10.1.2.0/24"), ip("192.168.50.2"), 7, 0}},
                                  {pfx("10.1.3.0/24"), Route{cidr("10.1.3.0/24"), ip("192.168.50.33"), 7, 0}},
                                  {pfx("10.1.9.0/24"), Route{cidr("10.1.9.0/24"), ip("192.168.50.9"), 7, 0}}};
  auto d = diff_routes(want, have, false);
  ASSERT_EQ(d.replace.size(), 1u);
  EXPECT_EQ(d.replace[0].via, ip("192.168.50.3"));
  EXPECT_TRUE(d.remove.empty());
  d = diff_routes(want, have, true);
  ASSERT_EQ(d.remove.size(), 1u);
  EXPECT_EQ(d.remove[0].dst.str(), "10.1.9.0/24");
  // A tunnel route's MTU is part of it.
  d = diff_routes({{pfx("10.1.2.0/24"), Route{cidr("10.1.2.0/24"), {}, 5, 1450}}},
                  {{pfx("10.1.2.0/24"), Route{cidr("10.1.2.0/24"), {}, 5, 1500}}}, true);
  EXPECT_EQ(d.replace.size(), 1u);
}

TEST(NodePlan, OwnershipKeysAndSync) {
  EXPECT_TRUE(cluster_owned({300, 0, 1, kCluster | kRemote}));
  EXPECT_TRUE(cluster_owned({MYELIN_IDENTITY_WORLD, 0, 0, kCluster}));              // this node's pod CIDR
  EXPECT_FALSE(cluster_owned({MYELIN_IDENTITY_HOST, 0, 0, kCluster}));              // policy's node addresses
  EXPECT_FALSE(cluster_owned({1u << 24, 1u << 24, 0, 0}));                          // policy CIDRs
  for (const char* c : {"10.1.2.7/32", "10.1.2.0/24", "0.0.0.0/0", "10.0.0.0/8"}) {
    EXPECT_EQ(prefix_of(ipcache_key(pfx(c))), pfx(c)) << c;
    EXPECT_EQ(ipcache_key(pfx(c)).prefixlen, 32u + pfx(c).len);
  }
  Snapshot s;
  EXPECT_TRUE(all_synced(s, {}));
  EXPECT_FALSE(all_synced(s, {Source::etcd}));
  s.synced[Source::etcd] = true;
  EXPECT_TRUE(all_synced(s, {Source::etcd}));
  EXPECT_FALSE(all_synced(s, {Source::etcd, Source::kubernetes}));
}

}  // namespace
}  // namespace myelin::cluster
