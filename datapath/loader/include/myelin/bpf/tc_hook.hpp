// SPDX-License-Identifier: Apache-2.0
// TcHook: one of our tc BPF filters on an interface's clsact qdisc, on its
// ingress or egress side, named by a fixed handle and priority so that
// attaching again replaces the program in place (BPF_TC_F_REPLACE): a
// restarted or upgraded agent swaps programs with no moment without one.
// Not an owner, on purpose: the filter belongs to the kernel and stays when
// this object and the agent go (pod traffic must not depend on the agent);
// detach() removes it.
#pragma once

#include <cstdint>

#include "myelin/result.hpp"

namespace myelin::bpf {

class TcHook {
 public:
  enum class Side { ingress, egress };
  TcHook(int ifindex, Side side, uint32_t handle, uint32_t priority)
      : ifindex_(ifindex), side_(side), handle_(handle), priority_(priority) {}

  // The clsact qdisc both sides hang on; one that exists already is fine.
  static Status create_clsact(int ifindex);
  Status attach(int prog_fd) const;  // create, or replace in place
  Status detach() const;             // a missing filter or device is fine
  bool attached() const;

 private:
  int ifindex_;
  Side side_;
  uint32_t handle_, priority_;
};

}  // namespace myelin::bpf
