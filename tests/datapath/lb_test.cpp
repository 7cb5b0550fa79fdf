// SPDX-License-Identifier: Apache-2.0
// Per-packet Service load balancing on the pod's veth (lxc.bpf.c,
// lib/lb_nat.h), driven by real packets with BPF_PROG_TEST_RUN and the
// Services maps written directly (the agent's writer is not needed): the
// frontend lookup, backend selection (spread, affinity), DNAT and reverse
// NAT with valid checksums, the SERVICE and CONNECTION conntrack entries,
// established connections across backend changes, no backend answered
// (TCP RST, ICMP port unreachable), hairpin, policy after translation,
// kube-proxy's translations undone by the stack (VIA_STACK), missing map
// entries, and the flow events' services.
#include <map>
#include <random>
#include <set>

#include "fixture.hpp"
#include "myelin/abi/lb.h"

namespace myelin::test {
namespace {

constexpr uint32_t OK = 0, SHOT = 2, REDIRECT = 7;
constexpr uint8_t SYN = MYELIN_TCP_SYN, ACK = MYELIN_TCP_ACK, RST = MYELIN_TCP_RST;
constexpr uint16_t kRev = 7;  // the frontend's rev_nat_index
const char* const kVip = "10.96.0.10";
const char* const kA = "10.0.0.1";   // client pod
const char* const kB = "10.0.0.2";   // backend pod
const char* const kC = "10.0.0.3";   // another backend pod
const char* const kRemote = "10.1.0.5";  // a backend on another node

// ---- Checksums, computed here independently of the datapath ----
uint32_t sum16(const uint8_t* d, size_t n, uint32_t s = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t(d[i]) << 8) | d[i + 1];
  if (n & 1) s += uint32_t(d[n - 1]) << 8;
  return s;
}
uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s & 0xffff);
}
size_t l4_csum_at(const Bytes& b, size_t l4) { return b[23] == 6 ? l4 + 16 : l4 + 6; }
uint32_t pseudo(const Bytes& b, size_t l4_len) {
  uint32_t s = sum16(&b[26], 8);
  return s + b[23] + static_cast<uint32_t>(l4_len);
}
// Fills in correct IPv4 and TCP/UDP checksums (the builder leaves them 0).
Bytes with_checksums(Bytes b, bool udp_zero = false) {
  size_t ihl = (b[14] & 0x0f) * 4, l4 = 14 + ihl, tot = (size_t(b[16]) << 8) | b[17];
  b[24] = b[25] = 0;
  uint16_t c = fold(sum16(&b[14], ihl));
  b[24] = c >> 8, b[25] = c & 0xff;
  if (b[23] != 6 && b[23] != 17) return b;
  size_t at = l4_csum_at(b, l4), len = tot - ihl;
  b[at] = b[at + 1] = 0;
  if (b[23] == 17 && udp_zero) return b;
  c = fold(sum16(&b[l4], len, pseudo(b, len)));
  if (b[23] == 17 && c == 0) c = 0xffff;
  b[at] = c >> 8, b[at + 1] = c & 0xff;
  return b;
}
// The IPv4 header's checksum and the L4 one (TCP, UDP unless 0, ICMP) are right.
::testing::AssertionResult checksums_ok(const Bytes& b) {
  if (b.size() < 34) return ::testing::AssertionFailure() << "short packet";
  size_t ihl = (b[14] & 0x0f) * 4, l4 = 14 + ihl, tot = (size_t(b[16]) << 8) | b[17];
  if (14 + tot > b.size()) return ::testing::AssertionFailure() << "total length beyond the packet";
  if (fold(sum16(&b[14], ihl)) != 0) return ::testing::AssertionFailure() << "IPv4 header checksum";
  size_t len = tot - ihl;
  if (b[23] == 1 && fold(sum16(&b[l4], len)) != 0) return ::testing::AssertionFailure() << "ICMP checksum";
  if (b[23] == 6 && fold(sum16(&b[l4], len, pseudo(b, len))) != 0) return ::testing::AssertionFailure() << "TCP checksum";
  if (b[23] == 17 && (b[l4 + 6] | b[l4 + 7]) && fold(sum16(&b[l4], len, pseudo(b, len))) != 0)
    return ::testing::AssertionFailure() << "UDP checksum";
  return ::testing::AssertionSuccess();
}

// ---- Reading a packet back ----
struct Hdr {
  uint32_t saddr, daddr;
  uint16_t sport, dport;
  uint8_t proto, flags;
  uint32_t seq, ack;
};
Hdr hdr(const Bytes& b) {
  Hdr h{};
  size_t l4 = 14 + (b[14] & 0x0f) * 4;
  std::memcpy(&h.saddr, &b[26], 4);
  std::memcpy(&h.daddr, &b[30], 4);
  h.proto = b[23];
  h.sport = (uint16_t(b[l4]) << 8) | b[l4 + 1];
  h.dport = (uint16_t(b[l4 + 2]) << 8) | b[l4 + 3];
  if (h.proto == 6) {
    uint32_t seq, ack;
    std::memcpy(&seq, &b[l4 + 4], 4);
    std::memcpy(&ack, &b[l4 + 8], 4);
    h.seq = ntohl(seq), h.ack = ntohl(ack), h.flags = b[l4 + 13];
  }
  return h;
}

