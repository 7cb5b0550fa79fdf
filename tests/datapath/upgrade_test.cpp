// SPDX-License-Identifier: Apache-2.0
// Pinned maps across releases, with the real object: a pin directory as the
// release before layout versions left it (conntrack of layout 1, nothing
// recorded) is migrated: the connections keep their entries and a revoked
// one stays revoked, the old pins hold until complete_upgrade(), what the
// old programs add meanwhile is carried over; a pin of a newer layout (a
// downgrade) is refused with nothing touched; a capacity change migrates
// too; an upgrade interrupted before complete_upgrade() is simply redone.
#include <dirent.h>

#include <map>
#include <set>

#include "fixture.hpp"
#include "myelin/fd.hpp"

namespace myelin::test {
namespace {

// The pod datapath's pinned maps: one per name in the layout table.
size_t pinned_map_count() {
  std::set<std::string> names;
  for (const auto& l : datapath::map_layouts()) names.insert(l.map);
  return names.size();
}

constexpr uint32_t OK = 0, SHOT = 2, REDIRECT = 7;

using datapath::CtEntryV1;  // myelin_ct_entry as the release before layout versions had it

struct PinInfo {
  uint32_t id = 0, value_size = 0, max_entries = 0;
};
PinInfo pin_info(const std::string& path) {
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd) return {};
  bpf_map_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return {};
  return {info.id, info.value_size, info.max_entries};
}

// name -> map id of every pin in the directory.
std::map<std::string, uint32_t> pins(const std::string& dir) {
  std::map<std::string, uint32_t> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out[e->d_name] = pin_info(dir + "/" + e->d_name).id;
    closedir(d);
  }
  return out;
}

// map id -> recorded layout version.
std::map<uint32_t, uint32_t> layouts(const std::string& dir) {
  std::map<uint32_t, uint32_t> out;
  UniqueFd fd(bpf_obj_get((dir + "/" MYELIN_MAP_LAYOUT).c_str()));
  if (!fd) return out;
  uint32_t key = 0, next = 0;
  uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(fd.get(), prev, &next) == 0) {
    myelin_layout_val v{};
    if (bpf_map_lookup_elem(fd.get(), &next, &v) == 0) out[next] = v.version;
    key = next;
    prev = &key;
  }
  return out;
}

myelin_ct_key tcp_key(uint16_t sport) {
  myelin_ct_key k{};
  k.saddr.w[0] = ip4("10.0.0.1");
  k.daddr.w[0] = ip4("10.0.0.2");
  k.sport = htons(sport);
  k.dport = htons(80);
  k.proto = 6;
  k.family = MYELIN_FAMILY_IPV4;
  return k;
}

