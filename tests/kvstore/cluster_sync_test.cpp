// SPDX-License-Identifier: Apache-2.0
// ClusterSync against a real etcd: two (and three) agents' worth of sync
// objects in one process, each with its own etcd client and ClusterState,
// as two myelinds would have. What node A publishes reaches B; what A stops
// publishing, or A's lease expiring, leaves B; etcd killed and restarted,
// or absent at start, degrades and then converges; records that do not
// decode are refused beside good ones.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "myelin/kvstore/cluster_sync.hpp"
#include "myelin/kvstore/records.hpp"
#include "kvstore_test.hpp"

namespace myelin::kvstore {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

net::Ipv4 ip(const char* s) { return *net::parse_ipv4(s); }

// One agent's worth: a client, a cluster view, the endpoints it has, a sync.
struct Agent {
  // shared_session: as myelind with etcd identities, one Session of the
  // agent's whose lease the sync writes under (it opens none of its own).
  Agent(const std::string& url, const std::string& name, const char* node_ip, const char* cidr, std::chrono::seconds ttl = 10s,
        bool shared_session = false)
      : state(name) {
    EtcdOptions eo;
    eo.endpoints = {url};
    eo.timeout = 1000ms;
    etcd = std::move(*Etcd::connect(eo));
    if (shared_session)
      session = std::move(*Session::open(*etcd, ttl, [this](int64_t) {
        if (auto* s = sync_ptr.load()) s->lease_changed();
      }));
    ClusterSyncOptions o;
    o.cluster = "t";
    o.node.name = name;
    o.node.ip = ip(node_ip);
    o.node.pod_cidrs = {*net::parse_cidr4(cidr)};
    o.lease_ttl = ttl;
    o.local_endpoints = [this] {
      std::lock_guard lk(mu);
      return eps;
    };
    o.session = session.get();
    sync = std::make_unique<ClusterSync>(*etcd, state, o);
    sync_ptr = sync.get();
  }
  ~Agent() {
    sync_ptr = nullptr;
    sync.reset();
    session.reset();
  }
  void add(const char* addr, uint32_t identity, const char* ns, const char* pod, std::vector<cluster::NamedPort> ports = {}) {
    {
      std::lock_guard lk(mu);
      cluster::RemoteEndpoint e;
      e.ip = ip(addr);
      e.identity = identity;
      e.ns = ns;
      e.pod = pod;
      e.named_ports = std::move(ports);
      eps.push_back(e);
    }
    sync->endpoints_changed();
  }
  void remove(const char* addr) {
    {
      std::lock_guard lk(mu);
      std::erase_if(eps, [&](const cluster::RemoteEndpoint& e) { return e.ip == ip(addr); });
    }
    sync->endpoints_changed();
  }
  bool sees_endpoint(const char* addr, uint32_t identity = 0) const {
    const auto* e = state.snapshot()->endpoint(ip(addr));
    return e && (identity == 0 || e->identity == identity);
  }
  bool sees_node(const std::string& n) const { return state.snapshot()->node(n) != nullptr; }
  bool healthy() const { return degraded_reason(sync->stats()).empty(); }

  cluster::ClusterState state;
  std::unique_ptr<Etcd> etcd;
  std::mutex mu;
  std::vector<cluster::RemoteEndpoint> eps;
  std::unique_ptr<Session> session;
  std::unique_ptr<ClusterSync> sync;
  std::atomic<ClusterSync*> sync_ptr{nullptr};
};

// One etcd per test (a fresh data dir), and a client of the test's own.
class ClusterSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::g_netns_error.empty()) GTEST_SKIP() << "SKIP: " << testing::g_netns_error;
    etcd_ = std::make_unique<testing::EtcdServer>();
    ASSERT_TRUE(etcd_->start()) << "etcd did not become healthy:\n" << etcd_->log_tail();
    admin_ = testing::connect_or_die(etcd_->url());
    ASSERT_TRUE(admin_);
  }
  void TearDown() override {
    admin_.reset();
    etcd_.reset();
  }
  std::unique_ptr<testing::EtcdServer> etcd_;
  std::unique_ptr<Etcd> admin_;
};

