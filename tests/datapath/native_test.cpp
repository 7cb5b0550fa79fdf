// SPDX-License-Identifier: Apache-2.0
// Native routing without the node's stack (datapath/lib/native.h) on crafted
// packets (BPF_PROG_TEST_RUN), run inside a network namespace of the test's
// own whose FIB the programs consult (an underlay veth, a route per other
// node's pod CIDR, a permanent neighbour): from_container sends a pod's
// packet for another node's pod out of the FIB's device (TTL - 1, a valid
// header checksum, the neighbour's MAC) and leaves everything else to the
// stack (the world, a node address, no neighbour, no route, TTL 1, routing
// mode not native); host.bpf.c's from_netdev lets another node's pod's packet
// into a pod of this node after conntrack and ingress policy, and the pod's
// reply leaves by the fast path, while a connection that came through the
// stack keeps its replies in the stack.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "fixture.hpp"
#include "myelin/datapath/host_datapath.hpp"
#include "myelin/netlink.hpp"

namespace myelin::test {
namespace {

constexpr uint32_t OK = 0, SHOT = 2, REDIRECT = 7;
constexpr uint32_t kIdRemote = 3001;
constexpr const char* kNodeB = "192.168.50.2";   // the other node: route via it, neighbour known
constexpr const char* kNodeC = "192.168.50.3";   // a node without a neighbour entry
constexpr const char* kRemotePod = "10.1.0.5";   // node B's pod with a /32
constexpr const char* kRemoteNew = "10.1.0.77";  // in node B's pod CIDR, no /32 yet
constexpr const char* kPodOfC = "10.2.0.9";      // node C's pod
constexpr const char* kUnrouted = "10.3.0.9";    // a node's pod the FIB has no route for
constexpr const char* kWorld = "203.0.113.9";
const Mac kNeighMac{0x02, 0x50, 0, 0, 0, 0x02};

uint16_t ip_csum(const uint8_t* ip) {
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += (ip[i] << 8) | ip[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

class NativeTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ns_ = "mln-native-" + std::to_string(getpid());
    const std::string n = "ip -n " + ns_ + " ";
    for (const std::string& c : {"ip netns add " + ns_, n + "link set lo up", n + "link add ul0 type veth peer name ul1",
                                 n + "link set ul1 up", n + "link set ul0 up", n + "addr add 192.168.50.1/24 dev ul0",
                                 n + "route add 10.1.0.0/24 via " + kNodeB, n + "route add 10.2.0.0/24 via " + kNodeC,
                                 n + "neigh replace " + kNodeB + " lladdr 02:50:00:00:00:02 dev ul0 nud permanent",
                                 "ip netns exec " + ns_ + " sysctl -qw net.ipv4.ip_forward=1"})
      ASSERT_EQ(std::system(c.c_str()), 0) << c;
    auto g = netlink::NetnsGuard::enter("/var/run/netns/" + ns_);
    ASSERT_TRUE(g) << g.error().message;
    guard_.emplace(std::move(*g));
    auto h = datapath::HostDatapath::load(*dp_, {});
    ASSERT_TRUE(h) << h.error().message;
    host_ = std::move(*h);
    two_pods();
    mode(MYELIN_ROUTING_NATIVE);
    ipcache(kRemotePod, 32, kIdRemote, kNodeB, MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE);
    ipcache("10.1.0.0", 24, MYELIN_IDENTITY_WORLD, kNodeB,
            MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE | MYELIN_IPCACHE_F_POD_CIDR);
    ipcache(kNodeB, 32, MYELIN_IDENTITY_REMOTE_NODE, nullptr, MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE);
    ipcache("10.2.0.0", 24, MYELIN_IDENTITY_WORLD, kNodeC,
            MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE | MYELIN_IPCACHE_F_POD_CIDR);
    ipcache("10.3.0.0", 24, MYELIN_IDENTITY_WORLD, "192.168.60.1",
            MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE | MYELIN_IPCACHE_F_POD_CIDR);
  }
  void TearDown() override {
    host_.reset();
    guard_.reset();
    if (!ns_.empty()) (void)std::system(("ip netns del " + ns_ + " 2>/dev/null").c_str());
    DatapathTest::TearDown();
  }

  void mode(uint32_t routing) {
    myelin_node_config c{};
    c.routing_mode = routing;
    c.node_ip = ip4("192.168.50.1");
    ASSERT_TRUE(dp_->set_node_config(c));
  }
  void ipcache(const char* addr, uint8_t prefix, uint32_t identity, const char* endpoint, uint32_t flags) {
    myelin_ipcache_key k{};
    k.prefixlen = 32 + prefix;
    k.family = MYELIN_FAMILY_IPV4;
    k.addr.w[0] = ip4(addr);
    myelin_ipcache_val v{};
    v.identity = identity;
    v.tunnel_endpoint = endpoint ? ip4(endpoint) : 0;
    v.flags = flags;
    ASSERT_TRUE(dp_->ipcache_upsert(k, v));
  }
  void enforce_ingress(const char* ip) {
    myelin_ep_key k{};
    k.addr.w[0] = ip4(ip);
    k.family = MYELIN_FAMILY_IPV4;
    auto v = dp_->endpoint_get(k);
    ASSERT_TRUE(v);
    v->flags |= MYELIN_EP_F_INGRESS_ENFORCED;
    ASSERT_TRUE(dp_->endpoint_upsert(k, *v));
  }
  // A TCP packet with a valid IPv4 header checksum.
  static Bytes tcp(const char* s, const char* d, uint16_t sport, uint16_t dport, uint8_t flags = MYELIN_TCP_SYN, uint8_t ttl = 64) {
    Packet p;
    p.saddr = ip4(s);
    p.daddr = ip4(d);
    p.sport = sport;
    p.dport = dport;
    p.tcp_flags = flags;
    p.ttl = ttl;
    Bytes b = p.build();
    b[24] = b[25] = 0;
    uint16_t c = ip_csum(&b[14]);
    b[24] = c >> 8, b[25] = c & 0xff;
    return b;
  }
  RunResult in(const Bytes& pkt) { return run(host_->from_netdev_fd(), pkt); }
  uint8_t last_obs() {
    auto& ev = drain_events();
    uint8_t o = ev.empty() ? 0 : ev.back().obs_point;
    ev.clear();
    return o;
  }
  // The packet forwarded as the stack would have: TTL - 1, checksum valid.
  static void forwarded(const RunResult& r, uint8_t ttl_in) {
    ASSERT_GE(r.out.size(), 34u);
    EXPECT_EQ(r.out[14 + 8], ttl_in - 1) << "TTL decremented";
    EXPECT_EQ(ip_csum(&r.out[14]), 0) << "header checksum valid after the TTL change";
  }

  std::string ns_;
  std::optional<netlink::NetnsGuard> guard_;
  std::unique_ptr<datapath::HostDatapath> host_;
};

// from_container: which pod packets leave by the FIB, and which by the stack.
TEST_F(NativeTest, FromContainerForwardsByTheFib) {
  struct {
    const char* name;
    const char* dst;
    uint32_t routing;
    uint8_t ttl;
    uint32_t retval;
    uint8_t obs;
  } cases[] = {
      {"another node's pod (/32): out of ul0 to its node's MAC", kRemotePod, MYELIN_ROUTING_NATIVE, 64, REDIRECT, MYELIN_OBS_TO_NETWORK},
      {"an address of its pod CIDR without a /32: the same", kRemoteNew, MYELIN_ROUTING_NATIVE, 64, REDIRECT, MYELIN_OBS_TO_NETWORK},
      {"a local pod: delivered as before", "10.0.0.2", MYELIN_ROUTING_NATIVE, 64, REDIRECT, MYELIN_OBS_TO_ENDPOINT},
      {"another node's own address: the stack", kNodeB, MYELIN_ROUTING_NATIVE, 64, OK, MYELIN_OBS_TO_STACK},
      {"the world: the stack (masquerade on the device's egress)", kWorld, MYELIN_ROUTING_NATIVE, 64, OK, MYELIN_OBS_TO_STACK},
      {"TTL 1: the stack (time exceeded)", kRemotePod, MYELIN_ROUTING_NATIVE, 1, OK, MYELIN_OBS_TO_STACK},
      {"no neighbour entry for its node yet: the stack resolves it", kPodOfC, MYELIN_ROUTING_NATIVE, 64, OK, MYELIN_OBS_TO_STACK},
      {"no route to its node: the stack (unreachable)", kUnrouted, MYELIN_ROUTING_NATIVE, 64, OK, MYELIN_OBS_TO_STACK},
      {"routing mode none: the stack", kRemotePod, MYELIN_ROUTING_NONE, 64, OK, MYELIN_OBS_TO_STACK},
  };
  uint16_t sport = 41000;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    mode(c.routing);
    drain_events().clear();
    auto r = from_container(tcp("10.0.0.1", c.dst, sport++, 80, MYELIN_TCP_SYN, c.ttl));
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, c.retval);
    EXPECT_EQ(last_obs(), c.obs);
    if (c.obs == MYELIN_OBS_TO_NETWORK) {
      forwarded(r, c.ttl);
      EXPECT_TRUE(std::equal(kNeighMac.begin(), kNeighMac.end(), r.out.begin())) << "destination MAC: the FIB's neighbour";
    } else if (c.retval == OK) {
      EXPECT_EQ(r.out[14 + 8], c.ttl) << "the stack's packet untouched";
    }
  }
}