class Upgrade : public DatapathTest {
 protected:
  // A pin directory as the release before layout versions leaves it, with
  // the two maps that matter here (the rest is created by the load): pods A
  // (policy_rev 70000) and B (5, ingress enforced), and three connections
  // A -> B:80, allowed at the revision they have now (sport 40000), allowed
  // before B's policy changed (40001: must be checked again), and one the
  // old programs add after the new agent loaded (40002).
  void legacy_pin_dir() {
    TearDown();
    static int n = 0;
    pin_dir_ = "/sys/fs/bpf/myelin-test-" + std::to_string(getpid()) + "-legacy-" + std::to_string(n++);
    ASSERT_TRUE(datapath::make_pin_dir(pin_dir_));
    ep_.reset(bpf_map_create(BPF_MAP_TYPE_HASH, MYELIN_MAP_ENDPOINTS, sizeof(myelin_ep_key), 32, MYELIN_ENDPOINTS_MAX, nullptr));
    ct_.reset(bpf_map_create(BPF_MAP_TYPE_LRU_HASH, MYELIN_MAP_CT, sizeof(myelin_ct_key), sizeof(CtEntryV1), MYELIN_CT_MAX, nullptr));
    ASSERT_TRUE(ep_ && ct_);
    ASSERT_EQ(bpf_obj_pin(ep_.get(), (pin_dir_ + "/" MYELIN_MAP_ENDPOINTS).c_str()), 0);
    ASSERT_EQ(bpf_obj_pin(ct_.get(), (pin_dir_ + "/" MYELIN_MAP_CT).c_str()), 0);
    for (auto [ip, id, rev, flags, mac, node_mac] : {std::tuple{"10.0.0.1", 11u, 70000u, 0u, kPodMacA, kNodeMacA},
                                                     std::tuple{"10.0.0.2", 12u, 5u, uint32_t{MYELIN_EP_F_INGRESS_ENFORCED}, kPodMacB, kNodeMacB}}) {
      myelin_ep_key k{};
      k.addr.w[0] = ip4(ip);
      k.family = MYELIN_FAMILY_IPV4;
      myelin_ep_info v{};
      v.ifindex = kLo;
      v.ep_id = id;
      v.identity = 1000 + id;
      v.flags = MYELIN_EP_F_READY | flags;
      v.policy_rev = rev;
      std::memcpy(v.mac, mac.data(), 6);
      std::memcpy(v.node_mac, node_mac.data(), 6);
      ASSERT_EQ(bpf_map_update_elem(ep_.get(), &k, &v, BPF_ANY), 0);
    }
    legacy_entry(40000, static_cast<uint16_t>(70000 + 5));
    legacy_entry(40001, static_cast<uint16_t>(70000 + 4));
  }
  void legacy_entry(uint16_t sport, uint16_t policy_rev) {
    CtEntryV1 e{};
    e.created_ns = 1000 + sport;
    e.last_seen_ns = 2000 + sport;
    e.packets_fwd = 10;
    e.bytes_fwd = 1000;
    e.packets_rev = 9;
    e.bytes_rev = 900;
    e.src_ep = 11;
    e.dst_ep = 12;
    e.state = MYELIN_CT_ESTABLISHED;
    e.tcp_seen = MYELIN_CT_SEEN_SYN | MYELIN_CT_SEEN_SYNACK;
    e.policy_rev = policy_rev;
    auto k = tcp_key(sport);
    ASSERT_EQ(bpf_map_update_elem(ct_.get(), &k, &e, BPF_ANY), 0);
  }
  Status load(datapath::Datapath::Options o = {}) {
    reader_.reset();
    dp_.reset();
    o.pin_dir = pin_dir_;
    auto dp = datapath::Datapath::load(o);
    if (!dp) return dp.error();
    dp_ = std::move(*dp);
    return {};
  }
  RunResult ack_from_a(uint16_t sport) {
    Packet p;
    p.sport = sport;
    p.tcp_flags = MYELIN_TCP_ACK;
    return from_container(p.build());
  }

  UniqueFd ep_, ct_;  // the "old release's" maps
};

