// SPDX-License-Identifier: Apache-2.0
// Policy lookup on a connection's first packet, table-driven: exact port,
// port range, any port, any identity, any protocol, deny over allow,
// default deny only where enforced, audit, fail-closed, and conntrack
// carrying replies of allowed connections.
#include "fixture.hpp"

namespace myelin::test {
namespace {

constexpr uint32_t kIdA = 1001, kIdB = 1002;
constexpr uint32_t OK = 0, SHOT = 2, REDIRECT = 7;

struct Rule {
  bool deny;
  uint32_t ep, identity;
  uint8_t dir, proto;
  uint16_t lo, hi;  // port range; 0-65535 = any
  uint32_t id;
};

struct Case {
  const char* name;
  std::vector<Rule> rules;
  uint32_t b_flags;       // flags of pod B (the server), on top of READY
  uint16_t dport;
  uint32_t verdict;
  uint8_t drop_reason;
  uint32_t policy_id;     // expected in the event (0: none)
};

const Rule allowB80{false, 12, kIdA, MYELIN_DIR_INGRESS, 6, 80, 80, 7};
constexpr uint32_t IN = MYELIN_EP_F_INGRESS_ENFORCED;

const std::vector<Case> kCases = {
    {"no policy selects B: allowed", {}, 0, 80, REDIRECT, 0, 0},
    {"B enforced, no rule: default deny", {}, IN, 80, SHOT, MYELIN_DROP_POLICY_DENIED, 0},
    {"exact port allowed", {allowB80}, IN, 80, REDIRECT, 0, 7},
    {"other port not allowed", {allowB80}, IN, 81, SHOT, MYELIN_DROP_POLICY_DENIED, 0},
    {"port range 8000-8099: inside", {{false, 12, kIdA, MYELIN_DIR_INGRESS, 6, 8000, 8099, 8}}, IN, 8042, REDIRECT, 0, 8},
    {"port range 8000-8099: upper edge", {{false, 12, kIdA, MYELIN_DIR_INGRESS, 6, 8000, 8099, 8}}, IN, 8099, REDIRECT, 0, 8},
    {"port range 8000-8099: just outside", {{false, 12, kIdA, MYELIN_DIR_INGRESS, 6, 8000, 8099, 8}}, IN, 8100, SHOT, MYELIN_DROP_POLICY_DENIED, 0},
    {"any port from A", {{false, 12, kIdA, MYELIN_DIR_INGRESS, 6, 0, 65535, 9}}, IN, 4444, REDIRECT, 0, 9},
    {"any identity on port 80", {{false, 12, 0, MYELIN_DIR_INGRESS, 6, 80, 80, 10}}, IN, 80, REDIRECT, 0, 10},
    {"any protocol from A", {{false, 12, kIdA, MYELIN_DIR_INGRESS, 0, 0, 65535, 11}}, IN, 22, REDIRECT, 0, 11},
    {"UDP rule does not allow TCP", {{false, 12, kIdA, MYELIN_DIR_INGRESS, 17, 80, 80, 12}}, IN, 80, SHOT, MYELIN_DROP_POLICY_DENIED, 0},
    {"rule for another identity", {{false, 12, 4242, MYELIN_DIR_INGRESS, 6, 80, 80, 13}}, IN, 80, SHOT, MYELIN_DROP_POLICY_DENIED, 0},
    {"deny any identity beats exact allow", {allowB80, {true, 12, 0, MYELIN_DIR_INGRESS, 6, 0, 65535, 20}}, IN, 80, SHOT, MYELIN_DROP_POLICY_DENY, 20},
    {"deny on a range beats exact allow", {allowB80, {true, 12, kIdA, MYELIN_DIR_INGRESS, 6, 64, 127, 21}}, IN, 80, SHOT, MYELIN_DROP_POLICY_DENY, 21},
    {"deny even where nothing is enforced", {{true, 12, kIdA, MYELIN_DIR_INGRESS, 6, 80, 80, 22}}, 0, 80, SHOT, MYELIN_DROP_POLICY_DENY, 22},
    {"deny elsewhere does not matter", {allowB80, {true, 12, kIdA, MYELIN_DIR_INGRESS, 6, 81, 81, 23}}, IN, 80, REDIRECT, 0, 7},
    {"egress of A enforced, no rule", {}, 0, 80, SHOT, MYELIN_DROP_POLICY_DENIED, 0},  // A's flags set below
    {"audit: default deny reported, passes", {}, IN | MYELIN_EP_F_AUDIT, 80, REDIRECT, 0, 0},
    {"policy could not be installed: fail closed", {allowB80}, IN | MYELIN_EP_F_POLICY_FAILED | MYELIN_EP_F_AUDIT, 80, SHOT, MYELIN_DROP_NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION, 0},
};

class PolicyBase : public DatapathTest {
 protected:
  void pods(uint32_t a_flags, uint32_t b_flags) {
    add_endpoint("10.0.0.1", kLo, 11, kIdA, kPodMacA, kNodeMacA, a_flags);
    add_endpoint("10.0.0.2", kLo, 12, kIdB, kPodMacB, kNodeMacB, b_flags);
  }
  void add_endpoint(const char* ip, uint32_t ifindex, uint32_t id, uint32_t identity, const Mac& mac,
                    const Mac& node_mac, uint32_t flags) {
    DatapathTest::add_endpoint(ip, ifindex, id, identity, mac, node_mac);
    myelin_ep_key k{};
    k.addr.w[0] = ip4(ip);
    k.family = MYELIN_FAMILY_IPV4;
    myelin_ep_info v{};
    ASSERT_EQ(bpf_map_lookup_elem(dp_->endpoints_fd(), &k, &v), 0);
    v.flags |= flags;
    ASSERT_TRUE(dp_->endpoint_upsert(k, v));
  }
  void install(const Rule& r) {
    for (auto [port, bits] : datapath::port_range_prefixes(r.lo, r.hi)) {
      myelin_policy_val v{r.id, 0};
      ASSERT_TRUE(dp_->policy_upsert(r.deny, datapath::policy_key(r.ep, r.dir, r.proto, r.identity, port, bits), v));
    }
  }
  Bytes syn(uint16_t dport, bool reply = false) {
    Packet p;
    p.dport = dport;
    if (reply) {
      std::swap(p.saddr, p.daddr);
      p.sport = dport;
      p.dport = 40000;
      p.tcp_flags = MYELIN_TCP_SYN | MYELIN_TCP_ACK;
    }
    return p.build();
  }
};

class Policy : public PolicyBase, public ::testing::WithParamInterface<Case> {};

TEST_P(Policy, FirstPacketVerdict) {
  const Case& c = GetParam();
  bool egress_case = std::string(c.name).rfind("egress", 0) == 0;
  pods(egress_case ? MYELIN_EP_F_EGRESS_ENFORCED : 0, c.b_flags);
  for (const auto& r : c.rules) install(r);
  drain_events().clear();
  auto r = from_container(syn(c.dport));
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.retval, c.verdict);
  auto& ev = drain_events();
  ASSERT_FALSE(ev.empty());
  const auto& last = ev.back();
  if (c.verdict == SHOT) {
    EXPECT_EQ(last.type, MYELIN_EVENT_DROP);
    EXPECT_EQ(last.drop_reason, c.drop_reason);
    EXPECT_EQ(last.direction, egress_case ? MYELIN_DIR_EGRESS : MYELIN_DIR_INGRESS);
    EXPECT_FALSE(ct("10.0.0.1", "10.0.0.2", 40000, c.dport, 6)) << "a denied SYN leaves no connection behind";
    EXPECT_EQ(counter(c.drop_reason, egress_case ? MYELIN_DIR_EGRESS : MYELIN_DIR_INGRESS), 1u);
  } else {
    EXPECT_TRUE(ct("10.0.0.1", "10.0.0.2", 40000, c.dport, 6));
  }
  EXPECT_EQ(egress_case ? last.egress_policy_id : last.ingress_policy_id, c.policy_id) << "attribution";
  if (c.b_flags & MYELIN_EP_F_AUDIT && c.verdict != SHOT) {
    bool audited = false;
    for (const auto& e : ev) audited |= e.type == MYELIN_EVENT_POLICY_VERDICT && e.verdict == MYELIN_VERDICT_AUDIT;
    EXPECT_TRUE(audited) << "audit mode reports the verdict it would have given";
  }
}

INSTANTIATE_TEST_SUITE_P(Table, Policy, ::testing::ValuesIn(kCases), [](const auto& info) {
  std::string n;
  for (char ch : std::string(info.param.name)) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return n;
});

TEST_F(Policy, RepliesOfAnAllowedConnectionRideOnConntrack) {
  pods(MYELIN_EP_F_INGRESS_ENFORCED, IN);  // nothing allows B -> A, yet the reply passes
  install(allowB80);
  EXPECT_EQ(from_container(syn(80)).retval, REDIRECT);
  EXPECT_EQ(from_container(syn(80, true)).retval, REDIRECT);
  EXPECT_EQ(counter(MYELIN_DROP_POLICY_DENIED, MYELIN_DIR_INGRESS), 0u);
}

TEST_F(Policy, ANewSynOnAKnownTupleIsCheckedAgain) {
  pods(0, IN);
  install(allowB80);
  ASSERT_EQ(from_container(syn(80)).retval, REDIRECT);
  ASSERT_EQ(from_container(syn(80, true)).retval, REDIRECT);
  // The allow goes away (policy edited) while the tuple's entry is still there.
  for (auto [port, bits] : datapath::port_range_prefixes(80, 80))
    ASSERT_TRUE(dp_->policy_delete(false, datapath::policy_key(12, MYELIN_DIR_INGRESS, 6, kIdA, port, bits)));
  EXPECT_EQ(from_container(syn(80)).retval, SHOT) << "a retransmitted or reused SYN meets the new policy";
  EXPECT_FALSE(ct("10.0.0.1", "10.0.0.2", 40000, 80, 6)) << "and leaves no entry behind";
  EXPECT_EQ(counter(MYELIN_DROP_POLICY_DENIED, MYELIN_DIR_INGRESS), 1u);
  install(allowB80);
  EXPECT_EQ(from_container(syn(80)).retval, REDIRECT);
  Packet rst;
  rst.tcp_flags = MYELIN_TCP_RST;
  EXPECT_EQ(from_container(rst.build()).retval, REDIRECT) << "the RST closes the entry";
  EXPECT_EQ(ct("10.0.0.1", "10.0.0.2", 40000, 80, 6)->state, MYELIN_CT_CLOSED);
  EXPECT_EQ(from_container(syn(80)).retval, REDIRECT) << "reuse of a closed tuple, still allowed";
  EXPECT_EQ(ct("10.0.0.1", "10.0.0.2", 40000, 80, 6)->state, MYELIN_CT_SYN_SENT);
}

TEST_F(Policy, SctpPortsMatchLikeTcpAndUdp) {
  pods(0, IN);
  install({false, 12, kIdA, MYELIN_DIR_INGRESS, 132, 80, 80, 40});
  install({false, 12, kIdA, MYELIN_DIR_INGRESS, 6, 81, 81, 41});
  Packet p;
  p.proto = 132;
  p.dport = 80;
  drain_events().clear();
  EXPECT_EQ(from_container(p.build()).retval, REDIRECT) << "SCTP to 80 is allowed by the SCTP rule";
  EXPECT_EQ(drain_events().back().ingress_policy_id, 40u);
  EXPECT_TRUE(ct("10.0.0.1", "10.0.0.2", 40000, 80, 132));
  p.dport = 81;
  EXPECT_EQ(from_container(p.build()).retval, SHOT) << "a TCP rule on 81 does not allow SCTP to 81";
  p.dport = 80;
  p.proto = 17;
  EXPECT_EQ(from_container(p.build()).retval, SHOT) << "nor does the SCTP rule allow UDP";
  Packet reply;
  reply.proto = 132;
  std::swap(reply.saddr, reply.daddr);
  reply.sport = 80;
  reply.dport = 40000;
  EXPECT_EQ(from_container(reply.build()).retval, REDIRECT) << "the association's replies ride on conntrack";
  EXPECT_EQ(ct("10.0.0.1", "10.0.0.2", 40000, 80, 132)->state, MYELIN_CT_ESTABLISHED);
}

TEST_F(Policy, APolicyChangeRevokesEstablishedFlowsOnTheirNextPacket) {
  pods(0, IN);
  install({false, 12, kIdA, MYELIN_DIR_INGRESS, 17, 53, 53, 50});
  Packet q;
  q.proto = 17;
  q.dport = 53;
  ASSERT_EQ(from_container(q.build()).retval, REDIRECT);
  Packet a = q;
  std::swap(a.saddr, a.daddr);
  std::swap(a.sport, a.dport);
  ASSERT_EQ(from_container(a.build()).retval, REDIRECT);
  for (auto [port, bits] : datapath::port_range_prefixes(53, 53))
    ASSERT_TRUE(dp_->policy_delete(false, datapath::policy_key(12, MYELIN_DIR_INGRESS, 17, kIdA, port, bits)));
  EXPECT_EQ(from_container(q.build()).retval, REDIRECT)
      << "the map changed but the endpoint's revision did not: conntrack carries the flow (first-packet policy)";
  // The agent bumps the revision with every policy change of an endpoint.
  myelin_ep_key k{};
  k.addr.w[0] = ip4("10.0.0.2");
  k.family = MYELIN_FAMILY_IPV4;
  myelin_ep_info v{};
  ASSERT_EQ(bpf_map_lookup_elem(dp_->endpoints_fd(), &k, &v), 0);
  v.policy_rev += 1;
  ASSERT_TRUE(dp_->endpoint_upsert(k, v));
  drain_events().clear();
  EXPECT_EQ(from_container(q.build()).retval, SHOT) << "revoked: the next packet of the opening side is dropped";
  EXPECT_EQ(drain_events().back().drop_reason, MYELIN_DROP_POLICY_DENIED);
  EXPECT_FALSE(ct("10.0.0.1", "10.0.0.2", 40000, 53, 17)) << "and the connection is forgotten";
  install({false, 12, kIdA, MYELIN_DIR_INGRESS, 17, 53, 53, 50});
  EXPECT_EQ(from_container(q.build()).retval, REDIRECT);
  v.policy_rev += 1;
  ASSERT_TRUE(dp_->endpoint_upsert(k, v));
  EXPECT_EQ(from_container(q.build()).retval, REDIRECT) << "still allowed after another change: it flows on";
  EXPECT_EQ(from_container(a.build()).retval, REDIRECT);
}

TEST_F(Policy, FromTheStackUsesIpcacheIdentities) {
  pods(0, IN);
  myelin_ipcache_key k{};
  k.prefixlen = 32 + 24;
  k.family = MYELIN_FAMILY_IPV4;
  k.addr.w[0] = ip4("192.168.50.0");
  myelin_ipcache_val v{777, 0};
  ASSERT_TRUE(dp_->ipcache_upsert(k, v));
  install({false, 12, 777, MYELIN_DIR_INGRESS, 6, 80, 80, 30});
  Packet in;
  in.saddr = ip4("192.168.50.9");
  in.daddr = ip4("10.0.0.2");
  EXPECT_EQ(to_container(in.build()).retval, OK) << "a CIDR identity from the ipcache is allowed";
  in.saddr = ip4("192.168.51.9");
  EXPECT_EQ(to_container(in.build()).retval, SHOT) << "world is not";
  auto& ev = drain_events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().src_identity, 2u);
}

