// SPDX-License-Identifier: Apache-2.0
// Masquerade (datapath/lib/snat.h) on crafted packets (BPF_PROG_TEST_RUN):
// host.bpf.c's to_netdev translating pods' flows that leave the cluster to
// the node address (ports, echo ids, checksums, the two map entries), its
// from_netdev translating the replies back; a flow reusing its port; two
// flows never sharing one; the node's own ports kept off; exhaustion with a
// tiny range and unsupported protocols dropped with their reasons and
// events; the exemptions (cluster addresses, the native-routing CIDR, the
// node, non-pods, replies of connections opened from outside, masquerade
// off); and conntrack-backed garbage collection of the map.
#include <time.h>

#include <cstdlib>
#include <iostream>
#include <random>
#include <set>

#include "checksum.hpp"
#include "host_fixture.hpp"
#include "myelin/abi/nat.h"
#include "myelin/bpf/map_keys.hpp"

namespace myelin::test {
namespace {

constexpr uint32_t OK = 0, SHOT = 2;
constexpr const char* kNode = "203.0.113.2";
constexpr const char* kPeer = "198.51.100.7";  // outside the cluster
constexpr const char* kPodA = "10.0.0.1";
constexpr const char* kPodB = "10.0.0.2";

uint32_t src_of(const Bytes& b) { return addr_at(b, 26); }
uint32_t dst_of(const Bytes& b) { return addr_at(b, 30); }
// TCP/UDP source port, or the ICMP echo id.
uint16_t sport_of(const Bytes& b) { return b[23] == 1 ? port_at(b, 38) : port_at(b, 34); }
uint16_t dport_of(const Bytes& b) { return b[23] == 1 ? port_at(b, 38) : port_at(b, 36); }

Bytes packet(const char* s, const char* d, uint16_t sport, uint16_t dport, uint8_t proto = 6, uint8_t icmp_type = 8,
             uint8_t tcp_flags = 0x02) {
  Packet p;
  p.saddr = ip4(s);
  p.daddr = ip4(d);
  p.sport = sport;
  p.dport = dport;
  p.proto = proto;
  p.tcp_flags = tcp_flags;
  p.icmp_type = icmp_type;
  p.icmp_id = sport;
  p.payload = 9;  // odd: the checksums' last byte
  Bytes b = p.build();
  if (proto == 6 || proto == 17 || proto == 1) fill_checksums(b);
  return b;
}

class MasqueradeTest : public HostDatapathTest {
 protected:
  void SetUp() override {
    HostDatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    node(MYELIN_NODE_F_MASQUERADE, 61000, 61009);
    // Another node's pod and pod CIDR, and another node: inside the cluster.
    ipcache("10.9.0.7", 32, 3000, MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE);
    ipcache("10.9.1.0", 24, MYELIN_IDENTITY_WORLD, MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE | MYELIN_IPCACHE_F_POD_CIDR);
    ipcache("192.168.50.3", 32, MYELIN_IDENTITY_REMOTE_NODE, MYELIN_IPCACHE_F_CLUSTER | MYELIN_IPCACHE_F_REMOTE);
    ipcache("198.51.100.0", 24, 16777300, 0);  // a policy CIDR: still outside
  }
  void node(uint32_t flags, uint16_t pmin, uint16_t pmax, const char* native = nullptr, uint8_t native_prefix = 0) {
    myelin_node_config c{};
    c.node_ip = ip4(kNode);
    c.flags = flags;
    c.snat_port_min = pmin;
    c.snat_port_max = pmax;
    if (native) c.native_cidr = ip4(native), c.native_prefix = native_prefix;
    ASSERT_TRUE(dp_->set_node_config(c));
  }
  RunResult out(const Bytes& pkt) { return run(host_->to_netdev_fd(), pkt); }
  RunResult in(const Bytes& pkt) { return run(host_->from_netdev_fd(), pkt); }
  int snat_fd() { return dp_->map_fd(MYELIN_MAP_SNAT); }
  size_t snat_entries() { return bpf::map_keys<myelin_snat_key>(snat_fd()).size(); }
  std::optional<myelin_snat_entry> snat(uint8_t dir, uint8_t proto, const char* s, const char* d, uint16_t sport, uint16_t dport) {
    myelin_snat_key k{};
    k.saddr.w[0] = ip4(s);
    k.daddr.w[0] = ip4(d);
    k.sport = htons(sport);
    k.dport = htons(dport);
    k.proto = proto;
    k.family = MYELIN_FAMILY_IPV4;
    k.dir = dir;
    myelin_snat_entry e{};
    if (bpf_map_lookup_elem(snat_fd(), &k, &e) != 0) return std::nullopt;
    return e;
  }
  // Runs a pod's packet out and expects it translated: returns the port it got.
  uint16_t expect_translated(const Bytes& pkt) {
    auto r = out(pkt);
    EXPECT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, OK);
    EXPECT_EQ(src_of(r.out), ip4(kNode)) << "source is the node";
    EXPECT_TRUE(checksums_ok(r.out)) << "checksums after SNAT";
    EXPECT_EQ(dst_of(r.out), dst_of(pkt)) << "destination kept";
    return sport_of(r.out);
  }
  void expect_untouched(const RunResult& r, const Bytes& pkt, const char* why) {
    EXPECT_EQ(r.err, 0) << why;
    EXPECT_EQ(r.retval, OK) << why;
    EXPECT_EQ(r.out, pkt) << why << ": the packet is not changed";
  }
  void expect_drop(const Bytes& pkt, uint8_t reason) {
    uint64_t before = counter(reason, MYELIN_DIR_EGRESS);
    drain_events().clear();
    auto r = out(pkt);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, SHOT);
    EXPECT_EQ(counter(reason, MYELIN_DIR_EGRESS), before + 1) << "drop reason " << int(reason) << " counted";
    auto& ev = drain_events();
    ASSERT_FALSE(ev.empty()) << "a drop event";
    EXPECT_EQ(ev.back().drop_reason, reason);
    EXPECT_EQ(ev.back().obs_point, MYELIN_OBS_TO_NETWORK);
    EXPECT_EQ(ev.back().saddr.w[0], src_of(pkt)) << "the event names the pod";
    EXPECT_EQ(ev.back().src_ep, 11u);
  }

