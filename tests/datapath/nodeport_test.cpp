// SPDX-License-Identifier: Apache-2.0
// host.bpf.c's from_netdev on crafted packets (BPF_PROG_TEST_RUN), loaded
// over the pod datapath's maps as the agent loads it: what it leaves to the
// node's stack untouched, what it translates (addresses, ports, checksums,
// MACs, conntrack's two entries), what it drops and why; and the way back:
// from_container translating a backend's reply to the frontend again.
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>

#include "checksum.hpp"
#include "host_fixture.hpp"
#include "myelin/abi/lb.h"

namespace myelin::test {
namespace {

constexpr uint32_t OK = 0, SHOT = 2, REDIRECT = 7;
constexpr const char* kWorld = "203.0.113.1";
constexpr const char* kNode = "203.0.113.2";

class NodePortTest : public HostDatapathTest {
 protected:
  void SetUp() override {
    HostDatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;  // two_pods(): the backends, A 10.0.0.1, B 10.0.0.2
    config(MYELIN_LB_CFG_F_ENABLED);
    lb_backend(1, "10.0.0.1", 8080, 6, MYELIN_LB_BE_F_ACTIVE | MYELIN_LB_BE_F_LOCAL);
    lb_backend(2, "10.0.0.2", 8080, 6, MYELIN_LB_BE_F_ACTIVE | MYELIN_LB_BE_F_LOCAL);
    lb_backend(3, "10.0.0.2", 8081, 17, MYELIN_LB_BE_F_ACTIVE | MYELIN_LB_BE_F_LOCAL);
    lb_backend(4, "10.9.0.7", 8080, 6, MYELIN_LB_BE_F_ACTIVE);  // another node's pod
    lb_frontend(kNode, 30080, 6, {2}, MYELIN_LB_F_NODE_PORT, 1);
    lb_frontend(kNode, 30081, 6, {}, MYELIN_LB_F_NODE_PORT | MYELIN_LB_F_TWO_SCOPES, 2);  // eTP Local, none here
    lb_frontend(kNode, 30090, 17, {3}, MYELIN_LB_F_NODE_PORT, 3);
    lb_frontend(kNode, 32000, 6, {2}, MYELIN_LB_F_NODE_PORT, 4);  // outside the range below
    lb_frontend("198.51.100.20", 80, 6, {2}, MYELIN_LB_F_EXTERNAL_IP, 5);  // not this node's
    lb_frontend(kNode, 30082, 6, {4}, MYELIN_LB_F_NODE_PORT, 6);
    lb_frontend(kNode, 30083, 6, {2}, MYELIN_LB_F_CLUSTER_IP, 7);  // a ClusterIP-only entry: not served from outside
  }

  void config(uint32_t flags) {
    myelin_lb_config c{};
    c.flags = flags;
    c.node_port_min = 30000;
    c.node_port_max = 30999;
    uint32_t zero = 0;
    ASSERT_EQ(bpf_map_update_elem(dp_->map_fd(MYELIN_MAP_LB_CONFIG), &zero, &c, BPF_ANY), 0);
  }
  static Bytes from_world(const char* dst, uint16_t dport, uint8_t proto = 6, uint8_t flags = 0x02) {
    Packet p;
    p.saddr = ip4(kWorld);
    p.daddr = ip4(dst);
    p.dport = dport;
    p.proto = proto;
    p.tcp_flags = flags;
    p.payload = 5;
    Bytes b = p.build();
    fill_checksums(b);
    return b;
  }
  RunResult from_netdev(const Bytes& pkt) { return run(host_->from_netdev_fd(), pkt); }
  void expect_drop(const Bytes& pkt, uint8_t reason) {
    uint64_t before = counter(reason, MYELIN_DIR_INGRESS);
    auto r = from_netdev(pkt);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, SHOT);
    EXPECT_EQ(counter(reason, MYELIN_DIR_INGRESS), before + 1) << "drop reason " << int(reason) << " counted";
    auto& ev = drain_events();
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.back().drop_reason, reason);
  }

};