Packet pkt(const char* s, uint16_t sp, const char* d, uint16_t dp, uint8_t proto = 6, uint8_t flags = SYN) {
  Packet p;
  p.saddr = ip4(s);
  p.daddr = ip4(d);
  p.sport = sp;
  p.dport = dp;
  p.proto = proto;
  p.tcp_flags = flags;
  p.payload = proto == 17 ? 12 : 0;
  return p;
}
Bytes tcp(const char* s, uint16_t sp, const char* d, uint16_t dp, uint8_t flags = SYN) {
  return with_checksums(pkt(s, sp, d, dp, 6, flags).build());
}
Bytes udp(const char* s, uint16_t sp, const char* d, uint16_t dp, bool zero_csum = false) {
  return with_checksums(pkt(s, sp, d, dp, 17).build(), zero_csum);
}

class Lb : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    svc_fd_ = dp_->map_fd(MYELIN_MAP_LB_SVC);
    be_fd_ = dp_->map_fd(MYELIN_MAP_LB_BACKEND);
    rev_fd_ = dp_->map_fd(MYELIN_MAP_LB_REVNAT);
    aff_fd_ = dp_->map_fd(MYELIN_MAP_LB_AFFINITY);
    cfg_fd_ = dp_->map_fd(MYELIN_MAP_LB_CONFIG);
    ASSERT_GE(svc_fd_, 0);
    ASSERT_GE(be_fd_, 0);
    ASSERT_GE(rev_fd_, 0);
    ASSERT_GE(aff_fd_, 0);
    ASSERT_GE(cfg_fd_, 0);
    enable(true);
    add_endpoint(kA, kLo, 11, 1001, kPodMacA, kNodeMacA);
    add_endpoint(kB, kLo, 12, 1002, kPodMacB, kNodeMacB);
    add_endpoint(kC, kLo, 13, 1003, kPodMacB, kNodeMacB);
  }

  void enable(bool on) {
    myelin_lb_config c{};
    c.flags = on ? MYELIN_LB_CFG_F_ENABLED : 0;
    c.maglev_m = MYELIN_LB_MAGLEV_DEFAULT_M;
    c.node_port_min = 30000;
    c.node_port_max = 32767;
    c.hairpin_ipv4 = ip4(MYELIN_LB_HAIRPIN_IPV4);
    uint32_t k = 0;
    ASSERT_EQ(bpf_map_update_elem(cfg_fd_, &k, &c, BPF_ANY), 0);
  }
  // from_container, and the skb's mark it leaves.
  RunResult from_container_mark(const Bytes& pkt, uint32_t* mark) {
    RunResult r;
    r.out.resize(pkt.size() + 256);
    __sk_buff ctx{}, ctx_out{};
    ctx.ifindex = kLo;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data(), .data_out = r.out.data(),
                .data_size_in = static_cast<uint32_t>(pkt.size()), .data_size_out = static_cast<uint32_t>(r.out.size()),
                .ctx_in = &ctx, .ctx_out = &ctx_out, .ctx_size_in = sizeof ctx, .ctx_size_out = sizeof ctx_out);
    r.err = bpf_prog_test_run_opts(dp_->from_container_fd(), &opts);
    r.retval = opts.retval;
    r.out.resize(opts.data_size_out);
    *mark = ctx_out.mark;
    return r;
  }
  void remove_backend(uint32_t id) { ASSERT_EQ(bpf_map_delete_elem(be_fd_, &id), 0); }
  void service(const char* vip, uint16_t port, uint8_t proto, std::vector<uint32_t> ids, uint32_t flags = MYELIN_LB_F_CLUSTER_IP,
               uint32_t affinity_timeout = 0, uint16_t rev = kRev, int count = -1) {
    lb_frontend(vip, port, proto, ids, flags, rev, affinity_timeout, count);
  }
  std::optional<myelin_ct_entry> svc_ct(const char* client, uint16_t sport, const char* vip, uint16_t port, uint8_t proto = 6) {
    return ct(client, vip, sport, port, proto, MYELIN_CT_KIND_SERVICE);
  }
  // The backend address a packet from A to the frontend went to.
  uint32_t backend_of(const RunResult& r) { return r.out.size() >= 34 ? hdr(r.out).daddr : 0; }

  int svc_fd_ = -1, be_fd_ = -1, rev_fd_ = -1, aff_fd_ = -1, cfg_fd_ = -1;
};

// ---- Lookup, DNAT and reverse NAT: a table of packets to frontends ----
struct XlateCase {
  const char* name;
  uint8_t proto;
  bool udp_zero_csum;
  const char* backend_ip;
  uint16_t backend_port;
  uint32_t verdict;  // local backend: redirected into it; remote: the stack
};

const std::vector<XlateCase> kXlate = {
    {"tcp_local_backend_port_changed", 6, false, kB, 8080, REDIRECT},
    {"tcp_local_backend_same_port", 6, false, kB, 80, REDIRECT},
    {"tcp_remote_backend_to_stack", 6, false, kRemote, 8080, OK},
    {"udp_local_backend", 17, false, kB, 5353, REDIRECT},
    {"udp_without_checksum_keeps_none", 17, true, kB, 5353, REDIRECT},
    {"udp_remote_backend", 17, false, kRemote, 53, OK},
};

class LbXlate : public Lb, public ::testing::WithParamInterface<XlateCase> {};

