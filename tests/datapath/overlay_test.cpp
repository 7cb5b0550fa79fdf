// SPDX-License-Identifier: Apache-2.0
// Tunnel mode on crafted packets (BPF_PROG_TEST_RUN): from_container
// encapsulating to another node's pod by the ipcache's tunnel_endpoint (or
// not: local pods, node addresses, the world, routing mode none), and
// overlay.bpf.c loaded over the pod datapath's maps: from_overlay's checks of
// who sent a packet and as whom, its ingress policy by the VNI's identity,
// conntrack across both directions; to_overlay for the node's own packets.
// A test run cannot carry tunnel metadata in, so a harness object runs the
// same program bodies after giving the packet the metadata a VXLAN device
// would (tests/datapath/overlay_harness.bpf.c); the real from_overlay,
// which gets none, shows the ERROR_RETRIEVING_TUNNEL_KEY case.
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <random>
#include <set>

#include "fixture.hpp"
#include "myelin/bpf/tc_hook.hpp"
#include "myelin/netlink.hpp"
#include "myelin/datapath/overlay_datapath.hpp"
#include "overlay_harness.skel.h"

namespace myelin::test {
namespace {

constexpr uint32_t OK = 0, SHOT = 2, REDIRECT = 7;
constexpr uint32_t kTunnelIfindex = 4343;   // redirects are not carried out in test runs
constexpr uint32_t kIdA = 1001, kIdB = 1002, kIdRemote = 3001, kIdOther = 3002;
constexpr const char* kNodeB = "192.168.50.2";   // the other node (tunnel endpoint)
constexpr const char* kRemotePod = "10.1.0.5";   // a pod of node B with a /32
constexpr const char* kRemoteNew = "10.1.0.77";  // in node B's pod CIDR, no /32 yet
constexpr const char* kBroken = "10.7.0.1";      // another node's, no tunnel endpoint
constexpr const char* kWorld = "203.0.113.9";

struct Expect {
  uint32_t retval;
  uint8_t reason;        // drop reason, 0: forwarded
  const char* peer;      // the event's tunnel_peer ("" none)
  uint8_t obs_point;     // of the last event (0: not checked)
};

class OverlayTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto od = datapath::OverlayDatapath::load(*dp_, {});
    ASSERT_TRUE(od) << od.error().message;
    overlay_ = std::move(*od);
    load_harness();
    two_pods();
    tunnel_mode(true);
    ipcache(kRemotePod, 32, kIdRemote, MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE, kNodeB);
    ipcache("10.1.0.0", 24, MYELIN_IDENTITY_WORLD, MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE | MYELIN_IPCACHE_F_POD_CIDR, kNodeB);
    ipcache(kNodeB, 32, MYELIN_IDENTITY_REMOTE_NODE, MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE);
    ipcache("10.7.0.0", 24, kIdOther, MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE);
  }
  void TearDown() override {
    if (harness_) overlay_harness::destroy(harness_);
    harness_ = nullptr;
    overlay_.reset();
    DatapathTest::TearDown();
  }

  // The harness over the pod datapath's maps, as the agent loads overlay.bpf.c.
  void load_harness() {
    harness_ = overlay_harness::open();
    ASSERT_NE(harness_, nullptr);
    bpf_map* m = nullptr;
    bpf_object__for_each_map(m, harness_->obj) {
      if (!bpf_map__pin_path(m) && bpf_map__is_internal(m)) continue;
      int fd = dp_->map_fd(bpf_map__name(m));
      ASSERT_GE(fd, 0) << bpf_map__name(m);
      ASSERT_EQ(bpf_map__set_pin_path(m, nullptr), 0);
      ASSERT_EQ(bpf_map__reuse_fd(m, fd), 0);
    }
    ASSERT_EQ(overlay_harness::load(harness_), 0);
  }