// What is not a frontend facing outside goes to the node's stack as it came.
TEST_F(NodePortTest, LeavesTheRestUntouched) {
  struct {
    const char* name;
    Bytes pkt;
  } cases[] = {
      {"ARP", arp_request(kPodMacA, ip4(kWorld), ip4(kNode))},
      {"IPv6", [] { Packet p; p.eth_proto = 0x86dd; return p.build(); }()},
      {"malformed IPv4 (the stack judges it)", [] { Packet p; p.ihl = 3; return p.build(); }()},
      {"TCP to a node port that is no frontend", from_world(kNode, 22)},
      {"ICMP to the node", [] { Packet p; p.saddr = ip4(kWorld); p.daddr = ip4(kNode); p.proto = 1; return p.build(); }()},
      {"a NodePort outside --node-port-range", from_world(kNode, 32000)},
      {"an externalIP that is not this node's (CVE-2020-8554)", from_world("198.51.100.20", 80)},
      {"a ClusterIP from outside", from_world(kNode, 30083)},
      {"to a pod directly", from_world("10.0.0.2", 8080)},
  };
  for (const auto& c : cases) {
    auto r = from_netdev(c.pkt);
    ASSERT_EQ(r.err, 0) << c.name;
    EXPECT_EQ(r.retval, OK) << c.name;
    EXPECT_EQ(r.out, c.pkt) << c.name << ": not one byte changed";
  }
  EXPECT_EQ(dp_->ct_count(), 0u) << "nothing tracked for what is not ours";
}

TEST_F(NodePortTest, ServicesOffTranslateNothing) {
  config(0);
  Bytes pkt = from_world(kNode, 30080);
  auto r = from_netdev(pkt);
  EXPECT_EQ(r.retval, OK);
  EXPECT_EQ(r.out, pkt);
}

TEST_F(NodePortTest, NodePortIsTranslatedToTheLocalBackend) {
  Bytes in = from_world(kNode, 30080);
  ASSERT_TRUE(checksums_ok(in)) << "the test's own checksums";
  Bytes bad = in;
  bad[14 + 20 + 4] ^= 1;
  ASSERT_FALSE(checksums_ok(bad)) << "and the check sees a flipped bit";
  auto r = from_netdev(in);
  ASSERT_EQ(r.err, 0);
  ASSERT_EQ(r.retval, REDIRECT);
  EXPECT_EQ(addr_at(r.out, 14 + 12), ip4(kWorld)) << "the client's address is kept";
  EXPECT_EQ(addr_at(r.out, 14 + 16), ip4("10.0.0.2")) << "DNAT to backend B";
  EXPECT_EQ(port_at(r.out, 14 + 20 + 2), 8080);
  EXPECT_TRUE(checksums_ok(r.out)) << "IP and TCP checksums updated";
  EXPECT_EQ(0, std::memcmp(&r.out[0], kPodMacB.data(), 6));
  EXPECT_EQ(0, std::memcmp(&r.out[6], kNodeMacB.data(), 6));
  auto svc = ct(kWorld, kNode, 40000, 30080, 6, MYELIN_CT_KIND_SERVICE);
  ASSERT_TRUE(svc) << "SERVICE entry client -> frontend";
  EXPECT_EQ(svc->backend_id, 2u);
  EXPECT_EQ(svc->rev_nat_index, 1);
  EXPECT_TRUE(svc->flags & MYELIN_CT_F_NODE_PORT);
  auto conn = ct(kWorld, "10.0.0.2", 40000, 8080, 6, MYELIN_CT_KIND_CONNECTION);
  ASSERT_TRUE(conn) << "CONNECTION entry client -> backend";
  EXPECT_EQ(conn->rev_nat_index, 1);
  EXPECT_TRUE(conn->flags & MYELIN_CT_F_NODE_PORT);
  EXPECT_EQ(conn->state, MYELIN_CT_SYN_SENT);
  auto& ev = drain_events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().obs_point, MYELIN_OBS_TO_ENDPOINT);
  EXPECT_EQ(ev.back().dst_ep, 12u);
}