TEST_P(LbXlate, DnatThenReverseNat) {
  const auto& c = GetParam();
  lb_backend(1, c.backend_ip, c.backend_port, c.proto);
  service(kVip, 80, c.proto, {1});
  drain_events().clear();

  Bytes in = c.proto == 6 ? tcp(kA, 40000, kVip, 80) : udp(kA, 40000, kVip, 80, c.udp_zero_csum);
  auto r = from_container(in);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.retval, c.verdict);
  ASSERT_EQ(r.out.size(), in.size());
  auto h = hdr(r.out);
  EXPECT_EQ(h.saddr, ip4(kA)) << "the backend sees the client's address";
  EXPECT_EQ(h.daddr, ip4(c.backend_ip));
  EXPECT_EQ(h.sport, 40000);
  EXPECT_EQ(h.dport, c.backend_port);
  EXPECT_TRUE(checksums_ok(r.out));
  size_t l4 = 34;
  if (c.udp_zero_csum) {
    EXPECT_EQ(r.out[l4 + 6] | r.out[l4 + 7], 0) << "a UDP datagram without checksum stays without";
  }

  // Conntrack: SERVICE entry (client -> frontend) with the backend, CONNECTION
  // entry (client -> backend) with the frontend.
  auto se = svc_ct(kA, 40000, kVip, 80, c.proto);
  ASSERT_TRUE(se);
  EXPECT_EQ(se->backend_id, 1u);
  EXPECT_EQ(se->rev_nat_index, kRev);
  auto ce = ct(kA, c.backend_ip, 40000, c.backend_port, c.proto);
  ASSERT_TRUE(ce);
  EXPECT_EQ(ce->rev_nat_index, kRev);
  EXPECT_EQ(ce->flags, 0u);
  EXPECT_FALSE(ct(kA, kVip, 40000, 80, c.proto)) << "no untranslated connection entry";

  auto& ev = drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].dst_service, kRev);
  EXPECT_EQ(ev[0].src_service, 0);
  EXPECT_EQ(ev[0].daddr.w[0], ip4(c.backend_ip));
  if (c.verdict == REDIRECT) {
    EXPECT_EQ(ev[0].dst_ep, 12u) << "the backend pod is the destination endpoint";
  }
  ev.clear();

  // The reply: a local backend's comes out of its veth (from_container), a
  // remote one's arrives from the stack at the client's (to_container).
  Bytes rep = c.proto == 6 ? tcp(c.backend_ip, c.backend_port, kA, 40000, SYN | ACK)
                           : udp(c.backend_ip, c.backend_port, kA, 40000, c.udp_zero_csum);
  auto rr = c.verdict == REDIRECT ? from_container(rep) : to_container(rep);
  ASSERT_EQ(rr.err, 0);
  EXPECT_EQ(rr.retval, c.verdict == REDIRECT ? REDIRECT : OK);
  auto rh = hdr(rr.out);
  EXPECT_EQ(rh.saddr, ip4(kVip)) << "the client sees the frontend answer";
  EXPECT_EQ(rh.sport, 80);
  EXPECT_EQ(rh.daddr, ip4(kA));
  EXPECT_EQ(rh.dport, 40000);
  EXPECT_TRUE(checksums_ok(rr.out));
  if (c.proto == 6) {  // a state change (SYN-ACK) is reported; a UDP reply is not
    auto& ev2 = drain_events();
    ASSERT_FALSE(ev2.empty());
    EXPECT_EQ(ev2.back().src_service, kRev);
    EXPECT_EQ(ev2.back().is_reply, 1);
  }
  EXPECT_EQ(ct(kA, c.backend_ip, 40000, c.backend_port, c.proto)->packets_rev, 1u);
}

INSTANTIATE_TEST_SUITE_P(Table, LbXlate, ::testing::ValuesIn(kXlate), [](const auto& i) { return std::string(i.param.name); });

TEST_F(Lb, ChecksumsStayRightWithPayloadAndOptions) {
  // A data segment with IP options and payload, and an odd-length payload.
  lb_backend(1, kB, 8080);
  service(kVip, 80, 6, {1});
  for (size_t payload : {0u, 1u, 100u, 1001u}) {
    Packet p = pkt(kA, 41000 + payload, kVip, 80, 6, ACK);
    p.payload = payload;
    p.ip_options = {1, 1, 1, 0};  // NOP NOP NOP EOL
    p.ihl = 6;
    Bytes in = with_checksums(p.build());
    for (size_t i = 0; i < payload; ++i) in[in.size() - payload + i] = static_cast<uint8_t>(i * 7 + 3);
    in = with_checksums(in);
    ASSERT_TRUE(checksums_ok(in));
    auto r = from_container(in);
    EXPECT_EQ(r.retval, REDIRECT) << payload;
    EXPECT_EQ(hdr(r.out).daddr, ip4(kB));
    EXPECT_EQ(hdr(r.out).dport, 8080);
    EXPECT_TRUE(checksums_ok(r.out)) << "payload " << payload;
  }
}

TEST_F(Lb, NotAFrontendOrServicesOffIsUntouched) {
  lb_backend(1, kB, 8080);
  service(kVip, 80, 6, {1});
  Bytes other_port = tcp(kA, 40000, kVip, 81);
  auto r = from_container(other_port);
  EXPECT_EQ(r.retval, OK) << "no frontend on port 81: the stack";
  EXPECT_EQ(r.out, other_port);
  Bytes udp_same_port = udp(kA, 40000, kVip, 80);
  EXPECT_EQ(from_container(udp_same_port).out, udp_same_port) << "the frontend is TCP only";
  // Positive control, then the agent switching Services off.
  EXPECT_EQ(hdr(from_container(tcp(kA, 40001, kVip, 80)).out).daddr, ip4(kB));
  enable(false);
  Bytes in = tcp(kA, 40002, kVip, 80);
  r = from_container(in);
  EXPECT_EQ(r.retval, OK);
  EXPECT_EQ(r.out, in) << "Services off: no translation at all";
}