  void tunnel_mode(bool on) {
    myelin_node_config c{};
    if (on) {
      c.routing_mode = MYELIN_ROUTING_TUNNEL;
      c.node_ip = ip4("192.168.50.1");
      c.tunnel_ifindex = kTunnelIfindex;
    }
    ASSERT_TRUE(dp_->set_node_config(c));
  }
  void set_flags(const char* ip, uint32_t flags) {
    myelin_ep_key k{};
    k.addr.w[0] = ip4(ip);
    k.family = MYELIN_FAMILY_IPV4;
    auto v = dp_->endpoint_get(k);
    ASSERT_TRUE(v);
    v->flags |= flags;
    ASSERT_TRUE(dp_->endpoint_upsert(k, *v));
  }
  void allow(uint32_t ep, uint8_t dir, uint32_t identity, uint16_t port) {
    ASSERT_TRUE(dp_->policy_upsert(false, datapath::policy_key(ep, dir, 6, identity, port, 16), myelin_policy_val{77, 0}));
  }

  static Bytes tcp(const char* s, const char* d, uint16_t sport, uint16_t dport, uint8_t flags = MYELIN_TCP_SYN) {
    Packet p;
    p.saddr = ip4(s);
    p.daddr = ip4(d);
    p.sport = sport;
    p.dport = dport;
    p.tcp_flags = flags;
    return p.build();
  }
  RunResult keyed_from_overlay(const Bytes& pkt, const char* sender, uint32_t vni) {
    harness_->bss->tun_remote = ip4(sender);
    harness_->bss->tun_vni = vni;
    return run(bpf_program__fd(harness_->progs.keyed_from_overlay), pkt);
  }
  RunResult keyed_to_overlay(const Bytes& pkt) {
    harness_->bss->tun_remote = ip4(kNodeB);
    harness_->bss->tun_vni = kIdA;
    return run(bpf_program__fd(harness_->progs.keyed_to_overlay), pkt);
  }

  void check(const char* name, const RunResult& r, const Expect& e, uint8_t dir, uint64_t drops_before) {
    SCOPED_TRACE(name);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, e.retval);
    if (e.reason) {
      EXPECT_EQ(counter(e.reason, dir), drops_before + 1) << "drop reason " << int(e.reason) << " counted";
    }
    auto& ev = drain_events();
    if (e.reason) {
      ASSERT_FALSE(ev.empty());
      EXPECT_EQ(ev.back().type, MYELIN_EVENT_DROP);
      EXPECT_EQ(ev.back().drop_reason, e.reason);
    } else if (e.obs_point) {
      ASSERT_FALSE(ev.empty()) << "a trace event";
      EXPECT_EQ(ev.back().type, MYELIN_EVENT_TRACE);
      EXPECT_EQ(ev.back().obs_point, e.obs_point);
      EXPECT_EQ(ev.back().tunnel_peer, *e.peer ? ip4(e.peer) : 0u);
    }
    ev.clear();
  }

  std::unique_ptr<datapath::OverlayDatapath> overlay_;
  overlay_harness* harness_ = nullptr;
};

// from_container: where a pod's new connection goes, by the ipcache.
TEST_F(OverlayTest, FromContainerEncapsulatesByTunnelEndpoint) {
  struct {
    const char* name;
    const char* dst;
    bool tunnel_mode;
    Expect e;
  } cases[] = {
      {"another node's pod (/32): into the tunnel to its node", kRemotePod, true, {REDIRECT, 0, kNodeB, MYELIN_OBS_TO_OVERLAY}},
      {"an address of its pod CIDR without a /32 yet: to its node too", kRemoteNew, true, {REDIRECT, 0, kNodeB, MYELIN_OBS_TO_OVERLAY}},
      {"a local pod: delivered, not tunnelled", "10.0.0.2", true, {REDIRECT, 0, "", MYELIN_OBS_TO_ENDPOINT}},
      {"another node's own address: the underlay (the stack)", kNodeB, true, {OK, 0, "", MYELIN_OBS_TO_STACK}},
      {"the world: the stack", kWorld, true, {OK, 0, "", MYELIN_OBS_TO_STACK}},
      {"another node's address without a tunnel endpoint: dropped", kBroken, true,
       {SHOT, MYELIN_DROP_NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT, "", 0}},
      {"routing mode none (a single node): the stack", kRemotePod, false, {OK, 0, "", MYELIN_OBS_TO_STACK}},
  };
  uint16_t sport = 41000;
  for (const auto& c : cases) {
    tunnel_mode(c.tunnel_mode);
    drain_events().clear();
    uint64_t before = c.e.reason ? counter(c.e.reason, MYELIN_DIR_EGRESS) : 0;
    auto r = from_container(tcp("10.0.0.1", c.dst, sport++, 80));
    check(c.name, r, c.e, MYELIN_DIR_EGRESS, before);
  }
}

