// SPDX-License-Identifier: Apache-2.0
// The LbWriter on the real load-balancing maps: the pod datapath's object
// loaded with its maps pinned in a per-test bpffs directory (or, for the
// full-map cases, maps of the same layout made small), tables applied, and
// the maps read back: slots and backends, stable ids across a restart,
// restored entries kept until all_synced, a reader that never sees half a
// frontend while tables change under it, full maps, Maglev tables, two
// scopes, and the affinity entries of removed backends.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "myelin/datapath/datapath.hpp"
#include "myelin/services/lb_component.hpp"
#include "myelin/services/lb_writer.hpp"

namespace myelin::services {
namespace {

net::Ipv4 ip(const char* s) { return *net::parse_ipv4(s); }

Backend be(const char* addr, uint16_t port = 8080, BackendState st = BackendState::active, bool local = false) {
  Backend b;
  b.addr = ip(addr);
  b.port = port;
  b.proto = 6;
  b.state = st;
  b.local = local;
  b.terminating = st == BackendState::terminating;
  b.serving = st == BackendState::active;
  b.external_active = st == BackendState::active && local;
  return b;
}

Frontend fe(const char* addr, uint16_t port, std::vector<Backend> backends, FrontendKind kind = FrontendKind::cluster_ip) {
  Frontend f;
  f.kind = kind;
  f.addr = ip(addr);
  f.port = port;
  f.proto = 6;
  f.backends = std::move(backends);
  return f;
}

Service svc(const std::string& name, std::vector<Frontend> fes) {
  Service s;
  s.ns = "default";
  s.name = name;
  s.type = "ClusterIP";
  s.endpoints_from = EndpointsFrom::endpoint_slices;
  s.frontends = std::move(fes);
  return s;
}

ServiceTable table(std::vector<Service> v) {
  ServiceTable t;
  for (auto& s : v) t[s.ns + "/" + s.name] = std::move(s);
  return t;
}

class LbWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: loads BPF programs and pins maps (run the suite with sudo)";
    static int seq = 0;
    pin_dir_ = "/sys/fs/bpf/myelin-lbwriter-test-" + std::to_string(getpid()) + "-" + std::to_string(seq++);
    ASSERT_TRUE(pseudofs::Mounts::ensure()) << "mount bpffs";
    ASSERT_TRUE(datapath::make_pin_dir(pin_dir_));
    if (!own_maps_) {
      datapath::Datapath::Options o;
      o.pin_dir = pin_dir_;
      auto dp = datapath::Datapath::load(o);
      ASSERT_TRUE(dp) << dp.error().message;
      dp_ = std::move(*dp);
    }
  }
  void TearDown() override {
    writer_.reset();
    dp_.reset();
    if (!pin_dir_.empty()) (void)datapath::Datapath::unpin_all(pin_dir_);
  }
  void open(LbWriterOptions o = {}) {
    writer_.reset();
    o.pin_dir = pin_dir_;
    auto w = LbWriter::open(o);
    ASSERT_TRUE(w) << w.error().message;
    writer_ = std::move(*w);
    writer_->on_backends_removed([this](const std::vector<RemovedBackend>& r) { removed_.insert(removed_.end(), r.begin(), r.end()); });
  }
  int map(const char* name) const {
    int fd = bpf_obj_get((pin_dir_ + "/" + name).c_str());
    EXPECT_GE(fd, 0) << name;
    return fd;
  }
  static myelin_lb_svc_key key(const char* addr, uint16_t port, uint16_t slot, uint8_t scope = MYELIN_LB_SCOPE_EXTERNAL) {
    myelin_lb_svc_key k{};
    k.addr.w[0] = inet_addr(addr);
    k.dport = htons(port);
    k.proto = 6;
    k.scope = scope;
    k.slot = slot;
    k.family = MYELIN_FAMILY_IPV4;
    return k;
  }
  std::optional<myelin_lb_svc_val> slot(const char* addr, uint16_t port, uint16_t s, uint8_t scope = MYELIN_LB_SCOPE_EXTERNAL) {
    UniqueFd fd(map(MYELIN_MAP_LB_SVC));
    auto k = key(addr, port, s, scope);
    myelin_lb_svc_val v{};
    if (bpf_map_lookup_elem(fd.get(), &k, &v) != 0) return std::nullopt;
    return v;
  }
  // The backends' "addr:port" of slots 1..count, as the datapath would read them.
  std::vector<std::string> slot_backends(const char* addr, uint16_t port, uint8_t scope = MYELIN_LB_SCOPE_EXTERNAL) {
    std::vector<std::string> out;
    auto s0 = slot(addr, port, 0, scope);
    if (!s0) return out;
    UniqueFd be(map(MYELIN_MAP_LB_BACKEND));
    for (uint16_t i = 1; i <= s0->count; ++i) {
      auto v = slot(addr, port, i, scope);
      myelin_lb_backend b{};
      if (!v || bpf_map_lookup_elem(be.get(), &v->backend_id, &b) != 0) {
        out.push_back("MISSING");
        continue;
      }
      out.push_back(net::Ipv4{ntohl(b.addr.w[0])}.str() + ":" + std::to_string(ntohs(b.port)));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::optional<myelin_lb_backend> backend(uint32_t id) {
    UniqueFd fd(map(MYELIN_MAP_LB_BACKEND));
    myelin_lb_backend b{};
    if (bpf_map_lookup_elem(fd.get(), &id, &b) != 0) return std::nullopt;
    return b;
  }
  size_t entries(const char* name, uint32_t key_size) {
    UniqueFd fd(map(name));
    std::vector<uint8_t> cur(key_size), next(key_size);
    size_t n = 0;
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd.get(), prev, next.data()) == 0) {
      ++n;
      cur = next;
      prev = cur.data();
    }
    return n;
  }