// ---- Backend selection ----
TEST_F(Lb, RandomSelectionSpreadsOverEveryBackend) {
  lb_backend(1, kB, 8080);
  lb_backend(2, kC, 8080);
  lb_backend(3, kRemote, 8080);
  service(kVip, 80, 6, {1, 2, 3});
  std::map<uint32_t, int> hits;
  const int n = 300;
  for (int i = 0; i < n; ++i) hits[backend_of(from_container(tcp(kA, 20000 + i, kVip, 80)))]++;
  ASSERT_EQ(hits.size(), 3u) << "only the frontend's backends, and all of them";
  for (auto ip : {kB, kC, kRemote}) EXPECT_GT(hits[ip4(ip)], 40) << ip << " (expected ~100 of 300)";
}

TEST_F(Lb, EstablishedConnectionKeepsItsBackend) {
  lb_backend(1, kB, 8080);
  lb_backend(2, kC, 8080);
  service(kVip, 80, 6, {1, 2});
  uint32_t first = backend_of(from_container(tcp(kA, 40000, kVip, 80, SYN)));
  ASSERT_TRUE(first == ip4(kB) || first == ip4(kC));
  for (int i = 0; i < 30; ++i) EXPECT_EQ(backend_of(from_container(tcp(kA, 40000, kVip, 80, ACK))), first);
  EXPECT_EQ(svc_ct(kA, 40000, kVip, 80)->packets_fwd, 31u);
}

TEST_F(Lb, BackendChangesAndEstablishedConnections) {
  lb_backend(1, kB, 8080);
  service(kVip, 80, 6, {1});
  ASSERT_EQ(backend_of(from_container(tcp(kA, 40000, kVip, 80, SYN))), ip4(kB));
  from_container(tcp(kB, 8080, kA, 40000, SYN | ACK));
  from_container(tcp(kA, 40000, kVip, 80, ACK));

  // B terminates (no longer takes new connections, not in the slots) and C
  // serves: the established connection stays on B, new ones go to C.
  lb_backend(1, kB, 8080, 6, MYELIN_LB_BE_F_TERMINATING);
  lb_backend(2, kC, 8080);
  service(kVip, 80, 6, {2});
  EXPECT_EQ(backend_of(from_container(tcp(kA, 40000, kVip, 80, ACK))), ip4(kB)) << "terminating: established continues";
  EXPECT_EQ(backend_of(from_container(tcp(kA, 40001, kVip, 80, SYN))), ip4(kC)) << "a new connection";
  EXPECT_EQ(backend_of(from_container(tcp(kA, 40000, kVip, 80, SYN))), ip4(kC))
      << "a new connection on the old tuple does not go to a backend that takes none";
  EXPECT_EQ(svc_ct(kA, 40000, kVip, 80)->backend_id, 2u);

  // A connection on B while B is removed: it picks again.
  lb_backend(1, kB, 8080);
  service(kVip, 80, 6, {1});
  ASSERT_EQ(backend_of(from_container(tcp(kA, 40002, kVip, 80, SYN))), ip4(kB));
  service(kVip, 80, 6, {2});
  remove_backend(1);
  EXPECT_EQ(backend_of(from_container(tcp(kA, 40002, kVip, 80, ACK))), ip4(kC)) << "its backend is gone";
  EXPECT_EQ(svc_ct(kA, 40002, kVip, 80)->backend_id, 2u);
}

TEST_F(Lb, ClientIpAffinity) {
  lb_backend(1, kB, 8080);
  lb_backend(2, kC, 8080);
  lb_backend(3, kRemote, 8080);
  service(kVip, 80, 6, {1, 2, 3}, MYELIN_LB_F_CLUSTER_IP | MYELIN_LB_F_AFFINITY, 10800);
  uint32_t first = backend_of(from_container(tcp(kA, 30000, kVip, 80)));
  for (int i = 1; i < 30; ++i) EXPECT_EQ(backend_of(from_container(tcp(kA, 30000 + i, kVip, 80))), first) << i;
  myelin_lb_affinity_key k{};
  k.client = ip4(kA);
  k.rev_nat_index = kRev;
  myelin_lb_affinity_val v{};
  ASSERT_EQ(bpf_map_lookup_elem(aff_fd_, &k, &v), 0) << "affinity recorded by client address";

  // Its backend stops taking new connections: the client moves at once, and stays.
  uint32_t id = v.backend_id;
  uint32_t moved_from = first;
  lb_backend(id, first == ip4(kB) ? kB : first == ip4(kC) ? kC : kRemote, 8080, 6, MYELIN_LB_BE_F_TERMINATING);
  std::vector<uint32_t> rest;
  for (uint32_t i : {1u, 2u, 3u})
    if (i != id) rest.push_back(i);
  service(kVip, 80, 6, rest, MYELIN_LB_F_CLUSTER_IP | MYELIN_LB_F_AFFINITY, 10800);
  uint32_t second = backend_of(from_container(tcp(kA, 31000, kVip, 80)));
  EXPECT_NE(second, moved_from);
  for (int i = 1; i < 20; ++i) EXPECT_EQ(backend_of(from_container(tcp(kA, 31000 + i, kVip, 80))), second) << i;

  // Control: without affinity the same client spreads.
  service(kVip, 80, 6, {1, 2, 3});
  lb_backend(id, moved_from == ip4(kB) ? kB : moved_from == ip4(kC) ? kC : kRemote, 8080);
  std::set<uint32_t> seen;
  for (int i = 0; i < 60; ++i) seen.insert(backend_of(from_container(tcp(kA, 32000 + i, kVip, 80))));
  EXPECT_EQ(seen.size(), 3u);
}