// Egress policy is met before anything is encapsulated: a denied packet
// never reaches the tunnel.
TEST_F(OverlayTest, EgressPolicyBeforeTheTunnel) {
  set_flags("10.0.0.1", MYELIN_EP_F_EGRESS_ENFORCED);
  uint64_t before = counter(MYELIN_DROP_POLICY_DENIED, MYELIN_DIR_EGRESS);
  check("no rule: denied", from_container(tcp("10.0.0.1", kRemotePod, 42000, 80)), {SHOT, MYELIN_DROP_POLICY_DENIED, "", 0},
        MYELIN_DIR_EGRESS, before);
  allow(11, MYELIN_DIR_EGRESS, kIdRemote, 80);  // control: the remote pod's identity allowed
  check("allowed by the remote pod's identity", from_container(tcp("10.0.0.1", kRemotePod, 42001, 80)),
        {REDIRECT, 0, kNodeB, MYELIN_OBS_TO_OVERLAY}, MYELIN_DIR_EGRESS, 0);
}

// The real from_overlay on a test run: the packet carries no tunnel metadata.
TEST_F(OverlayTest, FromOverlayWithoutTunnelKeyDrops) {
  uint64_t before = counter(MYELIN_DROP_ERROR_RETRIEVING_TUNNEL_KEY, MYELIN_DIR_INGRESS);
  auto r = run(overlay_->from_overlay_fd(), tcp(kRemotePod, "10.0.0.2", 43000, 80));
  check("no tunnel key", r, {SHOT, MYELIN_DROP_ERROR_RETRIEVING_TUNNEL_KEY, "", 0}, MYELIN_DIR_INGRESS, before);
}

// from_overlay: who may send, as whom, to what.
TEST_F(OverlayTest, FromOverlayChecksSenderAndIdentity) {
  Packet arp_like;
  arp_like.eth_proto = 0x86dd;
  struct {
    const char* name;
    Bytes pkt;
    const char* sender;
    uint32_t vni;
    Expect e;
  } cases[] = {
      {"a pod of node B to pod B: delivered", tcp(kRemotePod, "10.0.0.2", 44000, 80), kNodeB, kIdRemote,
       {REDIRECT, 0, kNodeB, MYELIN_OBS_FROM_OVERLAY}},
      {"VNI host: a remote node cannot speak as this node", tcp(kRemotePod, "10.0.0.2", 44001, 80), kNodeB,
       MYELIN_IDENTITY_HOST, {SHOT, MYELIN_DROP_INVALID_IDENTITY, "", 0}},
      {"VNI 0: no identity", tcp(kRemotePod, "10.0.0.2", 44002, 80), kNodeB, 0, {SHOT, MYELIN_DROP_INVALID_IDENTITY, "", 0}},
      {"a sender that is no node of the cluster", tcp(kRemotePod, "10.0.0.2", 44003, 80), "192.168.50.99", kIdRemote,
       {SHOT, MYELIN_DROP_UNKNOWN_SENDER, "", 0}},
      {"a sender whose address is a pod's, not a node's", tcp(kRemotePod, "10.0.0.2", 44004, 80), kRemotePod, kIdRemote,
       {SHOT, MYELIN_DROP_UNKNOWN_SENDER, "", 0}},
      {"to no pod of this node", tcp(kRemotePod, "10.0.0.99", 44005, 80), kNodeB, kIdRemote,
       {SHOT, MYELIN_DROP_NO_MATCHING_LOCAL_CONTAINER_FOUND, "", 0}},
      {"a source address of a pod of this node (spoofed)", tcp("10.0.0.1", "10.0.0.2", 44006, 80), kNodeB, kIdRemote,
       {SHOT, MYELIN_DROP_INVALID_SOURCE_IP, "", 0}},
      {"not IPv4 inside", arp_like.build(), kNodeB, kIdRemote, {SHOT, MYELIN_DROP_UNSUPPORTED_L3_PROTOCOL, "", 0}},
  };
  for (const auto& c : cases) {
    drain_events().clear();
    uint64_t before = c.e.reason ? counter(c.e.reason, MYELIN_DIR_INGRESS) : 0;
    check(c.name, keyed_from_overlay(c.pkt, c.sender, c.vni), c.e, MYELIN_DIR_INGRESS, before);
  }
  // The delivered one: its identity is the VNI's, and it is tracked.
  auto ct_entry = ct(kRemotePod, "10.0.0.2", 44000, 80, 6);
  ASSERT_TRUE(ct_entry) << "conntrack entry of the delivered connection";
}

