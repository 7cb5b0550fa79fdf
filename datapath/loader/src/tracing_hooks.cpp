// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/tracing_hooks.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <vector>

#include "myelin/datapath/runtime_probes.hpp"
#include "tracepoint.skel.h"

namespace myelin::datapath {

struct TracingHooks::Hook {
  tracepoint* skel = nullptr;
  bpf_link* link = nullptr;
  ~Hook() {
    if (link) bpf_link__destroy(link);
    if (skel) tracepoint__destroy(skel);
  }
};

int TracingHooks::on_sample(void* ctx, void* data, size_t size) {
  if (size < sizeof(myelin_tp_event)) return 0;
  static_cast<TracingHooks*>(ctx)->cb_(*static_cast<const myelin_tp_event*>(data));
  return 0;
}

Result<std::unique_ptr<TracingHooks>> TracingHooks::create(int exec_binary_fd, Callback cb) {
  std::unique_ptr<TracingHooks> h(new TracingHooks());
  h->cb_ = std::move(cb);
  h->exec_binary_fd_ = exec_binary_fd;
  h->events_.reset(bpf_map_create(BPF_MAP_TYPE_RINGBUF, "myelin_tp_events", 0, 0, 4u << 20, nullptr));
  if (!h->events_) return Error::from_errno("create the tracing events ring buffer");
  h->stats_.reset(bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "myelin_tp_stats", sizeof(uint32_t), sizeof(myelin_proc_stats), 1, nullptr));
  if (!h->stats_) return Error::from_errno("create the tracing counters");
  h->rb_ = ring_buffer__new(h->events_.get(), &TracingHooks::on_sample, h.get(), nullptr);
  if (!h->rb_) return Error::from_errno("open the tracing events ring buffer");
  return h;
}

TracingHooks::~TracingHooks() {
  hooks_.clear();
  if (rb_) ring_buffer__free(rb_);
}

Result<uint32_t> TracingHooks::attach(const std::string& subsystem, const std::string& event, const myelin_tp_config& config) {
  auto hook = std::make_unique<Hook>();
  hook->skel = tracepoint__open();
  if (!hook->skel) return Error::from_errno("open the tracepoint program");
  auto* s = hook->skel;
  if (bpf_map__reuse_fd(s->maps.myelin_tp_events, events_.get()) || bpf_map__reuse_fd(s->maps.myelin_tp_stats, stats_.get()) ||
      bpf_map__reuse_fd(s->maps.myelin_exec_binary, exec_binary_fd_))
    return Error::from_errno("share the tracing maps");
  if (tracepoint__load(s) != 0) return Error::from_errno("load the tracepoint program for " + subsystem + "/" + event);
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(s->maps.myelin_tp_config), &zero, &config, BPF_ANY) != 0)
    return Error::from_errno("write the compiled policy");
  hook->link = bpf_program__attach_tracepoint(s->progs.myelin_tracepoint, subsystem.c_str(), event.c_str());
  if (!hook->link) {
    hook->link = nullptr;
    return Error::from_errno("attach to tracepoint " + subsystem + "/" + event);
  }
  uint32_t id = next_++;
  hooks_[id] = std::move(hook);
  return id;
}

void TracingHooks::detach(uint32_t hook) { hooks_.erase(hook); }

int TracingHooks::poll(int timeout_ms) { return ring_buffer__poll(rb_, timeout_ms); }

myelin_proc_stats TracingHooks::stats() const { return sum_proc_stats(stats_.get()); }

}  // namespace myelin::datapath
