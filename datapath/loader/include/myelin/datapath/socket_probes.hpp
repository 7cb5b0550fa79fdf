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
#include "myelin/result.hpp"

struct sockets;
struct ring_buffer;
struct bpf_link;

namespace myelin::datapath {

class SocketProbes {
 public:
  using Callback = std::function<void(const myelin_sock_event&)>;
  static Result<std::unique_ptr<SocketProbes>> start(const std::string& tracefs, Callback cb);
  ~SocketProbes();
  SocketProbes(const SocketProbes&) = delete;
  SocketProbes& operator=(const SocketProbes&) = delete;
  int poll(int timeout_ms);
  myelin_proc_stats stats() const;  // records sent / lost in the kernel

 private:
  SocketProbes() = default;
  static int on_sample(void* ctx, void* data, size_t size);
  sockets* skel_ = nullptr;
  std::vector<bpf_link*> links_;
  ring_buffer* rb_ = nullptr;
  Callback cb_;
};

}  // namespace myelin::datapath