TEST_F(Lb, AffinityTimeout) {
  lb_backend(1, kB, 8080);
  lb_backend(2, kC, 8080);
  service(kVip, 80, 6, {1, 2}, MYELIN_LB_F_CLUSTER_IP | MYELIN_LB_F_AFFINITY, 1);
  uint32_t first = backend_of(from_container(tcp(kA, 30000, kVip, 80)));
  myelin_lb_affinity_key k{};
  k.client = ip4(kA);
  k.rev_nat_index = kRev;
  myelin_lb_affinity_val v{};
  ASSERT_EQ(bpf_map_lookup_elem(aff_fd_, &k, &v), 0);
  // Age the entry past its 1 s timeout, and point it at the other backend: a
  // live entry would be followed, an expired one is replaced.
  v.last_used_ns -= 5'000'000'000ull;
  v.backend_id = first == ip4(kB) ? 2 : 1;
  ASSERT_EQ(bpf_map_update_elem(aff_fd_, &k, &v, BPF_ANY), 0);
  from_container(tcp(kA, 30001, kVip, 80));
  myelin_lb_affinity_val after{};
  ASSERT_EQ(bpf_map_lookup_elem(aff_fd_, &k, &after), 0);
  EXPECT_GT(after.last_used_ns, v.last_used_ns + 4'000'000'000ull) << "an expired entry is replaced";
  // Control: a live entry is followed.
  after.backend_id = first == ip4(kB) ? 2 : 1;
  ASSERT_EQ(bpf_map_update_elem(aff_fd_, &k, &after, BPF_ANY), 0);
  EXPECT_EQ(backend_of(from_container(tcp(kA, 30002, kVip, 80))), first == ip4(kB) ? ip4(kC) : ip4(kB));
}

// ---- No backend: answered at once, reported ----
TEST_F(Lb, NoBackendTcpSynGetsRst) {
  service(kVip, 80, 6, {});
  drain_events().clear();
  Packet p = pkt(kA, 40000, kVip, 80, 6, SYN);
  Bytes in = with_checksums(p.build());
  uint32_t seq = htonl(1000);
  std::memcpy(&in[38], &seq, 4);
  in = with_checksums(in);
  auto r = from_container(in);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.retval, REDIRECT) << "sent back to the pod";
  ASSERT_EQ(r.out.size(), 54u);
  EXPECT_TRUE(checksums_ok(r.out));
  auto h = hdr(r.out);
  EXPECT_EQ(h.saddr, ip4(kVip));
  EXPECT_EQ(h.daddr, ip4(kA));
  EXPECT_EQ(h.sport, 80);
  EXPECT_EQ(h.dport, 40000);
  EXPECT_EQ(h.flags, RST | ACK);
  EXPECT_EQ(h.seq, 0u);
  EXPECT_EQ(h.ack, 1001u) << "acknowledges the SYN";
  EXPECT_TRUE(std::equal(kPodMacA.begin(), kPodMacA.end(), r.out.begin())) << "to the pod's MAC";
  auto& ev = drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, MYELIN_EVENT_DROP);
  EXPECT_EQ(ev[0].drop_reason, MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND);
  EXPECT_EQ(ev[0].dst_service, kRev);
  EXPECT_EQ(ev[0].daddr.w[0], ip4(kVip));
  EXPECT_EQ(counter(MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND, MYELIN_DIR_EGRESS), 1u);
  EXPECT_FALSE(svc_ct(kA, 40000, kVip, 80));
  EXPECT_EQ(dp_->ct_count(), 0u) << "nothing tracked";
}

TEST_F(Lb, NoBackendTcpSegmentsAndRsts) {
  service(kVip, 80, 6, {});
  Bytes in = tcp(kA, 40000, kVip, 80, ACK);
  uint32_t ack = htonl(5555);
  std::memcpy(&in[42], &ack, 4);
  in = with_checksums(in);
  auto r = from_container(in);
  EXPECT_EQ(r.retval, REDIRECT);
  EXPECT_EQ(hdr(r.out).flags, RST) << "a segment with ACK: RST with its ack as the sequence";
  EXPECT_EQ(hdr(r.out).seq, 5555u);
  EXPECT_TRUE(checksums_ok(r.out));
  r = from_container(tcp(kA, 40000, kVip, 80, RST));
  EXPECT_EQ(r.retval, SHOT) << "an RST is never answered";
  EXPECT_EQ(counter(MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND, MYELIN_DIR_EGRESS), 2u);
}