// NetworkPolicy ipBlock by address: a pod (or the node) whose address lies
// in a policy CIDR matches the CIDR identity's MYELIN_IDENTITY_IPBLOCK
// entries, keeping its own identity; untagged CIDR entries (Cilium's
// fromCIDR) and deny entries never match it.
struct IpBlockCase {
  const char* name;
  std::vector<std::tuple<const char*, uint8_t, myelin_ipcache_val>> ipcache;  // prefix, length, value
  std::vector<Rule> rules;
  const char* saddr;     // 10.0.0.1 is pod A (from_container), anything else comes from the stack (to_container)
  uint16_t dport;
  uint32_t verdict;
  uint32_t policy_id;
};

constexpr uint32_t kCidr = 777, kHole = 778, kTag = MYELIN_IDENTITY_IPBLOCK;
const std::vector<IpBlockCase> kIpBlockCases = {
    {"pod A inside the block: allowed by the ipBlock entry", {{"10.0.0.0", 24, {kCidr, kCidr}}},
     {{false, 12, kCidr | kTag, MYELIN_DIR_INGRESS, 6, 80, 80, 31}}, "10.0.0.1", 80, REDIRECT, 31},
    {"pod A inside the block, any protocol entry", {{"10.0.0.0", 24, {kCidr, kCidr}}},
     {{false, 12, kCidr | kTag, MYELIN_DIR_INGRESS, 0, 0, 65535, 32}}, "10.0.0.1", 80, REDIRECT, 32},
    {"pod A inside the block, other port", {{"10.0.0.0", 24, {kCidr, kCidr}}},
     {{false, 12, kCidr | kTag, MYELIN_DIR_INGRESS, 6, 80, 80, 31}}, "10.0.0.1", 81, SHOT, 0},
    {"fromCIDR (untagged) does not select pod A", {{"10.0.0.0", 24, {kCidr, kCidr}}},
     {{false, 12, kCidr, MYELIN_DIR_INGRESS, 6, 80, 80, 33}}, "10.0.0.1", 80, SHOT, 0},
    {"pod A in an except hole", {{"10.0.0.0", 24, {kCidr, kCidr}}, {"10.0.0.1", 32, {kHole, kHole}}},
     {{false, 12, kCidr | kTag, MYELIN_DIR_INGRESS, 6, 80, 80, 31}}, "10.0.0.1", 80, SHOT, 0},
    {"pod A outside every block", {{"10.9.0.0", 16, {kCidr, kCidr}}},
     {{false, 12, kCidr | kTag, MYELIN_DIR_INGRESS, 6, 80, 80, 31}}, "10.0.0.1", 80, SHOT, 0},
    {"a CIDR deny does not select pod A", {{"10.0.0.0", 24, {kCidr, kCidr}}},
     {{true, 12, kCidr, MYELIN_DIR_INGRESS, 0, 0, 65535, 34}, {true, 12, kCidr | kTag, MYELIN_DIR_INGRESS, 0, 0, 65535, 35},
      {false, 12, kIdA, MYELIN_DIR_INGRESS, 6, 80, 80, 36}}, "10.0.0.1", 80, REDIRECT, 36},
    {"deny of pod A's identity wins over its ipBlock allow", {{"10.0.0.0", 24, {kCidr, kCidr}}},
     {{true, 12, kIdA, MYELIN_DIR_INGRESS, 0, 0, 65535, 37}, {false, 12, kCidr | kTag, MYELIN_DIR_INGRESS, 6, 80, 80, 31}},
     "10.0.0.1", 80, SHOT, 37},
    {"the node inside the block (host identity, ipblock identity)", {{"192.168.50.1", 32, {1, kCidr}}},
     {{false, 12, kCidr | kTag, MYELIN_DIR_INGRESS, 6, 80, 80, 38}}, "192.168.50.1", 80, OK, 38},
    {"the node outside every block", {{"192.168.50.1", 32, {1, 0}}},
     {{false, 12, kCidr | kTag, MYELIN_DIR_INGRESS, 6, 80, 80, 38}}, "192.168.50.1", 80, SHOT, 0},
    {"the world inside the block: the plain CIDR entry", {{"192.168.50.0", 24, {kCidr, kCidr}}},
     {{false, 12, kCidr, MYELIN_DIR_INGRESS, 6, 80, 80, 39}}, "192.168.50.9", 80, OK, 39},
};