  bool own_maps_ = false;
  std::string pin_dir_;
  std::unique_ptr<datapath::Datapath> dp_;
  std::unique_ptr<LbWriter> writer_;
  std::vector<RemovedBackend> removed_;
};

TEST_F(LbWriterTest, WritesTheConfigSlot) {
  LbWriterOptions o;
  o.maglev_m = 251;
  o.node_port_min = 31000;
  o.node_port_max = 31999;
  open(o);
  UniqueFd fd(map(MYELIN_MAP_LB_CONFIG));
  uint32_t k = 0;
  myelin_lb_config c{};
  ASSERT_EQ(bpf_map_lookup_elem(fd.get(), &k, &c), 0);
  EXPECT_EQ(c.flags & MYELIN_LB_CFG_F_ENABLED, MYELIN_LB_CFG_F_ENABLED);
  EXPECT_EQ(c.maglev_m, 251u);
  EXPECT_EQ(c.node_port_min, 31000);
  EXPECT_EQ(c.node_port_max, 31999);
  EXPECT_EQ(c.hairpin_ipv4, inet_addr("169.254.42.1"));
  // A table size that is not a prime is refused before anything is written.
  LbWriterOptions bad;
  bad.pin_dir = pin_dir_;
  bad.maglev_m = 16383;
  EXPECT_FALSE(LbWriter::open(bad));
}

TEST_F(LbWriterTest, InstallsFrontendsBackendsAndReverseNat) {
  open();
  writer_->apply(table({svc("web", {fe("10.96.0.10", 80,
                                       {be("10.244.1.1"), be("10.244.1.2"), be("10.244.1.3", 8080, BackendState::active, true),
                                        be("10.244.1.9", 8080, BackendState::terminating)})})}),
                 true);
  auto s0 = slot("10.96.0.10", 80, 0);
  ASSERT_TRUE(s0);
  EXPECT_EQ(s0->count, 3) << "the terminating backend takes no new connections";
  EXPECT_EQ(s0->flags, MYELIN_LB_F_CLUSTER_IP);
  EXPECT_EQ(s0->backend_id, 0u);
  const uint16_t rev = s0->rev_nat_index;
  EXPECT_NE(rev, 0);
  EXPECT_EQ(rev, writer_->rev_nat_index(ip("10.96.0.10"), 80, 6));
  EXPECT_EQ(slot_backends("10.96.0.10", 80), (std::vector<std::string>{"10.244.1.1:8080", "10.244.1.2:8080", "10.244.1.3:8080"}));
  for (uint16_t i = 1; i <= 3; ++i) EXPECT_EQ(slot("10.96.0.10", 80, i)->rev_nat_index, rev);
  EXPECT_FALSE(slot("10.96.0.10", 80, 4)) << "no slot past the count";
  // The terminating one is kept for its established connections.
  const uint32_t term = writer_->backend_id(ip("10.244.1.9"), 8080, 6);
  ASSERT_NE(term, 0u);
  auto tb = backend(term);
  ASSERT_TRUE(tb);
  EXPECT_EQ(tb->flags & MYELIN_LB_BE_F_ACTIVE, 0);
  EXPECT_EQ(tb->flags & MYELIN_LB_BE_F_TERMINATING, MYELIN_LB_BE_F_TERMINATING);
  auto local = backend(writer_->backend_id(ip("10.244.1.3"), 8080, 6));
  ASSERT_TRUE(local);
  EXPECT_EQ(local->flags, MYELIN_LB_BE_F_ACTIVE | MYELIN_LB_BE_F_LOCAL);
  EXPECT_EQ(local->proto, 6);
  EXPECT_EQ(local->family, MYELIN_FAMILY_IPV4);
  // Reverse NAT: the frontend a reply is translated back to.
  UniqueFd rn(map(MYELIN_MAP_LB_REVNAT));
  uint32_t r = rev;
  myelin_lb_revnat v{};
  ASSERT_EQ(bpf_map_lookup_elem(rn.get(), &r, &v), 0);
  EXPECT_EQ(v.addr.w[0], inet_addr("10.96.0.10"));
  EXPECT_EQ(ntohs(v.port), 80);
  // The index names it.
  auto idx = writer_->index();
  ASSERT_TRUE(idx->count(rev));
  EXPECT_EQ(idx->at(rev).name, "web");
  EXPECT_EQ(idx->at(rev).port, 80);
  // `bpf lb list` reads the same back.
  auto d = writer_->dump();
  ASSERT_TRUE(d);
  auto l = lb_list(*d, *idx, writer_->errors(), writer_->options(), true);
  ASSERT_EQ(l.frontends_size(), 1);
  EXPECT_EQ(l.frontends(0).service(), "default/web");
  EXPECT_EQ(l.frontends(0).slots_size(), 3);
  for (const auto& s : l.frontends(0).slots()) EXPECT_FALSE(s.backend().empty());
  EXPECT_EQ(l.backends_size(), 4);
  // Affinity: flag and timeout (default 10800 when the Service gives none).
  auto t = table({svc("web", {fe("10.96.0.10", 80, {be("10.244.1.1")})})});
  t["default/web"].frontends[0].affinity = true;
  writer_->apply(t, true);
  s0 = slot("10.96.0.10", 80, 0);
  ASSERT_TRUE(s0);
  EXPECT_EQ(s0->flags, MYELIN_LB_F_CLUSTER_IP | MYELIN_LB_F_AFFINITY);
  EXPECT_EQ(s0->affinity_timeout, 10800u);
  EXPECT_EQ(s0->rev_nat_index, rev) << "the same frontend keeps its index";
  // A Service that is not proxied gets nothing.
  auto headless = svc("headless", {fe("10.96.0.11", 80, {be("10.244.1.1")})});
  headless.not_proxied = "headless";
  writer_->apply(table({headless}), true);
  EXPECT_FALSE(slot("10.96.0.11", 80, 0));
  EXPECT_FALSE(slot("10.96.0.10", 80, 0)) << "web was removed from the table";
  EXPECT_EQ(entries(MYELIN_MAP_LB_SVC, sizeof(myelin_lb_svc_key)), 0u);
  EXPECT_EQ(entries(MYELIN_MAP_LB_BACKEND, 4), 0u);
  EXPECT_EQ(entries(MYELIN_MAP_LB_REVNAT, 4), 0u);
}

