// SPDX-License-Identifier: Apache-2.0
// Packet fuzzing of both pod programs with BPF_PROG_TEST_RUN: every seed
// packet cut at every length, every IP protocol number, fragment sequences
// (first, middle, last, overlapping, a first fragment sent twice), then
// random and mutated packets. After every packet, invariants:
//   - the verdict is one the program defines (TC_ACT_OK, SHOT, REDIRECT),
//     and the kernel refuses only frames shorter than their headers;
//   - every TC_ACT_SHOT is counted once in the {reason, direction} drop
//     counters and emits one drop event; every other verdict of an IPv4
//     packet is counted as forwarded;
//   - nothing reaches or leaves a default-deny pod unless it belongs to the
//     one connection the policy allows (A -> B, TCP 80): the allowed
//     direction, a reply of a tracked connection, or an ICMP error related
//     to one; to_container delivers only to a pod of this interface.
// The seed is printed and set with MLN_FUZZ_SEED; MLN_FUZZ_ITERATIONS
// bounds the random phase (the default runs in about 30 s here).
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

#include <linux/pkt_cls.h>

#include "fixture.hpp"

namespace myelin::test {
namespace {

constexpr uint32_t kIdA = 1001, kIdB = 1002, kIdC = 1003;
constexpr uint8_t SYN = MYELIN_TCP_SYN, ACK = MYELIN_TCP_ACK, RST = MYELIN_TCP_RST, FIN = MYELIN_TCP_FIN,
                  PSH = MYELIN_TCP_PSH;
constexpr uint32_t ENFORCED = MYELIN_EP_F_INGRESS_ENFORCED | MYELIN_EP_F_EGRESS_ENFORCED;

// A and B: default deny both ways, except A -> B on TCP 80. C: no policy.
const uint32_t kA = ip4("10.0.0.1"), kB = ip4("10.0.0.2"), kC = ip4("10.0.0.3");
const uint32_t kPool[] = {kA, kB, kC, ip4("10.0.0.4"), ip4("192.168.1.1"), ip4("192.168.9.9"), ip4("8.8.8.8")};

uint64_t env_u64(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : dflt;
}

std::string hex(const Bytes& b) {
  std::ostringstream o;
  for (size_t i = 0; i < b.size(); ++i) o << std::hex << std::setw(2) << std::setfill('0') << int(b[i]) << (i % 32 == 31 ? "\n" : "");
  return o.str();
}

uint16_t be16(const Bytes& b, size_t off) { return static_cast<uint16_t>(b[off] << 8 | b[off + 1]); }
uint32_t raw32(const Bytes& b, size_t off) {
  uint32_t v;
  std::memcpy(&v, &b[off], 4);
  return v;
}

bool icmp_error(uint8_t type) { return type == 3 || type == 4 || type == 5 || type == 11 || type == 12; }

class PacketFuzz : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    pod(kA, 11, kIdA, ENFORCED);
    pod(kB, 12, kIdB, ENFORCED);
    pod(kC, 13, kIdC, 0);
    for (auto [port, bits] : datapath::port_range_prefixes(80, 80)) {
      ASSERT_TRUE(dp_->policy_upsert(false, datapath::policy_key(11, MYELIN_DIR_EGRESS, 6, kIdB, port, bits), {1, 0}));
      ASSERT_TRUE(dp_->policy_upsert(false, datapath::policy_key(12, MYELIN_DIR_INGRESS, 6, kIdA, port, bits), {2, 0}));
    }
    seed_ = env_u64("MLN_FUZZ_SEED", static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    rng_.seed(seed_);
    std::cout << "packet fuzz: MLN_FUZZ_SEED=" << seed_ << " (set it to replay this run)\n";
    base_ = totals();
  }

  void pod(uint32_t ip, uint32_t id, uint32_t identity, uint32_t flags) {
    myelin_ep_key k{};
    k.addr.w[0] = ip;
    k.family = MYELIN_FAMILY_IPV4;
    myelin_ep_info v{};
    v.ifindex = kLo;
    v.ep_id = id;
    v.identity = identity;
    v.flags = MYELIN_EP_F_READY | flags;
    ASSERT_TRUE(dp_->endpoint_upsert(k, v));
  }

  struct Totals {
    uint64_t drops = 0, forwards = 0, drop_events = 0, events_lost = 0;
  };
  Totals totals() {
    Totals t;
    for (const auto& [k, v] : dp_->metrics()) (k.reason ? t.drops : t.forwards) += v.packets;
    reader_->poll(0);
    for (const auto& e : events_) t.drop_events += e.type == MYELIN_EVENT_DROP;
    events_.clear();
    t.events_lost = dp_->stats().events_lost;
    return t;
  }