TEST_F(Upgrade, LayoutOneConntrackIsMigratedAndItsConnectionsKeepTheirState) {
  legacy_pin_dir();
  const uint32_t old_ct = pin_info(pin_dir_ + "/" MYELIN_MAP_CT).id, old_ep = pin_info(pin_dir_ + "/" MYELIN_MAP_ENDPOINTS).id;
  ASSERT_TRUE(load());
  ASSERT_EQ(dp_->migrated().size(), 1u);
  EXPECT_NE(dp_->migrated()[0].find("myelin_ct: layout 1 -> 2, 2 entries carried over"), std::string::npos) << dp_->migrated()[0];
  EXPECT_TRUE(dp_->adopted());

  // Until the programs are swapped, the old programs' maps keep their pins.
  EXPECT_EQ(pin_info(pin_dir_ + "/" MYELIN_MAP_CT).id, old_ct);
  EXPECT_EQ(pin_info(pin_dir_ + "/" MYELIN_MAP_CT).value_size, 64u);
  EXPECT_EQ(pin_info(pin_dir_ + "/" MYELIN_MAP_ENDPOINTS).id, old_ep) << "an unchanged map is adopted, not copied";

  auto now = ct("10.0.0.1", "10.0.0.2", 40000, 80, 6), stale = ct("10.0.0.1", "10.0.0.2", 40001, 80, 6);
  ASSERT_TRUE(now && stale);
  EXPECT_EQ(now->created_ns, 41000u);
  EXPECT_EQ(now->last_seen_ns, 42000u);
  EXPECT_EQ(now->packets_fwd, 10u);
  EXPECT_EQ(now->bytes_rev, 900u);
  EXPECT_EQ(now->state, MYELIN_CT_ESTABLISHED);
  EXPECT_EQ(now->tcp_seen, MYELIN_CT_SEEN_SYN | MYELIN_CT_SEEN_SYNACK);
  EXPECT_EQ(now->policy_rev, 70005u) << "the 16 bits layout 1 kept matched: the full revision";
  EXPECT_EQ(stale->policy_rev, 70005u + 0x80000000u) << "a stale revision stays stale";
  EXPECT_EQ(now->backend_id, 0u);
  EXPECT_EQ(now->rev_nat_index, 0u);

  // An old program opens a connection before its pod's veth gets the new one.
  legacy_entry(40002, 70005 & 0xffff);
  {
    auto done = dp_->complete_upgrade();
    ASSERT_TRUE(done) << done.error().message;
  }
  auto late = ct("10.0.0.1", "10.0.0.2", 40002, 80, 6);
  ASSERT_TRUE(late) << "what the old programs wrote meanwhile is carried over";
  EXPECT_EQ(late->policy_rev, 70005u);

  // The pin is the new map now; its layout is recorded, the old map's forgotten.
  const auto ct_pin = pin_info(pin_dir_ + "/" MYELIN_MAP_CT);
  EXPECT_NE(ct_pin.id, old_ct);
  EXPECT_EQ(ct_pin.value_size, 72u);
  auto recorded = layouts(pin_dir_);
  EXPECT_EQ(recorded[ct_pin.id], 2u);
  EXPECT_EQ(recorded[old_ep], 1u);
  EXPECT_FALSE(recorded.count(old_ct)) << "the replaced map's record goes";
  EXPECT_EQ(recorded.size(), pinned_map_count()) << "one record per pinned map";

  // The new program uses the migrated entries: an established connection
  // passes with no rule (B enforces ingress and has none), one allowed
  // under an older policy is checked again and, allowed by nothing now, dropped.
  EXPECT_EQ(ack_from_a(40000).retval, REDIRECT);
  EXPECT_EQ(ct("10.0.0.1", "10.0.0.2", 40000, 80, 6)->packets_fwd, 11u);
  EXPECT_EQ(ack_from_a(40001).retval, SHOT);
  EXPECT_EQ(counter(MYELIN_DROP_POLICY_DENIED, MYELIN_DIR_INGRESS), 1u);

  // The next start adopts everything.
  ASSERT_TRUE(load());
  EXPECT_TRUE(dp_->migrated().empty());
  EXPECT_EQ(pin_info(pin_dir_ + "/" MYELIN_MAP_CT).id, ct_pin.id);
  EXPECT_TRUE(ct("10.0.0.1", "10.0.0.2", 40000, 80, 6));
}

TEST_F(Upgrade, AnUpgradeStoppedBeforeTheSwapIsDoneAgain) {
  legacy_pin_dir();
  const uint32_t old_ct = pin_info(pin_dir_ + "/" MYELIN_MAP_CT).id;
  ASSERT_TRUE(load());
  ASSERT_EQ(dp_->migrated().size(), 1u);
  // The agent dies here (no complete_upgrade): the old pins are untouched.
  ASSERT_TRUE(load());
  EXPECT_EQ(pin_info(pin_dir_ + "/" MYELIN_MAP_CT).id, old_ct);
  ASSERT_EQ(dp_->migrated().size(), 1u) << "migrated again from the old pins";
  {
    auto done = dp_->complete_upgrade();
    ASSERT_TRUE(done) << done.error().message;
  }
  EXPECT_EQ(pin_info(pin_dir_ + "/" MYELIN_MAP_CT).value_size, 72u);
  EXPECT_TRUE(ct("10.0.0.1", "10.0.0.2", 40000, 80, 6));
  EXPECT_EQ(layouts(pin_dir_).size(), pinned_map_count()) << "the abandoned attempt's records are gone";
}

