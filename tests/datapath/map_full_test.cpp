// SPDX-License-Identifier: Apache-2.0
// Every map that can fill, filled: the real object loaded with small maps,
// each map brought to capacity, and its documented full behaviour checked
// (datapath/lib/maps.h): conntrack evicts and an evicted connection meets
// policy again, so no denied packet passes; the policy maps, the ipcache and
// the endpoint map refuse new keys but still update existing ones (the agent
// relies on that to fail closed); fragments fail closed; a full event ring
// counts every event it could not take and changes no verdict. Each also
// reads the fill level behind myelin_bpf_map_pressure.
#include <bpf/libbpf.h>
#include <sched.h>
#include <sys/wait.h>

#include "fixture.hpp"
#include "myelin/datapath/runtime_probes.hpp"

namespace myelin::test {
namespace {

constexpr uint32_t kIdA = 1001, kWorld = MYELIN_IDENTITY_WORLD;
constexpr uint32_t OK = 0, SHOT = 2, REDIRECT = 7;
constexpr uint32_t kCt = 64, kPolicy = 8, kIpcache = 4, kEndpoints = 4, kFrags = 4;

class MapFull : public DatapathTest {
 protected:
  // One CPU: the LRU maps keep free nodes per CPU, so a test that moved
  // between CPUs could see an LRU evict before it is full.
  MapFull() {
    load_options_.sizes = {kEndpoints, kCt, kIpcache, kPolicy, kFrags};
    sched_getaffinity(0, sizeof saved_, &saved_);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    sched_setaffinity(0, sizeof one, &one);
  }
  ~MapFull() override { sched_setaffinity(0, sizeof saved_, &saved_); }
  // A full LRU map makes room by evicting a batch: max_entries / possible
  // CPUs, at most 128 (the kernel's nr_scans). Full means within one batch.
  static uint32_t lru_batch() { return std::max(1u, std::min(128u, kCt / static_cast<uint32_t>(libbpf_num_possible_cpus()))); }
  cpu_set_t saved_{};
  datapath::MapFill fill(const char* name) {
    for (const auto& m : dp_->map_fill())
      if (m.name == name) return m;
    ADD_FAILURE() << "no fill level for " << name;
    return {};
  }
  void set_flags(const char* ip, uint32_t flags) {
    myelin_ep_key k{};
    k.addr.w[0] = ip4(ip);
    k.family = MYELIN_FAMILY_IPV4;
    myelin_ep_info v{};
    ASSERT_EQ(bpf_map_lookup_elem(dp_->endpoints_fd(), &k, &v), 0);
    v.flags |= flags;
    ASSERT_TRUE(dp_->endpoint_upsert(k, v));
  }
  void allow(uint32_t ep, uint32_t identity, uint8_t proto, uint16_t port) {
    ASSERT_TRUE(dp_->policy_upsert(false, datapath::policy_key(ep, MYELIN_DIR_INGRESS, proto, identity, port, 16), {7, 0}));
  }
  static Packet tcp(uint16_t sport, uint16_t dport, uint8_t flags) {
    Packet p;
    p.sport = sport;
    p.dport = dport;
    p.tcp_flags = flags;
    return p;
  }
  // Opens `n` allowed connections A -> B:80 from new source ports: each takes a conntrack entry.
  void churn(uint16_t first_sport, int n) {
    for (int i = 0; i < n; ++i)
      ASSERT_EQ(from_container(tcp(static_cast<uint16_t>(first_sport + i), 80, MYELIN_TCP_SYN).build()).retval, REDIRECT);
  }
};

// Pod B enforces ingress: A may reach tcp/80 and udp/53, world may reach tcp/80.
struct CtCase {
  const char* name;
  bool from_stack;  // to_container (from the node's stack, source world) instead of from_container (from pod A)
  Packet pkt;
  uint32_t verdict;
  uint8_t reason;
};

Packet udp(uint16_t dport) {
  Packet p;
  p.proto = 17;
  p.dport = dport;
  return p;
}
Packet icmp_echo() {
  Packet p;
  p.proto = 1;
  return p;
}
Packet icmp_type(uint8_t type) {
  Packet p;
  p.proto = 1;
  p.icmp_type = type;
  return p;
}
Packet world(Packet p) {
  p.saddr = ip4("192.0.2.9");
  return p;
}
Packet with_payload(Packet p, size_t n) {
  p.payload = n;
  return p;
}
Packet tcpp(uint16_t dport, uint8_t flags) {
  Packet p;
  p.sport = 50000;
  p.dport = dport;
  p.tcp_flags = flags;
  return p;
}

const std::vector<CtCase> kCtCases = {
    {"denied SYN", false, tcpp(81, MYELIN_TCP_SYN), SHOT, MYELIN_DROP_POLICY_DENIED},
    {"denied stray ACK (no entry: checked as new)", false, tcpp(81, MYELIN_TCP_ACK), SHOT, MYELIN_DROP_POLICY_DENIED},
    {"denied data (PSH|ACK)", false, with_payload(tcpp(81, MYELIN_TCP_PSH | MYELIN_TCP_ACK), 100), SHOT, MYELIN_DROP_POLICY_DENIED},
    {"denied FIN|ACK", false, tcpp(81, MYELIN_TCP_FIN | MYELIN_TCP_ACK), SHOT, MYELIN_DROP_POLICY_DENIED},
    {"denied UDP", false, udp(54), SHOT, MYELIN_DROP_POLICY_DENIED},
    {"denied ICMP echo", false, icmp_echo(), SHOT, MYELIN_DROP_POLICY_DENIED},
    {"denied stray RST", false, tcpp(81, MYELIN_TCP_RST), SHOT, MYELIN_DROP_POLICY_DENIED},
    {"denied ICMP timestamp", false, icmp_type(13), SHOT, MYELIN_DROP_POLICY_DENIED},
    {"denied from world: SYN", true, world(tcpp(81, MYELIN_TCP_SYN)), SHOT, MYELIN_DROP_POLICY_DENIED},
    {"denied from world: stray ACK", true, world(tcpp(81, MYELIN_TCP_ACK)), SHOT, MYELIN_DROP_POLICY_DENIED},
    {"denied from world: UDP", true, world(udp(53)), SHOT, MYELIN_DROP_POLICY_DENIED},
    {"allowed SYN (positive control)", false, tcpp(80, MYELIN_TCP_SYN), REDIRECT, 0},
    {"allowed UDP (positive control)", false, udp(53), REDIRECT, 0},
    {"allowed from world (positive control)", true, world(tcpp(80, MYELIN_TCP_SYN)), OK, 0},
};

void PrintTo(const CtCase& c, std::ostream* os) { *os << c.name; }

class ConntrackFull : public MapFull, public ::testing::WithParamInterface<CtCase> {};

TEST_P(ConntrackFull, DeniedNeverPassesAllowedStillDoes) {
  const CtCase& c = GetParam();
  two_pods();
  set_flags("10.0.0.2", MYELIN_EP_F_INGRESS_ENFORCED);
  allow(12, kIdA, 6, 80);
  allow(12, kIdA, 17, 53);
  allow(12, kWorld, 6, 80);
  churn(1000, 3 * kCt);
  auto f = fill(MYELIN_MAP_CT);
  EXPECT_EQ(f.capacity, kCt);
  EXPECT_GE(f.entries, kCt - lru_batch()) << "conntrack is full (pressure near 1)";
  EXPECT_LE(f.entries, kCt);
  EXPECT_FALSE(ct("10.0.0.1", "10.0.0.2", 1000, 80, 6)) << "the oldest connection was evicted";
  // Three rounds, each after the LRU turned over again.
  for (int round = 0; round < 3; ++round) {
    churn(static_cast<uint16_t>(2000 + round * 2 * kCt), 2 * kCt);
    uint64_t before = c.reason ? counter(c.reason, MYELIN_DIR_INGRESS) : 0;
    auto r = c.from_stack ? to_container(c.pkt.build()) : from_container(c.pkt.build());
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, c.verdict) << "round " << round;
    if (c.reason) {
      EXPECT_EQ(counter(c.reason, MYELIN_DIR_INGRESS), before + 1) << "counted under its drop reason";
      const char* src = c.from_stack ? "192.0.2.9" : "10.0.0.1";
      uint16_t sport = c.pkt.proto == 1 ? c.pkt.icmp_id : c.pkt.sport;
      EXPECT_FALSE(ct(src, "10.0.0.2", sport, c.pkt.proto == 1 ? 0 : c.pkt.dport, c.pkt.proto)) << "no entry for a denied flow";
    }
    EXPECT_GE(fill(MYELIN_MAP_CT).entries, kCt - lru_batch()) << "still full";
  }
  EXPECT_EQ(dp_->stats().ct_insert_failed, 0u) << "LRU evicts: inserts do not fail";
}

INSTANTIATE_TEST_SUITE_P(MapFull, ConntrackFull, ::testing::ValuesIn(kCtCases),
                         [](const auto& info) {
                           std::string n;
                           for (char ch : std::string(info.param.name)) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n;
                         });

// An allowed connection whose entry was evicted keeps working: its next
// packet (an ACK, mid-stream) is checked by policy, passes and is tracked again.
TEST_F(MapFull, EvictedAllowedConnectionIsCheckedAgainAndSurvives) {
  two_pods();
  set_flags("10.0.0.2", MYELIN_EP_F_INGRESS_ENFORCED);
  allow(12, kIdA, 6, 80);
  ASSERT_EQ(from_container(tcp(999, 80, MYELIN_TCP_SYN).build()).retval, REDIRECT);
  ASSERT_TRUE(ct("10.0.0.1", "10.0.0.2", 999, 80, 6));
  churn(1000, 3 * kCt);
  ASSERT_FALSE(ct("10.0.0.1", "10.0.0.2", 999, 80, 6)) << "evicted";
  EXPECT_EQ(from_container(with_payload(tcp(999, 80, MYELIN_TCP_ACK | MYELIN_TCP_PSH), 10).build()).retval, REDIRECT);
  EXPECT_TRUE(ct("10.0.0.1", "10.0.0.2", 999, 80, 6)) << "tracked again";
  // The same connection after the policy stops allowing it: evicted, its next packet is dropped.
  churn(3000, 3 * kCt);
  ASSERT_FALSE(ct("10.0.0.1", "10.0.0.2", 999, 80, 6));
  ASSERT_TRUE(dp_->policy_delete(false, datapath::policy_key(12, MYELIN_DIR_INGRESS, 6, kIdA, 80, 16)));
  EXPECT_EQ(from_container(tcp(999, 80, MYELIN_TCP_ACK).build()).retval, SHOT);
}

TEST_F(MapFull, PolicyMapRefusesNewKeysUpdatesExistingAndTheEndpointFailsClosed) {
  two_pods();
  set_flags("10.0.0.2", MYELIN_EP_F_INGRESS_ENFORCED);
  for (uint16_t port = 80; port < 80 + kPolicy; ++port) allow(12, kIdA, 6, port);
  EXPECT_EQ(fill(MYELIN_MAP_POL_ALLOW).entries, kPolicy);
  EXPECT_EQ(fill(MYELIN_MAP_POL_ALLOW).capacity, kPolicy);
  auto full = dp_->policy_upsert(false, datapath::policy_key(12, MYELIN_DIR_INGRESS, 6, kIdA, 9999, 16), {8, 0});
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ENOSPC) << full.error().message;
  EXPECT_TRUE(dp_->policy_upsert(false, datapath::policy_key(12, MYELIN_DIR_INGRESS, 6, kIdA, 80, 16), {9, 0}))
      << "a new value for an existing key fits in a full map";
  EXPECT_EQ(from_container(tcp(40000, 9999, MYELIN_TCP_SYN).build()).retval, SHOT) << "what did not fit is not allowed";
  EXPECT_EQ(from_container(tcp(40001, 80, MYELIN_TCP_SYN).build()).retval, REDIRECT) << "positive control";
  // What the agent does when an insert fails: the endpoint fails closed, also for what fitted.
  set_flags("10.0.0.2", MYELIN_EP_F_POLICY_FAILED);
  uint64_t before = counter(MYELIN_DROP_NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION, MYELIN_DIR_INGRESS);
  EXPECT_EQ(from_container(tcp(40002, 80, MYELIN_TCP_SYN).build()).retval, SHOT);
  EXPECT_EQ(counter(MYELIN_DROP_NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION, MYELIN_DIR_INGRESS), before + 1);
}

