// SPDX-License-Identifier: Apache-2.0
// Conntrack transitions driven by real packets through from_container, read
// back from the pinned map; the events each transition emits; GC expiry.
#include <time.h>

#include "fixture.hpp"

namespace myelin::test {
namespace {

constexpr uint8_t SYN = MYELIN_TCP_SYN, ACK = MYELIN_TCP_ACK, FIN = MYELIN_TCP_FIN, RST = MYELIN_TCP_RST;

Bytes tcp(const char* s, const char* d, uint16_t sp, uint16_t dp, uint8_t flags) {
  Packet p;
  p.saddr = ip4(s);
  p.daddr = ip4(d);
  p.sport = sp;
  p.dport = dp;
  p.tcp_flags = flags;
  return p.build();
}

class Conntrack : public DatapathTest {
 protected:
  // A packet of the connection A:40000 -> B:80 (reply = from B).
  uint8_t step(bool reply, uint8_t flags) {
    auto r = reply ? from_container(tcp("10.0.0.2", "10.0.0.1", 80, 40000, flags))
                   : from_container(tcp("10.0.0.1", "10.0.0.2", 40000, 80, flags));
    EXPECT_EQ(r.err, 0);
    auto e = ct("10.0.0.1", "10.0.0.2", 40000, 80, 6);
    return e ? e->state : static_cast<uint8_t>(MYELIN_CT_NONE);
  }
};

TEST_F(Conntrack, TcpHandshakeDataAndClose) {
  two_pods();
  struct Step {
    bool reply;
    uint8_t flags;
    uint8_t state;
  } steps[] = {
      {false, SYN, MYELIN_CT_SYN_SENT},        {true, SYN | ACK, MYELIN_CT_SYN_RECV},
      {false, ACK, MYELIN_CT_ESTABLISHED},     {true, ACK, MYELIN_CT_ESTABLISHED},
      {false, FIN | ACK, MYELIN_CT_FIN_WAIT},  {true, FIN | ACK, MYELIN_CT_CLOSING},
      {false, ACK, MYELIN_CT_CLOSED},
  };
  for (const auto& s : steps) EXPECT_EQ(step(s.reply, s.flags), s.state) << "flags " << int(s.flags) << (s.reply ? " reply" : "");
  auto e = ct("10.0.0.1", "10.0.0.2", 40000, 80, 6);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->packets_fwd, 4u);
  EXPECT_EQ(e->packets_rev, 3u);
  EXPECT_EQ(e->src_ep, 11u);
  EXPECT_EQ(e->dst_ep, 12u);
  EXPECT_FALSE(ct("10.0.0.2", "10.0.0.1", 80, 40000, 6)) << "replies never create their own entry";
}

TEST_F(Conntrack, RstClosesAndANewSynReopens) {
  two_pods();
  step(false, SYN);
  step(true, SYN | ACK);
  EXPECT_EQ(step(true, RST), MYELIN_CT_CLOSED);
  EXPECT_EQ(step(false, SYN), MYELIN_CT_SYN_SENT) << "port reuse starts a new connection";
}

TEST_F(Conntrack, MidStreamPickupAndUntrackedRst) {
  two_pods();
  EXPECT_EQ(step(false, ACK), MYELIN_CT_ESTABLISHED) << "an agent-less restart must not break flows";
  auto r = from_container(tcp("10.0.0.1", "10.0.0.2", 41000, 80, RST));
  EXPECT_EQ(r.retval, 7u);
  EXPECT_FALSE(ct("10.0.0.1", "10.0.0.2", 41000, 80, 6)) << "a stray RST creates nothing";
}

TEST_F(Conntrack, UdpBecomesEstablishedOnReply) {
  two_pods();
  Packet q = Packet{};
  q.proto = 17;
  q.sport = 5353;
  q.dport = 53;
  from_container(q.build());
  EXPECT_EQ(ct("10.0.0.1", "10.0.0.2", 5353, 53, 17)->state, MYELIN_CT_NEW);
  Packet a = q;
  std::swap(a.saddr, a.daddr);
  std::swap(a.sport, a.dport);
  from_container(a.build());
  EXPECT_EQ(ct("10.0.0.1", "10.0.0.2", 5353, 53, 17)->state, MYELIN_CT_ESTABLISHED);
}

TEST_F(Conntrack, IcmpEchoTrackedByIdErrorsRelated) {
  two_pods();
  Packet req;
  req.proto = 1;
  req.icmp_type = 8;
  req.icmp_id = 77;
  from_container(req.build());
  auto e = ct("10.0.0.1", "10.0.0.2", 77, 0, 1);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, MYELIN_CT_NEW);
  Packet rep = req;
  std::swap(rep.saddr, rep.daddr);
  rep.icmp_type = 0;
  from_container(rep.build());
  EXPECT_EQ(ct("10.0.0.1", "10.0.0.2", 77, 0, 1)->state, MYELIN_CT_ESTABLISHED);

  // An error has no entry of its own: it relates to the connection of the
  // datagram it quotes (here B's error about A's echo request).
  drain_events().clear();
  Packet unreach = rep;
  unreach.icmp_type = 3;
  unreach.icmp_code = 3;
  unreach.icmp_data = quote(req);
  EXPECT_EQ(from_container(unreach.build()).retval, 7u);
  auto& ev = drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].subtype, MYELIN_TRACE_UNTRACKED);
  EXPECT_EQ(ev[0].trace_reason, MYELIN_TRACE_REASON_RELATED);
  ev.clear();
  unreach.icmp_data.clear();
  EXPECT_EQ(from_container(unreach.build()).retval, 2u) << "an error quoting nothing relates to nothing";
  ASSERT_EQ(drain_events().size(), 1u);
  EXPECT_EQ(drain_events()[0].drop_reason, MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER);
}