TEST_F(ClusterSyncTest, PodOnAVisibleOnBWithItsRecord) {
  Agent a(etcd_->url(), "node-a", "192.168.60.2", "10.244.1.0/24");
  Agent b(etcd_->url(), "node-b", "192.168.60.3", "10.244.2.0/24");
  a.add("10.244.1.5", 300, "x", "a", {{"http", 80, 6}, {"dns", 53, 17}});
  b.add("10.244.2.7", 301, "y", "b");
  a.sync->start();
  b.sync->start();

  ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.5") && a.sees_endpoint("10.244.2.7"); }));
  const auto snap = b.state.snapshot();
  const auto* e = snap->endpoint(ip("10.244.1.5"));
  EXPECT_EQ(e->identity, 300u);
  EXPECT_EQ(e->node, "node-a");
  EXPECT_EQ(e->ns, "x");
  EXPECT_EQ(e->pod, "a");
  EXPECT_EQ(e->source, cluster::Source::etcd);
  ASSERT_EQ(e->named_ports.size(), 2u);
  EXPECT_EQ(e->named_ports[1].name, "dns");
  EXPECT_EQ(e->named_ports[1].proto, 17);
  // Both nodes, each with its address and pod CIDR; the local one marked local.
  ASSERT_TRUE(eventually([&] { return b.sees_node("node-a") && b.sees_node("node-b"); }));
  const auto* na = b.state.snapshot()->node("node-a");
  EXPECT_EQ(na->ip, ip("192.168.60.2"));
  ASSERT_EQ(na->pod_cidrs.size(), 1u);
  EXPECT_EQ(na->pod_cidrs[0].str(), "10.244.1.0/24");
  EXPECT_FALSE(na->local);
  EXPECT_TRUE(b.state.snapshot()->node("node-b")->local);
  EXPECT_TRUE(b.state.snapshot()->synced.at(cluster::Source::etcd));
  // A node's own endpoints are local ones, never remote in its own view.
  EXPECT_FALSE(a.sees_endpoint("10.244.1.5"));
  EXPECT_FALSE(b.sees_endpoint("10.244.2.7"));
  ASSERT_TRUE(eventually([&] { return a.healthy() && b.healthy(); })) << degraded_reason(a.sync->stats());
  const auto s = a.sync->stats();
  EXPECT_EQ(s.node_records, 1u);
  EXPECT_EQ(s.endpoint_records, 1u);
  EXPECT_EQ(s.remote_nodes, 1u);
  EXPECT_EQ(s.remote_endpoints, 1u);
  EXPECT_NE(s.lease, 0);
  // The record is under the lease.
  auto kv = admin_->get(endpoint_key("t", ip("10.244.1.5")));
  ASSERT_TRUE(kv && *kv);
  EXPECT_EQ((*kv)->lease, s.lease);
}

TEST_F(ClusterSyncTest, EndpointsFollowChanges) {
  Agent a(etcd_->url(), "node-a", "192.168.60.2", "10.244.1.0/24");
  Agent b(etcd_->url(), "node-b", "192.168.60.3", "10.244.2.0/24");
  a.sync->start();
  b.sync->start();
  ASSERT_TRUE(eventually([&] { return b.sees_node("node-a") && a.healthy(); }));
  EXPECT_FALSE(b.sees_endpoint("10.244.1.9"));
  // Added, then its identity changed (a label change), then removed: B follows each.
  const auto t0 = std::chrono::steady_clock::now();
  a.add("10.244.1.9", 400, "x", "c");
  ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.9", 400); }));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("new endpoint on A seen by B after %lld ms\n", static_cast<long long>(ms));
  {
    std::lock_guard lk(a.mu);
    a.eps[0].identity = 401;
  }
  a.sync->endpoints_changed();
  ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.9", 401); }));
  a.remove("10.244.1.9");
  ASSERT_TRUE(eventually([&] { return !b.sees_endpoint("10.244.1.9"); }));
  auto kv = admin_->get(endpoint_key("t", ip("10.244.1.9")));
  ASSERT_TRUE(kv);
  EXPECT_FALSE(*kv) << "the record stays in etcd";
  EXPECT_TRUE(b.sees_node("node-a"));
}