TEST_F(NodePortTest, AnEstablishedConnectionKeepsItsBackend) {
  ASSERT_EQ(from_netdev(from_world(kNode, 30080)).retval, REDIRECT);
  lb_backend(5, "10.0.0.1", 8080, 6, MYELIN_LB_BE_F_ACTIVE | MYELIN_LB_BE_F_LOCAL);
  lb_frontend(kNode, 30080, 6, {5}, MYELIN_LB_F_NODE_PORT, 1);  // B is no longer listed
  auto r = from_netdev(from_world(kNode, 30080, 6, 0x10));
  ASSERT_EQ(r.retval, REDIRECT);
  EXPECT_EQ(addr_at(r.out, 14 + 16), ip4("10.0.0.2")) << "the connection stays on B";
  // B removed: the next packet picks again.
  uint32_t id = 2;
  ASSERT_EQ(bpf_map_delete_elem(dp_->map_fd(MYELIN_MAP_LB_BACKEND), &id), 0);
  r = from_netdev(from_world(kNode, 30080, 6, 0x10));
  ASSERT_EQ(r.retval, REDIRECT);
  EXPECT_EQ(addr_at(r.out, 14 + 16), ip4("10.0.0.1"));
  EXPECT_EQ(ct(kWorld, kNode, 40000, 30080, 6, MYELIN_CT_KIND_SERVICE)->backend_id, 5u);
}

TEST_F(NodePortTest, ClientIPAffinityHoldsAcrossConnections) {
  lb_frontend(kNode, 30084, 6, {1, 2}, MYELIN_LB_F_NODE_PORT | MYELIN_LB_F_AFFINITY, 8);
  myelin_lb_svc_key k{};
  k.addr.w[0] = ip4(kNode);
  k.dport = htons(30084);
  k.proto = 6;
  k.family = MYELIN_FAMILY_IPV4;
  myelin_lb_svc_val v{};
  ASSERT_EQ(bpf_map_lookup_elem(dp_->map_fd(MYELIN_MAP_LB_SVC), &k, &v), 0);
  v.affinity_timeout = 10800;
  ASSERT_EQ(bpf_map_update_elem(dp_->map_fd(MYELIN_MAP_LB_SVC), &k, &v, BPF_ANY), 0);
  std::set<uint32_t> seen;
  for (uint16_t port = 41000; port < 41016; ++port) {
    Bytes pkt = from_world(kNode, 30084);
    reinterpret_cast<uint16_t&>(pkt[14 + 20]) = htons(port);
    fill_checksums(pkt);
    auto r = from_netdev(pkt);
    ASSERT_EQ(r.retval, REDIRECT);
    seen.insert(addr_at(r.out, 14 + 16));
  }
  EXPECT_EQ(seen.size(), 1u) << "16 connections of one client, one backend";
}

TEST_F(NodePortTest, UdpChecksumsAndNoChecksum) {
  auto r = from_netdev(from_world(kNode, 30090, 17));
  ASSERT_EQ(r.retval, REDIRECT);
  EXPECT_EQ(addr_at(r.out, 14 + 16), ip4("10.0.0.2"));
  EXPECT_EQ(port_at(r.out, 14 + 20 + 2), 8081);
  EXPECT_TRUE(checksums_ok(r.out));
  EXPECT_NE(port_at(r.out, 14 + 20 + 6), 0) << "a UDP checksum stays a checksum";
  Bytes none = from_world(kNode, 30090, 17);
  none[14 + 20 + 6] = none[14 + 20 + 7] = 0;  // "no checksum"
  reinterpret_cast<uint16_t&>(none[14 + 20]) = htons(40001);
  r = from_netdev(none);
  ASSERT_EQ(r.retval, REDIRECT);
  EXPECT_EQ(port_at(r.out, 14 + 20 + 6), 0) << "no checksum stays none";
  EXPECT_TRUE(checksums_ok(r.out));
}