// Ingress policy of the local pod is decided by the identity the VNI carries.
TEST_F(OverlayTest, FromOverlayIngressPolicyByVni) {
  set_flags("10.0.0.2", MYELIN_EP_F_INGRESS_ENFORCED);
  allow(12, MYELIN_DIR_INGRESS, kIdRemote, 80);
  drain_events().clear();
  check("the allowed identity", keyed_from_overlay(tcp(kRemotePod, "10.0.0.2", 45000, 80), kNodeB, kIdRemote),
        {REDIRECT, 0, kNodeB, MYELIN_OBS_FROM_OVERLAY}, MYELIN_DIR_INGRESS, 0);
  auto& ev = drain_events();
  (void)ev;
  uint64_t before = counter(MYELIN_DROP_POLICY_DENIED, MYELIN_DIR_INGRESS);
  check("the same address claiming another identity", keyed_from_overlay(tcp(kRemotePod, "10.0.0.2", 45001, 80), kNodeB, kIdOther),
        {SHOT, MYELIN_DROP_POLICY_DENIED, "", 0}, MYELIN_DIR_INGRESS, before);
  before = counter(MYELIN_DROP_POLICY_DENIED, MYELIN_DIR_INGRESS);
  check("another port", keyed_from_overlay(tcp(kRemotePod, "10.0.0.2", 45002, 81), kNodeB, kIdRemote),
        {SHOT, MYELIN_DROP_POLICY_DENIED, "", 0}, MYELIN_DIR_INGRESS, before);
}

// A connection out through the tunnel: its replies come back through
// from_overlay as replies (no ingress policy), and the events say where.
TEST_F(OverlayTest, ReplyThroughTheTunnel) {
  set_flags("10.0.0.1", MYELIN_EP_F_INGRESS_ENFORCED);  // nothing allows anything in
  check("SYN out", from_container(tcp("10.0.0.1", kRemotePod, 46000, 80)), {REDIRECT, 0, kNodeB, MYELIN_OBS_TO_OVERLAY},
        MYELIN_DIR_EGRESS, 0);
  auto r = keyed_from_overlay(tcp(kRemotePod, "10.0.0.1", 80, 46000, MYELIN_TCP_SYN | MYELIN_TCP_ACK), kNodeB, kIdRemote);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.retval, REDIRECT) << "the reply enters pod A";
  // Control: a new connection from the same remote pod to pod A is denied.
  uint64_t before = counter(MYELIN_DROP_POLICY_DENIED, MYELIN_DIR_INGRESS);
  drain_events().clear();
  check("a new connection in", keyed_from_overlay(tcp(kRemotePod, "10.0.0.1", 46001, 80), kNodeB, kIdRemote),
        {SHOT, MYELIN_DROP_POLICY_DENIED, "", 0}, MYELIN_DIR_INGRESS, before);
  auto e = ct("10.0.0.1", kRemotePod, 46000, 80, 6);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->packets_rev, 1u) << "the SYN-ACK counted on the connection's entry as its reply";
}