  void ct_put(const char* s, const char* d, uint16_t sport, uint16_t dport, uint8_t proto) {
    const auto k = ct_key(s, d, sport, dport, proto);
    myelin_ct_entry e{};
    e.created_ns = e.last_seen_ns = now_ns();
    e.state = MYELIN_CT_ESTABLISHED;
    ASSERT_EQ(bpf_map_update_elem(dp_->ct_fd(), &k, &e, BPF_ANY), 0);
  }
  static uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  }

};

// TCP, UDP and ICMP echo out and back: the source becomes node:port in the
// range (the echo id for ICMP), checksums stay right, both entries exist,
// a CT_NEW trace at TO_NETWORK for the new flow, and the reply gets the pod
// and its port back.
TEST_F(MasqueradeTest, TranslatesAndReverses) {
  struct {
    const char* name;
    uint8_t proto;
    uint16_t peer_port;  // 0 for ICMP
  } cases[] = {{"tcp", 6, 80}, {"udp", 17, 53}, {"icmp echo", 1, 0}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    drain_events().clear();
    Bytes pkt = packet(kPodA, kPeer, 40000, c.peer_port, c.proto, 8);
    uint16_t port = expect_translated(pkt);
    EXPECT_GE(port, 61000);
    EXPECT_LE(port, 61009);
    auto eg = snat(MYELIN_SNAT_EGRESS, c.proto, kPodA, kPeer, 40000, c.peer_port);
    ASSERT_TRUE(eg);
    EXPECT_EQ(eg->to_addr.w[0], ip4(kNode));
    EXPECT_EQ(ntohs(eg->to_port), port);
    auto ig = snat(MYELIN_SNAT_INGRESS, c.proto, kPeer, kNode, c.peer_port, port);
    ASSERT_TRUE(ig);
    EXPECT_EQ(ig->to_addr.w[0], ip4(kPodA));
    EXPECT_EQ(ntohs(ig->to_port), 40000);
    auto& ev = drain_events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev.back().type, MYELIN_EVENT_TRACE);
    EXPECT_EQ(ev.back().subtype, MYELIN_TRACE_CT_NEW);
    EXPECT_EQ(ev.back().obs_point, MYELIN_OBS_TO_NETWORK);
    EXPECT_EQ(ev.back().saddr.w[0], ip4(kPodA));

    // The reply, to node:port (an echo reply carries the id).
    Bytes reply = packet(kPeer, kNode, c.peer_port, port, c.proto, 0, 0x12);
    if (c.proto == 1) reply = packet(kPeer, kNode, port, 0, 1, 0);
    auto r = in(reply);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, OK) << "to the stack, which routes it to the pod";
    EXPECT_EQ(dst_of(r.out), ip4(kPodA));
    EXPECT_EQ(c.proto == 1 ? sport_of(r.out) : dport_of(r.out), 40000);
    EXPECT_EQ(src_of(r.out), ip4(kPeer));
    EXPECT_TRUE(checksums_ok(r.out)) << "checksums after the reverse";
  }
}