TEST_F(Upgrade, ANewerLayoutIsRefusedAndNothingIsTouched) {
  {
    auto done = dp_->complete_upgrade();
    ASSERT_TRUE(done) << done.error().message;
  }
  const auto ct_id = pin_info(pin_dir_ + "/" MYELIN_MAP_CT).id;
  {
    // What a newer release with conntrack layout 3 would have recorded.
    UniqueFd fd(bpf_obj_get((pin_dir_ + "/" MYELIN_MAP_LAYOUT).c_str()));
    ASSERT_TRUE(fd);
    myelin_layout_val v{3, "myelin_ct"};
    ASSERT_EQ(bpf_map_update_elem(fd.get(), &ct_id, &v, BPF_EXIST), 0);
  }
  const auto before = pins(pin_dir_);
  const auto recorded = layouts(pin_dir_);
  ASSERT_EQ(before.size(), pinned_map_count() + 1);  // and the layout map

  auto r = load();
  ASSERT_FALSE(r) << "a newer layout must be refused";
  const std::string& m = r.error().message;
  for (const char* part : {"pinned map myelin_ct", "has layout 3, newer than this myelind's layout 2", "nothing was changed",
                           "Run the newer myelind again"})
    EXPECT_NE(m.find(part), std::string::npos) << part << " not in: " << m;
  EXPECT_NE(m.find(pin_dir_), std::string::npos) << m;
  EXPECT_EQ(pins(pin_dir_), before) << "no pin made, moved or replaced";
  EXPECT_EQ(layouts(pin_dir_), recorded);

  // Positive control: the same pins with this build's layout load.
  {
    UniqueFd fd(bpf_obj_get((pin_dir_ + "/" MYELIN_MAP_LAYOUT).c_str()));
    myelin_layout_val v{2, "myelin_ct"};
    ASSERT_EQ(bpf_map_update_elem(fd.get(), &ct_id, &v, BPF_EXIST), 0);
  }
  ASSERT_TRUE(load());
  EXPECT_TRUE(dp_->migrated().empty());
  EXPECT_EQ(pins(pin_dir_), before);
}

TEST_F(Upgrade, AnotherCapacityIsMigratedIntoAMapOfThatSize) {
  datapath::Datapath::Options small;
  small.sizes.conntrack = 1024;
  TearDown();
  pin_dir_ += "-capacity";
  ASSERT_TRUE(datapath::make_pin_dir(pin_dir_));
  ASSERT_TRUE(load(small));
  auto k = tcp_key(40000);
  myelin_ct_entry e{};
  e.state = MYELIN_CT_ESTABLISHED;
  e.created_ns = 7;
  ASSERT_EQ(bpf_map_update_elem(dp_->ct_fd(), &k, &e, BPF_ANY), 0);
  {
    auto done = dp_->complete_upgrade();
    ASSERT_TRUE(done) << done.error().message;
  }
  EXPECT_EQ(pin_info(pin_dir_ + "/" MYELIN_MAP_CT).max_entries, 1024u);

  datapath::Datapath::Options big;
  big.sizes.conntrack = 2048;
  ASSERT_TRUE(load(big));
  ASSERT_EQ(dp_->migrated().size(), 1u);
  EXPECT_NE(dp_->migrated()[0].find("myelin_ct: capacity 1024 -> 2048, 1 entries carried over"), std::string::npos) << dp_->migrated()[0];
  {
    auto done = dp_->complete_upgrade();
    ASSERT_TRUE(done) << done.error().message;
  }
  EXPECT_EQ(pin_info(pin_dir_ + "/" MYELIN_MAP_CT).max_entries, 2048u);
  auto carried = ct("10.0.0.1", "10.0.0.2", 40000, 80, 6);
  ASSERT_TRUE(carried);
  EXPECT_EQ(carried->created_ns, 7u);
}

}  // namespace
}  // namespace myelin::test