// to_overlay: the node's own packets to other nodes' pods; a pod's packet
// (metadata set by from_container) passes untouched.
TEST_F(OverlayTest, ToOverlay) {
  struct {
    const char* name;
    const char* dst;
    uint32_t retval;
    uint8_t reason;
  } cases[] = {
      {"the node to another node's pod", kRemotePod, OK, 0},
      {"the node to another node's pod CIDR", kRemoteNew, OK, 0},
      {"no tunnel endpoint for it", kBroken, SHOT, MYELIN_DROP_NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT},
      {"an address the tunnel does not lead to", kWorld, SHOT, MYELIN_DROP_NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    uint64_t before = c.reason ? counter(c.reason, MYELIN_DIR_EGRESS) : 0;
    auto r = run(overlay_->to_overlay_fd(), tcp("192.168.50.1", c.dst, 47000, 80));
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, c.retval);
    if (c.reason) {
      EXPECT_EQ(counter(c.reason, MYELIN_DIR_EGRESS), before + 1);
    }
  }
  // Metadata set already: passed as it came (even to an address the node
  // itself could not tunnel to).
  Bytes pkt = tcp("10.0.0.1", kWorld, 47001, 80);
  auto r = keyed_to_overlay(pkt);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.retval, OK);
  EXPECT_EQ(r.out, pkt);
}

