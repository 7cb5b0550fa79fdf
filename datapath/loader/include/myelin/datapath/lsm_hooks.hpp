// SPDX-License-Identifier: Apache-2.0
// LsmHooks: the BPF-LSM programs of lsm.bpf.c. Loaded once (only where the
// kernel runs BPF as an LSM); each program is attached while some policy
// needs its hook; rules are (hook, dev, inode) -> what to do.
#pragma once

#include <functional>
#include <map>
#include <memory>

#include "myelin/abi/tracing.h"
#include "myelin/bpf/link.hpp"
#include "myelin/bpf/ring_buffer.hpp"
#include "myelin/bpf/skeleton.hpp"
#include "myelin/result.hpp"

struct lsm;

namespace myelin::datapath {

class LsmHooks {
 public:
  using Callback = std::function<void(const myelin_lsm_event&)>;
  static Result<std::unique_ptr<LsmHooks>> load(Callback cb);

  Status use(uint32_t hook);     // attach its program (counted)
  void release(uint32_t hook);   // detach when no policy needs it any more
  Status add_rule(const myelin_lsm_key& k, const myelin_lsm_rule& r);
  void remove_rule(const myelin_lsm_key& k);
  int poll(int timeout_ms);

 private:
  LsmHooks() = default;
  bpf::Skeleton<lsm> skel_;
  bpf::RingBuffer<myelin_lsm_event> ring_;
  std::map<uint32_t, std::pair<bpf::Link, int>> links_;  // hook -> (link, users)
};

}  // namespace myelin::datapath