TEST_F(MapFull, IpcacheRefusesNewPrefixesAndAGapFallsBackToTheWiderPrefix) {
  two_pods();
  auto key = [](const char* addr, uint32_t len) {
    myelin_ipcache_key k{};
    k.prefixlen = 32 + len;
    k.family = MYELIN_FAMILY_IPV4;
    k.addr.w[0] = ip4(addr);
    return k;
  };
  ASSERT_TRUE(dp_->ipcache_upsert(key("198.51.0.0", 16), {5001, 0}));
  ASSERT_TRUE(dp_->ipcache_upsert(key("203.0.113.0", 24), {5002, 0}));
  ASSERT_TRUE(dp_->ipcache_upsert(key("203.0.114.0", 24), {5003, 0}));
  ASSERT_TRUE(dp_->ipcache_upsert(key("203.0.115.0", 24), {5004, 0}));
  EXPECT_EQ(fill(MYELIN_MAP_IPCACHE).entries, kIpcache);
  auto full = dp_->ipcache_upsert(key("198.51.100.0", 24), {5005, 0});
  ASSERT_FALSE(full) << "the fifth prefix does not fit";
  EXPECT_EQ(full.error().code, ENOSPC) << full.error().message;
  EXPECT_TRUE(dp_->ipcache_upsert(key("203.0.113.0", 24), {5002, 0})) << "re-writing an existing prefix fits (every regeneration does)";
  // Traffic to the gap 198.51.100.0/24 is judged as the wider 198.51.0.0/16.
  Packet p;
  p.daddr = ip4("198.51.100.7");
  drain_events().clear();
  set_flags("10.0.0.1", MYELIN_EP_F_EGRESS_ENFORCED);
  EXPECT_EQ(from_container(p.build()).retval, SHOT);
  ASSERT_FALSE(drain_events().empty());
  EXPECT_EQ(events_.back().dst_identity, 5001u);
}