TEST_F(ClusterSyncTest, LeaseExpiryRemovesAStoppedNode) {
  Agent b(etcd_->url(), "node-b", "192.168.60.3", "10.244.2.0/24");
  b.sync->start();
  {
    Agent a(etcd_->url(), "node-a", "192.168.60.2", "10.244.1.0/24", 3s);
    a.add("10.244.1.5", 300, "x", "a");
    a.sync->start();
    ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.5") && b.sees_node("node-a"); }));
    // A keeps its lease alive past the TTL: still there.
    std::this_thread::sleep_for(4s);
    EXPECT_TRUE(b.sees_endpoint("10.244.1.5"));
    EXPECT_TRUE(b.sees_node("node-a"));
  }  // A gone (as kill -9: nothing revoked, nothing deleted)
  EXPECT_TRUE(b.sees_endpoint("10.244.1.5")) << "removed before the lease expired";
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return !b.sees_endpoint("10.244.1.5") && !b.sees_node("node-a"); }, 15s));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("node-a (TTL 3 s) gone from B %lld ms after its agent stopped\n", static_cast<long long>(ms));
  EXPECT_TRUE(b.sees_node("node-b"));
}

TEST_F(ClusterSyncTest, RestartDeletesWhatWentWhileDown) {
  Agent b(etcd_->url(), "node-b", "192.168.60.3", "10.244.2.0/24");
  b.sync->start();
  {
    Agent a(etcd_->url(), "node-a", "192.168.60.2", "10.244.1.0/24", 60s);
    a.add("10.244.1.5", 300, "x", "a");
    a.add("10.244.1.6", 300, "x", "b");
    a.sync->start();
    ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.5") && b.sees_endpoint("10.244.1.6"); }));
  }
  // Restarted without pod b (removed while the agent was down): its record
  // goes now, not after the old lease's 60 s; pod a stays throughout.
  Agent a2(etcd_->url(), "node-a", "192.168.60.2", "10.244.1.0/24", 60s);
  a2.add("10.244.1.5", 300, "x", "a");
  a2.sync->start();
  ASSERT_TRUE(eventually([&] { return !b.sees_endpoint("10.244.1.6"); }, 10s));
  EXPECT_TRUE(b.sees_endpoint("10.244.1.5"));
  ASSERT_TRUE(eventually([&] { return a2.healthy(); }));
  auto kv = admin_->get(endpoint_key("t", ip("10.244.1.5")));
  ASSERT_TRUE(kv && *kv);
  EXPECT_EQ((*kv)->lease, a2.sync->stats().lease) << "written again under the new lease";
}

TEST_F(ClusterSyncTest, LostLeaseWritesEverythingAgain) {
  Agent a(etcd_->url(), "node-a", "192.168.60.2", "10.244.1.0/24", 3s);
  Agent b(etcd_->url(), "node-b", "192.168.60.3", "10.244.2.0/24");
  a.add("10.244.1.5", 300, "x", "a");
  a.sync->start();
  b.sync->start();
  ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.5") && a.healthy(); }));
  const int64_t first = a.sync->stats().lease;
  // The lease revoked behind A's back (as it expires in a partition): its
  // records go; A gets a new lease and writes them again.
  ASSERT_TRUE(admin_->revoke(first));
  ASSERT_TRUE(eventually([&] {
    auto s = a.sync->stats();
    return s.lease != first && s.lease != 0 && s.published;
  }));
  ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.5") && b.sees_node("node-a"); }));
  auto kv = admin_->get(node_key("t", "node-a"));
  ASSERT_TRUE(kv && *kv);
  EXPECT_EQ((*kv)->lease, a.sync->stats().lease);
  EXPECT_GE(a.sync->stats().leases, 2u);
}

