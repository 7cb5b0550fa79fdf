// SPDX-License-Identifier: Apache-2.0
// NodeDatapath on the real pinned ipcache and real routes: the datapath is
// loaded (nothing attached) under a per-test bpffs directory, and the test
// thread moves into a network namespace of its own (unshare), with a dummy
// underlay device, so routes go there and never into the machine's own
// namespace. Covers: entries written as ClusterState says; a restart that
// adopts the pinned entries and our routes, keeps them until every source
// has synced, then prunes what was removed while the agent was down, and
// leaves policy's entries and other routes alone; native mode's
// reachability problem; the worker asking for policy before it writes a new
// pod's entry. Root is needed (skipped otherwise).
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "myelin/cluster/node_datapath.hpp"
#include "myelin/fd.hpp"
#include "myelin/netlink.hpp"
#include "myelin/pseudo_fs.hpp"

namespace myelin::cluster {
namespace {

net::Ipv4 ip(const char* s) { return *net::parse_ipv4(s); }
net::Cidr4 cidr(const char* s) { return *net::parse_cidr4(s); }

Node node(const char* name, const char* addr, const char* pod_cidr, bool local = false) {
  Node n;
  n.name = name;
  n.ip = ip(addr);
  n.pod_cidrs = {cidr(pod_cidr)};
  n.local = local;
  n.source = Source::etcd;
  return n;
}

RemoteEndpoint ep(const char* addr, uint32_t id, const char* on) {
  RemoteEndpoint e;
  e.ip = ip(addr);
  e.identity = id;
  e.node = on;
  e.ns = "prod";
  e.pod = "web";
  e.source = Source::etcd;
  return e;
}

class NodeDatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: loads the datapath's maps and makes a network namespace";
    const std::string tag = std::to_string(getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    pin_dir_ = "/sys/fs/bpf/myelin-test-node-datapath-" + tag;
    ASSERT_TRUE(pseudofs::Mounts::ensure()) << "mount bpffs (see the log above)";
    if (auto s = datapath::make_pin_dir(pin_dir_); !s) FAIL() << s.error().message;
    load();
    // This thread (and the threads it starts) into a namespace of its own.
    original_netns_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(original_netns_);
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare: " << strerror(errno);
    in_netns_ = true;
    ASSERT_EQ(std::system("ip link add mln-ndp-u0 type veth peer name mln-ndp-u1 && ip link set mln-ndp-u1 up && ip link set mln-ndp-u0 up && ip link set lo up && "
                          "ip addr add 192.168.50.1/24 dev mln-ndp-u0 && ip route add 10.99.0.0/16 via 192.168.50.254"),
              0);
  }
  void TearDown() override {
    if (in_netns_) (void)::setns(original_netns_.get(), CLONE_NEWNET);  // the namespace goes with its last thread
    dp_.reset();
    if (!pin_dir_.empty()) {
      (void)datapath::Datapath::unpin_all(pin_dir_);
      std::filesystem::remove_all(pin_dir_);
    }
  }
  void load() {
    dp_.reset();
    datapath::Datapath::Options o;
    o.pin_dir = pin_dir_;
    auto dp = datapath::Datapath::load(o);
    ASSERT_TRUE(dp) << dp.error().message;
    dp_ = std::move(*dp);
  }
  std::optional<myelin_ipcache_val> entry(const char* prefix) const {
    const auto k = ipcache_key(Prefix::of(cidr(prefix)));
    for (const auto& [key, v] : dp_->ipcache_entries())
      if (std::memcmp(&key, &k, sizeof k) == 0) return v;
    return std::nullopt;
  }
  std::map<std::string, std::string> routes(uint8_t proto = kRouteProtocol) const {
    std::map<std::string, std::string> out;
    auto list = netlink::route_list(proto);
    EXPECT_TRUE(list) << list.error().message;
    if (list)
      for (const auto& r : *list) out[r.dst.str()] = r.gw ? r.gw->str() : "dev " + std::to_string(r.oif);
    return out;
  }