class IpBlock : public PolicyBase, public ::testing::WithParamInterface<IpBlockCase> {};

TEST_P(IpBlock, ByAddress) {
  const IpBlockCase& c = GetParam();
  pods(0, IN);
  for (const auto& [prefix, len, val] : c.ipcache) {
    myelin_ipcache_key k{};
    k.prefixlen = 32 + len;
    k.family = MYELIN_FAMILY_IPV4;
    k.addr.w[0] = ip4(prefix);
    ASSERT_TRUE(dp_->ipcache_upsert(k, val));
  }
  for (const auto& r : c.rules) install(r);
  drain_events().clear();
  const bool from_pod = std::string(c.saddr) == "10.0.0.1";
  Packet p;
  p.saddr = ip4(c.saddr);
  p.daddr = ip4("10.0.0.2");
  p.dport = c.dport;
  auto r = from_pod ? from_container(p.build()) : to_container(p.build());
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.retval, c.verdict);
  auto& ev = drain_events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().ingress_policy_id, c.policy_id) << "attribution";
  if (from_pod) {
    EXPECT_EQ(ev.back().src_identity, kIdA) << "the pod keeps its own identity";
  }
}

INSTANTIATE_TEST_SUITE_P(Table, IpBlock, ::testing::ValuesIn(kIpBlockCases), [](const auto& info) {
  std::string n;
  for (char ch : std::string(info.param.name)) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return n;
});

TEST(PortRangePrefixes, ExactCover) {
  using V = std::vector<std::pair<uint16_t, uint8_t>>;
  EXPECT_EQ(datapath::port_range_prefixes(80, 80), (V{{80, 16}}));
  EXPECT_EQ(datapath::port_range_prefixes(0, 65535), (V{{0, 0}}));
  EXPECT_EQ(datapath::port_range_prefixes(1024, 2047), (V{{1024, 6}}));
  auto v = datapath::port_range_prefixes(8000, 8099);
  uint32_t covered = 0;
  for (auto [port, bits] : v) covered += 1u << (16 - bits);
  EXPECT_EQ(covered, 100u);
  EXPECT_LE(v.size(), 8u);
  EXPECT_TRUE(datapath::port_range_prefixes(10, 9).empty());
  EXPECT_EQ(datapath::port_range_prefixes(65535, 65535), (V{{65535, 16}}));
}

}  // namespace
}  // namespace myelin::test
