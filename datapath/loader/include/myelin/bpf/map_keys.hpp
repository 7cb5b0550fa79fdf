// SPDX-License-Identifier: Apache-2.0
// map_keys: every key of a BPF hash map, in the kernel's order, collected
// first so a caller may delete or rewrite entries afterwards (deleting while
// walking bpf_map_get_next_key restarts the walk). The typed form is for maps
// whose key struct is known at compile time; the byte form for maps read by
// their size alone (layout migration).
#pragma once

#include <bpf/bpf.h>

#include <cstdint>
#include <vector>

namespace myelin::bpf {

template <class K>
std::vector<K> map_keys(int fd) {
  std::vector<K> keys;
  K cur{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    cur = next;
    prev = &cur;
  }
  return keys;
}

inline std::vector<std::vector<uint8_t>> map_keys(int fd, uint32_t key_size) {
  std::vector<std::vector<uint8_t>> keys;
  std::vector<uint8_t> cur(key_size), next(key_size);
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    keys.push_back(next);
    cur = next;
    prev = cur.data();
  }
  return keys;
}

}  // namespace myelin::bpf
