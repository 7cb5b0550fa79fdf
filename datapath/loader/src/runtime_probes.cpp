// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/runtime_probes.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "process.skel.h"

namespace myelin::datapath {

Result<std::unique_ptr<RuntimeProbes>> RuntimeProbes::start(Callback cb, uint32_t ring_bytes) {
  std::unique_ptr<RuntimeProbes> p(new RuntimeProbes());
  auto skel = bpf::Skeleton<process>::open("process (tp_btf sched_process_exec/exit/fork)");
  if (!skel) return skel.error();
  p->skel_ = std::move(*skel);
  if (ring_bytes)
    if (int err = bpf_map__set_max_entries(p->skel_->maps.myelin_proc_events, ring_bytes); err)
      return Error::from_errno("size the process events ring buffer", -err);
  if (auto s = p->skel_.load(); !s) return s.error();
  if (auto s = p->skel_.attach(); !s) return s.error();
  auto ring = bpf::RingBuffer<myelin_process_event>::open(bpf_map__fd(p->skel_->maps.myelin_proc_events), std::move(cb), "process events");
  if (!ring) return ring.error();
  p->ring_ = std::move(*ring);
  return p;
}

int RuntimeProbes::poll(int timeout_ms) { return ring_.poll(timeout_ms); }

int RuntimeProbes::exec_binary_fd() const { return bpf_map__fd(skel_->maps.myelin_exec_binary); }
int RuntimeProbes::binaries_fd() const { return bpf_map__fd(skel_->maps.myelin_binaries); }
int RuntimeProbes::binary_prefixes_fd() const { return bpf_map__fd(skel_->maps.myelin_binary_prefixes); }

myelin_proc_stats sum_proc_stats(int fd) {
  myelin_proc_stats sum{};
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return sum;
  std::vector<myelin_proc_stats> per(static_cast<size_t>(ncpu));
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(fd, &zero, per.data()) != 0) return sum;
  for (const auto& s : per) {
    sum.events_sent += s.events_sent;
    sum.events_lost += s.events_lost;
  }
  return sum;
}

myelin_proc_stats RuntimeProbes::stats() const { return sum_proc_stats(bpf_map__fd(skel_->maps.myelin_proc_stats)); }

}  // namespace myelin::datapath
