// SPDX-License-Identifier: Apache-2.0
// PolicyManager with the cluster, on the real pinned maps: a remote pod's
// named port resolves an egress rule by port name; flows name the remote
// pod (namespace, name, identity, labels); a NetworkPolicy ipBlock that is
// exactly another node's pod CIDR is one ipcache entry with both the CIDR
// identity and the tunnel endpoint, and becomes policy's alone again when
// the node goes. Root is needed to load BPF (skipped otherwise).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "../agent/policy_on_maps.hpp"
#include "agent/flow_view.hpp"
#include "myelin/cluster/node_datapath.hpp"

namespace myelin::agent {
namespace {

constexpr const char* kClientIp = "10.1.1.6";
constexpr const char* kDbIp = "10.1.2.7";  // a pod of node b

const char* kPods = R"(apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: prod, labels: {app: client}}
)";

const char* kEgressByName = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: to-db, namespace: prod}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
    ports: [{protocol: TCP, port: postgres}]
)";

const char* kIpblockOfNodeB = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: to-b, namespace: prod}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 10.1.2.0/24}}]
)";

net::Ipv4 ip(const char* s) { return *net::parse_ipv4(s); }

class ClusterPolicy : public testing::PolicyOnMaps {
 protected:
  ClusterPolicy() : PolicyOnMaps("cluster-policy", "10.1.1.0/24") {}
  void SetUp() override {
    PolicyOnMaps::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    client_ = add_endpoint("client", kClientIp);  // on this node
    // db, on node b: its identity as the cluster numbers it.
    auto id = ids_->acquire({"k8s:app=db", "k8s:io.kubernetes.pod.namespace=prod"});
    ASSERT_TRUE(id);
    db_identity_ = *id;
    cluster_.replace_nodes(cluster::Source::etcd, {node("a", "192.168.50.1", "10.1.1.0/24", true), node("b", "192.168.50.2", "10.1.2.0/24")});
    cluster::RemoteEndpoint db;
    db.ip = ip(kDbIp);
    db.identity = db_identity_;
    db.node = "b";
    db.ns = "prod";
    db.pod = "db";
    db.named_ports = {{"postgres", 5432, 6}};
    cluster_.replace_endpoints(cluster::Source::etcd, {db});
    objects_.apply_text("pods.yaml", kPods);
  }
  void TearDown() override {
    nd_.reset();
    PolicyOnMaps::TearDown();
  }
  static cluster::Node node(const char* name, const char* addr, const char* cidr, bool local = false) {
    cluster::Node n;
    n.name = name;
    n.ip = ip(addr);
    n.pod_cidrs = {*net::parse_cidr4(cidr)};
    n.local = local;
    n.source = cluster::Source::etcd;
    return n;
  }
  // The agent's wiring of the two writers (main.cpp does the same).
  void wire_node_datapath() {
    cluster::NodeDatapath::Options o;
    o.pod_cidr = *net::parse_cidr4("10.1.1.0/24");
    o.routes = false;
    cluster::NodeDatapath::Hooks h;
    h.policy_cidrs = [this] { return pm_->policy_cidrs(); };
    nd_ = std::make_unique<cluster::NodeDatapath>(cluster_, *dp_, o, h);
    pm_->set_ipcache_owner([this](const myelin_ipcache_key& k) { return nd_->owns(k); });
    pm_->set_cluster(&cluster_);
  }
  bool allows_egress(uint32_t identity, uint16_t port) const {
    const auto k = datapath::policy_key(client_, MYELIN_DIR_EGRESS, IPPROTO_TCP, identity, port, 16);
    myelin_policy_val v{};
    return bpf_map_lookup_elem(dp_->map_fd(MYELIN_MAP_POL_ALLOW), &k, &v) == 0;
  }
  std::optional<myelin_ipcache_val> entry(const char* prefix) const {
    const auto k = cluster::ipcache_key(cluster::Prefix::of(*net::parse_cidr4(prefix)));
    for (const auto& [key, v] : dp_->ipcache_entries())
      if (std::memcmp(&key, &k, sizeof k) == 0) return v;
    return std::nullopt;
  }

  cluster::ClusterState cluster_{"a"};  // pm_ and nd_ are reset in TearDown, before it goes
  std::unique_ptr<cluster::NodeDatapath> nd_;
  uint32_t client_ = 0, db_identity_ = 0;
};

TEST_F(ClusterPolicy, RemoteNamedPortsResolveEgressByPortName) {
  objects_.apply_text("np.yaml", kEgressByName);
  ASSERT_TRUE(pm_->regenerate());
  EXPECT_FALSE(allows_egress(db_identity_, 5432)) << "control: without the cluster, no pod has the port name";
  wire_node_datapath();
  ASSERT_TRUE(pm_->regenerate());
  EXPECT_TRUE(allows_egress(db_identity_, 5432)) << "db's published named port postgres=5432";
  EXPECT_FALSE(allows_egress(db_identity_, 5433));
  // The port moves on node b: policy follows at the next regeneration.
  auto db = *cluster_.snapshot()->endpoint(ip(kDbIp));
  db.named_ports = {{"postgres", 6432, 6}};
  cluster_.upsert_endpoint(db);
  ASSERT_TRUE(pm_->regenerate());
  EXPECT_TRUE(allows_egress(db_identity_, 6432));
  EXPECT_FALSE(allows_egress(db_identity_, 5432));
}

