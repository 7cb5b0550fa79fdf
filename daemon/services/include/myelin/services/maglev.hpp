// SPDX-License-Identifier: Apache-2.0
// Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4): a
// lookup table of M slots (M prime) filled from each backend's own
// permutation of the slots. Every node builds the same table from the same
// backends, since the permutations come from a hash of the backend's address,
// port and protocol (never its node-local id) with a fixed seed, so a flow
// from outside meets the same backend whichever node it reaches. Equal
// weights: each backend holds M/N slots, give or take one; removing one
// backend moves its slots and few others.
#pragma once

#include <cstdint>
#include <vector>

#include "myelin/result.hpp"

namespace myelin::services::maglev {

// Cilium's default, and what abi/lb.h's MYELIN_LB_MAGLEV_DEFAULT_M says.
inline constexpr uint32_t kDefaultTableSize = 16381;
// The range --lb-maglev-table-size accepts: a table of 4-byte backend ids
// per frontend, 1 KiB to 512 KiB.
inline constexpr uint32_t kMinTableSize = 251, kMaxTableSize = 131071;
// The paper's rule for a small disruption: M at least 100 x the backends.
inline constexpr uint32_t kSlotsPerBackend = 100;

bool is_prime(uint32_t n);
// A prime from kMinTableSize to kMaxTableSize, or why not.
Status check_table_size(uint32_t m);

// A backend as every node names it.
struct Backend {
  uint32_t addr = 0;     // IPv4, host order
  uint16_t port = 0;     // host order
  uint8_t proto = 0;
  uint32_t id = 0;       // what the table holds (the node-local backend id)
};

// The table of size m (a prime, > backends.size()) for these backends: m
// backend ids. The order of `backends` does not matter (they are sorted by
// address, port and protocol first); duplicates are taken once. Empty when
// there are no backends or m is not usable.
std::vector<uint32_t> build_table(std::vector<Backend> backends, uint32_t m);

}  // namespace myelin::services::maglev