TEST_F(Lb, NoBackendUdpGetsPortUnreachable) {
  service(kVip, 53, 17, {});
  for (bool options : {false, true}) {
    Packet p = pkt(kA, 40000, kVip, 53, 17);
    if (options) {
      p.ip_options = {1, 1, 1, 0};
      p.ihl = 6;
    }
    Bytes in = with_checksums(p.build());
    auto r = from_container(in);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, REDIRECT);
    size_t ihl = options ? 24 : 20;
    ASSERT_EQ(r.out.size(), 14u + 20 + 8 + ihl + 8) << "IP + ICMP + the quoted header and 8 bytes";
    EXPECT_TRUE(checksums_ok(r.out));
    EXPECT_EQ(r.out[23], 1) << "ICMP";
    EXPECT_EQ(r.out[34], 3) << "destination unreachable";
    EXPECT_EQ(r.out[35], 3) << "port unreachable";
    auto h = hdr(r.out);
    EXPECT_EQ(h.saddr, ip4(kVip));
    EXPECT_EQ(h.daddr, ip4(kA));
    EXPECT_TRUE(std::equal(in.begin() + 14, in.begin() + 14 + ihl + 8, r.out.begin() + 42)) << "the datagram quoted as sent";
    EXPECT_TRUE(std::equal(kPodMacA.begin(), kPodMacA.end(), r.out.begin()));
  }
  EXPECT_EQ(counter(MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND, MYELIN_DIR_EGRESS), 2u);
}

// ---- ICMP errors about a translated connection: translated back too ----
TEST_F(Lb, IcmpErrorFromTheBackendReachesTheClientsSocket) {
  lb_backend(1, kB, 5353, 17);
  service(kVip, 53, 17, {1});
  ASSERT_EQ(from_container(udp(kA, 40000, kVip, 53)).retval, REDIRECT);
  // B's port is closed: its kernel quotes the datagram as B got it.
  Packet sent = pkt(kA, 40000, kB, 5353, 17);
  Bytes quoted;
  {
    Bytes full = with_checksums(sent.build());
    quoted.assign(full.begin() + 14, full.begin() + 14 + 28);
  }
  Packet err;
  err.saddr = ip4(kB);
  err.daddr = ip4(kA);
  err.proto = 1;
  err.icmp_type = 3;
  err.icmp_code = 3;
  err.icmp_id = 0;
  err.icmp_data = quoted;
  Bytes in = err.build();
  // ICMP checksum over the message.
  size_t tot = (size_t(in[16]) << 8) | in[17];
  in[36] = in[37] = 0;
  uint16_t c = fold(sum16(&in[34], tot - 20));
  in[36] = c >> 8, in[37] = c & 0xff;
  in = with_checksums(in);  // the outer IP header
  ASSERT_TRUE(checksums_ok(in));
  drain_events().clear();
  auto r = from_container(in);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.retval, REDIRECT);
  EXPECT_TRUE(checksums_ok(r.out)) << "outer IPv4 and ICMP";
  auto h = hdr(r.out);
  EXPECT_EQ(h.saddr, ip4(kVip)) << "from the frontend the client sent to";
  EXPECT_EQ(h.daddr, ip4(kA));
  uint32_t inner_d;
  std::memcpy(&inner_d, &r.out[42 + 16], 4);
  EXPECT_EQ(inner_d, ip4(kVip)) << "quotes the datagram as the client sent it";
  EXPECT_EQ((uint16_t(r.out[42 + 22]) << 8) | r.out[42 + 23], 53);
  EXPECT_EQ(fold(sum16(&r.out[42], 20)), 0) << "the quoted header's checksum";
  auto& ev = drain_events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().src_service, kRev);
  EXPECT_EQ(ev.back().trace_reason, MYELIN_TRACE_REASON_RELATED);
}

TEST_F(Lb, TheAnswerPassesThePodsOwnVeth) {
  // The answer leaves by the pod's host-side veth, whose egress program
  // would drop it on its own: an ICMP error about nothing tracked.
  service(kVip, 53, 17, {});
  uint32_t mark = 0;
  auto r = from_container_mark(udp(kA, 40000, kVip, 53), &mark);
  ASSERT_EQ(r.retval, REDIRECT);
  EXPECT_EQ(mark & MYELIN_MARK_MASK, MYELIN_MARK_LOCAL);
  EXPECT_EQ(run(dp_->to_container_fd(), r.out, kLo, mark).retval, OK);
  EXPECT_EQ(run(dp_->to_container_fd(), r.out, kLo, 0).retval, SHOT) << "control: without the mark";
  service(kVip, 80, 6, {});
  r = from_container_mark(tcp(kA, 40000, kVip, 80), &mark);
  ASSERT_EQ(r.retval, REDIRECT);
  EXPECT_EQ(mark & MYELIN_MARK_MASK, MYELIN_MARK_LOCAL);
}