TEST_F(MapFull, EndpointMapRefusesANewPodUpdatesExistingOnes) {
  for (uint32_t i = 0; i < kEndpoints; ++i)
    add_endpoint(("10.0.0." + std::to_string(i + 1)).c_str(), kLo, 11 + i, 1001 + i, kPodMacA, kNodeMacA);
  EXPECT_EQ(fill(MYELIN_MAP_ENDPOINTS).entries, kEndpoints);
  myelin_ep_key k{};
  k.addr.w[0] = ip4("10.0.0.99");
  k.family = MYELIN_FAMILY_IPV4;
  myelin_ep_info v{};
  auto full = dp_->endpoint_upsert(k, v);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, E2BIG) << full.error().message;
  set_flags("10.0.0.2", MYELIN_EP_F_POLICY_FAILED);  // what the agent writes to fail an endpoint closed
  myelin_ep_key b{};
  b.addr.w[0] = ip4("10.0.0.2");
  b.family = MYELIN_FAMILY_IPV4;
  EXPECT_TRUE(dp_->endpoint_get(b)->flags & MYELIN_EP_F_POLICY_FAILED) << "updates fit in a full endpoint map";
}

TEST_F(MapFull, FragmentsWhoseFirstFragmentWasEvictedAreDropped) {
  two_pods();
  auto first = [](uint16_t id) {
    Packet p;
    p.proto = 17;
    p.ip_id = id;
    p.frag_off = 0x2000;
    p.payload = 100;
    return p;
  };
  for (uint16_t id = 1; id <= 3 * kFrags; ++id) ASSERT_EQ(from_container(first(id).build()).retval, REDIRECT);
  EXPECT_GE(fill(MYELIN_MAP_FRAG).entries, kFrags - std::max(1u, kFrags / static_cast<uint32_t>(libbpf_num_possible_cpus())));
  Packet old_later = first(1), new_later = first(3 * kFrags);
  old_later.frag_off = new_later.frag_off = 13;
  uint64_t before = counter(MYELIN_DROP_FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND, MYELIN_DIR_EGRESS);
  EXPECT_EQ(from_container(old_later.build()).retval, SHOT) << "its ports were evicted: never guessed";
  EXPECT_EQ(counter(MYELIN_DROP_FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND, MYELIN_DIR_EGRESS), before + 1);
  EXPECT_EQ(from_container(new_later.build()).retval, REDIRECT) << "positive control: a recent datagram";
}