// A flow keeps its port; its INGRESS entry, if lost (evicted), is made again
// by its next packet out; no new trace for a known flow.
TEST_F(MasqueradeTest, ReusesTheFlowsPort) {
  Bytes pkt = packet(kPodA, kPeer, 40000, 443);
  uint16_t first = expect_translated(pkt);
  drain_events().clear();
  Bytes ack = packet(kPodA, kPeer, 40000, 443, 6, 8, 0x10);
  EXPECT_EQ(expect_translated(ack), first);
  EXPECT_TRUE(drain_events().empty()) << "no trace for a known flow";
  myelin_snat_key ik{};
  ik.saddr.w[0] = ip4(kPeer);
  ik.daddr.w[0] = ip4(kNode);
  ik.sport = htons(443);
  ik.dport = htons(first);
  ik.proto = 6;
  ik.family = MYELIN_FAMILY_IPV4;
  ik.dir = MYELIN_SNAT_INGRESS;
  ASSERT_EQ(bpf_map_delete_elem(snat_fd(), &ik), 0);
  EXPECT_EQ(expect_translated(ack), first);
  EXPECT_TRUE(snat(MYELIN_SNAT_INGRESS, 6, kPeer, kNode, 443, first)) << "the reply entry is back";
  EXPECT_EQ(snat_entries(), 2u);
}

// The pod's own port is kept when it is in the range and free for that
// peer; two pods with the same port to the same peer get two ports; to
// another peer the same port is free again.
TEST_F(MasqueradeTest, PortsAreNeverShared) {
  node(MYELIN_NODE_F_MASQUERADE, 40000, 40009);
  EXPECT_EQ(expect_translated(packet(kPodA, kPeer, 40000, 80)), 40000) << "port kept";
  uint16_t b = expect_translated(packet(kPodB, kPeer, 40000, 80));
  EXPECT_NE(b, 40000) << "B cannot have A's port to the same peer";
  EXPECT_GE(b, 40000);
  EXPECT_LE(b, 40009);
  EXPECT_EQ(expect_translated(packet(kPodB, "198.51.100.8", 40000, 80)), 40000) << "another peer: free";
  EXPECT_EQ(expect_translated(packet(kPodB, kPeer, 40000, 81)), 40000) << "another peer port: free";
  // Each reply reaches its own pod.
  auto ra = in(packet(kPeer, kNode, 80, 40000, 6, 8, 0x12));
  EXPECT_EQ(dst_of(ra.out), ip4(kPodA));
  auto rb = in(packet(kPeer, kNode, 80, b, 6, 8, 0x12));
  EXPECT_EQ(dst_of(rb.out), ip4(kPodB));
}

// The node's own flow from node_ip: its port is recorded (F_HOST), no pod
// flow is given it, and its replies are not taken for a pod.
TEST_F(MasqueradeTest, KeepsTheNodesOwnPorts) {
  node(MYELIN_NODE_F_MASQUERADE, 61000, 61001);
  Bytes own = packet(kNode, kPeer, 61000, 80);
  expect_untouched(out(own), own, "the node's own packet");
  auto rec = snat(MYELIN_SNAT_INGRESS, 6, kPeer, kNode, 80, 61000);
  ASSERT_TRUE(rec);
  EXPECT_TRUE(rec->flags & MYELIN_SNAT_F_HOST);
  EXPECT_EQ(expect_translated(packet(kPodA, kPeer, 61000, 80)), 61001) << "the node's port is not given away";
  Bytes reply = packet(kPeer, kNode, 80, 61000, 6, 8, 0x12);
  expect_untouched(in(reply), reply, "the reply of the node's own flow");
  // A port outside the range cannot collide: not recorded (VXLAN's, the ephemeral ones).
  Bytes other = packet(kNode, kPeer, 40000, 80);
  expect_untouched(out(other), other, "the node's own packet from a port outside the range");
  EXPECT_FALSE(snat(MYELIN_SNAT_INGRESS, 6, kPeer, kNode, 80, 40000));
}

