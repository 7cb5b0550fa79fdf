// SPDX-License-Identifier: Apache-2.0
// Loads the real datapath with its maps pinned under a per-test bpffs
// directory, seeds endpoints, runs a program on a crafted packet with
// BPF_PROG_TEST_RUN, and reads counters, conntrack and events back.
#pragma once

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "myelin/abi/lb.h"
#include "myelin/datapath/datapath.hpp"
#include "packet.hpp"

namespace myelin::test {

inline const Mac kPodMacA{0x02, 0, 0, 0, 0, 0xaa}, kPodMacB{0x02, 0, 0, 0, 0, 0xbb};
inline const Mac kNodeMacA{0x02, 0xee, 0, 0, 0, 0xaa}, kNodeMacB{0x02, 0xee, 0, 0, 0, 0xbb};
inline constexpr uint32_t kLo = 1;          // BPF_PROG_TEST_RUN needs an existing ifindex: lo
inline constexpr uint32_t kPeerIfindex = 4242;  // any number: redirects are not carried out in test runs

struct RunResult {
  int err = 0;       // the syscall's result
  uint32_t retval = 0;
  Bytes out;
};

class DatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: loads BPF programs (run the suite with sudo)";
    static int seq = 0;
    pin_dir_ = "/sys/fs/bpf/myelin-test-" + std::to_string(getpid()) + "-" + std::to_string(seq++);
    ASSERT_TRUE(pseudofs::Mounts::ensure()) << "mount bpffs (see the log above)";
    if (auto s = datapath::make_pin_dir(pin_dir_); !s) FAIL() << s.error().message;
    auto o = load_options_;  // a derived fixture may size maps (map_full_test.cpp)
    o.pin_dir = pin_dir_;
    auto dp = datapath::Datapath::load(o);
    ASSERT_TRUE(dp) << dp.error().message;
    dp_ = std::move(*dp);
    auto reader = datapath::EventReader::open(dp_->events_fd(), [this](const myelin_flow_event& e) { events_.push_back(e); }, "flow events");
    ASSERT_TRUE(reader) << reader.error().message;
    reader_.emplace(std::move(*reader));
  }
  void TearDown() override {
    reader_.reset();
    dp_.reset();
    if (!pin_dir_.empty()) {
      (void)datapath::Datapath::unpin_all(pin_dir_);
      ::rmdir(pin_dir_.c_str());  // left empty by a load that failed before pinning
    }
  }

  void add_endpoint(const char* ip, uint32_t ifindex, uint32_t id, uint32_t identity, const Mac& mac, const Mac& node_mac) {
    myelin_ep_key k{};
    k.addr.w[0] = ip4(ip);
    k.family = MYELIN_FAMILY_IPV4;
    myelin_ep_info v{};
    v.ifindex = ifindex;
    v.ep_id = id;
    v.identity = identity;
    v.flags = MYELIN_EP_F_READY;
    std::memcpy(v.mac, mac.data(), 6);
    std::memcpy(v.node_mac, node_mac.data(), 6);
    ASSERT_TRUE(dp_->endpoint_upsert(k, v));
  }
  // Pod A (10.0.0.1) and pod B (10.0.0.2) both "sent from" lo, so either may be a source.
  void two_pods() {
    add_endpoint("10.0.0.1", kLo, 11, 1001, kPodMacA, kNodeMacA);
    add_endpoint("10.0.0.2", kLo, 12, 1002, kPodMacB, kNodeMacB);
  }

  RunResult run(int prog_fd, const Bytes& pkt, uint32_t ifindex = kLo, uint32_t mark = 0) {
    RunResult r;
    r.out.resize(pkt.size() + 256);
    __sk_buff ctx{};
    ctx.ifindex = ifindex;
    ctx.mark = mark;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data(), .data_out = r.out.data(),
                .data_size_in = static_cast<uint32_t>(pkt.size()), .data_size_out = static_cast<uint32_t>(r.out.size()),
                .ctx_in = &ctx, .ctx_size_in = sizeof ctx);
    r.err = bpf_prog_test_run_opts(prog_fd, &opts);
    r.retval = opts.retval;
    r.out.resize(opts.data_size_out);
    return r;
  }
  RunResult from_container(const Bytes& pkt) { return run(dp_->from_container_fd(), pkt); }
  RunResult to_container(const Bytes& pkt) { return run(dp_->to_container_fd(), pkt); }

  uint64_t counter(uint8_t reason, uint8_t dir) {
    for (const auto& [k, v] : dp_->metrics())
      if (k.reason == reason && k.dir == dir) return v.packets;
    return 0;
  }
  static myelin_ct_key ct_key(const char* s, const char* d, uint16_t sport, uint16_t dport, uint8_t proto,
                              uint8_t kind = MYELIN_CT_KIND_CONNECTION) {
    myelin_ct_key k{};
    k.saddr.w[0] = ip4(s);
    k.daddr.w[0] = ip4(d);
    k.sport = htons(sport);
    k.dport = htons(dport);
    k.proto = proto;
    k.family = MYELIN_FAMILY_IPV4;
    k.kind = kind;
    return k;
  }
  std::optional<myelin_ct_entry> ct(const char* s, const char* d, uint16_t sport, uint16_t dport, uint8_t proto,
                                    uint8_t kind = MYELIN_CT_KIND_CONNECTION) {
    const auto k = ct_key(s, d, sport, dport, proto, kind);
    myelin_ct_entry e{};
    if (bpf_map_lookup_elem(dp_->ct_fd(), &k, &e) != 0) return std::nullopt;
    return e;
  }
  // An ipcache entry (addr/prefix), with the node holding it (nullptr: none).
  void ipcache(const char* addr, uint8_t prefix, uint32_t identity, uint32_t flags, const char* tunnel_endpoint = nullptr) {
    myelin_ipcache_key k{};
    k.prefixlen = 32 + prefix;
    k.family = MYELIN_FAMILY_IPV4;
    k.addr.w[0] = ip4(addr);
    myelin_ipcache_val v{};
    v.identity = identity;
    v.tunnel_endpoint = tunnel_endpoint ? ip4(tunnel_endpoint) : 0;
    v.flags = flags;
    ASSERT_TRUE(dp_->ipcache_upsert(k, v));
  }

  // The Services maps, written the way the LB writer does: backends by id,
  // a frontend's slots 1..n before its slot 0, and its reverse-NAT entry.
  void lb_backend(uint32_t id, const char* ip, uint16_t port, uint8_t proto = 6, uint8_t flags = MYELIN_LB_BE_F_ACTIVE) {
    myelin_lb_backend b{};
    b.addr.w[0] = ip4(ip);
    b.port = htons(port);
    b.proto = proto;
    b.flags = flags;
    b.family = MYELIN_FAMILY_IPV4;
    ASSERT_EQ(bpf_map_update_elem(dp_->map_fd(MYELIN_MAP_LB_BACKEND), &id, &b, BPF_ANY), 0);
  }
  static myelin_lb_svc_key lb_svc_key(const char* vip, uint16_t port, uint8_t proto, uint16_t slot) {
    myelin_lb_svc_key k{};
    k.addr.w[0] = ip4(vip);
    k.dport = htons(port);
    k.proto = proto;
    k.scope = MYELIN_LB_SCOPE_EXTERNAL;
    k.slot = slot;
    k.family = MYELIN_FAMILY_IPV4;
    return k;
  }
  // The frontend vip:port/proto with these backend ids in slots 1..n (slots
  // beyond n of an earlier version removed); `count` overrides slot 0's count.
  void lb_frontend(const char* vip, uint16_t port, uint8_t proto, const std::vector<uint32_t>& ids, uint32_t flags, uint16_t rev,
                   uint32_t affinity_timeout = 0, int count = -1) {
    int svc_fd = dp_->map_fd(MYELIN_MAP_LB_SVC);
    for (uint16_t s = 1; s <= ids.size(); ++s) {
      auto k = lb_svc_key(vip, port, proto, s);
      myelin_lb_svc_val v{ids[s - 1], 0, rev, 0, 0};
      ASSERT_EQ(bpf_map_update_elem(svc_fd, &k, &v, BPF_ANY), 0);
    }
    for (uint16_t s = ids.size() + 1; s <= 16; ++s) {
      auto k = lb_svc_key(vip, port, proto, s);
      bpf_map_delete_elem(svc_fd, &k);
    }
    auto k = lb_svc_key(vip, port, proto, 0);
    myelin_lb_svc_val v{0, static_cast<uint16_t>(count < 0 ? ids.size() : count), rev, flags, affinity_timeout};
    ASSERT_EQ(bpf_map_update_elem(svc_fd, &k, &v, BPF_ANY), 0);
    myelin_lb_revnat r{};
    r.addr.w[0] = ip4(vip);
    r.port = htons(port);
    r.family = MYELIN_FAMILY_IPV4;
    uint32_t key = rev;
    ASSERT_EQ(bpf_map_update_elem(dp_->map_fd(MYELIN_MAP_LB_REVNAT), &key, &r, BPF_ANY), 0);
  }

  std::deque<myelin_flow_event>& drain_events() {
    reader_->poll(0);
    return events_;
  }

  datapath::Datapath::Options load_options_;
  std::string pin_dir_;
  std::unique_ptr<datapath::Datapath> dp_;
  std::optional<datapath::EventReader> reader_;
  std::deque<myelin_flow_event> events_;
};

}  // namespace myelin::test