// One page of ring buffer that nobody reads.
class RingFull : public DatapathTest {
 protected:
  RingFull() { load_options_.events_bytes = 4096; }
};

TEST_F(RingFull, EveryEventItCouldNotTakeIsCountedAndNoVerdictChanges) {
  two_pods();
  myelin_ep_key k{};
  k.addr.w[0] = ip4("10.0.0.2");
  k.family = MYELIN_FAMILY_IPV4;
  auto b = *dp_->endpoint_get(k);
  b.flags |= MYELIN_EP_F_INGRESS_ENFORCED;
  ASSERT_TRUE(dp_->endpoint_upsert(k, b));
  const auto s0 = dp_->stats();
  constexpr int kPackets = 200;
  for (int i = 0; i < kPackets; ++i) {
    Packet p;
    p.sport = static_cast<uint16_t>(20000 + i);
    ASSERT_EQ(from_container(p.build()).retval, SHOT) << "packet " << i << ": default deny holds with a full ring";
  }
  const auto s = dp_->stats();
  const uint64_t sent = s.events_sent - s0.events_sent, lost = s.events_lost - s0.events_lost;
  EXPECT_EQ(sent + lost, static_cast<uint64_t>(kPackets)) << "one drop event per packet: sent + lost accounts for all";
  EXPECT_GT(lost, 0u);
  EXPECT_LT(sent, 4096u / sizeof(myelin_flow_event)) << "no more than a page of events was taken";
  EXPECT_EQ(counter(MYELIN_DROP_POLICY_DENIED, MYELIN_DIR_INGRESS), static_cast<uint64_t>(kPackets)) << "drops are counted without the ring";
  datapath::MapFill f{};
  for (const auto& m : dp_->map_fill())
    if (m.name == MYELIN_MAP_EVENTS) f = m;
  EXPECT_EQ(f.capacity, 4096u);
  EXPECT_GT(f.entries, 4096u - sizeof(myelin_flow_event) - 16) << "ring pressure near 1: " << f.entries << " unread bytes";
  EXPECT_EQ(drain_events().size(), s.events_sent) << "the reader gets every event that was taken";
  for (const auto& m : dp_->map_fill()) {
    if (m.name == MYELIN_MAP_EVENTS) {
      EXPECT_EQ(m.entries, 0u) << "read: pressure 0";
    }
  }
}


// The process-events ring (runtime): one page that nobody reads, while this
// test forks and execs. Records that do not fit are counted, not lost silently.
TEST(RuntimeRingFull, RecordsItCouldNotTakeAreCounted) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: loads BPF programs";
  uint64_t got = 0;
  auto probes = datapath::RuntimeProbes::start([&](const myelin_process_event&) { ++got; }, 4096);
  ASSERT_TRUE(probes) << probes.error().message;
  for (int i = 0; i < 20; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/true", "true", static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_GT(pid, 0);
    int st = 0;
    waitpid(pid, &st, 0);
  }
  const auto s = (*probes)->stats();
  EXPECT_GE(s.events_sent + s.events_lost, 60u) << "a fork, an exec and an exit each for 20 children";
  EXPECT_GT(s.events_lost, 0u) << "a page holds " << 4096 / sizeof(myelin_process_event) << " records";
  EXPECT_LE(s.events_sent, 4096 / sizeof(myelin_process_event)) << "nothing was read: no more than a page was taken";
  while ((*probes)->poll(0) > 0) {
  }
  EXPECT_GE(got, s.events_sent) << "the reader gets every record that was taken";
  EXPECT_GT(got, 0u);
}

}  // namespace
}  // namespace myelin::test
