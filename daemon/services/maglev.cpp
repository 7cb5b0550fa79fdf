// SPDX-License-Identifier: Apache-2.0
#include "myelin/services/maglev.hpp"

#include <algorithm>
#include <string>

namespace myelin::services::maglev {
namespace {

// The same on every node and every build: no std::hash, no per-process seed.
constexpr uint64_t kSeed = 0x6d79656c696e4c42ull;  // "myelinLB"

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

uint64_t hash(uint64_t key, uint64_t seed) { return mix(mix(key ^ seed) + seed); }

uint64_t key_of(const Backend& b) { return (uint64_t{b.addr} << 24) | (uint64_t{b.port} << 8) | b.proto; }

}  // namespace

bool is_prime(uint32_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint32_t d = 3; uint64_t{d} * d <= n; d += 2)
    if (n % d == 0) return false;
  return true;
}

Status check_table_size(uint32_t m) {
  if (m < kMinTableSize || m > kMaxTableSize || !is_prime(m))
    return Error{"the Maglev table size must be a prime from " + std::to_string(kMinTableSize) + " to " +
                 std::to_string(kMaxTableSize) + " (e.g. 16381, 32749, 65521), not " + std::to_string(m)};
  return {};
}

std::vector<uint32_t> build_table(std::vector<Backend> backends, uint32_t m) {
  std::sort(backends.begin(), backends.end(), [](const Backend& a, const Backend& b) { return key_of(a) < key_of(b); });
  backends.erase(std::unique(backends.begin(), backends.end(), [](const Backend& a, const Backend& b) { return key_of(a) == key_of(b); }),
                 backends.end());
  const size_t n = backends.size();
  if (n == 0 || m < 2 || !is_prime(m) || n >= m) return {};

  // Backend i's preference list is offset_i, offset_i + skip_i, ... (mod m):
  // a permutation of all slots since m is prime and 0 < skip_i < m.
  std::vector<uint64_t> offset(n), skip(n), next(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t k = key_of(backends[i]);
    offset[i] = hash(k, kSeed) % m;
    skip[i] = hash(k, ~kSeed) % (m - 1) + 1;
  }
  constexpr uint32_t kFree = UINT32_MAX;
  std::vector<uint32_t> owner(m, kFree);
  // Round robin: each backend in turn takes its most preferred free slot.
  for (uint32_t filled = 0;;) {
    for (size_t i = 0; i < n; ++i) {
      uint64_t c = (offset[i] + next[i] * skip[i]) % m;
      while (owner[c] != kFree) {
        ++next[i];
        c = (offset[i] + next[i] * skip[i]) % m;
      }
      owner[c] = static_cast<uint32_t>(i);
      ++next[i];
      if (++filled == m) {
        std::vector<uint32_t> table(m);
        for (uint32_t s = 0; s < m; ++s) table[s] = backends[owner[s]].id;
        return table;
      }
    }
  }
}

}  // namespace myelin::services::maglev
