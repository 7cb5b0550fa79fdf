// SPDX-License-Identifier: Apache-2.0
// Maglev's three promises, measured on the real table builder: the same
// backends give the same table (in any order: every node agrees), each
// backend gets its share of the slots, and removing one backend moves its
// own slots and few others. Plus the table size's validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "myelin/services/maglev.hpp"

namespace myelin::services::maglev {
namespace {

// n backends 10.244.<i/250>.<i%250+1>:8080/TCP with ids 1000 + i.
std::vector<Backend> backends(size_t n, uint32_t first_id = 1000) {
  std::vector<Backend> v;
  for (size_t i = 0; i < n; ++i)
    v.push_back({(10u << 24) | (244u << 16) | (static_cast<uint32_t>(i / 250) << 8) | static_cast<uint32_t>(i % 250 + 1), 8080, 6,
                 first_id + static_cast<uint32_t>(i)});
  return v;
}

std::map<uint32_t, size_t> shares(const std::vector<uint32_t>& table) {
  std::map<uint32_t, size_t> s;
  for (uint32_t id : table) ++s[id];
  return s;
}

TEST(Maglev, PrimeTableSizes) {
  EXPECT_TRUE(is_prime(2));
  EXPECT_TRUE(is_prime(16381));
  EXPECT_TRUE(is_prime(65521));
  EXPECT_TRUE(is_prime(131071));
  EXPECT_FALSE(is_prime(0));
  EXPECT_FALSE(is_prime(1));
  EXPECT_FALSE(is_prime(16383));  // 3 x 43 x 127
  EXPECT_FALSE(is_prime(65536));
  EXPECT_TRUE(check_table_size(16381));
  EXPECT_TRUE(check_table_size(kMinTableSize));
  EXPECT_TRUE(check_table_size(kMaxTableSize));
  EXPECT_FALSE(check_table_size(16383));
  EXPECT_FALSE(check_table_size(211));      // prime, too small
  EXPECT_FALSE(check_table_size(262139));   // prime, too large
  EXPECT_NE(check_table_size(1000).error().message.find("prime"), std::string::npos);
}

TEST(Maglev, EveryNodeComputesTheSameTable) {
  auto b = backends(10);
  const auto t = build_table(b, kDefaultTableSize);
  ASSERT_EQ(t.size(), kDefaultTableSize);
  EXPECT_EQ(build_table(b, kDefaultTableSize), t);
  // Another node lists them in another order: the same table.
  std::mt19937 rng(7);
  for (int i = 0; i < 5; ++i) {
    std::shuffle(b.begin(), b.end(), rng);
    EXPECT_EQ(build_table(b, kDefaultTableSize), t) << "shuffle " << i;
  }
  // Every slot holds one of the backends.
  for (uint32_t id : t) EXPECT_TRUE(id >= 1000 && id < 1010) << id;
  // The permutation is of the address, port and protocol, not of the id:
  // another node's ids for the same backends give the same layout.
  const auto other = build_table(backends(10, 5000), kDefaultTableSize);
  ASSERT_EQ(other.size(), t.size());
  for (size_t s = 0; s < t.size(); ++s) ASSERT_EQ(other[s] - 5000, t[s] - 1000) << "slot " << s;
  // A different backend set gives a different table (the check could fail).
  auto moved = backends(10);
  moved[3].port = 8081;
  EXPECT_NE(build_table(moved, kDefaultTableSize), t);
}

TEST(Maglev, EvenSpread) {
  for (size_t n : {1u, 2u, 3u, 10u, 100u, 163u}) {
    const auto t = build_table(backends(n), kDefaultTableSize);
    ASSERT_EQ(t.size(), kDefaultTableSize) << n;
    const auto s = shares(t);
    ASSERT_EQ(s.size(), n) << "every backend has slots";
    const double ideal = static_cast<double>(kDefaultTableSize) / static_cast<double>(n);
    for (const auto& [id, count] : s) {
      // Within 2 % of the ideal share (equal weights: the round robin gives
      // each backend M/N slots give or take one).
      EXPECT_LE(std::abs(static_cast<double>(count) - ideal), std::max(1.0, ideal * 0.02)) << n << " backends, id " << id;
    }
  }
}

TEST(Maglev, RemovingOneBackendMovesLittleElse) {
  for (size_t n : {10u, 50u, 100u}) {
    auto all = backends(n);
    const auto before = build_table(all, kDefaultTableSize);
    const uint32_t gone = all[n / 3].id;
    all.erase(all.begin() + static_cast<long>(n / 3));
    const auto after = build_table(all, kDefaultTableSize);
    ASSERT_EQ(after.size(), before.size());
    size_t own = 0, others_moved = 0;
    for (size_t s = 0; s < before.size(); ++s) {
      ASSERT_NE(after[s], gone);
      if (before[s] == gone) ++own;
      else if (after[s] != before[s]) ++others_moved;
    }
    // The removed backend's slots all move (they must); of the rest, a
    // small fraction: the paper measures a few percent for M >= 100 x N.
    const double frac = static_cast<double>(others_moved) / static_cast<double>(before.size() - own);
    RecordProperty("moved_" + std::to_string(n), std::to_string(frac));
    std::printf("%zu backends: the removed one's %zu slots moved, and %.2f %% of the others'\n", n, own, 100 * frac);
    EXPECT_LT(frac, 0.05) << n << " backends";
  }
}

TEST(Maglev, AddingOneBackendTakesItsShareMostlyFromOthersFreeSlots) {
  auto all = backends(20);
  const auto before = build_table(all, kDefaultTableSize);
  all.push_back({(10u << 24) | (245u << 16) | 1, 8080, 6, 4242});
  const auto after = build_table(all, kDefaultTableSize);
  size_t to_new = 0, shuffled = 0;
  for (size_t s = 0; s < before.size(); ++s) {
    if (after[s] == 4242) ++to_new;
    else if (after[s] != before[s]) ++shuffled;
  }
  EXPECT_NEAR(static_cast<double>(to_new), kDefaultTableSize / 21.0, 2.0);
  EXPECT_LT(static_cast<double>(shuffled) / kDefaultTableSize, 0.05);
}

TEST(Maglev, EdgeCases) {
  EXPECT_TRUE(build_table({}, kDefaultTableSize).empty());
  EXPECT_TRUE(build_table(backends(3), 16383).empty()) << "not a prime";
  EXPECT_TRUE(build_table(backends(300), 251).empty()) << "more backends than slots";
  // One backend: every slot.
  auto one = build_table(backends(1), 251);
  ASSERT_EQ(one.size(), 251u);
  EXPECT_EQ(shares(one).size(), 1u);
  // A backend listed twice counts once.
  auto twice = backends(4);
  twice.push_back(twice[0]);
  EXPECT_EQ(build_table(twice, 251), build_table(backends(4), 251));
}

}  // namespace
}  // namespace myelin::services::maglev