  bool tracked_a_to_b80(uint16_t a_port) { return ct("10.0.0.1", "10.0.0.2", a_port, 80, 6).has_value(); }

  // Why a forwarded IPv4 packet may touch a default-deny pod; empty when it may not.
  std::string explain(const Bytes& b) {
    uint32_t s = raw32(b, 26), d = raw32(b, 30);
    uint8_t ihl = b[14] & 0x0f, proto = b[23];
    uint16_t frag = be16(b, 20), id = be16(b, 18);
    size_t l4 = 14 + ihl * 4u;
    uint16_t sport = 0, dport = 0;
    uint8_t icmp_type = 0;
    if (frag & 0x1fff) {  // a later fragment: the ports its first fragment left
      myelin_frag_key k{};
      k.saddr.w[0] = s;
      k.daddr.w[0] = d;
      k.id = id;
      k.proto = proto;
      k.family = MYELIN_FAMILY_IPV4;
      myelin_frag_ports fp{};
      if (bpf_map_lookup_elem(dp_->map_fd(MYELIN_MAP_FRAG), &k, &fp) != 0) return "";
      sport = ntohs(fp.sport), dport = ntohs(fp.dport);
      icmp_type = reinterpret_cast<uint8_t*>(&fp.dport)[0];
      if (proto == 1 && icmp_error(icmp_type)) return "";
    } else if (proto == 6 || proto == 17 || proto == 132) {
      sport = be16(b, l4), dport = be16(b, l4 + 2);
    } else if (proto == 1) {
      icmp_type = b[l4];
      if (icmp_error(icmp_type)) {
        // The quoted datagram must be a packet of the allowed connection, the
        // error going back to its sender, from its destination or a router.
        size_t in = l4 + 8;
        if (b.size() < in + 20) return "";
        uint32_t is = raw32(b, in + 12), id_ = raw32(b, in + 16);
        size_t il4 = in + (b[in] & 0x0f) * 4u;
        if (b[in + 9] != 6 || b.size() < il4 + 4 || (be16(b, in + 6) & 0x1fff)) return "";
        uint16_t isp = be16(b, il4), idp = be16(b, il4 + 2);
        bool pod_sender = s == kA || s == kB || s == kC;
        if (d != is || (pod_sender && s != id_)) return "";
        if (is == kA && id_ == kB && idp == 80 && tracked_a_to_b80(isp)) return "related (about A's packet)";
        if (is == kB && id_ == kA && isp == 80 && tracked_a_to_b80(idp)) return "related (about B's reply)";
        return "";
      }
    }
    if (proto != 6) return "";
    if (s == kA && d == kB && dport == 80) return "allowed by policy";
    if (s == kB && d == kA && sport == 80 && tracked_a_to_b80(dport)) return "reply";
    return "";
  }

  // Runs one packet and checks every invariant; false on a violation.
  bool check(bool to_container_prog, const Bytes& pkt, const char* origin, uint32_t mark = 0) {
    ++runs_;
    auto r = run(to_container_prog ? dp_->to_container_fd() : dp_->from_container_fd(), pkt, kLo, mark);
    Totals now = totals();
    uint16_t eth = pkt.size() >= 14 ? be16(pkt, 12) : 0;
    std::string bad;
    if (r.err != 0) {
      bool too_short = pkt.size() < 14 || (eth == 0x0800 && pkt.size() < 34) || (eth == 0x86dd && pkt.size() < 54);
      if (r.err == -EINVAL && too_short) {
        ++refused_;
        return true;
      }
      bad = "BPF_PROG_TEST_RUN failed: " + std::to_string(r.err);
    } else if (r.retval != TC_ACT_OK && r.retval != TC_ACT_SHOT && r.retval != TC_ACT_REDIRECT) {
      bad = "undefined verdict " + std::to_string(r.retval);
    } else {
      ++verdicts_[r.retval];
      bool shot = r.retval == TC_ACT_SHOT;
      bool uncounted_pass = !shot && (eth == 0x0806 || (to_container_prog && (mark & MYELIN_MARK_MASK) == MYELIN_MARK_LOCAL));
      uint64_t want_drops = shot ? 1 : 0, want_fwd = shot || uncounted_pass ? 0 : 1;
      if (now.drops - last_.drops != want_drops)
        bad = "drop counters moved by " + std::to_string(now.drops - last_.drops) + ", verdict " + std::to_string(r.retval);
      else if (now.forwards - last_.forwards != want_fwd)
        bad = "forward counters moved by " + std::to_string(now.forwards - last_.forwards);
      else if (now.events_lost == last_.events_lost && now.drop_events != want_drops)
        bad = std::to_string(now.drop_events) + " drop events for verdict " + std::to_string(r.retval);
      else if (!shot && eth == 0x0800 && !(to_container_prog && mark)) {
        uint32_t s = raw32(pkt, 26), d = raw32(pkt, 30);
        bool d_pod = d == kA || d == kB || d == kC;
        if (to_container_prog && !d_pod) {
          bad = "to_container delivered a packet addressed to no pod of this interface";
        } else if (s == kA || s == kB || d == kA || d == kB) {
          std::string why = explain(pkt);
          if (why.empty()) bad = "crossed a default deny";
          else ++explained_[why];
        }
      }
    }
    last_ = now;
    last_.drop_events = 0;
    if (bad.empty()) return true;
    if (++violations_ <= 10) {
      ADD_FAILURE() << bad << "\n  program " << (to_container_prog ? "to_container" : "from_container") << ", " << origin
                    << ", run " << runs_ << ", MLN_FUZZ_SEED=" << seed_ << ", verdict " << r.retval << ", err " << r.err
                    << "\n  packet (" << pkt.size() << " bytes):\n" << hex(pkt);
    }
    return false;
  }