TEST_F(LbWriterTest, GrowAndShrinkKeepIdsAndReportRemovedBackends) {
  open();
  writer_->apply(table({svc("web", {fe("10.96.0.10", 80, {be("10.244.1.1"), be("10.244.1.2")})})}), true);
  const uint32_t id1 = writer_->backend_id(ip("10.244.1.1"), 8080, 6), id2 = writer_->backend_id(ip("10.244.1.2"), 8080, 6);
  const uint16_t rev = writer_->rev_nat_index(ip("10.96.0.10"), 80, 6);
  ASSERT_NE(id1, 0u);
  ASSERT_NE(id2, 0u);
  ASSERT_NE(id1, id2);
  auto slot_of = [&](uint32_t id) {
    for (uint16_t i = 1; i <= 8; ++i)
      if (auto v = slot("10.96.0.10", 80, i); v && v->backend_id == id) return i;
    return uint16_t{0};
  };
  const uint16_t s2 = slot_of(id2);
  writer_->apply(table({svc("web", {fe("10.96.0.10", 80, {be("10.244.1.1"), be("10.244.1.2"), be("10.244.1.3"), be("10.244.1.4")})})}), true);
  EXPECT_EQ(slot("10.96.0.10", 80, 0)->count, 4);
  EXPECT_EQ(writer_->backend_id(ip("10.244.1.1"), 8080, 6), id1);
  EXPECT_EQ(writer_->backend_id(ip("10.244.1.2"), 8080, 6), id2);
  EXPECT_EQ(slot_of(id2), s2) << "a backend that stays keeps its slot";
  EXPECT_TRUE(removed_.empty());
  // Shrink: 1 and 3 go.
  writer_->apply(table({svc("web", {fe("10.96.0.10", 80, {be("10.244.1.2"), be("10.244.1.4")})})}), true);
  EXPECT_EQ(slot_backends("10.96.0.10", 80), (std::vector<std::string>{"10.244.1.2:8080", "10.244.1.4:8080"}));
  EXPECT_FALSE(slot("10.96.0.10", 80, 3));
  EXPECT_FALSE(slot("10.96.0.10", 80, 4));
  EXPECT_EQ(writer_->rev_nat_index(ip("10.96.0.10"), 80, 6), rev);
  ASSERT_EQ(removed_.size(), 2u);
  std::set<std::string> gone;
  for (const auto& r : removed_) {
    gone.insert(r.addr.str());
    EXPECT_FALSE(backend(r.id)) << "deleted from the backend map";
  }
  EXPECT_EQ(gone, (std::set<std::string>{"10.244.1.1", "10.244.1.3"}));
  EXPECT_EQ(writer_->backend_id(ip("10.244.1.2"), 8080, 6), id2);
  // A backend shared by two frontends stays while one still lists it.
  removed_.clear();
  writer_->apply(table({svc("web", {fe("10.96.0.10", 80, {be("10.244.1.2")}), fe("10.96.0.10", 81, {be("10.244.1.2"), be("10.244.1.4")})})}),
                 true);
  EXPECT_TRUE(removed_.empty());
  EXPECT_EQ(writer_->backend_id(ip("10.244.1.4"), 8080, 6) != 0, true);
  EXPECT_NE(writer_->rev_nat_index(ip("10.96.0.10"), 81, 6), rev) << "each frontend its own index";
}