  std::string pin_dir_;
  std::unique_ptr<datapath::Datapath> dp_;
  UniqueFd original_netns_;
  bool in_netns_ = false;
};

TEST_F(NodeDatapathTest, WritesTheClusterAndPrunesWhatWentWhileDown) {
  NodeDatapath::Options o;
  o.mode = RoutingMode::native;
  o.pod_cidr = cidr("10.1.1.0/24");
  o.sources = {Source::etcd};
  // Policy's own entries (a node address as host, a CIDR) beside ours.
  ASSERT_TRUE(dp_->ipcache_upsert(ipcache_key(Prefix::of(cidr("192.168.50.1/32"))), {MYELIN_IDENTITY_HOST, 0, 0, MYELIN_IPCACHE_F_CLUSTER}));
  ASSERT_TRUE(dp_->ipcache_upsert(ipcache_key(Prefix::of(cidr("172.16.0.0/12"))), {1u << 24, 1u << 24, 0, 0}));
  ASSERT_EQ(std::system("ip route add 10.50.0.0/16 via 192.168.50.3 proto static"), 0);  // not ours
  {
    ClusterState cs("a");
    cs.replace_nodes(Source::etcd, {node("a", "192.168.50.1", "10.1.1.0/24", true), node("b", "192.168.50.2", "10.1.2.0/24"),
                                    node("c", "192.168.50.3", "10.1.3.0/24")});
    cs.replace_endpoints(Source::etcd, {ep("10.1.2.7", 300, "b"), ep("10.1.3.8", 301, "c")});
    cs.set_synced(Source::etcd);
    NodeDatapath nd(cs, *dp_, o, {});
    ASSERT_TRUE(nd.reconcile()) << nd.stats().last_error;
    auto v = entry("10.1.3.8/32");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->identity, 301u);
    EXPECT_EQ(v->tunnel_endpoint, ip("192.168.50.3").network_order());
    EXPECT_EQ(v->flags, uint32_t{MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE});
    ASSERT_TRUE(entry("10.1.3.0/24"));
    EXPECT_EQ(entry("10.1.3.0/24")->flags, uint32_t{MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE | MYELIN_IPCACHE_F_POD_CIDR});
    EXPECT_EQ(entry("192.168.50.2/32")->identity, uint32_t{MYELIN_IDENTITY_REMOTE_NODE});
    EXPECT_EQ(entry("10.1.1.0/24")->flags, uint32_t{MYELIN_IPCACHE_F_CLUSTER});
    EXPECT_EQ(routes(), (std::map<std::string, std::string>{{"10.1.2.0/24", "192.168.50.2"}, {"10.1.3.0/24", "192.168.50.3"}}));
    EXPECT_EQ(nd.stats().ipcache_entries, 7u);
    // A second pass writes nothing.
    const auto writes = nd.stats().ipcache_writes;
    ASSERT_TRUE(nd.reconcile());
    EXPECT_EQ(nd.stats().ipcache_writes, writes);
    EXPECT_EQ(nd.stats().route_writes, 2u);
  }
  // The agent restarts (maps stay pinned, routes stay); meanwhile node c
  // went away and b's pod changed identity.
  load();
  ClusterState cs("a");
  NodeDatapath nd(cs, *dp_, o, {});
  cs.replace_nodes(Source::etcd, {node("a", "192.168.50.1", "10.1.1.0/24", true), node("b", "192.168.50.2", "10.1.2.0/24")});
  cs.replace_endpoints(Source::etcd, {ep("10.1.2.7", 302, "b")});
  ASSERT_TRUE(nd.reconcile()) << nd.stats().last_error;
  EXPECT_EQ(nd.stats().adopted_entries, 7u);
  EXPECT_EQ(nd.stats().adopted_routes, 2u);
  EXPECT_FALSE(nd.stats().synced);
  EXPECT_EQ(entry("10.1.2.7/32")->identity, 302u) << "changes are written before the sync";
  EXPECT_TRUE(entry("10.1.3.8/32")) << "kept until etcd has synced";
  EXPECT_TRUE(entry("10.1.3.0/24"));
  EXPECT_EQ(routes().count("10.1.3.0/24"), 1u);
  EXPECT_TRUE(nd.owns(ipcache_key(Prefix::of(cidr("10.1.3.0/24"))))) << "kept entries stay ours: policy leaves them alone";
  cs.set_synced(Source::etcd);
  ASSERT_TRUE(nd.reconcile()) << nd.stats().last_error;
  EXPECT_TRUE(nd.stats().synced);
  EXPECT_FALSE(entry("10.1.3.8/32"));
  EXPECT_FALSE(entry("10.1.3.0/24"));
  EXPECT_FALSE(entry("192.168.50.3/32"));
  EXPECT_FALSE(nd.owns(ipcache_key(Prefix::of(cidr("10.1.3.0/24")))));
  EXPECT_EQ(routes(), (std::map<std::string, std::string>{{"10.1.2.0/24", "192.168.50.2"}}));
  EXPECT_EQ(nd.stats().pruned, 4u) << "c's pod, pod CIDR, address, route";
  // Policy's entries and a route of another protocol are untouched.
  ASSERT_TRUE(entry("192.168.50.1/32"));
  EXPECT_EQ(entry("192.168.50.1/32")->identity, uint32_t{MYELIN_IDENTITY_HOST});
  EXPECT_TRUE(entry("172.16.0.0/12"));
  EXPECT_EQ(routes(RTPROT_STATIC).count("10.50.0.0/16"), 1u);
}