// from_netdev: another node's pod into a pod of this node, with its ingress
// policy; the reply out by the FIB; the rest to the stack untouched.
TEST_F(NativeTest, FromNetdevDeliversToLocalPods) {
  enforce_ingress("10.0.0.2");
  auto denied = in(tcp(kRemotePod, "10.0.0.2", 43000, 80));
  ASSERT_EQ(denied.err, 0);
  EXPECT_EQ(denied.retval, SHOT) << "no rule allows the remote pod: dropped before the pod";
  EXPECT_EQ(counter(MYELIN_DROP_POLICY_DENIED, MYELIN_DIR_INGRESS), 1u);
  drain_events().clear();
  // Control: allowed by the remote pod's identity.
  ASSERT_TRUE(dp_->policy_upsert(false, datapath::policy_key(12, MYELIN_DIR_INGRESS, 6, kIdRemote, 80, 16), myelin_policy_val{77, 0}));
  auto r = in(tcp(kRemotePod, "10.0.0.2", 43001, 80));
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.retval, REDIRECT) << "into the pod";
  EXPECT_EQ(last_obs(), MYELIN_OBS_TO_ENDPOINT);
  forwarded(r, 64);
  EXPECT_TRUE(std::equal(kPodMacB.begin(), kPodMacB.end(), r.out.begin())) << "to the pod's MAC";
  // Its reply: tracked as a reply, out by the FIB (the stack translated nothing).
  auto reply = from_container(tcp("10.0.0.2", kRemotePod, 80, 43001, MYELIN_TCP_SYN | MYELIN_TCP_ACK));
  EXPECT_EQ(reply.retval, REDIRECT);
  EXPECT_EQ(last_obs(), MYELIN_OBS_TO_NETWORK);

  // A connection that came in through the stack (to_container: VIA_STACK)
  // keeps its replies in the stack.
  mode(MYELIN_ROUTING_NONE);
  EXPECT_EQ(to_container(tcp(kRemotePod, "10.0.0.2", 43002, 80)).retval, OK);
  mode(MYELIN_ROUTING_NATIVE);
  drain_events().clear();
  EXPECT_EQ(from_container(tcp("10.0.0.2", kRemotePod, 80, 43002, MYELIN_TCP_SYN | MYELIN_TCP_ACK)).retval, OK);
  EXPECT_EQ(last_obs(), MYELIN_OBS_TO_STACK);

  struct {
    const char* name;
    const char* src;
    const char* dst;
    uint32_t routing;
    uint8_t ttl;
  } stack[] = {
      {"from the world: the stack", kWorld, "10.0.0.2", MYELIN_ROUTING_NATIVE, 64},
      {"from another node itself: the stack", kNodeB, "10.0.0.2", MYELIN_ROUTING_NATIVE, 64},
      {"for no pod of this node: the stack", kRemotePod, "10.0.0.9", MYELIN_ROUTING_NATIVE, 64},
      {"TTL 1: the stack", kRemotePod, "10.0.0.2", MYELIN_ROUTING_NATIVE, 1},
      {"routing mode none: the stack", kRemotePod, "10.0.0.2", MYELIN_ROUTING_NONE, 64},
      {"tunnel mode (from_overlay's job): the stack", kRemotePod, "10.0.0.2", MYELIN_ROUTING_TUNNEL, 64},
  };
  uint16_t sport = 44000;
  for (const auto& c : stack) {
    SCOPED_TRACE(c.name);
    mode(c.routing);
    auto s = in(tcp(c.src, c.dst, sport++, 80, MYELIN_TCP_SYN, c.ttl));
    ASSERT_EQ(s.err, 0);
    EXPECT_EQ(s.retval, OK);
    EXPECT_EQ(s.out[14 + 8], c.ttl) << "untouched";
  }
}

}  // namespace
}  // namespace myelin::test