TEST_F(ClusterSyncTest, SharedSessionsNewLeaseWritesEverythingAgain) {
  Agent a(etcd_->url(), "node-a", "192.168.60.2", "10.244.1.0/24", 3s, true);
  Agent b(etcd_->url(), "node-b", "192.168.60.3", "10.244.2.0/24");
  a.add("10.244.1.5", 300, "x", "a");
  a.sync->start();
  b.sync->start();
  ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.5") && a.healthy(); }));
  const int64_t first = a.session->lease();
  EXPECT_EQ(a.sync->stats().lease, first) << "not the shared session's lease";
  ASSERT_TRUE(admin_->revoke(first));
  ASSERT_TRUE(eventually([&] {
    auto s = a.sync->stats();
    return a.session->lease() != first && s.lease == a.session->lease() && s.published;
  }));
  ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.5") && b.sees_node("node-a"); }));
  auto kv = admin_->get(endpoint_key("t", ip("10.244.1.5")));
  ASSERT_TRUE(kv && *kv);
  EXPECT_EQ((*kv)->lease, a.session->lease());
}

TEST_F(ClusterSyncTest, EtcdRestartDegradesThenConverges) {
  Agent a(etcd_->url(), "node-a", "192.168.60.2", "10.244.1.0/24");
  Agent b(etcd_->url(), "node-b", "192.168.60.3", "10.244.2.0/24");
  a.add("10.244.1.5", 300, "x", "a");
  a.sync->start();
  b.sync->start();
  ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.5") && b.sees_node("node-a") && a.healthy() && b.healthy(); }));

  etcd_->kill9();
  // Degraded, saying why; the cluster view stays as it was.
  ASSERT_TRUE(eventually([&] { return !a.healthy(); }, 15s));
  const std::string why = degraded_reason(a.sync->stats());
  std::printf("degraded: %s\n", why.c_str());
  EXPECT_NE(why.find(etcd_->url()), std::string::npos) << why;
  EXPECT_NE(why.find("keeps the cluster state"), std::string::npos) << why;
  a.add("10.244.1.6", 302, "x", "d");  // a pod started while the store is away
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(b.sees_endpoint("10.244.1.5")) << "B dropped its view when the store went";
  EXPECT_TRUE(b.sees_node("node-a"));

  ASSERT_TRUE(etcd_->start());
  ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.6", 302); }, 30s)) << degraded_reason(a.sync->stats());
  EXPECT_TRUE(b.sees_endpoint("10.244.1.5"));
  ASSERT_TRUE(eventually([&] { return a.healthy() && b.healthy(); }, 20s)) << degraded_reason(a.sync->stats());
  EXPECT_GT(a.sync->stats().write_errors + a.sync->stats().session_errors, 0u);
}

TEST_F(ClusterSyncTest, StoreAbsentAtStartThenArrives) {
  admin_.reset();
  etcd_->kill9();
  Agent a(etcd_->url(), "node-a", "192.168.60.2", "10.244.1.0/24");
  Agent b(etcd_->url(), "node-b", "192.168.60.3", "10.244.2.0/24");
  a.add("10.244.1.5", 300, "x", "a");
  a.sync->start();  // no error, no wait
  b.sync->start();
  std::this_thread::sleep_for(1s);
  EXPECT_FALSE(a.healthy());
  EXPECT_FALSE(b.state.snapshot()->synced.count(cluster::Source::etcd)) << "synced without a list";
  EXPECT_FALSE(b.sees_endpoint("10.244.1.5"));
  ASSERT_TRUE(etcd_->start(false));  // not waiting for it: the agents find it themselves
  ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.5"); }, 30s)) << degraded_reason(a.sync->stats());
  ASSERT_TRUE(eventually([&] { return a.healthy() && b.healthy(); }, 20s)) << degraded_reason(b.sync->stats());
  EXPECT_TRUE(b.state.snapshot()->synced.at(cluster::Source::etcd));
}