TEST_F(NodePortTest, Drops) {
  expect_drop(from_world(kNode, 30081), MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND);  // eTP Local, no local backend
  expect_drop(from_world(kNode, 30082), MYELIN_DROP_NO_MATCHING_LOCAL_CONTAINER_FOUND);  // another node's backend: no SNAT yet
  Packet frag;
  frag.saddr = ip4(kWorld);
  frag.daddr = ip4(kNode);
  frag.dport = 30080;
  frag.frag_off = 0x2000;  // MF: a first fragment
  expect_drop(frag.build(), MYELIN_DROP_IP_FRAGMENTATION_NOT_SUPPORTED);
  EXPECT_FALSE(ct(kWorld, kNode, 40000, 30081, 6, MYELIN_CT_KIND_SERVICE)) << "a dropped packet leaves no entry";
}

TEST_F(NodePortTest, TheBackendsIngressPolicyOnItsOwnPort) {
  myelin_ep_key k{};
  k.addr.w[0] = ip4("10.0.0.2");
  k.family = MYELIN_FAMILY_IPV4;
  auto ep = dp_->endpoint_get(k);
  ASSERT_TRUE(ep);
  ep->flags |= MYELIN_EP_F_INGRESS_ENFORCED;
  ASSERT_TRUE(dp_->endpoint_upsert(k, *ep));
  // An allow on the NodePort's port is not an allow on the backend's.
  ASSERT_TRUE(dp_->policy_upsert(false, datapath::policy_key(12, MYELIN_DIR_INGRESS, 6, MYELIN_IDENTITY_WORLD, 30080, 16), {7, 0}));
  expect_drop(from_world(kNode, 30080), MYELIN_DROP_POLICY_DENIED);
  EXPECT_FALSE(ct(kWorld, kNode, 40000, 30080, 6, MYELIN_CT_KIND_SERVICE)) << "denied: no SERVICE entry";
  EXPECT_FALSE(ct(kWorld, "10.0.0.2", 40000, 8080, 6, MYELIN_CT_KIND_CONNECTION)) << "denied: no CONNECTION entry";
  ASSERT_TRUE(dp_->policy_upsert(false, datapath::policy_key(12, MYELIN_DIR_INGRESS, 6, MYELIN_IDENTITY_WORLD, 8080, 16), {8, 0}));
  EXPECT_EQ(from_netdev(from_world(kNode, 30080)).retval, REDIRECT);
}

TEST_F(NodePortTest, TheReplyIsTranslatedBackByFromContainer) {
  ASSERT_EQ(from_netdev(from_world(kNode, 30080)).retval, REDIRECT);
  Packet p;
  p.saddr = ip4("10.0.0.2");
  p.daddr = ip4(kWorld);
  p.sport = 8080;
  p.dport = 40000;
  p.tcp_flags = 0x12;  // SYN-ACK
  p.src_mac = kPodMacB;
  Bytes reply = p.build();
  fill_checksums(reply);
  auto r = from_container(reply);
  ASSERT_EQ(r.err, 0);
  EXPECT_NE(r.retval, SHOT);
  EXPECT_EQ(addr_at(r.out, 14 + 12), ip4(kNode)) << "the source is the frontend again";
  EXPECT_EQ(port_at(r.out, 14 + 20), 30080);
  EXPECT_EQ(addr_at(r.out, 14 + 16), ip4(kWorld));
  EXPECT_TRUE(checksums_ok(r.out));
  EXPECT_EQ(ct(kWorld, "10.0.0.2", 40000, 8080, 6, MYELIN_CT_KIND_CONNECTION)->state, MYELIN_CT_SYN_RECV);
  // The frontend gone from the reverse-NAT map: never answered with the backend's address.
  uint32_t rev = 1;
  ASSERT_EQ(bpf_map_delete_elem(dp_->map_fd(MYELIN_MAP_LB_REVNAT), &rev), 0);
  r = from_container(reply);
  EXPECT_EQ(r.retval, SHOT);
}