TEST_F(LbWriterTest, RestartKeepsIdsAndRestoredEntriesUntilAllSynced) {
  open();
  auto full = table({svc("a", {fe("10.96.0.1", 80, {be("10.244.1.1"), be("10.244.1.2"), be("10.244.1.3")})}),
                     svc("b", {fe("10.96.0.2", 53, {be("10.244.2.1", 53)})})});
  writer_->apply(full, true);
  const uint16_t rev_a = writer_->rev_nat_index(ip("10.96.0.1"), 80, 6), rev_b = writer_->rev_nat_index(ip("10.96.0.2"), 53, 6);
  const uint32_t id3 = writer_->backend_id(ip("10.244.1.3"), 8080, 6), id_b = writer_->backend_id(ip("10.244.2.1"), 53, 6);
  ASSERT_NE(rev_a, 0);
  ASSERT_NE(rev_b, 0);

  // Restart: a new writer on the same pins.
  open();
  EXPECT_NE(writer_->restore_report().find("restored 2 frontends and 4 backends"), std::string::npos) << writer_->restore_report();
  EXPECT_EQ(writer_->rev_nat_index(ip("10.96.0.1"), 80, 6), rev_a);
  EXPECT_EQ(writer_->backend_id(ip("10.244.1.3"), 8080, 6), id3);
  EXPECT_TRUE(writer_->index()->count(rev_b)) << "restored frontends are in the index before any table";
  // A partial view (one source listed, the other not yet): b and a's third backend stay.
  writer_->apply(table({svc("a", {fe("10.96.0.1", 80, {be("10.244.1.1"), be("10.244.1.2"), be("10.244.1.4")})})}), false);
  EXPECT_EQ(slot_backends("10.96.0.1", 80), (std::vector<std::string>{"10.244.1.1:8080", "10.244.1.2:8080", "10.244.1.3:8080", "10.244.1.4:8080"}));
  EXPECT_EQ(slot_backends("10.96.0.2", 53), (std::vector<std::string>{"10.244.2.1:53"}));
  EXPECT_EQ(writer_->rev_nat_index(ip("10.96.0.1"), 80, 6), rev_a) << "the same index after the restart";
  EXPECT_TRUE(removed_.empty());
  auto l = lb_list(*writer_->dump(), *writer_->index(), writer_->errors(), writer_->options(), false);
  bool b_restored = false;
  for (const auto& f : l.frontends())
    if (f.rev_nat_index() == rev_b) b_restored = f.restored();
  EXPECT_TRUE(b_restored);
  // Every source synced: the stale ones go.
  writer_->apply(table({svc("a", {fe("10.96.0.1", 80, {be("10.244.1.1"), be("10.244.1.2"), be("10.244.1.4")})})}), true);
  EXPECT_EQ(slot_backends("10.96.0.1", 80), (std::vector<std::string>{"10.244.1.1:8080", "10.244.1.2:8080", "10.244.1.4:8080"}));
  EXPECT_FALSE(slot("10.96.0.2", 53, 0));
  EXPECT_FALSE(backend(id3));
  EXPECT_FALSE(backend(id_b));
  std::set<uint32_t> gone;
  for (const auto& r : removed_) gone.insert(r.id);
  EXPECT_EQ(gone, (std::set<uint32_t>{id3, id_b}));
  UniqueFd rn(map(MYELIN_MAP_LB_REVNAT));
  uint32_t r = rev_b;
  myelin_lb_revnat v{};
  EXPECT_NE(bpf_map_lookup_elem(rn.get(), &r, &v), 0) << "b's reverse NAT pruned";
  EXPECT_EQ(writer_->summary().counters.pruned_frontends, 1u);
}

// A reader in another thread walks the frontend as the datapath does (slot
// 0's count, then a random slot and the last, then its backend) while
// tables grow, shrink and replace its backends: it must never find a
// missing slot or backend. A BPF program's walk is one RCU read-side
// section, and the writer deletes what a walk may still read only after a
// grace period; here the walk counts itself in and out (odd: walking) and
// the grace period waits for the walk in progress, if any, to end: RCU's
// contract. (Without the grace period this reader finds broken walks.)
TEST_F(LbWriterTest, TheDatapathNeverSeesHalfAFrontend) {
  std::atomic<uint64_t> walk_seq{0}, graces{0};
  LbWriterOptions o;
  o.grace_period = [&] {
    const uint64_t s = walk_seq.load();
    if (s & 1)
      for (int i = 0; i < 10000000 && walk_seq.load() == s; ++i) std::this_thread::yield();
    ++graces;
  };
  open(o);
  std::vector<std::vector<Backend>> versions = {
      {be("10.244.1.1")},
      {be("10.244.1.1"), be("10.244.1.2"), be("10.244.1.3"), be("10.244.1.4"), be("10.244.1.5")},
      {be("10.244.1.6"), be("10.244.1.7")},
      {be("10.244.1.2"), be("10.244.1.8"), be("10.244.1.9"), be("10.244.1.10"), be("10.244.1.11"), be("10.244.1.12")},
      {be("10.244.1.13")},
  };
  writer_->apply(table({svc("web", {fe("10.96.0.10", 80, versions[0])})}), true);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, bad{0};
  std::set<uint16_t> counts_seen;  // the reader's
  std::atomic<size_t> counts_seen_n{0};
  std::thread reader([&] {
    UniqueFd svcfd(map(MYELIN_MAP_LB_SVC)), befd(map(MYELIN_MAP_LB_BACKEND));
    uint32_t seed = 1;
    while (!stop.load()) {
      ++walk_seq;  // in
      struct Out {
        std::atomic<uint64_t>& s;
        ~Out() { ++s; }
      } out{walk_seq};
      auto k = key("10.96.0.10", 80, 0);
      myelin_lb_svc_val s0{};
      if (bpf_map_lookup_elem(svcfd.get(), &k, &s0) != 0 || s0.count == 0) {
        ++bad;  // the frontend always has backends in every version
        continue;
      }
      counts_seen.insert(s0.count);
      counts_seen_n = counts_seen.size();
      seed = seed * 1103515245u + 12345u;
      for (uint16_t i : {static_cast<uint16_t>(seed % s0.count + 1), s0.count}) {
        k.slot = i;
        myelin_lb_svc_val v{};
        myelin_lb_backend b{};
        if (bpf_map_lookup_elem(svcfd.get(), &k, &v) != 0 || bpf_map_lookup_elem(befd.get(), &v.backend_id, &b) != 0) ++bad;
      }
      ++reads;
    }
  });
  // Apply until the reader has walked enough to meet the writes often
  // (bounded: a slow machine may run the reader rarely).
  int rounds = 0;
  for (; rounds < 20000 && (rounds < 100 || reads.load() < 3000 || counts_seen_n.load() < 3); ++rounds)
    writer_->apply(table({svc("web", {fe("10.96.0.10", 80, versions[rounds % versions.size()])})}), true);
  stop = true;
  reader.join();
  std::printf("reader: %lu walks during %d applies, %zu different counts seen, %lu bad\n", static_cast<unsigned long>(reads.load()), rounds,
              counts_seen.size(), static_cast<unsigned long>(bad.load()));
  EXPECT_GT(reads.load(), 100u);
  EXPECT_GE(counts_seen.size(), 3u) << "the reader saw the frontend change (the check could fail)";
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(graces.load(), 0u) << "shrinking waited for readers";
}