TEST_F(NodeDatapathTest, NativeModeReportsANodeBehindARouter) {
  EXPECT_EQ(native_reachability(ip("192.168.50.2")), "");
  EXPECT_NE(native_reachability(ip("10.99.0.1")).find("not directly reachable: 10.99.0.1 is routed via 192.168.50.254"), std::string::npos)
      << native_reachability(ip("10.99.0.1"));
  EXPECT_NE(native_reachability(ip("192.168.50.1")).find("is one of this node's"), std::string::npos);
  NodeDatapath::Options o;
  o.mode = RoutingMode::native;
  ClusterState cs("a");
  cs.replace_nodes(Source::etcd, {node("a", "192.168.50.1", "10.1.1.0/24", true), node("b", "192.168.50.2", "10.1.2.0/24"),
                                  node("far", "10.99.0.1", "10.1.4.0/24")});
  NodeDatapath nd(cs, *dp_, o, {});
  ASSERT_TRUE(nd.reconcile()) << nd.stats().last_error;
  const auto s = cs.snapshot();
  EXPECT_NE(s->node("far")->problem.find("not directly reachable"), std::string::npos) << s->node("far")->problem;
  EXPECT_EQ(s->node("b")->problem, "");
  EXPECT_EQ(routes(), (std::map<std::string, std::string>{{"10.1.2.0/24", "192.168.50.2"}}));
  EXPECT_TRUE(entry("10.1.4.0/24")) << "its identities stay known";
  // The node moves onto the segment: re-learned, problem gone.
  cs.upsert_node(node("far", "192.168.50.4", "10.1.4.0/24"));
  ASSERT_TRUE(nd.reconcile()) << nd.stats().last_error;
  EXPECT_EQ(cs.snapshot()->node("far")->problem, "");
  EXPECT_EQ(routes().at("10.1.4.0/24"), "192.168.50.4");
  EXPECT_EQ(entry("10.1.4.0/24")->tunnel_endpoint, ip("192.168.50.4").network_order());
}