TEST_F(ClusterSyncTest, UndecodableRecordsAreRefusedBesideGoodOnes) {
  ASSERT_TRUE(admin_->put(endpoint_key("t", ip("10.244.3.1")), R"({"ip":"10.244.3.1","identity":99999999,"node":"node-c"})"));
  ASSERT_TRUE(admin_->put(node_key("t", "node-d"), "not json"));
  Agent a(etcd_->url(), "node-a", "192.168.60.2", "10.244.1.0/24");
  Agent b(etcd_->url(), "node-b", "192.168.60.3", "10.244.2.0/24");
  a.add("10.244.1.5", 300, "x", "a");
  a.sync->start();
  b.sync->start();
  ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.1.5"); }));  // the good one
  EXPECT_FALSE(b.sees_endpoint("10.244.3.1"));
  EXPECT_FALSE(b.sees_node("node-d"));
  auto refused = [&] {
    std::string all;
    for (const auto& r : b.sync->stats().refused) all += r + "\n";
    return all;
  };
  EXPECT_NE(refused().find("endpoints/10.244.3.1: identity"), std::string::npos) << refused();
  EXPECT_NE(refused().find("nodes/node-d: not a JSON object"), std::string::npos) << refused();
  // Fixed in the store: accepted, no longer refused (a watch event, not a relist).
  ASSERT_TRUE(admin_->put(endpoint_key("t", ip("10.244.3.1")), R"({"ip":"10.244.3.1","identity":500,"node":"node-c"})"));
  ASSERT_TRUE(eventually([&] { return b.sees_endpoint("10.244.3.1", 500); }));
  EXPECT_EQ(refused().find("10.244.3.1"), std::string::npos) << refused();
  EXPECT_GE(b.sync->stats().decode_errors, 2u);
}

TEST_F(ClusterSyncTest, ThreeNodesEachSeeTheOthers) {
  Agent a(etcd_->url(), "node-a", "192.168.60.2", "10.244.1.0/24");
  Agent b(etcd_->url(), "node-b", "192.168.60.3", "10.244.2.0/24");
  Agent c(etcd_->url(), "node-c", "192.168.60.4", "10.244.3.0/24");
  for (int i = 0; i < 20; ++i) {
    a.add(("10.244.1." + std::to_string(10 + i)).c_str(), 300 + i % 3, "x", ("a" + std::to_string(i)).c_str());
    b.add(("10.244.2." + std::to_string(10 + i)).c_str(), 300 + i % 3, "y", ("b" + std::to_string(i)).c_str());
    c.add(("10.244.3." + std::to_string(10 + i)).c_str(), 300 + i % 3, "z", ("c" + std::to_string(i)).c_str());
  }
  a.sync->start();
  b.sync->start();
  c.sync->start();
  auto count = [](const Agent& x) { return x.state.snapshot()->endpoints.size(); };
  ASSERT_TRUE(eventually([&] { return count(a) == 40 && count(b) == 40 && count(c) == 40; }, 20s))
      << count(a) << " " << count(b) << " " << count(c);
  // Nodes and endpoints come on two watch streams: no order between them.
  auto nodes = [](const Agent& x) { return x.state.snapshot()->nodes.size(); };
  ASSERT_TRUE(eventually([&] { return nodes(a) == 3 && nodes(b) == 3 && nodes(c) == 3; })) << nodes(a) << " " << nodes(b) << " " << nodes(c);
}

}  // namespace
}  // namespace myelin::kvstore