TEST_F(LbWriterTest, MaglevTablesAreBuiltAndSwapped) {
  LbWriterOptions o;
  o.algorithm = LbAlgorithm::maglev;
  o.maglev_m = 251;
  open(o);
  auto np = [](std::vector<Backend> b) { return fe("192.168.0.1", 30080, std::move(b), FrontendKind::node_port); };
  std::vector<Backend> five = {be("10.244.1.1"), be("10.244.1.2"), be("10.244.1.3"), be("10.244.1.4"), be("10.244.1.5")};
  writer_->apply(table({svc("np", {np(five), fe("10.96.0.10", 80, five)})}), true);
  auto s0 = slot("192.168.0.1", 30080, 0);
  ASSERT_TRUE(s0);
  EXPECT_EQ(s0->flags & MYELIN_LB_F_MAGLEV, MYELIN_LB_F_MAGLEV);
  EXPECT_EQ(slot("10.96.0.10", 80, 0)->flags & MYELIN_LB_F_MAGLEV, 0u) << "a ClusterIP has no clients from outside";
  UniqueFd hom(map(MYELIN_MAP_LB_MAGLEV));
  auto inner_table = [&](uint16_t rev, uint32_t* id_out = nullptr) {
    std::vector<uint32_t> t;
    uint32_t r = rev, inner_id = 0;
    if (bpf_map_lookup_elem(hom.get(), &r, &inner_id) != 0) return t;
    if (id_out) *id_out = inner_id;
    UniqueFd inner(bpf_map_get_fd_by_id(inner_id));
    for (uint32_t i = 0; i < 251; ++i) {
      uint32_t v = 0;
      if (bpf_map_lookup_elem(inner.get(), &i, &v) != 0) return std::vector<uint32_t>{};
      t.push_back(v);
    }
    return t;
  };
  uint32_t inner1 = 0;
  auto t1 = inner_table(s0->rev_nat_index, &inner1);
  ASSERT_EQ(t1.size(), 251u);
  std::vector<maglev::Backend> mb;
  for (const auto& b : five) mb.push_back({b.addr.host, b.port, b.proto, writer_->backend_id(b.addr, b.port, 6)});
  EXPECT_EQ(t1, maglev::build_table(mb, 251)) << "the table maglev.cpp computes";
  EXPECT_TRUE(inner_table(slot("10.96.0.10", 80, 0)->rev_nat_index).empty());
  // One backend goes: a new table replaces the old, without it.
  const uint32_t gone = writer_->backend_id(ip("10.244.1.3"), 8080, 6);
  std::vector<Backend> four = {be("10.244.1.1"), be("10.244.1.2"), be("10.244.1.4"), be("10.244.1.5")};
  writer_->apply(table({svc("np", {np(four)})}), true);
  uint32_t inner2 = 0;
  auto t2 = inner_table(s0->rev_nat_index, &inner2);
  ASSERT_EQ(t2.size(), 251u);
  EXPECT_NE(inner2, inner1) << "swapped, not rewritten in place";
  EXPECT_EQ(std::count(t2.begin(), t2.end(), gone), 0);
  // The same backends again: no new table.
  const auto written = writer_->summary().counters.maglev_tables_written;
  writer_->apply(table({svc("np", {np(four)})}), true);
  EXPECT_EQ(writer_->summary().counters.maglev_tables_written, written);
  // No backends: no table, count 0 (refused).
  writer_->apply(table({svc("np", {np({})})}), true);
  EXPECT_EQ(slot("192.168.0.1", 30080, 0)->count, 0);
  EXPECT_TRUE(inner_table(s0->rev_nat_index).empty());
}

