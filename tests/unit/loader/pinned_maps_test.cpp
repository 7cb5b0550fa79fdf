// SPDX-License-Identifier: Apache-2.0
// Pinned-map layouts without a kernel: what each pinned state decides (adopt,
// migrate, create, or a refusal that names the map, both layouts and what
// to do), the conntrack migration from layout 1, and the pod object's
// pinned maps against the layout table.
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <stdexcept>
#include <set>

#include "myelin/abi/net.h"
#include "myelin/datapath/pinned_maps.hpp"

namespace myelin::datapath {
namespace {

constexpr const char* kDir = "/sys/fs/bpf/myelin/node";

struct DecideCase {
  const char* name;
  const char* map;
  PinnedState pinned;
  uint32_t capacity;
  std::optional<PinAction> action;    // nullopt: refused
  std::vector<std::string> message;   // what a refusal must say
};

class Decide : public ::testing::TestWithParam<DecideCase> {};

TEST_P(Decide, Case) {
  const auto& c = GetParam();
  auto r = decide(c.map, c.pinned, c.capacity, kDir);
  if (c.action) {
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, *c.action);
  } else {
    ASSERT_FALSE(r) << "must be refused";
    for (const auto& m : c.message) EXPECT_NE(r.error().message.find(m), std::string::npos) << m << " not in: " << r.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, Decide,
    ::testing::Values(
        DecideCase{"no_pin_is_created", MYELIN_MAP_CT, {}, 1024, PinAction::create, {}},
        DecideCase{"this_layout_is_adopted", MYELIN_MAP_CT, {true, 2, 40, 72, 1024}, 1024, PinAction::adopt, {}},
        DecideCase{"another_capacity_is_migrated", MYELIN_MAP_CT, {true, 2, 40, 72, 1024}, 4096, PinAction::migrate, {}},
        DecideCase{"an_older_layout_is_migrated", MYELIN_MAP_CT, {true, 1, 40, 64, 1024}, 1024, PinAction::migrate, {}},
        DecideCase{"unrecorded_unchanged_maps_are_layout_1", MYELIN_MAP_ENDPOINTS, {true, 1, 20, 32, 65536}, 65536, PinAction::adopt, {}},
        DecideCase{"a_newer_layout_is_a_downgrade",
                   MYELIN_MAP_CT,
                   {true, 3, 40, 80, 1024},
                   1024,
                   std::nullopt,
                   {"myelin_ct", kDir, "layout 3", "newer than this myelind's layout 2", "nothing was changed", "Run the newer myelind again",
                    "remove /sys/fs/bpf/myelin/node"}},
        DecideCase{"a_layout_no_release_made", MYELIN_MAP_CT, {true, 0, 40, 64, 1024}, 1024, std::nullopt, {"myelin_ct", "layout 0", "knows 1 to 2"}},
        DecideCase{"sizes_that_are_not_the_layouts",
                   MYELIN_MAP_CT,
                   {true, 1, 40, 72, 1024},
                   1024,
                   std::nullopt,
                   {"myelin_ct", "72-byte values", "layout 1 has 40 and 64", "not a map myelind made"}},
        DecideCase{"a_map_without_a_layout", "myelin_nothing", {true, 1, 4, 4, 1}, 1, std::nullopt, {"myelin_nothing", "has no layout"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(MapLayouts, EveryMapHasVersionsOneToNAndAMigrationForEachStep) {
  std::set<std::string> maps;
  for (const auto& l : map_layouts()) maps.insert(l.map);
  for (const auto& m : maps) {
    const MapLayout* cur = current_layout(m);
    ASSERT_NE(cur, nullptr);
    for (uint32_t v = 1; v <= cur->version; ++v) {
      size_t rows = 0;
      for (const auto& l : map_layouts()) rows += m == l.map && l.version == v;
      EXPECT_EQ(rows, 1u) << m << " layout " << v;
    }
    for (uint32_t v = 1; v < cur->version; ++v) {
      size_t steps = 0;
      for (const auto& mg : map_migrations()) steps += m == mg.map && mg.from == v;
      EXPECT_EQ(steps, 1u) << m << ": one migration from layout " << v;
    }
  }
}

// Every map the pod object pins has a layout whose sizes are the object's:
// a pinned map added to maps.h without a row here fails.
TEST(MapLayouts, TheObjectsPinnedMapsAreTheTablesCurrentLayouts) {
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = kDir);
  bpf_object* obj = bpf_object__open_file(MYELIN_LXC_BPF_OBJECT, &opts);
  ASSERT_NE(obj, nullptr) << "open " << MYELIN_LXC_BPF_OBJECT;
  size_t pinned = 0;
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, obj) {
    if (!bpf_map__pin_path(m)) continue;
    ++pinned;
    const MapLayout* cur = current_layout(bpf_map__name(m));
    ASSERT_NE(cur, nullptr) << bpf_map__name(m) << " is pinned and has no layout";
    const bool ring = bpf_map__type(m) == BPF_MAP_TYPE_RINGBUF;
    EXPECT_EQ(cur->key_size, ring ? 0 : bpf_map__key_size(m)) << bpf_map__name(m);
    EXPECT_EQ(cur->value_size, ring ? 0 : bpf_map__value_size(m)) << bpf_map__name(m);
  }
  EXPECT_EQ(pinned, 18u) << "maps.h pins ten maps, lb_maps.h seven, snat_maps.h one";
  bpf_object__close(obj);
}

const Migration& ct_migration() {
  for (const auto& m : map_migrations())
    if (std::string(m.map) == MYELIN_MAP_CT && m.from == 1) return m;
  throw std::runtime_error("no conntrack migration from layout 1");
}

// With no endpoints map (fd -1) both endpoints' revisions read 0: the
// revision arithmetic with real endpoints is in tests/datapath/upgrade_test.cpp.
myelin_ct_entry convert(const CtEntryV1& old) {
  MigrationContext ctx{[](const char*) { return -1; }};
  myelin_ct_key k{};
  k.saddr.w[0] = 0x0100000a;
  k.daddr.w[0] = 0x0200000a;
  k.sport = htons(40000);
  k.dport = htons(5201);
  k.proto = 6;
  k.family = MYELIN_FAMILY_IPV4;
  myelin_ct_key nk{};
  myelin_ct_entry n{};
  EXPECT_TRUE(ct_migration().convert(ctx, &k, &old, &nk, &n));
  EXPECT_EQ(std::memcmp(&k, &nk, sizeof k), 0) << "the key is unchanged";
  return n;
}

TEST(CtMigration, LayoutOneEntryKeepsEverythingAndGainsEmptyServiceFields) {
  CtEntryV1 old{};
  old.created_ns = 111;
  old.last_seen_ns = 222;
  old.packets_fwd = 3;
  old.bytes_fwd = 4;
  old.packets_rev = 5;
  old.bytes_rev = 6;
  old.src_ep = 7;
  old.dst_ep = 8;
  old.state = MYELIN_CT_ESTABLISHED;
  old.tcp_seen = MYELIN_CT_SEEN_SYN | MYELIN_CT_SEEN_SYNACK;
  old.policy_rev = 0;
  myelin_ct_entry n = convert(old);
  EXPECT_EQ(n.created_ns, 111u);
  EXPECT_EQ(n.last_seen_ns, 222u);
  EXPECT_EQ(n.packets_fwd, 3u);
  EXPECT_EQ(n.bytes_fwd, 4u);
  EXPECT_EQ(n.packets_rev, 5u);
  EXPECT_EQ(n.bytes_rev, 6u);
  EXPECT_EQ(n.src_ep, 7u);
  EXPECT_EQ(n.dst_ep, 8u);
  EXPECT_EQ(n.state, MYELIN_CT_ESTABLISHED);
  EXPECT_EQ(n.tcp_seen, MYELIN_CT_SEEN_SYN | MYELIN_CT_SEEN_SYNACK);
  EXPECT_EQ(n.backend_id, 0u);
  EXPECT_EQ(n.rev_nat_index, 0u);
  EXPECT_EQ(n.policy_rev, 0u) << "allowed at the current revision (0): keeps it, no revalidation";
}

TEST(CtMigration, AStaleRevisionStaysStale) {
  CtEntryV1 old{};
  old.policy_rev = 9;  // the endpoints' revisions sum to 0 now: policy changed since
  myelin_ct_entry n = convert(old);
  EXPECT_NE(n.policy_rev, 0u) << "the next packet must be checked against policy again";
  EXPECT_EQ(n.policy_rev, 0x80000000u);
}

}  // namespace
}  // namespace myelin::datapath