// Exhaustion: a range of two ports, a third flow to the same peer is dropped
// NO_MAPPING_FOR_NAT_MASQUERADE (counted, an event); once a flow's entries
// are gone (gc), its port serves a new flow.
TEST_F(MasqueradeTest, ExhaustionDrops) {
  node(MYELIN_NODE_F_MASQUERADE, 61000, 61001);
  std::set<uint16_t> got{expect_translated(packet(kPodA, kPeer, 1000, 80)), expect_translated(packet(kPodA, kPeer, 1001, 80))};
  EXPECT_EQ(got, (std::set<uint16_t>{61000, 61001}));
  expect_drop(packet(kPodA, kPeer, 1002, 80), MYELIN_DROP_NO_MAPPING_FOR_NAT_MASQUERADE);
  EXPECT_GE(expect_translated(packet(kPodA, kPeer, 1002, 80, 17)), 61000) << "UDP has its own ports";
  EXPECT_GE(expect_translated(packet(kPodA, kPeer, 1002, 81)), 61000) << "another peer port has its own";
  ct_put(kPodA, kPeer, 1000, 80, 6);  // only this flow is still tracked
  auto gc = dp_->ct_gc(datapath::CtTimeouts{}, now_ns());
  ASSERT_TRUE(gc) << gc.error().message;
  EXPECT_EQ(gc->snat_deleted, 6u) << "the untracked flows' entries, both directions";
  EXPECT_EQ(snat_entries(), 2u);
  EXPECT_TRUE(snat(MYELIN_SNAT_EGRESS, 6, kPodA, kPeer, 1000, 80)) << "the tracked flow keeps its translation";
  uint16_t p = expect_translated(packet(kPodA, kPeer, 1002, 80));
  EXPECT_TRUE(p == 61000 || p == 61001);
  EXPECT_NE(p, ntohs(snat(MYELIN_SNAT_EGRESS, 6, kPodA, kPeer, 1000, 80)->to_port));
}

// What masquerade cannot translate is dropped with its reason: protocols
// without ports (GRE), SCTP (its CRC32c), ICMP other than echo.
TEST_F(MasqueradeTest, UnsupportedProtocolsDrop) {
  expect_drop(packet(kPodA, kPeer, 0, 0, 47), MYELIN_DROP_UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE);
  expect_drop(packet(kPodA, kPeer, 5000, 5000, 132), MYELIN_DROP_UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE);
  expect_drop(packet(kPodA, kPeer, 7, 0, 1, 13), MYELIN_DROP_UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE);
  EXPECT_EQ(snat_entries(), 0u);
  // Positive control: the same pod, the same peer, TCP.
  expect_translated(packet(kPodA, kPeer, 5000, 5000));
}

// Left as they are: cluster destinations (another node's pod, pod CIDR,
// node), the native-routing CIDR, the node's address, sources that are not
// pods of this node, ICMP errors, the replies of a connection the peer
// opened to the pod (conntrack), and everything with masquerade off.
TEST_F(MasqueradeTest, Exemptions) {
  node(MYELIN_NODE_F_MASQUERADE, 61000, 61009, "172.16.0.0", 12);
  ct_put(kPeer, kPodB, 5555, 8080, 6);  // the peer opened a connection to B
  Packet err;
  err.saddr = ip4(kPodA);
  err.daddr = ip4(kPeer);
  err.proto = 1;
  err.icmp_type = 3;
  err.icmp_code = 3;
  Packet quoted;
  quoted.saddr = ip4(kPeer);
  quoted.daddr = ip4(kPodA);
  quoted.proto = 17;
  err.icmp_data = quote(quoted);
  struct {
    const char* name;
    Bytes pkt;
  } cases[] = {
      {"another node's pod", packet(kPodA, "10.9.0.7", 40000, 80)},
      {"another node's pod CIDR", packet(kPodA, "10.9.1.44", 40000, 80)},
      {"another node", packet(kPodA, "192.168.50.3", 40000, 80)},
      {"the native-routing CIDR", packet(kPodA, "172.20.1.1", 40000, 80)},
      {"the node itself", packet(kPodA, kNode, 40000, 80)},
      {"a pod of this node", packet(kPodA, kPodB, 40000, 80)},
      {"not from a pod (forwarded)", packet("192.0.2.9", kPeer, 40000, 80)},
      {"an ICMP error", err.build()},
      {"a reply to the peer's connection", packet(kPodB, kPeer, 8080, 5555, 6, 8, 0x12)},
      {"not IPv4", Packet{.eth_proto = 0x86dd}.build()},
  };
  for (const auto& c : cases) expect_untouched(out(c.pkt), c.pkt, c.name);
  EXPECT_EQ(snat_entries(), 0u);
  // Positive control: outside the cluster, a little outside the native CIDR.
  expect_translated(packet(kPodA, "172.32.0.1", 40000, 80));
  // Masquerade off: nothing out, nothing back.
  node(0, 61000, 61009);
  Bytes pkt = packet(kPodA, "198.51.100.99", 40000, 80);
  expect_untouched(out(pkt), pkt, "masquerade off");
  node(MYELIN_NODE_F_MASQUERADE, 61000, 61009);
  expect_translated(pkt);
}

