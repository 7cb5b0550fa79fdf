// SPDX-License-Identifier: Apache-2.0
// LsmHooks: the BPF-LSM programs of lsm.bpf.c. Loaded once (only where the
// kernel runs BPF as an LSM); each program is attached while some policy
// needs its hook; rules are (hook, dev, inode) -> what to do.
#pragma once

#include <functional>
#include <map>
#include <memory>

#include "myelin/abi/tracing.h"
#include "myelin/result.hpp"

struct lsm;
struct ring_buffer;
struct bpf_link;

namespace myelin::datapath {

class LsmHooks {
 public:
  using Callback = std::function<void(const myelin_lsm_event&)>;
  static Result<std::unique_ptr<LsmHooks>> load(Callback cb);
  ~LsmHooks();
  LsmHooks(const LsmHooks&) = delete;
  LsmHooks& operator=(const LsmHooks&) = delete;

  Status use(uint32_t hook);     // attach its program (counted)
  void release(uint32_t hook);   // detach when no policy needs it any more
  Status add_rule(const myelin_lsm_key& k, const myelin_lsm_rule& r);
  void remove_rule(const myelin_lsm_key& k);
  int poll(int timeout_ms);

 private:
  LsmHooks() = default;
  static int on_sample(void* ctx, void* data, size_t size);
  lsm* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  Callback cb_;
  std::map<uint32_t, std::pair<bpf_link*, int>> links_;  // hook -> (link, users)
};

}  // namespace myelin::datapath