  // ---- generators ----
  uint32_t addr() { return pick(8) < 7 ? kPool[pick(std::size(kPool))] : static_cast<uint32_t>(rng_()); }
  uint16_t port() {
    static const uint16_t ports[] = {80, 40000, 40001, 53, 5353, 81, 443, 0};
    return pick(5) ? ports[pick(std::size(ports))] : static_cast<uint16_t>(rng_());
  }
  size_t pick(size_t n) { return static_cast<size_t>(rng_() % n); }
  uint8_t byte() { return static_cast<uint8_t>(rng_()); }
  Bytes random_bytes(size_t n) {
    Bytes b(n);
    for (auto& x : b) x = byte();
    return b;
  }

  Packet random_packet(int depth = 0) {
    Packet p;
    p.saddr = addr();
    p.daddr = addr();
    static const uint8_t protos[] = {6, 6, 6, 6, 17, 17, 1, 1, 1, 132};
    p.proto = pick(8) ? protos[pick(std::size(protos))] : byte();
    if (!pick(40)) p.version = static_cast<uint8_t>(pick(16));
    if (!pick(6)) {
      p.ihl = static_cast<uint8_t>(5 + pick(11));
      p.ip_options = random_bytes((p.ihl - 5) * 4u);
      if (!pick(4)) p.ip_options.resize(pick(p.ip_options.size() + 8));  // options that disagree with IHL
    } else if (!pick(40)) {
      p.ihl = static_cast<uint8_t>(pick(5));
    }
    static const uint16_t frags[] = {0x2000, 0x2000 | 1, 0x2000 | 3, 1, 3, 9, 0x4000, 0x1fff, 0x3fff};
    if (!pick(5)) p.frag_off = pick(4) ? frags[pick(std::size(frags))] : static_cast<uint16_t>(rng_());
    p.ip_id = static_cast<uint16_t>(1 + pick(6));
    if (!pick(10)) p.tot_len_delta = static_cast<int>(pick(121)) - 60;
    p.sport = port();
    p.dport = port();
    static const uint8_t flags[] = {SYN, SYN | ACK, ACK, RST, RST | ACK, FIN | ACK, PSH | ACK, 0};
    p.tcp_flags = pick(3) ? flags[pick(std::size(flags))] : byte();
    if (!pick(10)) p.tcp_doff = static_cast<uint8_t>(pick(16));
    p.icmp_type = pick(4) ? static_cast<uint8_t>(pick(19)) : byte();
    p.icmp_code = pick(3) ? 0 : static_cast<uint8_t>(pick(16));
    p.icmp_id = pick(2) ? 77 : static_cast<uint16_t>(rng_());
    if (p.proto == 1 && icmp_error(p.icmp_type)) {
      if (depth < 2 && pick(4)) {
        Packet in = random_packet(depth + 1);
        if (pick(2)) {  // about the allowed connection, or its reply
          in.proto = 6;
          in.saddr = pick(2) ? kA : kB;
          in.daddr = in.saddr == kA ? kB : kA;
          in.sport = in.saddr == kA ? 40000 : 80;
          in.dport = in.saddr == kA ? 80 : 40000;
          if (pick(2)) p.daddr = in.saddr;
        }
        p.icmp_data = quote(in, pick(6) ? 8 : pick(30));
      } else {
        p.icmp_data = random_bytes(pick(48));
      }
    }
    p.payload = pick(3) ? 0 : pick(120);
    return p;
  }