TEST_F(NodeDatapathTest, TunnelRoutesCarryTheOverlayMtu) {
  ASSERT_EQ(std::system("ip link add mln-ndp-t0 type veth peer name mln-ndp-t1 && ip link set mln-ndp-t1 up && ip link set mln-ndp-t0 up"), 0);
  auto link = netlink::link_get("mln-ndp-t0");
  ASSERT_TRUE(link);
  NodeDatapath::Options o;
  o.mode = RoutingMode::tunnel;
  o.tunnel_ifindex = link->index;
  o.tunnel_route_mtu = 1450;
  ClusterState cs("a");
  cs.replace_nodes(Source::etcd, {node("a", "192.168.50.1", "10.1.1.0/24", true), node("b", "192.168.50.2", "10.1.2.0/24")});
  NodeDatapath nd(cs, *dp_, o, {});
  ASSERT_TRUE(nd.reconcile()) << nd.stats().last_error;
  auto list = netlink::route_list(kRouteProtocol);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].dst.str(), "10.1.2.0/24");
  EXPECT_EQ((*list)[0].oif, link->index);
  EXPECT_EQ((*list)[0].mtu, 1450u);
  EXPECT_FALSE((*list)[0].gw);
  const auto writes = nd.stats().route_writes;
  ASSERT_TRUE(nd.reconcile());
  EXPECT_EQ(nd.stats().route_writes, writes) << "read back equal: not rewritten";
}

TEST_F(NodeDatapathTest, WorkerRegeneratesPolicyBeforeANewPodsEntry) {
  NodeDatapath::Options o;
  o.routes = false;
  ClusterState cs("a");
  cs.replace_nodes(Source::etcd, {node("a", "192.168.50.1", "10.1.1.0/24", true), node("b", "192.168.50.2", "10.1.2.0/24")});
  std::atomic<int> regenerations{0};
  std::atomic<bool> entry_before_policy{false};
  NodeDatapath::Hooks h;
  h.regenerate_policy = [&] {
    if (entry("10.1.2.9/32")) entry_before_policy = true;
    ++regenerations;
  };
  h.policy_cidrs = [] { return std::vector<std::pair<net::Cidr4, uint32_t>>{{cidr("10.1.2.0/24"), 1u << 24}}; };
  NodeDatapath nd(cs, *dp_, o, h);
  ASSERT_TRUE(nd.start());
  auto wait_for = [&](auto pred) {
    for (int i = 0; i < 500 && !pred(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return pred();
  };
  ASSERT_TRUE(wait_for([&] { return nd.stats().reconciles >= 1; }));
  const int before = regenerations;
  const auto t0 = std::chrono::steady_clock::now();
  cs.upsert_endpoint(ep("10.1.2.9", 310, "b"));
  ASSERT_TRUE(wait_for([&] { return entry("10.1.2.9/32").has_value(); }));
  // Reported, not asserted (tests never assert on wall time): a new pod's
  // address in the ipcache after its ClusterState change, debounce included.
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("new remote pod in the ipcache %lld ms after its ClusterState change\n", static_cast<long long>(ms));
  RecordProperty("pod_to_ipcache_ms", std::to_string(ms));
  EXPECT_GT(regenerations.load(), before);
  EXPECT_FALSE(entry_before_policy) << "the pod's address reached the ipcache before its policy";
  EXPECT_EQ(entry("10.1.2.9/32")->ipblock_identity, 1u << 24);
  // b's pod CIDR is a policy CIDR too: its CIDR identity, with b as tunnel endpoint.
  EXPECT_EQ(entry("10.1.2.0/24")->identity, 1u << 24);
  EXPECT_EQ(entry("10.1.2.0/24")->tunnel_endpoint, ip("192.168.50.2").network_order());
  // A change that is not about pods (a node's problem) asks for no policy.
  const int now = regenerations;
  cs.remove_endpoint(Source::etcd, ip("10.1.2.9"));
  ASSERT_TRUE(wait_for([&] { return !entry("10.1.2.9/32").has_value(); })) << "no sources expected: pruned at once";
  EXPECT_EQ(regenerations.load(), now + 1);
  cs.set_problem("b", "test");
  ASSERT_TRUE(wait_for([&] { return cs.snapshot()->node("b")->problem.empty(); })) << "the plan's verdict replaces it";
  EXPECT_EQ(regenerations.load(), now + 1);
  nd.stop();
}

}  // namespace
}  // namespace myelin::cluster
