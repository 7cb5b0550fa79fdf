// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/lsm_hooks.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lsm.skel.h"

namespace myelin::datapath {
namespace {

bpf_program* program(lsm* s, uint32_t hook) {
  switch (hook) {
    case MYELIN_LSM_INODE_UNLINK: return s->progs.myelin_inode_unlink;
    case MYELIN_LSM_INODE_RENAME: return s->progs.myelin_inode_rename;
    case MYELIN_LSM_PATH_UNLINK: return s->progs.myelin_path_unlink;
    case MYELIN_LSM_PATH_RENAME: return s->progs.myelin_path_rename;
    case MYELIN_LSM_BPRM_CHECK: return s->progs.myelin_bprm_check;
    case MYELIN_LSM_FILE_OPEN: return s->progs.myelin_file_open;
  }
  return nullptr;
}

}  // namespace

Result<std::unique_ptr<LsmHooks>> LsmHooks::load(Callback cb) {
  std::unique_ptr<LsmHooks> h(new LsmHooks());
  auto skel = bpf::Skeleton<lsm>::open("lsm (the BPF-LSM programs)");
  if (!skel) return skel.error();
  h->skel_ = std::move(*skel);
  if (auto s = h->skel_.load(); !s) return s.error();
  auto ring = bpf::RingBuffer<myelin_lsm_event>::open(bpf_map__fd(h->skel_->maps.myelin_lsm_events), std::move(cb), "LSM events");
  if (!ring) return ring.error();
  h->ring_ = std::move(*ring);
  return h;
}

Status LsmHooks::use(uint32_t hook) {
  auto it = links_.find(hook);
  if (it != links_.end()) {
    ++it->second.second;
    return {};
  }
  bpf_program* p = program(skel_.get(), hook);
  if (!p) return Error{"unknown LSM hook " + std::to_string(hook)};
  auto l = bpf::Link::attach(std::string("attach LSM program ") + bpf_program__name(p), [&] { return bpf_program__attach_lsm(p); });
  if (!l) return l.error();
  links_.emplace(hook, std::pair{std::move(*l), 1});
  return {};
}

void LsmHooks::release(uint32_t hook) {
  auto it = links_.find(hook);
  if (it == links_.end()) return;
  if (--it->second.second > 0) return;
  links_.erase(it);  // detaches
}

Status LsmHooks::add_rule(const myelin_lsm_key& k, const myelin_lsm_rule& r) {
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.myelin_lsm_rules), &k, &r, BPF_ANY) != 0)
    return Error::from_errno("LSM rule map");
  return {};
}

void LsmHooks::remove_rule(const myelin_lsm_key& k) { bpf_map_delete_elem(bpf_map__fd(skel_->maps.myelin_lsm_rules), &k); }

int LsmHooks::poll(int timeout_ms) { return ring_.poll(timeout_ms); }

}  // namespace myelin::datapath
