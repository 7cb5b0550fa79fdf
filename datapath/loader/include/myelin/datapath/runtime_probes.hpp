// SPDX-License-Identifier: Apache-2.0
// RuntimeProbes: the process-lifecycle programs (process.bpf.c) loaded from
// their skeleton and attached to the scheduler's BTF tracepoints, with their
// ring buffer read into callbacks. Unlike the pod datapath nothing is pinned:
// these programs observe, and detach with the agent that reads them.
#pragma once

#include <functional>
#include <memory>

#include "myelin/abi/process.h"
#include "myelin/bpf/ring_buffer.hpp"
#include "myelin/bpf/skeleton.hpp"
#include "myelin/result.hpp"

struct process;

namespace myelin::datapath {

// The per-CPU counters of a runtime program's one-slot stats map, summed.
myelin_proc_stats sum_proc_stats(int percpu_map_fd);

class RuntimeProbes {
 public:
  using Callback = std::function<void(const myelin_process_event&)>;
  // ring_bytes: the ring buffer's size (a power of two of at least a page);
  // 0: MYELIN_PROC_EVENTS_BYTES. A full ring counts each record it could not
  // take in stats().events_lost.
  static Result<std::unique_ptr<RuntimeProbes>> start(Callback cb, uint32_t ring_bytes = 0);

  int poll(int timeout_ms);  // records consumed, or -errno
  myelin_proc_stats stats() const;  // summed over CPUs
  int exec_binary_fd() const;       // tgid -> myelin_exec_binary (for TracingHooks)
  int binaries_fd() const;          // binary path (256 bytes, zero-padded) -> id, written by the agent
  int binary_prefixes_fd() const;   // LPM trie: path prefix -> prefix bits (matchBinaries Prefix), written by the agent

 private:
  RuntimeProbes() = default;
  bpf::Skeleton<process> skel_;
  bpf::RingBuffer<myelin_process_event> ring_;
};

}  // namespace myelin::datapath