// ---- Hairpin: a pod reaching itself through its Service ----
TEST_F(Lb, HairpinSnatsToTheServiceLoopbackAndBack) {
  lb_backend(1, kA, 8080);
  service(kVip, 80, 6, {1});
  auto r = from_container(tcp(kA, 40000, kVip, 80));
  EXPECT_EQ(r.retval, REDIRECT);
  auto h = hdr(r.out);
  EXPECT_EQ(h.saddr, ip4(MYELIN_LB_HAIRPIN_IPV4));
  EXPECT_EQ(h.daddr, ip4(kA));
  EXPECT_EQ(h.dport, 8080);
  EXPECT_TRUE(checksums_ok(r.out));
  auto ce = ct(MYELIN_LB_HAIRPIN_IPV4, kA, 40000, 8080, 6);
  ASSERT_TRUE(ce);
  EXPECT_EQ(ce->flags & MYELIN_CT_F_HAIRPIN, MYELIN_CT_F_HAIRPIN);
  EXPECT_EQ(ce->rev_nat_index, kRev);

  auto rr = from_container(tcp(kA, 8080, MYELIN_LB_HAIRPIN_IPV4, 40000, SYN | ACK));
  EXPECT_EQ(rr.retval, REDIRECT) << "back into the pod";
  auto rh = hdr(rr.out);
  EXPECT_EQ(rh.saddr, ip4(kVip));
  EXPECT_EQ(rh.sport, 80);
  EXPECT_EQ(rh.daddr, ip4(kA));
  EXPECT_EQ(rh.dport, 40000);
  EXPECT_TRUE(checksums_ok(rr.out));

  // Control: another pod's connection to the same backend is not SNATed.
  auto o = from_container(tcp(kB, 40000, kVip, 80));
  EXPECT_EQ(hdr(o.out).saddr, ip4(kB));
}

// ---- Policy after translation: the backend's identity and port ----
TEST_F(Lb, PolicyOnTheBackendsIdentityAndPort) {
  lb_backend(1, kB, 8080);
  service(kVip, 80, 6, {1});
  myelin_ep_key k{};
  k.addr.w[0] = ip4(kB);
  k.family = MYELIN_FAMILY_IPV4;
  auto b = dp_->endpoint_get(k);
  ASSERT_TRUE(b);
  b->flags |= MYELIN_EP_F_INGRESS_ENFORCED;
  ASSERT_TRUE(dp_->endpoint_upsert(k, *b));
  // Only the frontend's port 80 allowed: the backend port 8080 is what counts.
  myelin_policy_val v{31, 0};
  ASSERT_TRUE(dp_->policy_upsert(false, datapath::policy_key(12, MYELIN_DIR_INGRESS, 6, 1001, 80, 16), v));
  drain_events().clear();
  auto r = from_container(tcp(kA, 40000, kVip, 80));
  EXPECT_EQ(r.retval, SHOT);
  auto& ev = drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].drop_reason, MYELIN_DROP_POLICY_DENIED);
  EXPECT_EQ(ev[0].dst_service, kRev) << "the drop says which Service";
  EXPECT_EQ(ntohs(ev[0].dport), 8080);
  EXPECT_FALSE(svc_ct(kA, 40000, kVip, 80)) << "a denied connection leaves nothing behind";
  EXPECT_FALSE(ct(kA, kB, 40000, 8080, 6));
  ev.clear();
  // Allow 8080 from A's identity: through.
  myelin_policy_val v2{32, 0};
  ASSERT_TRUE(dp_->policy_upsert(false, datapath::policy_key(12, MYELIN_DIR_INGRESS, 6, 1001, 8080, 16), v2));
  r = from_container(tcp(kA, 40001, kVip, 80));
  EXPECT_EQ(r.retval, REDIRECT);
  ASSERT_FALSE(drain_events().empty());
  EXPECT_EQ(drain_events().back().ingress_policy_id, 32u);
}

// ---- Beside kube-proxy: what the stack translated, it translates back ----
TEST_F(Lb, RepliesOfConnectionsThroughTheStackGoBackThroughIt) {
  // kube-proxy DNATed A -> ClusterIP to B in the stack: B's veth sees A -> B:8080.
  auto r = to_container(tcp(kA, 40000, kB, 8080));
  EXPECT_EQ(r.retval, OK);
  auto e = ct(kA, kB, 40000, 8080, 6);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->flags & MYELIN_CT_F_VIA_STACK, MYELIN_CT_F_VIA_STACK);
  r = from_container(tcp(kB, 8080, kA, 40000, SYN | ACK));
  EXPECT_EQ(r.retval, OK) << "the reply goes to the stack, which undoes the DNAT";
  // Control: a direct connection's reply goes straight to the client.
  from_container(tcp(kA, 40001, kB, 8080));
  EXPECT_EQ(from_container(tcp(kB, 8080, kA, 40001, SYN | ACK)).retval, REDIRECT);
}

// ---- Missing entries: never a wrong backend, never an untranslated reply ----
TEST_F(Lb, MissingSlotsBackendsAndReverseNat) {
  lb_backend(1, kB, 8080);
  service(kVip, 80, 6, {}, MYELIN_LB_F_CLUSTER_IP, 0, kRev, 2);  // count 2, no slots written
  auto r = from_container(tcp(kA, 40000, kVip, 80));
  EXPECT_EQ(r.retval, SHOT);
  EXPECT_EQ(counter(MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND, MYELIN_DIR_EGRESS), 1u);
  service(kVip, 80, 6, {99});  // a slot whose backend is not in the backend map
  EXPECT_EQ(from_container(tcp(kA, 40001, kVip, 80)).retval, SHOT);
  EXPECT_EQ(counter(MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND, MYELIN_DIR_EGRESS), 2u);
  EXPECT_EQ(dp_->ct_count(), 0u);

  // A reply whose frontend's reverse NAT entry is gone is dropped, not passed
  // with the backend's address.
  service(kVip, 80, 6, {1});
  ASSERT_EQ(from_container(tcp(kA, 40002, kVip, 80)).retval, REDIRECT);
  uint32_t rev = kRev;
  ASSERT_EQ(bpf_map_delete_elem(rev_fd_, &rev), 0);
  EXPECT_EQ(from_container(tcp(kB, 8080, kA, 40002, SYN | ACK)).retval, SHOT);
  EXPECT_EQ(counter(MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND, MYELIN_DIR_EGRESS), 3u);
}