// An ICMP error from a router out there about a masqueraded datagram (here
// fragmentation needed) reaches the pod quoting the pod's own datagram:
// outer destination, quoted source and port, and all three checksums
// right; one about the node's own flow is left alone.
TEST_F(MasqueradeTest, IcmpErrorsReachThePod) {
  uint16_t port = expect_translated(packet(kPodA, kPeer, 40000, 80));
  auto error_about = [](const char* src, uint16_t sport) {
    Bytes inner = packet(src, kPeer, sport, 80);
    inner.erase(inner.begin(), inner.begin() + 14);
    inner.resize(28);  // its IP header and 8 bytes
    Packet e;
    e.saddr = ip4("198.51.100.1");  // a router
    e.daddr = ip4(kNode);
    e.proto = 1;
    e.icmp_type = 3;
    e.icmp_code = 4;  // fragmentation needed
    e.icmp_id = 0;
    e.icmp_data = inner;
    Bytes b = e.build();
    fill_checksums(b);
    return b;
  };
  Bytes err = error_about(kNode, port);
  ASSERT_TRUE(checksums_ok(err));
  auto r = in(err);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.retval, OK);
  EXPECT_EQ(dst_of(r.out), ip4(kPodA)) << "to the pod";
  const size_t inner_ip = 14 + 20 + 8;
  EXPECT_EQ(addr_at(r.out, inner_ip + 12), ip4(kPodA)) << "quoting the pod's source";
  EXPECT_EQ(port_at(r.out, inner_ip + 20), 40000) << "and its port";
  EXPECT_TRUE(checksums_ok(r.out)) << "outer IP and ICMP checksums";
  EXPECT_EQ(fold(sum16(&r.out[inner_ip], 20)), 0) << "the quoted header's checksum";
  // The node's own flow (a port the pod's flow did not get): its error is the node's.
  const uint16_t own_port = port == 61009 ? 61008 : 61009;
  Bytes own = packet(kNode, kPeer, own_port, 80);
  expect_untouched(out(own), own, "the node's own packet");
  Bytes err2 = error_about(kNode, own_port);
  expect_untouched(in(err2), err2, "an error about the node's own flow");
}

// A packet to the node that no translation expects is the stack's.
TEST_F(MasqueradeTest, UnknownRepliesUntouched) {
  Bytes pkt = packet(kPeer, kNode, 80, 61005, 6, 8, 0x12);
  expect_untouched(in(pkt), pkt, "no translation");
  Bytes ping = packet(kPeer, kNode, 61005, 0, 1, 8);
  expect_translated(packet(kPodA, kPeer, 61005, 0, 1, 8));
  expect_untouched(in(ping), ping, "an echo request is not a reply, whatever its id");
}