  Bytes mutate(Bytes b) {
    size_t n = 1 + pick(4);
    for (size_t i = 0; i < n && !b.empty(); ++i) {
      switch (pick(7)) {
        case 0: b[pick(b.size())] ^= static_cast<uint8_t>(1u << pick(8)); break;
        case 1: b[pick(b.size())] = byte(); break;
        case 2: {
          static const uint8_t interesting[] = {0, 1, 0x45, 0x46, 0x4f, 0x40, 0x20, 0x7f, 0x80, 0xff};
          b[14 + pick(std::max<size_t>(1, std::min<size_t>(b.size(), 80) - 14)) % b.size()] = interesting[pick(std::size(interesting))];
          break;
        }
        case 3: b.resize(pick(b.size() + 1)); break;
        case 4: {
          Bytes extra = random_bytes(1 + pick(16));
          b.insert(b.begin() + static_cast<long>(pick(b.size() + 1)), extra.begin(), extra.end());
          break;
        }
        case 5: {
          size_t at = pick(b.size()), len = std::min(b.size() - at, 1 + pick(8));
          b.erase(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + len));
          break;
        }
        case 6:  // a header field of the IPv4 header (14..33)
          if (b.size() > 34) b[14 + pick(20)] = byte();
          break;
      }
    }
    return b;
  }

  // Packets of the allowed connection and around it: the mutator's seeds.
  std::vector<Bytes> seeds() {
    std::vector<Bytes> out;
    auto tcp = [](uint32_t s, uint32_t d, uint16_t sp, uint16_t dp, uint8_t f) {
      Packet p;
      p.saddr = s, p.daddr = d, p.sport = sp, p.dport = dp, p.tcp_flags = f;
      return p;
    };
    Packet ab = tcp(kA, kB, 40000, 80, ACK), ba = tcp(kB, kA, 80, 40000, ACK);
    for (const Packet& p : {ab, ba, tcp(kA, kB, 40000, 80, SYN), tcp(kB, kA, 80, 40000, SYN | ACK), tcp(kA, kB, 40001, 81, SYN),
                            tcp(kB, kA, 40002, 80, SYN), tcp(kC, kA, 40003, 80, SYN), tcp(ip4("192.168.1.1"), kA, 80, 40000, ACK),
                            tcp(kA, ip4("192.168.1.1"), 40000, 443, PSH | ACK), tcp(kC, kB, 1, 80, RST)})
      out.push_back(p.build());
    Packet udp = tcp(kA, kB, 5353, 53, 0);
    udp.proto = 17;
    out.push_back(udp.build());
    for (uint8_t t : {0, 8, 13, 14, 9}) {
      Packet e = tcp(kB, kA, 0, 0, 0);
      e.proto = 1;
      e.icmp_type = t;
      out.push_back(e.build());
    }
    for (auto [from, to, inner] : {std::tuple{kB, kA, ab}, std::tuple{kA, kB, ba}, std::tuple{ip4("192.168.9.9"), kA, ab},
                                   std::tuple{kC, kA, ab}}) {
      Packet e = tcp(from, to, 0, 0, 0);
      e.proto = 1;
      e.icmp_type = 3;
      e.icmp_code = 4;
      e.icmp_data = quote(inner);
      out.push_back(e.build());
    }
    Packet first = ab;
    first.frag_off = 0x2000;
    first.ip_id = 3;
    first.payload = 40;
    out.push_back(first.build());
    Packet later = ab;
    later.frag_off = 6;
    later.ip_id = 3;
    later.payload = 40;
    out.push_back(later.build());
    Packet opts = ab;
    opts.ihl = 7;
    opts.ip_options = {0x94, 4, 0, 0, 1, 1, 1, 0};
    out.push_back(opts.build());
    out.push_back(arp_request(kPodMacA, kA, ip4("169.254.1.1")));
    return out;
  }

