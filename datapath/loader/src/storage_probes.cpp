// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/storage_probes.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "block.skel.h"

namespace myelin::datapath {

Result<std::unique_ptr<StorageProbes>> StorageProbes::start() {
  std::unique_ptr<StorageProbes> p(new StorageProbes());
  auto skel = bpf::Skeleton<block>::open("block (tp_btf block_rq_issue/complete)");
  if (!skel) return skel.error();
  p->skel_ = std::move(*skel);
  if (auto s = p->skel_.load(); !s) return s.error();
  if (auto s = p->skel_.attach(); !s) return s.error();
  return p;
}

std::map<std::pair<uint32_t, uint32_t>, myelin_block_stats> StorageProbes::stats() const {
  std::map<std::pair<uint32_t, uint32_t>, myelin_block_stats> out;
  int fd = bpf_map__fd(skel_->maps.myelin_block_stats);
  myelin_block_key key{}, next{};
  myelin_block_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    myelin_block_stats s{};
    if (bpf_map_lookup_elem(fd, &next, &s) == 0) out[{next.dev, next.tgid}] = s;
    key = next;
    prev = &key;
  }
  return out;
}

}  // namespace myelin::datapath