TEST_F(LbWriterTest, ExternalTrafficPolicyLocalHasTwoScopes) {
  open();
  auto f = fe("192.168.0.1", 30080, {be("10.244.1.1", 8080, BackendState::active, true), be("10.244.2.1"), be("10.244.2.2")},
              FrontendKind::node_port);
  f.external_local = true;
  writer_->apply(table({svc("np", {f})}), true);
  auto ext = slot("192.168.0.1", 30080, 0, MYELIN_LB_SCOPE_EXTERNAL);
  auto in = slot("192.168.0.1", 30080, 0, MYELIN_LB_SCOPE_INTERNAL);
  ASSERT_TRUE(ext);
  ASSERT_TRUE(in);
  EXPECT_EQ(ext->flags, MYELIN_LB_F_NODE_PORT | MYELIN_LB_F_TWO_SCOPES);
  EXPECT_EQ(in->flags, MYELIN_LB_F_NODE_PORT);
  EXPECT_EQ(ext->rev_nat_index, in->rev_nat_index);
  EXPECT_EQ(slot_backends("192.168.0.1", 30080, MYELIN_LB_SCOPE_EXTERNAL), (std::vector<std::string>{"10.244.1.1:8080"}));
  EXPECT_EQ(slot_backends("192.168.0.1", 30080, MYELIN_LB_SCOPE_INTERNAL),
            (std::vector<std::string>{"10.244.1.1:8080", "10.244.2.1:8080", "10.244.2.2:8080"}));
  // kube-proxy's outside set: a local serving+terminating endpoint serves
  // outside clients when no local one is ready; inside ones go to the ready remote ones.
  auto t = f;
  t.backends[0] = be("10.244.1.1", 8080, BackendState::terminating, true);
  t.backends[0].serving = true;
  t.backends[0].external_active = true;
  writer_->apply(table({svc("np", {t})}), true);
  EXPECT_EQ(slot_backends("192.168.0.1", 30080, MYELIN_LB_SCOPE_EXTERNAL), (std::vector<std::string>{"10.244.1.1:8080"}));
  EXPECT_EQ(slot_backends("192.168.0.1", 30080, MYELIN_LB_SCOPE_INTERNAL), (std::vector<std::string>{"10.244.2.1:8080", "10.244.2.2:8080"}));
  // Back to Cluster: one entry with all of them, the INTERNAL one gone.
  f.external_local = false;
  writer_->apply(table({svc("np", {f})}), true);
  EXPECT_EQ(slot("192.168.0.1", 30080, 0)->flags, MYELIN_LB_F_NODE_PORT);
  EXPECT_EQ(slot_backends("192.168.0.1", 30080).size(), 3u);
  EXPECT_FALSE(slot("192.168.0.1", 30080, 0, MYELIN_LB_SCOPE_INTERNAL));
  EXPECT_FALSE(slot("192.168.0.1", 30080, 1, MYELIN_LB_SCOPE_INTERNAL));
  // internalTrafficPolicy Local on a ClusterIP: local backends only.
  auto c = fe("10.96.0.10", 80, {be("10.244.1.1", 8080, BackendState::active, true), be("10.244.2.1")});
  c.internal_local = true;
  writer_->apply(table({svc("c", {c})}), true);
  EXPECT_EQ(slot("10.96.0.10", 80, 0)->flags, MYELIN_LB_F_CLUSTER_IP | MYELIN_LB_F_LOCAL_ONLY);
  EXPECT_EQ(slot_backends("10.96.0.10", 80), (std::vector<std::string>{"10.244.1.1:8080"}));
}

TEST_F(LbWriterTest, AffinityToARemovedBackendIsForgotten) {
  open();
  auto f = fe("10.96.0.10", 80, {be("10.244.1.1"), be("10.244.1.2")});
  f.affinity = true;
  f.affinity_timeout_s = 30;
  // 10.244.1.2 also backs another frontend, so it stays active when web drops it.
  writer_->apply(table({svc("web", {f}), svc("other", {fe("10.96.0.11", 80, {be("10.244.1.2")})})}), true);
  const uint16_t rev = writer_->rev_nat_index(ip("10.96.0.10"), 80, 6);
  UniqueFd aff(map(MYELIN_MAP_LB_AFFINITY));
  auto put = [&](uint64_t client, uint32_t backend_id) {
    myelin_lb_affinity_key k{};
    k.client = client;
    k.rev_nat_index = rev;
    myelin_lb_affinity_val v{};
    v.backend_id = backend_id;
    ASSERT_EQ(bpf_map_update_elem(aff.get(), &k, &v, BPF_ANY), 0);
  };
  auto has = [&](uint64_t client) {
    myelin_lb_affinity_key k{};
    k.client = client;
    k.rev_nat_index = rev;
    myelin_lb_affinity_val v{};
    return bpf_map_lookup_elem(aff.get(), &k, &v) == 0;
  };
  put(1, writer_->backend_id(ip("10.244.1.1"), 8080, 6));
  put(2, writer_->backend_id(ip("10.244.1.2"), 8080, 6));
  f.backends = {be("10.244.1.1")};
  writer_->apply(table({svc("web", {f}), svc("other", {fe("10.96.0.11", 80, {be("10.244.1.2")})})}), true);
  EXPECT_TRUE(has(1)) << "its backend is still the frontend's";
  EXPECT_FALSE(has(2)) << "its backend is active, but no longer this frontend's";
  EXPECT_EQ(slot("10.96.0.10", 80, 0)->affinity_timeout, 30u);
}