// from_overlay on random and mutated packets from random senders with
// random VNIs (bounded; the seed is printed, MLN_FUZZ_SEED replays it).
// Invariants after every packet: the verdict is SHOT or REDIRECT (never
// OK: nothing out of the tunnel goes to the node's stack); every SHOT is
// one drop in the counters; a REDIRECT only for a cluster node's sender, a
// VNI that is neither 0 nor host, an IPv4 packet to a pod of this node from
// an address that is not one.
TEST_F(OverlayTest, FromOverlayFuzz) {
  const char* s = std::getenv("MLN_FUZZ_SEED");
  const uint64_t seed = s && *s ? std::strtoull(s, nullptr, 0) : static_cast<uint64_t>(::time(nullptr));
  std::cout << "overlay fuzz: MLN_FUZZ_SEED=" << seed << "\n";
  std::mt19937_64 rng(seed);
  const char* senders[] = {kNodeB, kNodeB, kNodeB, "192.168.50.99", kRemotePod};
  const uint32_t vnis[] = {kIdRemote, kIdRemote, kIdOther, 0, MYELIN_IDENTITY_HOST, MYELIN_IDENTITY_WORLD, 0xffffff};
  const char* addrs[] = {kRemotePod, kRemoteNew, "10.0.0.1", "10.0.0.2", "10.0.0.99", kWorld, kNodeB};
  auto drops = [&] {
    uint64_t n = 0;
    for (const auto& [k, v] : dp_->metrics())
      if (k.reason != MYELIN_DROP_NONE) n += v.packets;
    return n;
  };
  int delivered = 0, dropped = 0;
  for (int i = 0; i < 3000; ++i) {
    Packet p;
    p.saddr = ip4(addrs[rng() % 7]);
    p.daddr = ip4(addrs[rng() % 7]);
    const uint8_t protos[] = {6, 17, 1, 132, 47};
    p.proto = protos[rng() % 5];
    p.sport = static_cast<uint16_t>(rng());
    p.dport = static_cast<uint16_t>(rng() % 3 ? 80 : rng());
    p.tcp_flags = static_cast<uint8_t>(rng());
    p.icmp_type = static_cast<uint8_t>(rng() % 20);
    if (rng() % 8 == 0) p.eth_proto = static_cast<uint16_t>(rng());
    if (rng() % 8 == 0) p.frag_off = static_cast<uint16_t>(rng());
    Bytes b = p.build();
    for (int m = static_cast<int>(rng() % 4); m > 0; --m) b[rng() % b.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    if (rng() % 10 == 0) b.resize(14 + rng() % (b.size() - 13));
    const char* sender = senders[rng() % 5];
    const uint32_t vni = vnis[rng() % 7];
    const uint64_t before = drops();
    auto r = keyed_from_overlay(b, sender, vni);
    if (r.err == -EINVAL && b.size() < 14 + 60) continue;  // the kernel refuses a frame shorter than its headers
    ASSERT_EQ(r.err, 0) << "seed " << seed << " run " << i << ", " << b.size() << " bytes";
    ASSERT_TRUE(r.retval == SHOT || r.retval == REDIRECT) << "seed " << seed << " run " << i << ": verdict " << r.retval;
    if (r.retval == SHOT) {
      ASSERT_EQ(drops(), before + 1) << "seed " << seed << " run " << i << ": a drop counted once";
      ++dropped;
      continue;
    }
    ++delivered;
    // Delivered: check what allowed it, from the bytes that were sent.
    ASSERT_GE(b.size(), 34u);
    uint32_t src, dst;
    std::memcpy(&src, &b[26], 4);
    std::memcpy(&dst, &b[30], 4);
    const bool local_dst = dst == ip4("10.0.0.1") || dst == ip4("10.0.0.2");
    const bool local_src = src == ip4("10.0.0.1") || src == ip4("10.0.0.2");
    EXPECT_TRUE(std::string(sender) == kNodeB && vni != 0 && vni != MYELIN_IDENTITY_HOST && b[12] == 0x08 && b[13] == 0x00 &&
                local_dst && !local_src)
        << "seed " << seed << " run " << i << ": delivered from " << sender << " vni " << vni;
  }
  std::cout << "overlay fuzz: " << delivered << " delivered, " << dropped << " dropped\n";
  EXPECT_GT(delivered, 30) << "the random packets reach the delivering path, or the invariant proves nothing";
  EXPECT_GT(dropped, 300);
  drain_events().clear();
}

// TunnelDevice, the owner of myelin_vxlan, in a network namespace of the
// test's own: created collect-metadata with both filters, adopted by the
// next owner (same ifindex: traffic never stops across a restart), removed
// by an owner that made it and was not released, kept once released; a
// device of that name that is not a VXLAN device is refused, never taken.
class TunnelDeviceTest : public OverlayTest {
 protected:
  void SetUp() override {
    OverlayTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ns_ = "mln-tunnel-dev-" + std::to_string(getpid());
    ASSERT_EQ(std::system(("ip netns add " + ns_).c_str()), 0);
    auto g = netlink::NetnsGuard::enter("/var/run/netns/" + ns_);
    ASSERT_TRUE(g) << g.error().message;
    guard_.emplace(std::move(*g));
  }
  void TearDown() override {
    guard_.reset();
    if (!ns_.empty()) (void)std::system(("ip netns del " + ns_ + " 2>/dev/null").c_str());
    OverlayTest::TearDown();
  }
  datapath::TunnelDevice::Spec spec() const {
    datapath::TunnelDevice::Spec s;
    s.name = "myelin_vxlan";
    s.local = net::Ipv4{0xc0a84d01};  // 192.168.77.1
    s.mtu = 1500;
    return s;
  }
  Result<datapath::TunnelDevice> ensure() { return datapath::TunnelDevice::ensure(spec(), overlay_->from_overlay_fd(), overlay_->to_overlay_fd()); }

  std::string ns_;
  std::optional<netlink::NetnsGuard> guard_;
};

TEST_F(TunnelDeviceTest, CreateAdoptReleaseRemove) {
  int first = 0;
  {
    auto d = ensure();
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_TRUE(d->created());
    first = d->ifindex();
    auto link = netlink::link_get("myelin_vxlan");
    ASSERT_TRUE(link);
    EXPECT_EQ(link->kind, "vxlan");
    EXPECT_EQ(link->mtu, 1500u) << "the underlay's MTU, not 1450";
    EXPECT_TRUE(link->up);
    EXPECT_TRUE(bpf::TcHook(first, bpf::TcHook::Side::ingress, 0x4d4f, 1).attached()) << "from_overlay on ingress";
    EXPECT_TRUE(bpf::TcHook(first, bpf::TcHook::Side::egress, 0x4d4f, 1).attached()) << "to_overlay on egress";
    d->release();
  }
  ASSERT_TRUE(netlink::link_get("myelin_vxlan")) << "released: kept when its owner went";
  {
    auto d = ensure();
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_FALSE(d->created()) << "adopted";
    EXPECT_EQ(d->ifindex(), first) << "the same device";
  }
  ASSERT_TRUE(netlink::link_get("myelin_vxlan")) << "an adopted device is not removed by its owner";
  ASSERT_TRUE(datapath::TunnelDevice::remove("myelin_vxlan"));
  EXPECT_FALSE(netlink::link_get("myelin_vxlan"));
  {
    auto d = ensure();  // made anew, not released: a failed start
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_TRUE(d->created());
  }
  EXPECT_FALSE(netlink::link_get("myelin_vxlan")) << "an owner that made it and was not released removes it";
}

TEST_F(TunnelDeviceTest, RefusesADeviceThatIsNotOurs) {
  ASSERT_EQ(std::system(("ip netns exec " + ns_ + " ip link add myelin_vxlan type veth peer name mln-tun-peer").c_str()), 0);
  auto d = ensure();
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("not a VXLAN device"), std::string::npos) << d.error().message;
  EXPECT_FALSE(datapath::TunnelDevice::remove("myelin_vxlan")) << "remove() leaves it alone too";
  auto link = netlink::link_get("myelin_vxlan");
  ASSERT_TRUE(link);
  EXPECT_EQ(link->kind, "veth");
}

