// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/runtime_probes.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "process.skel.h"

namespace myelin::datapath {

int RuntimeProbes::on_sample(void* ctx, void* data, size_t size) {
  if (size < sizeof(myelin_process_event)) return 0;
  auto* self = static_cast<RuntimeProbes*>(ctx);
  self->cb_(*static_cast<const myelin_process_event*>(data));
  return 0;
}

Result<std::unique_ptr<RuntimeProbes>> RuntimeProbes::start(Callback cb, uint32_t ring_bytes) {
  std::unique_ptr<RuntimeProbes> p(new RuntimeProbes());
  p->cb_ = std::move(cb);
  p->skel_ = process__open();
  if (!p->skel_) return Error::from_errno("open process probes");
  if (ring_bytes)
    if (int err = bpf_map__set_max_entries(p->skel_->maps.myelin_proc_events, ring_bytes); err)
      return Error::from_errno("size the process events ring buffer", -err);
  if (int err = process__load(p->skel_); err)
    return Error::from_errno("load process probes (tp_btf sched_process_exec/exit/fork)", -err);
  if (process__attach(p->skel_) != 0) return Error::from_errno("attach process probes");
  p->rb_ = ring_buffer__new(bpf_map__fd(p->skel_->maps.myelin_proc_events), &RuntimeProbes::on_sample, p.get(), nullptr);
  if (!p->rb_) return Error::from_errno("open the process events ring buffer");
  return p;
}

RuntimeProbes::~RuntimeProbes() {
  if (rb_) ring_buffer__free(rb_);
  if (skel_) process__destroy(skel_);
}

int RuntimeProbes::poll(int timeout_ms) { return ring_buffer__poll(rb_, timeout_ms); }

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