TEST_F(LbWriterTest, ConflictingFrontendsAreReported) {
  open();
  writer_->apply(table({svc("a", {fe("10.96.0.10", 80, {be("10.244.1.1")})}), svc("b", {fe("10.96.0.10", 80, {be("10.244.1.2")})})}), true);
  auto errs = writer_->errors();
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].service, "default/b");
  EXPECT_NE(errs[0].message.find("default/a"), std::string::npos);
  EXPECT_EQ(slot_backends("10.96.0.10", 80), (std::vector<std::string>{"10.244.1.1:8080"}));
}

// 10,000 Services of 10 backends (the benchmark's largest case): every
// entry lands, one more Service is a small diff, and a restart adopts them
// all without a write. Times are printed, never asserted.
TEST_F(LbWriterTest, TenThousandServices) {
  open();
  auto make = [](int n) {
    ServiceTable t;
    for (int i = 0; i < n; ++i) {
      std::vector<Backend> bs;
      for (int b = 0; b < 10; ++b) {
        Backend x = be("10.0.0.1");
        x.addr = net::Ipv4{(10u << 24) | (static_cast<uint32_t>(64 + i / 6000) << 16) | static_cast<uint32_t>((i % 6000) * 10 + b + 1)};
        bs.push_back(x);
      }
      Frontend f = fe("10.96.0.1", 80, bs);
      f.addr = net::Ipv4{(10u << 24) | (96u << 16) | static_cast<uint32_t>(i + 1)};
      auto s = svc("s" + std::to_string(i), {f});
      t[s.ns + "/" + s.name] = s;
    }
    return t;
  };
  auto t = make(10000);
  auto t0 = std::chrono::steady_clock::now();
  writer_->apply(t, true);
  auto t1 = std::chrono::steady_clock::now();
  EXPECT_TRUE(writer_->errors().empty());
  EXPECT_EQ(entries(MYELIN_MAP_LB_SVC, sizeof(myelin_lb_svc_key)), 110000u);
  EXPECT_EQ(entries(MYELIN_MAP_LB_BACKEND, 4), 100000u);
  EXPECT_EQ(entries(MYELIN_MAP_LB_REVNAT, 4), 10000u);
  auto more = make(10001);
  auto t2 = std::chrono::steady_clock::now();
  writer_->apply(more, true);
  auto t3 = std::chrono::steady_clock::now();
  EXPECT_EQ(entries(MYELIN_MAP_LB_SVC, sizeof(myelin_lb_svc_key)), 110011u);
  const auto s = writer_->summary();
  EXPECT_EQ(s.fill.svc_entries, 110011u);
  EXPECT_EQ(s.fill.backends, 100010u);
  // Restart: everything restored, the same table changes nothing.
  auto t4 = std::chrono::steady_clock::now();
  open();
  auto t5 = std::chrono::steady_clock::now();
  writer_->apply(more, true);
  auto t6 = std::chrono::steady_clock::now();
  EXPECT_TRUE(removed_.empty());
  EXPECT_EQ(entries(MYELIN_MAP_LB_SVC, sizeof(myelin_lb_svc_key)), 110011u);
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  std::printf("10,000 Services x 10 backends: first apply %.0f ms; one more Service %.1f ms; restore %.0f ms; same table after it %.1f ms\n",
              ms(t0, t1), ms(t2, t3), ms(t4, t5), ms(t5, t6));
}

// Full maps: maps of the real layout, made small and pinned by hand.
class LbWriterFullTest : public LbWriterTest {
 protected:
  LbWriterFullTest() { own_maps_ = true; }
  void make(const char* name, bpf_map_type type, uint32_t k, uint32_t v, uint32_t n, uint32_t flags = 0, int inner = -1) {
    LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);
    if (inner >= 0) o.inner_map_fd = inner;
    UniqueFd fd(bpf_map_create(type, name, k, v, n, &o));
    ASSERT_TRUE(fd) << name << ": " << std::strerror(errno);
    ASSERT_EQ(bpf_obj_pin(fd.get(), (pin_dir_ + "/" + name).c_str()), 0) << name;
  }
  void make_maps(uint32_t svc, uint32_t backends) {
    make(MYELIN_MAP_LB_SVC, BPF_MAP_TYPE_HASH, sizeof(myelin_lb_svc_key), sizeof(myelin_lb_svc_val), svc, BPF_F_NO_PREALLOC);
    make(MYELIN_MAP_LB_BACKEND, BPF_MAP_TYPE_HASH, 4, sizeof(myelin_lb_backend), backends, BPF_F_NO_PREALLOC);
    make(MYELIN_MAP_LB_REVNAT, BPF_MAP_TYPE_HASH, 4, sizeof(myelin_lb_revnat), 16, BPF_F_NO_PREALLOC);
    make(MYELIN_MAP_LB_AFFINITY, BPF_MAP_TYPE_LRU_HASH, sizeof(myelin_lb_affinity_key), sizeof(myelin_lb_affinity_val), 16);
    make(MYELIN_MAP_LB_CONFIG, BPF_MAP_TYPE_ARRAY, 4, sizeof(myelin_lb_config), 1);
    LIBBPF_OPTS(bpf_map_create_opts, io, .map_flags = BPF_F_INNER_MAP);
    UniqueFd tmpl(bpf_map_create(BPF_MAP_TYPE_ARRAY, "tmpl", 4, 4, 1, &io));
    ASSERT_TRUE(tmpl);
    make(MYELIN_MAP_LB_MAGLEV, BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 1, 0, tmpl.get());
  }
};