// The node's own routes to other nodes' pod CIDRs through the device:
// exactly the set given, each with the route MTU; the rest removed, also
// when a later owner (a restarted agent) no longer knows what it added.
TEST_F(TunnelDeviceTest, RoutesExactlyTheRemotePodCidrs) {
  auto d = ensure();
  ASSERT_TRUE(d) << d.error().message;
  auto cidr = [](const char* s) { return *net::parse_cidr4(s); };
  auto routes = [&] {
    std::set<std::string> out;
    auto r = netlink::route_list(d->ifindex());
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    if (r)
      for (const auto& c : *r) out.insert(c.str());
    return out;
  };
  ASSERT_TRUE(d->route_pod_cidrs({cidr("10.1.0.0/24"), cidr("10.2.0.0/24")}, 1450));
  EXPECT_EQ(routes(), (std::set<std::string>{"10.1.0.0/24", "10.2.0.0/24"}));
  FILE* f = ::popen(("ip netns exec " + ns_ + " ip route show dev myelin_vxlan").c_str(), "r");
  ASSERT_NE(f, nullptr);
  char buf[512] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  ::pclose(f);
  EXPECT_NE(std::string(buf, n).find("10.1.0.0/24 proto static scope link mtu 1450"), std::string::npos) << std::string(buf, n);
  ASSERT_TRUE(d->route_pod_cidrs({cidr("10.2.0.0/24"), cidr("10.3.0.0/24")}, 1450));
  EXPECT_EQ(routes(), (std::set<std::string>{"10.2.0.0/24", "10.3.0.0/24"})) << "a node gone, one added";
  d->release();
  auto again = ensure();  // a restarted agent: adopts the device and its routes
  ASSERT_TRUE(again) << again.error().message;
  ASSERT_TRUE(again->route_pod_cidrs({cidr("10.3.0.0/24")}, 1450));
  auto r = netlink::route_list(again->ifindex());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u) << "the earlier start's route to a node gone since is removed";
  EXPECT_EQ((*r)[0].str(), "10.3.0.0/24");
  ASSERT_TRUE(again->route_pod_cidrs({}, 1450));
  EXPECT_TRUE(netlink::route_list(again->ifindex())->empty());
}

}  // namespace
}  // namespace myelin::test
