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

int LsmHooks::on_sample(void* ctx, void* data, size_t size) {
  if (size < sizeof(myelin_lsm_event)) return 0;
  static_cast<LsmHooks*>(ctx)->cb_(*static_cast<const myelin_lsm_event*>(data));
  return 0;
}

Result<std::unique_ptr<LsmHooks>> LsmHooks::load(Callback cb) {
  std::unique_ptr<LsmHooks> h(new LsmHooks());
  h->cb_ = std::move(cb);
  h->skel_ = lsm__open_and_load();
  if (!h->skel_) return Error::from_errno("load the BPF-LSM programs");
  h->rb_ = ring_buffer__new(bpf_map__fd(h->skel_->maps.myelin_lsm_events), &LsmHooks::on_sample, h.get(), nullptr);
  if (!h->rb_) return Error::from_errno("open the LSM events ring buffer");
  return h;
}

LsmHooks::~LsmHooks() {
  for (auto& [hook, l] : links_) bpf_link__destroy(l.first);
  if (rb_) ring_buffer__free(rb_);
  if (skel_) lsm__destroy(skel_);
}

Status LsmHooks::use(uint32_t hook) {
  auto it = links_.find(hook);
  if (it != links_.end()) {
    ++it->second.second;
    return {};
  }
  bpf_program* p = program(skel_, hook);
  if (!p) return Error{"unknown LSM hook " + std::to_string(hook)};
  bpf_link* l = bpf_program__attach_lsm(p);
  if (!l) return Error::from_errno(std::string("attach LSM program ") + bpf_program__name(p));
  links_[hook] = {l, 1};
  return {};
}

void LsmHooks::release(uint32_t hook) {
  auto it = links_.find(hook);
  if (it == links_.end()) return;
  if (--it->second.second > 0) return;
  bpf_link__destroy(it->second.first);
  links_.erase(it);
}

Status LsmHooks::add_rule(const myelin_lsm_key& k, const myelin_lsm_rule& r) {
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.myelin_lsm_rules), &k, &r, BPF_ANY) != 0)
    return Error::from_errno("LSM rule map");
  return {};
}

void LsmHooks::remove_rule(const myelin_lsm_key& k) { bpf_map_delete_elem(bpf_map__fd(skel_->maps.myelin_lsm_rules), &k); }

int LsmHooks::poll(int timeout_ms) { return ring_buffer__poll(rb_, timeout_ms); }

}  // namespace myelin::datapath