// Random packets (pods and others, inside and outside the cluster, every
// protocol, bit flips, cuts) through to_netdev: a verdict of OK or SHOT, a
// drop only of a pod's packet, a change only to node:port with checksums
// that held still holding; each translated TCP/UDP packet's reply through
// from_netdev reaches the pod and port it came from.
TEST_F(MasqueradeTest, FuzzInvariants) {
  uint64_t seed = std::getenv("MLN_FUZZ_SEED") ? std::strtoull(std::getenv("MLN_FUZZ_SEED"), nullptr, 10) : std::random_device{}();
  int iterations = std::getenv("MLN_FUZZ_ITERATIONS") ? std::atoi(std::getenv("MLN_FUZZ_ITERATIONS")) : 3000;
  std::mt19937_64 rng(seed);
  SCOPED_TRACE("MLN_FUZZ_SEED=" + std::to_string(seed));
  node(MYELIN_NODE_F_MASQUERADE, 61000, 61031);  // small: exhaustion happens too
  const char* srcs[] = {kPodA, kPodB, kNode, "192.0.2.9"};
  const char* dsts[] = {kPeer, "198.51.100.8", "10.9.0.7", "192.168.50.3", kNode, kPodB, "8.8.8.8"};
  const uint8_t protos[] = {6, 17, 1, 1, 47, 132};
  const uint8_t icmp_types[] = {8, 0, 13, 3};
  int translated = 0, dropped = 0;
  for (int i = 0; i < iterations; ++i) {
    const char* src = srcs[rng() % std::size(srcs)];
    uint8_t proto = protos[rng() % std::size(protos)];
    Bytes pkt = packet(src, dsts[rng() % std::size(dsts)], static_cast<uint16_t>(1 + rng() % 65535),
                       static_cast<uint16_t>(rng() % 1024), proto, icmp_types[rng() % std::size(icmp_types)], static_cast<uint8_t>(rng()));
    int flips = static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) pkt[14 + rng() % (pkt.size() - 14)] ^= static_cast<uint8_t>(1u << (rng() % 8));
    if (rng() % 10 == 0) pkt.resize(14 + 20 + rng() % (pkt.size() - 33));
    const bool sums = (pkt[14] & 0x0f) == 5 && (proto == 6 || proto == 17 || proto == 1) && pkt.size() >= 42 &&
                      14u + ((pkt[16] << 8) | pkt[17]) <= pkt.size() && ((pkt[16] << 8) | pkt[17]) >= 28 && checksums_ok(pkt);
    auto r = out(pkt);
    if (r.err == -EINVAL) continue;
    ASSERT_EQ(r.err, 0) << "iteration " << i;
    ASSERT_TRUE(r.retval == OK || r.retval == SHOT) << "iteration " << i << ": verdict " << r.retval;
    const uint32_t s0 = src_of(pkt);
    const bool from_pod = s0 == ip4(kPodA) || s0 == ip4(kPodB);
    if (r.retval == SHOT) {
      ASSERT_TRUE(from_pod) << "iteration " << i << ": dropped a packet that is not a pod's";
      ++dropped;
      continue;
    }
    if (r.out == pkt) continue;
    ++translated;
    ASSERT_TRUE(from_pod) << "iteration " << i << ": translated a packet that is not a pod's";
    ASSERT_EQ(src_of(r.out), ip4(kNode)) << "iteration " << i;
    ASSERT_EQ(dst_of(r.out), dst_of(pkt)) << "iteration " << i;
    if (sums) {
      ASSERT_TRUE(checksums_ok(r.out)) << "iteration " << i << ": checksums broken by the translation";
    }
    const uint8_t p = r.out[23];
    const size_t l4 = 14 + (r.out[14] & 0x0f) * 4;
    if ((p == 6 || p == 17) && !(((r.out[20] << 8) | r.out[21]) & 0x1fff) && r.out.size() >= l4 + 4) {
      const uint16_t nat = port_at(r.out, l4), peer = port_at(r.out, l4 + 2);
      ASSERT_GE(nat, 61000) << "iteration " << i;
      ASSERT_LE(nat, 61031) << "iteration " << i;
      Bytes reply = packet(dsts[0], kNode, peer, nat, p, 0, 0x12);
      std::memcpy(&reply[26], &r.out[30], 4);  // from the peer it went to
      fill_checksums(reply);
      auto back = in(reply);
      ASSERT_EQ(back.err, 0);
      ASSERT_EQ(back.retval, OK);
      ASSERT_EQ(dst_of(back.out), s0) << "iteration " << i << ": the reply reaches the pod it came from";
      ASSERT_EQ(dport_of(back.out), port_at(pkt, l4)) << "iteration " << i << ": and its port";
      ASSERT_TRUE(checksums_ok(back.out)) << "iteration " << i;
    }
  }
  EXPECT_GT(translated, 0) << "the fuzz reached the translation";
  EXPECT_GT(dropped, 0) << "and the drops";
  std::cout << iterations << " packets, " << translated << " translated, " << dropped << " dropped (seed " << seed << ")\n";
}

}  // namespace
}  // namespace myelin::test