TEST_F(ClusterPolicy, FlowsNameRemotePods) {
  wire_node_datapath();
  ASSERT_TRUE(pm_->regenerate());
  auto decoder = make_flow_decoder("a", *pm_);
  myelin_flow_event ev{};
  ev.type = MYELIN_EVENT_TRACE;
  ev.verdict = MYELIN_VERDICT_FORWARDED;
  ev.direction = MYELIN_DIR_EGRESS;
  ev.family = MYELIN_FAMILY_IPV4;
  ev.proto = IPPROTO_TCP;
  ev.src_ep = client_;
  ev.saddr.w[0] = inet_addr(kClientIp);
  ev.daddr.w[0] = inet_addr(kDbIp);
  ev.dst_identity = db_identity_;
  auto f = decoder.decode(ev);
  EXPECT_EQ(f.destination().pod_name(), "db");
  EXPECT_EQ(f.destination().namespace_(), "prod");
  EXPECT_EQ(f.destination().identity(), db_identity_);
  const std::set<std::string> labels(f.destination().labels().begin(), f.destination().labels().end());
  EXPECT_TRUE(labels.count("k8s:app=db")) << f.destination().DebugString();
  EXPECT_EQ(f.source().pod_name(), "client");
  // Control: an address no node holds is named by nobody.
  ev.daddr.w[0] = inet_addr("10.1.2.99");
  ev.dst_identity = MYELIN_IDENTITY_WORLD;
  f = decoder.decode(ev);
  EXPECT_EQ(f.destination().pod_name(), "");
  // The datapath judged it by another identity (a stale entry): the name, not the wrong labels.
  ev.daddr.w[0] = inet_addr(kDbIp);
  ev.dst_identity = db_identity_ + 1000;
  f = decoder.decode(ev);
  EXPECT_EQ(f.destination().pod_name(), "db");
  EXPECT_EQ(f.destination().labels_size(), 0);
}

TEST_F(ClusterPolicy, IpblockOfAnotherNodesPodCidrIsOneMergedEntry) {
  wire_node_datapath();
  objects_.apply_text("np.yaml", kIpblockOfNodeB);
  ASSERT_TRUE(nd_->reconcile()) << nd_->stats().last_error;  // the node's prefixes first: policy leaves them alone
  ASSERT_TRUE(pm_->regenerate());
  ASSERT_TRUE(nd_->reconcile()) << nd_->stats().last_error;  // ipBlock identities again (PolicyManager's on_regenerated)
  const auto cidrs = pm_->policy_cidrs();
  ASSERT_EQ(cidrs.size(), 1u);
  const uint32_t cidr_id = cidrs[0].second;
  auto v = entry("10.1.2.0/24");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->identity, cidr_id) << "the CIDR identity policy selects";
  EXPECT_EQ(v->ipblock_identity, cidr_id);
  EXPECT_EQ(v->tunnel_endpoint, ip("192.168.50.2").network_order()) << "and the tunnel to node b";
  EXPECT_EQ(v->flags, uint32_t{MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE | MYELIN_IPCACHE_F_POD_CIDR});
  ASSERT_TRUE(entry("10.1.2.7/32"));
  EXPECT_EQ(entry("10.1.2.7/32")->ipblock_identity, cidr_id) << "db is in the ipBlock too";
  EXPECT_EQ(entry("10.1.2.7/32")->identity, db_identity_);
  // A regeneration that changes nothing keeps the merged entry.
  ASSERT_TRUE(pm_->regenerate());
  EXPECT_EQ(entry("10.1.2.0/24")->tunnel_endpoint, ip("192.168.50.2").network_order());
  // Node b goes: the prefix is policy's alone again, not a hole.
  cluster_.replace_nodes(cluster::Source::etcd, {node("a", "192.168.50.1", "10.1.1.0/24", true)});
  cluster_.replace_endpoints(cluster::Source::etcd, {});
  ASSERT_TRUE(nd_->reconcile()) << nd_->stats().last_error;
  v = entry("10.1.2.0/24");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->identity, cidr_id);
  EXPECT_EQ(v->tunnel_endpoint, 0u);
  EXPECT_EQ(v->flags, 0u);
  EXPECT_FALSE(entry("10.1.2.7/32"));
  // Then the policy goes too: nothing left.
  objects_.apply_text("np.yaml", "");
  ASSERT_TRUE(pm_->regenerate());
  EXPECT_FALSE(entry("10.1.2.0/24"));
}

}  // namespace
}  // namespace myelin::agent