TEST_F(Lb, ReplyRefreshesTheServiceEntry) {
  lb_backend(1, kB, 5353, 17);
  service(kVip, 53, 17, {1});
  from_container(udp(kA, 40000, kVip, 53));
  auto before = svc_ct(kA, 40000, kVip, 53, 17);
  ASSERT_TRUE(before);
  EXPECT_EQ(before->state, MYELIN_CT_NEW);
  from_container(udp(kB, 5353, kA, 40000));
  auto after = svc_ct(kA, 40000, kVip, 53, 17);
  EXPECT_EQ(after->state, MYELIN_CT_ESTABLISHED) << "expires with its connection";
  EXPECT_GE(after->last_seen_ns, before->last_seen_ns);
}

// ---- Random packets through the Service path: checksums right in, right out ----
TEST_F(Lb, RandomPacketsKeepValidChecksumsAndOnlyGoToBackends) {
  lb_backend(1, kB, 8080);
  lb_backend(2, kC, 8080);
  lb_backend(3, kRemote, 8080);
  lb_backend(4, kB, 5353, 17);
  lb_backend(5, kA, 5353, 17);  // A's own: hairpin
  service(kVip, 80, 6, {1, 2, 3});
  service(kVip, 53, 17, {4, 5}, MYELIN_LB_F_CLUSTER_IP, 0, kRev + 1);
  service("10.96.0.11", 80, 6, {}, MYELIN_LB_F_CLUSTER_IP, 0, kRev + 2);
  service("10.96.0.11", 53, 17, {}, MYELIN_LB_F_CLUSTER_IP, 0, kRev + 3);
  std::mt19937_64 rng(20261201);
  const std::set<uint32_t> tcp_backends{ip4(kB), ip4(kC), ip4(kRemote)};
  const std::set<uint32_t> udp_backends{ip4(kB), ip4(kA)};
  int translated = 0, answered = 0, replies = 0;
  for (int i = 0; i < 20000; ++i) {
    bool udp_ = rng() & 1, empty = (rng() % 8) == 0;
    Packet p = pkt(kA, 1024 + rng() % 60000, empty ? "10.96.0.11" : kVip, udp_ ? 53 : 80, udp_ ? 17 : 6,
                   static_cast<uint8_t>(rng()));
    p.payload = rng() % 300;
    size_t opt = (rng() % 11) * 4;
    p.ip_options.assign(opt, 1);
    if (opt) p.ip_options.back() = 0;
    p.ihl = static_cast<uint8_t>(5 + opt / 4);
    Bytes in = p.build();
    for (size_t j = 54 + opt; j < in.size(); ++j) in[j] = static_cast<uint8_t>(rng());
    in = with_checksums(in, udp_ && (rng() % 4) == 0);
    auto r = from_container(in);
    ASSERT_EQ(r.err, 0);
    ASSERT_TRUE(r.retval == OK || r.retval == SHOT || r.retval == REDIRECT) << r.retval;
    if (r.retval == SHOT) {
      ASSERT_TRUE(empty && !udp_ && (p.tcp_flags & RST)) << "only an RST to a frontend without backends is dropped, run " << i;
      continue;
    }
    ASSERT_TRUE(checksums_ok(r.out)) << "run " << i;
    auto h = hdr(r.out);
    if (empty) {
      ++answered;
      ASSERT_EQ(h.saddr, ip4("10.96.0.11")) << "the frontend answers, run " << i;
      ASSERT_EQ(h.daddr, ip4(kA));
      continue;
    }
    ++translated;
    ASSERT_TRUE((udp_ ? udp_backends : tcp_backends).count(h.daddr)) << "run " << i;
    if (!udp_ && (p.tcp_flags & RST)) continue;  // translated, but a stray RST opens nothing to reply to
    // The backend answers: translated back, checksums right.
    Packet rp = pkt(kA, 1, kA, 1, p.proto, static_cast<uint8_t>(rng()) & ~RST);
    rp.saddr = h.daddr;
    rp.daddr = h.saddr;  // the hairpin address for A's own backend
    rp.sport = h.dport;
    rp.dport = h.sport;
    rp.payload = rng() % 200;
    Bytes rin = with_checksums(rp.build());
    auto rr = h.daddr == ip4(kRemote) ? to_container(rin) : from_container(rin);
    ASSERT_EQ(rr.err, 0);
    if (rr.retval == SHOT) continue;  // e.g. a stray reply flag combination conntrack refuses
    ++replies;
    ASSERT_TRUE(checksums_ok(rr.out)) << "reply, run " << i;
    auto rh = hdr(rr.out);
    ASSERT_EQ(rh.saddr, ip4(kVip)) << "reply, run " << i;
    ASSERT_EQ(rh.daddr, ip4(kA)) << "reply, run " << i;
    ASSERT_EQ(rh.sport, udp_ ? 53 : 80);
  }
  EXPECT_GT(translated, 10000);
  EXPECT_GT(answered, 1000);
  EXPECT_GT(replies, 5000);
}

}  // namespace
}  // namespace myelin::test