// The pod path (lb_nat.h) takes an externalIP for the Service only when it
// is this node's (the ipcache's host identity): CVE-2020-8554.
TEST_F(NodePortTest, PodsReachAnExternalIPThatIsNotTheNodesOwner) {
  Packet p;
  p.daddr = ip4("198.51.100.20");
  p.dport = 80;
  Bytes pkt = p.build();
  fill_checksums(pkt);
  auto r = from_container(pkt);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.retval, OK) << "to the node's stack, towards its owner";
  EXPECT_EQ(addr_at(r.out, 14 + 16), ip4("198.51.100.20")) << "not translated";
  myelin_ipcache_key k{};
  k.prefixlen = 32 + 32;
  k.family = MYELIN_FAMILY_IPV4;
  k.addr.w[0] = ip4("198.51.100.20");
  ASSERT_TRUE(dp_->ipcache_upsert(k, {MYELIN_IDENTITY_HOST, 0}));  // now it is the node's
  p.sport = 40002;
  pkt = p.build();
  fill_checksums(pkt);
  r = from_container(pkt);
  ASSERT_EQ(r.retval, REDIRECT);
  EXPECT_EQ(addr_at(r.out, 14 + 16), ip4("10.0.0.2")) << "served by the Service's backend";
}

// Mutated packets to every frontend: the verdict is one the program
// defines; TC_ACT_OK leaves the packet exactly as it came; what is
// redirected goes to a backend of this node, and a packet whose checksums
// verified still verifies. Seed: MLN_FUZZ_SEED; iterations: MLN_FUZZ_ITERATIONS.
TEST_F(NodePortTest, FuzzInvariants) {
  uint64_t seed = std::getenv("MLN_FUZZ_SEED") ? std::strtoull(std::getenv("MLN_FUZZ_SEED"), nullptr, 10) : std::random_device{}();
  int iterations = std::getenv("MLN_FUZZ_ITERATIONS") ? std::atoi(std::getenv("MLN_FUZZ_ITERATIONS")) : 5000;
  std::mt19937_64 rng(seed);
  SCOPED_TRACE("MLN_FUZZ_SEED=" + std::to_string(seed));
  const std::pair<const char*, uint16_t> fronts[] = {{kNode, 30080}, {kNode, 30081}, {kNode, 30090}, {kNode, 32000},
                                                     {"198.51.100.20", 80}, {kNode, 30082}, {kNode, 30083}, {kNode, 22}};
  int redirected = 0;
  for (int i = 0; i < iterations; ++i) {
    const auto& f = fronts[rng() % std::size(fronts)];
    Bytes pkt = from_world(f.first, f.second, (rng() & 1) ? 6 : 17, static_cast<uint8_t>(rng()));
    reinterpret_cast<uint16_t&>(pkt[14 + 20]) = htons(static_cast<uint16_t>(1024 + rng() % 60000));
    fill_checksums(pkt);
    int flips = static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) pkt[14 + rng() % (pkt.size() - 14)] ^= static_cast<uint8_t>(1u << (rng() % 8));
    if (rng() % 8 == 0) pkt.resize(14 + 20 + rng() % (pkt.size() - 33));
    bool sums = pkt.size() >= 34 && ((pkt[14] & 0x0f) == 5) && checksums_ok_safe(pkt);
    auto r = from_netdev(pkt);
    if (r.err == -EINVAL) continue;  // shorter than the kernel's test harness takes
    ASSERT_EQ(r.err, 0) << "iteration " << i;
    ASSERT_TRUE(r.retval == OK || r.retval == SHOT || r.retval == REDIRECT) << "iteration " << i << ": verdict " << r.retval;
    if (r.retval == OK) {
      ASSERT_EQ(r.out, pkt) << "iteration " << i << ": passed to the stack, but changed";
    }
    if (r.retval == REDIRECT) {
      ++redirected;
      uint32_t d = addr_at(r.out, 14 + 16);
      ASSERT_TRUE(d == ip4("10.0.0.1") || d == ip4("10.0.0.2")) << "iteration " << i << ": redirected to a non-backend";
      if (sums) {
        ASSERT_TRUE(checksums_ok_safe(r.out)) << "iteration " << i << ": checksums broken by the translation";
      }
    }
  }
  EXPECT_GT(redirected, 0) << "the fuzz reached the translation";
  std::cout << iterations << " packets, " << redirected << " translated (seed " << seed << ")\n";
}

}  // namespace
}  // namespace myelin::test