TEST_F(LbWriterFullTest, AFrontendThatDoesNotFitKeepsItsPreviousVersion) {
  make_maps(8, 4);
  open();
  // a: 1 + 2 slots, b: 1 + 1 slot = 5 of 8; 3 backends of 4.
  writer_->apply(table({svc("a", {fe("10.96.0.1", 80, {be("10.244.1.1"), be("10.244.1.2")})}),
                        svc("b", {fe("10.96.0.2", 80, {be("10.244.1.3")})})}),
                 true);
  ASSERT_TRUE(writer_->errors().empty());
  EXPECT_EQ(slot_backends("10.96.0.1", 80).size(), 2u);
  // a grows to 5 backends: 6 slots would need 9 entries, and 6 backends: neither fits.
  writer_->apply(table({svc("a", {fe("10.96.0.1", 80, {be("10.244.1.1"), be("10.244.1.2"), be("10.244.1.4"), be("10.244.1.5"), be("10.244.1.6")})}),
                        svc("b", {fe("10.96.0.2", 80, {be("10.244.1.3")})}), svc("c", {fe("10.96.0.3", 80, {be("10.244.1.3")})})}),
                 true);
  auto errs = writer_->errors();
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].service, "default/a");
  EXPECT_TRUE(errs[0].kept_previous);
  EXPECT_NE(errs[0].message.find("full"), std::string::npos) << errs[0].message;
  EXPECT_EQ(slot_backends("10.96.0.1", 80), (std::vector<std::string>{"10.244.1.1:8080", "10.244.1.2:8080"})) << "the previous version, whole";
  EXPECT_EQ(slot_backends("10.96.0.3", 80), (std::vector<std::string>{"10.244.1.3:8080"})) << "c fits and is installed";
  EXPECT_GT(writer_->summary().counters.map_errors_backend, 0u);
  // Slots full but backends fit: a 4-backend a needs 5 entries; with b and c (4) that is 9 of 8.
  writer_->apply(table({svc("a", {fe("10.96.0.1", 80, {be("10.244.1.1"), be("10.244.1.2"), be("10.244.1.3"), be("10.244.1.4")})}),
                        svc("b", {fe("10.96.0.2", 80, {be("10.244.1.3")})}), svc("c", {fe("10.96.0.3", 80, {be("10.244.1.3")})})}),
                 true);
  errs = writer_->errors();
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].service, "default/a");
  EXPECT_GT(writer_->summary().counters.map_errors_svc, 0u);
  EXPECT_EQ(slot_backends("10.96.0.1", 80), (std::vector<std::string>{"10.244.1.1:8080", "10.244.1.2:8080"}));
  EXPECT_FALSE(slot("10.96.0.1", 80, 3)) << "the slots that did fit were taken back";
  // A new frontend that does not fit is not installed at all.
  writer_->apply(table({svc("a", {fe("10.96.0.1", 80, {be("10.244.1.1"), be("10.244.1.2")})}),
                        svc("b", {fe("10.96.0.2", 80, {be("10.244.1.3")})}), svc("c", {fe("10.96.0.3", 80, {be("10.244.1.3")})}),
                        svc("d", {fe("10.96.0.4", 80, {be("10.244.1.1"), be("10.244.1.2")})})}),
                 true);
  errs = writer_->errors();
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].service, "default/d");
  EXPECT_FALSE(errs[0].kept_previous);
  EXPECT_FALSE(slot("10.96.0.4", 80, 0));
  EXPECT_FALSE(slot("10.96.0.4", 80, 1));
  EXPECT_EQ(writer_->index()->size(), 3u) << "d has no index entry";
  // Room again (c goes): d is installed.
  writer_->apply(table({svc("a", {fe("10.96.0.1", 80, {be("10.244.1.1"), be("10.244.1.2")})}),
                        svc("b", {fe("10.96.0.2", 80, {be("10.244.1.3")})}), svc("d", {fe("10.96.0.4", 80, {be("10.244.1.1"), be("10.244.1.2")})})}),
                 true);
  EXPECT_TRUE(writer_->errors().empty());
  EXPECT_EQ(slot_backends("10.96.0.4", 80).size(), 2u);
}

TEST_F(LbWriterFullTest, AFullMaglevMapFallsBackToRandom) {
  make_maps(64, 16);
  LbWriterOptions o;
  o.algorithm = LbAlgorithm::maglev;
  o.maglev_m = 251;
  open(o);
  writer_->apply(table({svc("a", {fe("192.168.0.1", 30001, {be("10.244.1.1")}, FrontendKind::node_port),
                                  fe("192.168.0.1", 30002, {be("10.244.1.2")}, FrontendKind::node_port)})}),
                 true);
  // One Maglev slot: the first frontend has a table, the second picks at random.
  const bool first = slot("192.168.0.1", 30001, 0)->flags & MYELIN_LB_F_MAGLEV;
  const bool second = slot("192.168.0.1", 30002, 0)->flags & MYELIN_LB_F_MAGLEV;
  EXPECT_NE(first, second);
  EXPECT_EQ(writer_->summary().counters.map_errors_maglev, 1u);
  EXPECT_TRUE(writer_->errors().empty()) << "still served, at random";
  EXPECT_EQ(slot_backends("192.168.0.1", 30002).size(), 1u);
}

}  // namespace
}  // namespace myelin::services
