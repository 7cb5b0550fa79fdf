// SPDX-License-Identifier: Apache-2.0
// SocketProbes: the per-process TCP sensor (sockets.bpf.c): connect, accept
// and close records from the syscalls, delivered to a callback on poll().
// Its syscall tracepoints are found in the tracefs it is given.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "myelin/abi/sensors.h"
#include "myelin/bpf/link.hpp"
#include "myelin/bpf/ring_buffer.hpp"
#include "myelin/bpf/skeleton.hpp"
#include "myelin/result.hpp"

struct sockets;

namespace myelin::datapath {

class SocketProbes {
 public:
  using Callback = std::function<void(const myelin_sock_event&)>;
  static Result<std::unique_ptr<SocketProbes>> start(const std::string& tracefs, Callback cb);
  int poll(int timeout_ms);
  myelin_proc_stats stats() const;  // records sent / lost in the kernel

 private:
  SocketProbes() = default;
  bpf::Skeleton<sockets> skel_;
  std::vector<bpf::Link> links_;
  bpf::RingBuffer<myelin_sock_event> ring_;
};

}  // namespace myelin::datapath