  void establish() {
    Packet p;
    p.saddr = kA, p.daddr = kB, p.sport = 40000, p.dport = 80;
    for (auto [reply, flags] : {std::pair{false, SYN}, {true, uint8_t(SYN | ACK)}, {false, ACK}}) {
      Packet q = p;
      if (reply) std::swap(q.saddr, q.daddr), std::swap(q.sport, q.dport);
      q.tcp_flags = flags;
      ASSERT_TRUE(check(false, q.build(), "handshake"));
    }
    ASSERT_TRUE(tracked_a_to_b80(40000));
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  Totals base_, last_;
  uint64_t runs_ = 0, refused_ = 0, violations_ = 0;
  std::map<uint32_t, uint64_t> verdicts_;
  std::map<std::string, uint64_t> explained_;
};

TEST_F(PacketFuzz, InvariantsHoldForRandomAndMutatedPackets) {
  const uint64_t iterations = env_u64("MLN_FUZZ_ITERATIONS", 400000);
  auto t0 = std::chrono::steady_clock::now();
  last_ = totals();
  establish();
  const auto seed_packets = seeds();

  // 1. Every seed cut at every length, through both programs.
  for (const Bytes& s : seed_packets)
    for (size_t n = 0; n <= s.size(); ++n)
      for (bool to : {false, true}) check(to, cut(s, n), "truncation");
  // 2. Every IP protocol number, pod to pod and world to pod.
  for (int proto = 0; proto < 256; ++proto) {
    for (auto [s, d] : {std::pair{kA, kB}, {kB, kA}, {kC, kA}, {ip4("192.168.1.1"), kA}}) {
      Packet p;
      p.saddr = s, p.daddr = d, p.proto = static_cast<uint8_t>(proto), p.dport = 80, p.sport = 40000, p.tcp_flags = ACK;
      Bytes b = p.build();
      if (proto != 6 && proto != 17 && proto != 1 && proto != 132) b.resize(b.size() + 12);
      for (bool to : {false, true}) check(to, b, "protocol sweep");
    }
  }
  // 3. Fragment sequences: first, middle, last, overlapping, a first fragment sent twice.
  for (uint16_t ipid = 100; ipid < 140; ++ipid) {
    Packet f = random_packet();
    f.ip_id = ipid;
    f.ihl = 5, f.ip_options.clear(), f.version = 4, f.tot_len_delta = 0, f.payload = 64;
    bool to = ipid & 1;
    static const uint16_t offsets[] = {0x2000, 0x2000 | 5, 0x2000 | 2, 9, 1, 0x2000, 9};
    for (uint16_t off : offsets) {
      Packet g = f;
      g.frag_off = off;
      if (off == 0x2000 && pick(2)) g.sport = port(), g.dport = port();  // the first fragment again, other ports
      check(to, g.build(), "fragment sequence");
    }
  }
  // 4. Random packets, mutated seeds and random bytes.
  for (uint64_t i = 0; i < iterations && violations_ < 10; ++i) {
    bool to = pick(2);
    switch (pick(8)) {
      case 0: {
        Bytes b = random_bytes(pick(160));
        if (b.size() >= 14 && pick(2)) b[12] = 0x08, b[13] = 0x00;
        if (b.size() >= 15 && pick(2)) b[14] = 0x45;
        check(to, b, "random bytes");
        break;
      }
      case 1:
      case 2:
      case 3: check(to, mutate(seed_packets[pick(seed_packets.size())]), "mutated seed"); break;
      default: {
        Bytes b = random_packet().build();
        if (!pick(10)) b = cut(b, pick(b.size() + 1));
        uint32_t mark = to && !pick(50) ? MYELIN_MARK_LOCAL : 0;
        check(to, b, "random packet", mark);
      }
    }
    if (i % 5000 == 4999) establish();  // fuzzed RSTs and FINs close it: open it again
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Totals end = totals();
  std::cout << "packet fuzz: " << runs_ << " runs in " << std::fixed << std::setprecision(1) << secs << " s, seed " << seed_
            << "; refused by the kernel (too short) " << refused_ << "; verdicts:";
  for (auto [v, n] : verdicts_) std::cout << " " << v << "=" << n;
  std::cout << "; drops counted " << end.drops - base_.drops << "; conntrack entries " << dp_->ct_count()
            << "; events lost " << end.events_lost << "\n  drops by reason:";
  std::map<int, uint64_t> reasons;
  for (const auto& [k, v] : dp_->metrics())
    if (k.reason) reasons[k.reason] += v.packets;
  for (auto [r, n] : reasons) std::cout << " " << r << "=" << n;
  std::cout << "\n  reached a default-deny pod, and why:";
  for (const auto& [why, n] : explained_) std::cout << " " << why << "=" << n;
  std::cout << "\n";
  EXPECT_EQ(violations_, 0u);
  EXPECT_GT(explained_["allowed by policy"], 0u) << "positive control: the allowed connection got through";
  EXPECT_GT(explained_["reply"], 0u) << "positive control: its replies got through";
}

}  // namespace
}  // namespace myelin::test