TEST_F(Conntrack, EventsForNewConnectionsAndStateChangesOnly) {
  two_pods();
  step(false, SYN);
  step(true, SYN | ACK);
  step(false, ACK);
  step(false, ACK | 0x08);  // data: no event
  step(true, ACK);          // no event
  auto& ev = drain_events();
  ASSERT_EQ(ev.size(), 3u) << "SYN (new), SYN-ACK and ACK (state changes); data packets are silent";
  EXPECT_EQ(ev[0].type, MYELIN_EVENT_TRACE);
  EXPECT_EQ(ev[0].subtype, MYELIN_TRACE_CT_NEW);
  EXPECT_EQ(ev[0].trace_reason, MYELIN_TRACE_REASON_NEW);
  EXPECT_EQ(ev[0].direction, MYELIN_DIR_EGRESS);
  EXPECT_EQ(ev[0].is_reply, 0);
  EXPECT_EQ(ev[0].obs_point, MYELIN_OBS_TO_ENDPOINT);
  EXPECT_EQ(ev[0].src_ep, 11u);
  EXPECT_EQ(ev[0].dst_ep, 12u);
  EXPECT_EQ(ev[0].src_identity, 1001u);
  EXPECT_EQ(ev[0].dst_identity, 1002u);
  EXPECT_EQ(ntohs(ev[0].sport), 40000);
  EXPECT_EQ(ntohs(ev[0].dport), 80);
  EXPECT_EQ(ev[0].saddr.w[0], ip4("10.0.0.1"));
  EXPECT_EQ(ev[0].tcp_flags, SYN);
  EXPECT_EQ(ev[1].subtype, MYELIN_TRACE_CT_STATE);
  EXPECT_EQ(ev[1].is_reply, 1);
  EXPECT_EQ(ev[1].direction, MYELIN_DIR_INGRESS) << "a reply of a connection B accepted: ingress for B, as Hubble says";
  EXPECT_EQ(ev[1].ct_state, MYELIN_CT_SYN_RECV);
  EXPECT_EQ(ev[2].ct_state, MYELIN_CT_ESTABLISHED);
}

TEST_F(Conntrack, GcExpiresOldEntriesAndKeepsFreshOnes) {
  two_pods();
  step(false, SYN);
  Packet u;
  u.proto = 17;
  from_container(u.build());
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t now = uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
  datapath::CtTimeouts t;
  auto r = dp_->ct_gc(t, now);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->scanned, 2u);
  EXPECT_EQ(r->deleted, 0u);
  EXPECT_EQ(r->alive_by_state[MYELIN_CT_SYN_SENT], 1u);
  EXPECT_EQ(r->alive_by_state[MYELIN_CT_NEW], 1u);
  // 61 s later the SYN (60 s) has expired, the UDP flow (60 s) too; 30 s later neither.
  r = dp_->ct_gc(t, now + 30ull * 1000000000ull);
  EXPECT_EQ(r->deleted, 0u);
  r = dp_->ct_gc(t, now + 61ull * 1000000000ull);
  EXPECT_EQ(r->deleted, 2u);
  EXPECT_EQ(dp_->ct_count(), 0u);
}

TEST(CtTimeouts, PerStateAndProtocol) {
  datapath::CtTimeouts t;
  EXPECT_EQ(datapath::ct_timeout(t, 6, MYELIN_CT_SYN_SENT), t.tcp_syn);
  EXPECT_EQ(datapath::ct_timeout(t, 6, MYELIN_CT_ESTABLISHED), t.tcp_established);
  EXPECT_EQ(datapath::ct_timeout(t, 6, MYELIN_CT_CLOSED), t.tcp_closing);
  EXPECT_EQ(datapath::ct_timeout(t, 17, MYELIN_CT_NEW), t.udp);
  EXPECT_EQ(datapath::ct_timeout(t, 1, MYELIN_CT_NEW), t.icmp);
  EXPECT_EQ(datapath::ct_timeout(t, 47, MYELIN_CT_NEW), t.other);
}

TEST_F(DatapathTest, RingBufferFailuresAreCounted) {
  // Fill the 4 MiB ring buffer without reading it: every failed reservation
  // must be counted in stats.events_lost, none ignored.
  two_pods();
  Packet p;
  p.saddr = ip4("10.9.9.9");  // spoofed: a drop event per packet
  Bytes pkt = p.build();
  const int n = 45000;  // 104-byte events + 8-byte headers: ~37k fit in 4 MiB
  for (int i = 0; i < n; ++i) ASSERT_EQ(from_container(pkt).err, 0);
  uint64_t lost = dp_->stats().events_lost;
  EXPECT_GT(lost, 0u);
  size_t got = 0;
  while (reader_->poll(0) > 0) {
  }
  got = events_.size();
  EXPECT_EQ(got + lost, static_cast<uint64_t>(n)) << "every event is either delivered or counted as lost";
  EXPECT_EQ(dp_->stats().events_sent, got);
  EXPECT_EQ(counter(MYELIN_DROP_INVALID_SOURCE_IP, MYELIN_DIR_EGRESS), static_cast<uint64_t>(n));
}

}  // namespace
}  // namespace myelin::test
