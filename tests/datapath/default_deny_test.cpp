// SPDX-License-Identifier: Apache-2.0
// Default deny holds for every packet that is not part of a connection
// policy allowed: each ICMP type and stray TCP segments (no SYN, no entry),
// under no policy, a namespace-wide default deny and an allow rule, through
// both pod programs; ICMP errors pass only as RELATED to a tracked
// connection (found through the datagram they quote), and query replies only
// as replies to a tracked request.
#include <iostream>

#include "fixture.hpp"

namespace myelin::test {
namespace {

constexpr uint32_t OK = 0, SHOT = 2, REDIRECT = 7;
constexpr uint32_t kIdA = 1001, kIdB = 1002, kIdC = 1003, kWorld = MYELIN_IDENTITY_WORLD;
constexpr uint8_t FIN = MYELIN_TCP_FIN, SYN = MYELIN_TCP_SYN, RST = MYELIN_TCP_RST, PSH = MYELIN_TCP_PSH,
                  ACK = MYELIN_TCP_ACK, URG = MYELIN_TCP_URG, ECE = MYELIN_TCP_ECE, CWR = MYELIN_TCP_CWR;
constexpr uint8_t EGRESS = MYELIN_DIR_EGRESS, INGRESS = MYELIN_DIR_INGRESS;
constexpr uint32_t ENFORCED = MYELIN_EP_F_INGRESS_ENFORCED | MYELIN_EP_F_EGRESS_ENFORCED;
constexpr uint8_t DENIED = MYELIN_DROP_POLICY_DENIED, UNRELATED = MYELIN_DROP_CT_CANNOT_CREATE_ENTRY_FROM_PACKET,
                  TRUNCATED = MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER;

const char* const kA = "10.0.0.1";
const char* const kB = "10.0.0.2";
const char* const kC = "10.0.0.3";
const char* const kOut = "192.168.1.1";     // a host beyond the node (world)
const char* const kRouter = "192.168.9.9";  // a router on the way there

enum class Mode { NoPolicy, DefaultDeny, AllowRule };
enum class Prog { FromContainer, ToContainer };
const char* name(Mode m) { return m == Mode::NoPolicy ? "no-policy" : m == Mode::DefaultDeny ? "default-deny" : "allow-rule"; }
const char* name(Prog p) { return p == Prog::FromContainer ? "from_container" : "to_container"; }

// What the datapath must do with the first packet of a flow.
enum class Kind {
  Opens,      // where policy allows: forwarded and tracked (an entry in `state`)
  Stateless,  // where policy allows: forwarded, no entry (stray RST, ICMP reply without request, other ICMP)
  Error,      // ICMP error: RELATED to a tracked connection or dropped, whatever the policy
};

struct Row {
  std::string name;
  uint8_t proto;
  uint8_t type_or_flags, code;
  Kind kind;
  uint8_t state = 0;       // Opens: the entry's state
  uint16_t key_dport = 0;  // Opens, ICMP: the conntrack key's dport (the exchange's reply type)
  size_t payload = 0;
};

Row icmp(std::string n, uint8_t type, uint8_t code, Kind k, uint16_t reply_type = 0) {
  return {std::move(n), 1, type, code, k, k == Kind::Opens ? uint8_t{MYELIN_CT_NEW} : uint8_t{0}, reply_type};
}
Row tcp(std::string n, uint8_t flags, Kind k, uint8_t state = 0, size_t payload = 0) {
  return {std::move(n), 6, flags, 0, k, state, 0, payload};
}

const std::vector<Row> kRows = {
    icmp("icmp 0 echo reply, no request", 0, 0, Kind::Stateless),
    icmp("icmp 3/0 net unreachable", 3, 0, Kind::Error),
    icmp("icmp 3/1 host unreachable", 3, 1, Kind::Error),
    icmp("icmp 3/3 port unreachable", 3, 3, Kind::Error),
    icmp("icmp 3/4 fragmentation needed", 3, 4, Kind::Error),
    icmp("icmp 3/13 administratively prohibited", 3, 13, Kind::Error),
    icmp("icmp 4 source quench", 4, 0, Kind::Error),
    icmp("icmp 5/1 redirect host", 5, 1, Kind::Error),
    icmp("icmp 8 echo request", 8, 0, Kind::Opens, 0),
    icmp("icmp 9 router advertisement", 9, 0, Kind::Stateless),
    icmp("icmp 10 router solicitation", 10, 0, Kind::Stateless),
    icmp("icmp 11/0 ttl exceeded", 11, 0, Kind::Error),
    icmp("icmp 11/1 reassembly time exceeded", 11, 1, Kind::Error),
    icmp("icmp 12 parameter problem", 12, 0, Kind::Error),
    icmp("icmp 13 timestamp", 13, 0, Kind::Opens, 14),
    icmp("icmp 14 timestamp reply, no request", 14, 0, Kind::Stateless),
    icmp("icmp 15 information request", 15, 0, Kind::Opens, 16),
    icmp("icmp 16 information reply, no request", 16, 0, Kind::Stateless),
    icmp("icmp 17 address mask request", 17, 0, Kind::Opens, 18),
    icmp("icmp 18 address mask reply, no request", 18, 0, Kind::Stateless),
    icmp("icmp 6 alternate host address", 6, 0, Kind::Stateless),
    icmp("icmp 30 traceroute", 30, 0, Kind::Stateless),
    icmp("icmp 42 unknown type", 42, 0, Kind::Stateless),
    icmp("icmp 255 unknown type", 255, 7, Kind::Stateless),
    tcp("tcp ACK", ACK, Kind::Opens, MYELIN_CT_ESTABLISHED),
    tcp("tcp RST", RST, Kind::Stateless),
    tcp("tcp RST|ACK", RST | ACK, Kind::Stateless),
    tcp("tcp FIN", FIN, Kind::Opens, MYELIN_CT_FIN_WAIT),
    tcp("tcp FIN|ACK", FIN | ACK, Kind::Opens, MYELIN_CT_FIN_WAIT),
    tcp("tcp PSH|ACK with data", PSH | ACK, Kind::Opens, MYELIN_CT_ESTABLISHED, 100),
    tcp("tcp URG", URG, Kind::Opens, MYELIN_CT_ESTABLISHED),
    tcp("tcp no flags (NULL scan)", 0, Kind::Opens, MYELIN_CT_ESTABLISHED),
    tcp("tcp SYN|ACK without SYN", SYN | ACK, Kind::Opens, MYELIN_CT_ESTABLISHED),
    tcp("tcp SYN|FIN", SYN | FIN, Kind::Opens, MYELIN_CT_SYN_SENT),
    tcp("tcp SYN|RST", SYN | RST, Kind::Stateless),
    tcp("tcp FIN|PSH|URG (xmas scan)", FIN | PSH | URG, Kind::Opens, MYELIN_CT_FIN_WAIT),
    tcp("tcp every flag", 0xff, Kind::Stateless),
    tcp("tcp ECE|CWR|ACK", ECE | CWR | ACK, Kind::Opens, MYELIN_CT_ESTABLISHED),
};

std::string verdict_text(uint32_t v, uint8_t reason) {
  if (v == SHOT) return "DROPPED(" + std::to_string(reason) + ")";
  return v == REDIRECT ? "FORWARDED(redirect)" : v == OK ? "FORWARDED" : "VERDICT " + std::to_string(v);
}

class DenyFixture : public DatapathTest {
 protected:
  void pod(const char* ip, uint32_t id, uint32_t identity, uint32_t flags) {
    add_endpoint(ip, kLo, id, identity, kPodMacA, kNodeMacA);
    myelin_ep_key k{};
    k.addr.w[0] = ip4(ip);
    k.family = MYELIN_FAMILY_IPV4;
    myelin_ep_info v{};
    ASSERT_EQ(bpf_map_lookup_elem(dp_->endpoints_fd(), &k, &v), 0);
    v.flags |= flags;
    ASSERT_TRUE(dp_->endpoint_upsert(k, v));
  }
  // Allows every protocol and port between an endpoint and a remote identity.
  void allow(uint32_t ep, uint8_t dir, uint32_t identity) {
    myelin_policy_val v{static_cast<uint32_t>(100 + ep), 0};
    ASSERT_TRUE(dp_->policy_upsert(false, datapath::policy_key(ep, dir, 0, identity, 0, 0), v));
  }
  void clear_ct() {
    for (const auto& [k, e] : dp_->ct_entries()) bpf_map_delete_elem(dp_->ct_fd(), &k);
  }
  uint64_t drops_total() {
    uint64_t n = 0;
    for (const auto& [k, v] : dp_->metrics())
      if (k.reason != MYELIN_DROP_NONE) n += v.packets;
    return n;
  }
  static Packet make(const char* s, const char* d, uint8_t proto) {
    Packet p;
    p.saddr = ip4(s);
    p.daddr = ip4(d);
    p.proto = proto;
    return p;
  }
  static Packet tcp_pkt(const char* s, const char* d, uint16_t sp, uint16_t dp, uint8_t flags) {
    Packet p = make(s, d, 6);
    p.sport = sp;
    p.dport = dp;
    p.tcp_flags = flags;
    return p;
  }
  static Packet icmp_pkt(const char* s, const char* d, uint8_t type, uint8_t code = 0, uint16_t id = 77) {
    Packet p = make(s, d, 1);
    p.icmp_type = type;
    p.icmp_code = code;
    p.icmp_id = id;
    return p;
  }
  // An ICMP error from s to d quoting `inner`.
  static Packet error_pkt(const char* s, const char* d, uint8_t type, uint8_t code, const Packet& inner, size_t l4 = 8) {
    Packet p = icmp_pkt(s, d, type, code, 0);
    p.icmp_data = quote(inner, l4);
    return p;
  }
  RunResult send(Prog prog, const Bytes& b) { return prog == Prog::FromContainer ? from_container(b) : to_container(b); }
};

// ---- Each ICMP type and stray TCP segment, x 3 policies x 2 programs ----

class DefaultDeny : public DenyFixture, public ::testing::WithParamInterface<std::tuple<Prog, Mode>> {};

TEST_P(DefaultDeny, EveryIcmpTypeAndStrayTcpSegment) {
  const auto [prog, mode] = GetParam();
  const bool from = prog == Prog::FromContainer;
  const uint32_t flags = mode == Mode::NoPolicy ? 0 : ENFORCED;
  pod(kA, 11, kIdA, flags);
  pod(kB, 12, kIdB, flags);
  if (mode == Mode::AllowRule) {
    if (from) {
      allow(11, EGRESS, kIdB);
      allow(12, INGRESS, kIdA);
    } else {
      allow(11, INGRESS, kWorld);
    }
  }
  // from_container: pod A -> pod B. to_container: the world -> pod A.
  const char* src = from ? kA : kOut;
  const char* dst = from ? kB : kA;
  const uint32_t forwarded = from ? REDIRECT : OK;
  const uint8_t dir = from ? EGRESS : INGRESS;

  for (const Row& row : kRows) {
    for (int variant = 0; variant < (row.kind == Kind::Error ? 2 : 1); ++variant) {
      std::string what = row.name + (row.kind == Kind::Error ? (variant == 0 ? " quoting an untracked connection" : " quoting nothing") : "");
      SCOPED_TRACE(what);
      clear_ct();
      Packet p = row.proto == 6 ? tcp_pkt(src, dst, 40000, 80, row.type_or_flags) : icmp_pkt(src, dst, row.type_or_flags, row.code);
      p.payload = row.payload;
      if (row.kind == Kind::Error && variant == 0)
        p.icmp_data = quote(tcp_pkt(dst, src, 80, 40000, ACK));  // what the error's receiver would have sent
      uint32_t want = forwarded;
      uint8_t reason = 0;
      if (row.kind == Kind::Error) want = SHOT, reason = variant == 0 ? UNRELATED : TRUNCATED;
      else if (mode == Mode::DefaultDeny) want = SHOT, reason = DENIED;

      uint64_t before = counter(reason, dir), drops_before = drops_total();
      drain_events().clear();
      auto r = send(prog, p.build());
      ASSERT_EQ(r.err, 0);
      std::cout << "RESULT " << name(prog) << " " << name(mode) << " | " << what << " | "
                << verdict_text(r.retval, drain_events().empty() ? 0 : drain_events().back().drop_reason)
                << " | ct entries " << dp_->ct_count() << "\n";
      EXPECT_EQ(r.retval, want);
      EXPECT_EQ(counter(reason, dir), before + 1) << "counted as {" << int(reason) << "," << int(dir) << "}";
      EXPECT_EQ(drops_total(), drops_before + (want == SHOT ? 1 : 0));
      auto& ev = drain_events();
      if (ev.empty()) {
        ADD_FAILURE() << "no event";
      } else if (want == SHOT) {
        EXPECT_EQ(ev.back().type, MYELIN_EVENT_DROP);
        EXPECT_EQ(ev.back().drop_reason, reason);
        EXPECT_EQ(ev.back().direction, dir);
      } else {
        EXPECT_EQ(ev.back().type, MYELIN_EVENT_TRACE);
        EXPECT_EQ(ev.back().subtype, row.kind == Kind::Opens ? MYELIN_TRACE_CT_NEW : MYELIN_TRACE_UNTRACKED);
        EXPECT_EQ(ev.back().trace_reason, MYELIN_TRACE_REASON_NEW);
      }
      if (want != SHOT && row.kind == Kind::Opens) {
        auto e = row.proto == 6 ? ct(src, dst, 40000, 80, 6) : ct(src, dst, 77, row.key_dport, 1);
        EXPECT_TRUE(e) << "an allowed first packet is tracked from then on";
        if (e) {
          EXPECT_EQ(e->state, row.state);
        }
        EXPECT_EQ(dp_->ct_count(), 1u);
      } else {
        EXPECT_EQ(dp_->ct_count(), 0u) << "nothing tracked";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, DefaultDeny,
                         ::testing::Combine(::testing::Values(Prog::FromContainer, Prog::ToContainer),
                                            ::testing::Values(Mode::NoPolicy, Mode::DefaultDeny, Mode::AllowRule)),
                         [](const auto& info) {
                           std::string n = std::string(name(std::get<0>(info.param))) + "_" + name(std::get<1>(info.param));
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

// ---- Connections policy allowed one way: A may open to B, B may open nothing ----

class OneWay : public DenyFixture {
 protected:
  void SetUp() override {
    DenyFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    pod(kA, 11, kIdA, ENFORCED);
    pod(kB, 12, kIdB, ENFORCED);
    pod(kC, 13, kIdC, 0);  // unrestricted
    allow(11, EGRESS, kIdB);
    allow(12, INGRESS, kIdA);
    allow(11, EGRESS, kWorld);
  }
  void expect_drop(const Packet& p, uint8_t reason, Prog prog = Prog::FromContainer) {
    auto r = send(prog, p.build());
    EXPECT_EQ(r.retval, SHOT);
    auto& ev = drain_events();
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.back().type, MYELIN_EVENT_DROP);
    EXPECT_EQ(ev.back().drop_reason, reason);
  }
  // A forwarded packet; returns its event (none for packets of a tracked
  // flow that change no state: the datapath traces only those that do).
  myelin_flow_event expect_pass(const Packet& p, Prog prog = Prog::FromContainer) {
    drain_events().clear();
    auto r = send(prog, p.build());
    EXPECT_EQ(r.retval, prog == Prog::FromContainer && ep_addr(p.daddr) ? REDIRECT : OK);
    auto& ev = drain_events();
    if (ev.empty()) return {};
    EXPECT_NE(ev.back().type, MYELIN_EVENT_DROP) << "dropped with " << int(ev.back().drop_reason);
    return ev.back();
  }
  static bool ep_addr(uint32_t a) { return a == ip4(kA) || a == ip4(kB) || a == ip4(kC); }
  // A's connections to B: TCP 40000->80, UDP 5353->53, echo id 77, and one to the world.
  void open_connections() {
    expect_pass(tcp_pkt(kA, kB, 40000, 80, SYN));
    Packet u = make(kA, kB, 17);
    u.sport = 5353;
    u.dport = 53;
    expect_pass(u);
    expect_pass(icmp_pkt(kA, kB, 8, 0, 77));
    expect_pass(tcp_pkt(kA, kOut, 41000, 443, SYN));
    ASSERT_EQ(dp_->ct_count(), 4u);
  }
};

TEST_F(OneWay, PositiveControlsAllowedOneWayDeniedTheOther) {
  expect_pass(tcp_pkt(kA, kB, 40000, 80, SYN));
  expect_drop(tcp_pkt(kB, kA, 40001, 80, SYN), DENIED);
  expect_drop(icmp_pkt(kB, kA, 8), DENIED);
  expect_pass(icmp_pkt(kA, kB, 8));
}

struct ErrorType {
  uint8_t type, code;
};
const ErrorType kErrors[] = {{3, 0}, {3, 1}, {3, 3}, {3, 4}, {3, 13}, {4, 0}, {5, 1}, {11, 0}, {11, 1}, {12, 0}};

TEST_F(OneWay, ErrorsAboutTrackedConnectionsAreRelatedWhateverThePolicy) {
  open_connections();
  Packet tcp_in = tcp_pkt(kA, kB, 40000, 80, SYN);
  Packet udp_in = make(kA, kB, 17);
  udp_in.sport = 5353;
  udp_in.dport = 53;
  Packet echo_in = icmp_pkt(kA, kB, 8, 0, 77);
  for (const auto& et : kErrors) {
    SCOPED_TRACE("icmp " + std::to_string(et.type) + "/" + std::to_string(et.code));
    for (const Packet* in : {&tcp_in, &udp_in, &echo_in}) {
      SCOPED_TRACE("inner proto " + std::to_string(in->proto));
      auto ev = expect_pass(error_pkt(kB, kA, et.type, et.code, *in));
      EXPECT_EQ(ev.trace_reason, MYELIN_TRACE_REASON_RELATED);
      EXPECT_EQ(ev.is_reply, 1) << "about A's own packet: travels as the connection's reply";
      EXPECT_EQ(ev.direction, INGRESS);
    }
    Packet tcp_other = tcp_pkt(kA, kB, 40001, 80, SYN), udp_other = udp_in, echo_other = icmp_pkt(kA, kB, 8, 0, 78);
    udp_other.sport = 5354;
    for (const Packet* in : {&tcp_other, &udp_other, &echo_other}) {
      SCOPED_TRACE("untracked inner proto " + std::to_string(in->proto));
      expect_drop(error_pkt(kB, kA, et.type, et.code, *in), UNRELATED);
    }
  }
  auto e = ct(kA, kB, 40000, 80, 6);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, MYELIN_CT_SYN_SENT) << "an error does not move the connection's state";
}

TEST_F(OneWay, ErrorAboutAReplyTravelsTheOriginalDirection) {
  open_connections();
  expect_pass(tcp_pkt(kB, kA, 80, 40000, SYN | ACK));
  // A answers B's SYN-ACK with an error (its stack lost the socket, say).
  auto ev = expect_pass(error_pkt(kA, kB, 3, 3, tcp_pkt(kB, kA, 80, 40000, SYN | ACK)));
  EXPECT_EQ(ev.trace_reason, MYELIN_TRACE_REASON_RELATED);
  EXPECT_EQ(ev.is_reply, 0);
  EXPECT_EQ(ev.direction, EGRESS);
}

TEST_F(OneWay, ErrorsThatDoNotAddUpAreDropped) {
  open_connections();
  Packet in = tcp_pkt(kA, kB, 40000, 80, SYN);
  // A "returns" an error about its own packet to B: the quoted sender is not the error's receiver.
  expect_drop(error_pkt(kA, kB, 3, 3, in), UNRELATED);
  // C, not on the connection's path, sends A an error about A's connection to B.
  expect_drop(error_pkt(kC, kA, 3, 1, in), UNRELATED);
  // An error about an error.
  expect_drop(error_pkt(kB, kA, 3, 1, error_pkt(kA, kB, 3, 3, tcp_pkt(kB, kA, 80, 40000, ACK)), 8), UNRELATED);
  // About a later fragment: no ports to find the connection by.
  Packet frag = in;
  frag.frag_off = 100;
  expect_drop(error_pkt(kB, kA, 11, 1, frag), UNRELATED);
  // The error itself fragmented (errors are at most 576 bytes: RFC 1812).
  Packet big = error_pkt(kB, kA, 3, 3, in);
  big.frag_off = 0x2000;
  big.ip_id = 555;
  expect_drop(big, MYELIN_DROP_IP_FRAGMENTATION_NOT_SUPPORTED);
  // Positive control: the same error, whole and from B.
  EXPECT_EQ(expect_pass(error_pkt(kB, kA, 3, 3, in)).trace_reason, MYELIN_TRACE_REASON_RELATED);
  Packet opts = in;
  opts.ihl = 6;
  opts.ip_options = {1, 1, 1, 0};
  EXPECT_EQ(expect_pass(error_pkt(kB, kA, 3, 3, opts)).trace_reason, MYELIN_TRACE_REASON_RELATED) << "inner IP options skipped";
}

TEST_F(OneWay, TruncatedOrInvalidQuotesAreDropped) {
  open_connections();
  Packet in = tcp_pkt(kA, kB, 40000, 80, SYN);
  struct Cut {
    const char* name;
    Bytes data;
  };
  Packet v6 = in, ihl4 = in, ihl15 = in;
  v6.version = 6;
  ihl4.ihl = 4;
  ihl15.ihl = 15;
  const Cut cuts[] = {
      {"nothing quoted", {}},
      {"1 byte", cut(quote(in), 1)},
      {"19 bytes of the IP header", cut(quote(in), 19)},
      {"IP header, no L4", cut(quote(in), 20)},
      {"IP header + 4 bytes of L4", cut(quote(in), 24)},
      {"IP header + 7 bytes of L4", cut(quote(in), 27)},
      {"inner version 6", quote(v6)},
      {"inner IHL 4", quote(ihl4)},
      {"inner IHL 15, 20 bytes of header quoted", quote(ihl15)},
  };
  for (const auto& c : cuts) {
    SCOPED_TRACE(c.name);
    Packet p = icmp_pkt(kB, kA, 3, 3, 0);
    p.icmp_data = c.data;
    expect_drop(p, TRUNCATED);
  }
  // Positive control: exactly IP header + 8 bytes.
  Packet p = icmp_pkt(kB, kA, 3, 3, 0);
  p.icmp_data = cut(quote(in), 28);
  expect_pass(p);
}

TEST_F(OneWay, ErrorsFromRoutersAndTheFarEndToAPodThroughTheStack) {
  open_connections();
  Packet in = tcp_pkt(kA, kOut, 41000, 443, SYN);
  // to_container: a router on the way says fragmentation needed; the far end says port unreachable.
  EXPECT_EQ(expect_pass(error_pkt(kRouter, kA, 3, 4, in), Prog::ToContainer).trace_reason, MYELIN_TRACE_REASON_RELATED);
  EXPECT_EQ(expect_pass(error_pkt(kOut, kA, 3, 3, in), Prog::ToContainer).trace_reason, MYELIN_TRACE_REASON_RELATED);
  EXPECT_EQ(expect_pass(error_pkt(kRouter, kA, 11, 0, in), Prog::ToContainer).trace_reason, MYELIN_TRACE_REASON_RELATED);
  Packet other = tcp_pkt(kA, kOut, 41001, 443, SYN);
  expect_drop(error_pkt(kRouter, kA, 3, 4, other), UNRELATED, Prog::ToContainer);
  expect_drop(icmp_pkt(kOut, kA, 8), DENIED, Prog::ToContainer);  // positive control of the deny
  expect_drop(icmp_pkt(kOut, kA, 13), DENIED, Prog::ToContainer);
}

TEST_F(OneWay, QueryRepliesOnlyAnswerTrackedRequests) {
  struct Pair {
    uint8_t request, reply;
  };
  for (Pair q : {Pair{8, 0}, Pair{13, 14}, Pair{15, 16}, Pair{17, 18}}) {
    SCOPED_TRACE("icmp " + std::to_string(q.request) + "/" + std::to_string(q.reply));
    clear_ct();
    expect_drop(icmp_pkt(kB, kA, q.reply, 0, 5), DENIED);  // a reply nobody asked for
    expect_pass(icmp_pkt(kA, kB, q.request, 0, 5));
    auto e = ct(kA, kB, 5, q.reply, 1);
    ASSERT_TRUE(e) << "keyed by id and the exchange's reply type";
    EXPECT_EQ(e->state, MYELIN_CT_NEW);
    expect_pass(icmp_pkt(kB, kA, q.reply, 0, 5));
    EXPECT_EQ(ct(kA, kB, 5, q.reply, 1)->state, MYELIN_CT_ESTABLISHED);
    EXPECT_EQ(ct(kA, kB, 5, q.reply, 1)->packets_rev, 1u) << "counted as the reply";
    expect_drop(icmp_pkt(kB, kA, q.reply, 0, 6), DENIED);    // another id
    expect_drop(icmp_pkt(kB, kA, q.request, 0, 5), DENIED);  // B asking A the same id is B's own new flow
    for (Pair other : {Pair{8, 0}, Pair{13, 14}, Pair{15, 16}, Pair{17, 18}})
      if (other.reply != q.reply) expect_drop(icmp_pkt(kB, kA, other.reply, 0, 5), DENIED);  // reply of another exchange
  }
}

TEST_F(OneWay, FragmentsOfAnIcmpQueryKeepItsType) {
  expect_pass(icmp_pkt(kA, kB, 8, 0, 9));
  Packet first = icmp_pkt(kB, kA, 0, 0, 9);  // B's answer, in two fragments
  first.ip_id = 4242;
  first.frag_off = 0x2000;
  first.payload = 64;
  expect_pass(first);
  Packet later = first;
  later.frag_off = 9;
  expect_pass(later);
  EXPECT_EQ(ct(kA, kB, 9, 0, 1)->packets_rev, 2u) << "both fragments are the echo's reply";
  Packet ts = icmp_pkt(kB, kA, 13, 0, 9);  // B's own timestamp request, in two fragments
  ts.ip_id = 4243;
  ts.frag_off = 0x2000;
  ts.payload = 64;
  expect_drop(ts, DENIED);
  ts.frag_off = 9;
  expect_drop(ts, DENIED);
}

TEST_F(OneWay, EvictedConnectionResumesWhereAllowedAndOnlyThere) {
  expect_pass(tcp_pkt(kA, kB, 40000, 80, SYN));
  expect_pass(tcp_pkt(kB, kA, 80, 40000, SYN | ACK));
  expect_pass(tcp_pkt(kA, kB, 40000, 80, ACK));
  ASSERT_EQ(ct(kA, kB, 40000, 80, 6)->state, MYELIN_CT_ESTABLISHED);
  clear_ct();  // evicted (LRU) or lost
  Packet data = tcp_pkt(kB, kA, 80, 40000, PSH | ACK);
  data.payload = 200;
  expect_drop(data, DENIED);  // the server side speaks first: B may not open to A
  EXPECT_EQ(dp_->ct_count(), 0u);
  Packet ack = tcp_pkt(kA, kB, 40000, 80, PSH | ACK);
  ack.payload = 10;
  expect_pass(ack);  // the client's next segment: picked up mid-stream
  EXPECT_EQ(ct(kA, kB, 40000, 80, 6)->state, MYELIN_CT_ESTABLISHED);
  expect_pass(data);  // the server's retransmission now rides on it
  EXPECT_EQ(ct(kA, kB, 40000, 80, 6)->packets_rev, 1u);
  // Stray RSTs: from A (allowed) pass and track nothing; from B (denied) drop.
  expect_pass(tcp_pkt(kA, kB, 40005, 80, RST));
  EXPECT_FALSE(ct(kA, kB, 40005, 80, 6));
  expect_drop(tcp_pkt(kB, kA, 80, 40005, RST), DENIED);
  expect_drop(tcp_pkt(kB, kA, 80, 40006, RST | ACK), DENIED);
  // The tracked connection's RST from B is its reply: passes and closes it.
  expect_pass(tcp_pkt(kB, kA, 80, 40000, RST));
  EXPECT_EQ(ct(kA, kB, 40000, 80, 6)->state, MYELIN_CT_CLOSED);
}

// Found by the packet fuzzer: to_container delivered a packet for any
// address into the pod behind its veth, without that pod's policy.
TEST_F(OneWay, ToContainerServesOnlyThePodBehindItsVeth) {
  add_endpoint("10.0.0.5", kPeerIfindex, 15, 1005, kPodMacB, kNodeMacB);  // a pod behind another veth
  for (const char* d : {"10.0.0.4", kOut, "10.0.0.5", "255.255.255.255"}) {
    SCOPED_TRACE(d);
    Packet p = tcp_pkt(kOut, d, 40000, 80, SYN);
    expect_drop(p, MYELIN_DROP_NO_MATCHING_LOCAL_CONTAINER_FOUND, Prog::ToContainer);
    Packet u = make(kOut, d, 17);
    expect_drop(u, MYELIN_DROP_NO_MATCHING_LOCAL_CONTAINER_FOUND, Prog::ToContainer);
  }
  EXPECT_EQ(dp_->ct_count(), 0u);
  expect_pass(tcp_pkt(kOut, kC, 40000, 80, SYN), Prog::ToContainer);  // positive control: C has no policy
}

// Found by the packet fuzzer: a connection a pod's packet opened through the
// node's stack met only the destination's ingress; the replies then entered
// the default-deny pod as replies.
TEST_F(OneWay, ThroughTheStackAPodStillMeetsItsEgressPolicy) {
  expect_drop(tcp_pkt(kA, kC, 40000, 22, SYN), DENIED, Prog::ToContainer);
  EXPECT_EQ(counter(DENIED, EGRESS), 1u) << "counted as A's egress";
  EXPECT_FALSE(ct(kA, kC, 40000, 22, 6));
  expect_drop(tcp_pkt(kC, kA, 22, 40000, SYN | ACK), DENIED, Prog::ToContainer);  // so nothing comes back
  expect_drop(tcp_pkt(kC, kA, 22, 40000, ACK), DENIED);
  // Positive control: what A's egress and B's ingress allow opens, from the stack too.
  expect_pass(tcp_pkt(kA, kB, 40000, 80, SYN), Prog::ToContainer);
  EXPECT_TRUE(ct(kA, kB, 40000, 80, 6));
  expect_drop(tcp_pkt(kC, kA, 22, 40001, SYN), DENIED, Prog::ToContainer);  // C is unrestricted, A's ingress is not
}

TEST_F(OneWay, AuditModeReportsStrayPacketsAndPasses) {
  pod(kB, 12, kIdB, ENFORCED | MYELIN_EP_F_AUDIT);
  drain_events().clear();
  EXPECT_EQ(from_container(tcp_pkt(kB, kA, 80, 40000, ACK).build()).retval, SHOT)
      << "A is not in audit mode: its ingress still drops";
  pod(kA, 11, kIdA, ENFORCED | MYELIN_EP_F_AUDIT);
  for (const Packet& p : {tcp_pkt(kB, kA, 80, 40001, ACK), tcp_pkt(kB, kA, 80, 40002, RST), icmp_pkt(kB, kA, 13), icmp_pkt(kB, kA, 0)}) {
    drain_events().clear();
    EXPECT_EQ(from_container(p.build()).retval, REDIRECT);
    bool audited = false;
    for (const auto& e : drain_events()) audited |= e.type == MYELIN_EVENT_POLICY_VERDICT && e.verdict == MYELIN_VERDICT_AUDIT;
    EXPECT_TRUE(audited) << "audit reports the drop it would have made";
  }
}

}  // namespace
}  // namespace myelin::test
