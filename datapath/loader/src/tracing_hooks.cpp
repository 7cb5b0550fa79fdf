// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/tracing_hooks.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <vector>

#include "myelin/bpf/link.hpp"
#include "myelin/bpf/skeleton.hpp"
#include "myelin/datapath/runtime_probes.hpp"
#include "myelin/datapath/tracepoints.hpp"
#include "tracepoint.skel.h"

namespace myelin::datapath {

struct TracingHooks::Hook {
  bpf::Skeleton<tracepoint> skel;
  bpf_program* prog = nullptr;
  bpf::Link link;  // after skel: detached before the object closes
};

Result<std::unique_ptr<TracingHooks>> TracingHooks::create(int exec_binary_fd, std::string tracefs, Callback cb) {
  std::unique_ptr<TracingHooks> h(new TracingHooks());
  h->exec_binary_fd_ = exec_binary_fd;
  h->tracefs_ = std::move(tracefs);
  h->events_.reset(bpf_map_create(BPF_MAP_TYPE_RINGBUF, "myelin_tp_events", 0, 0, 4u << 20, nullptr));
  if (!h->events_) return Error::from_errno("create the tracing events ring buffer");
  h->stats_.reset(bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "myelin_tp_stats", sizeof(uint32_t), sizeof(myelin_proc_stats), 1, nullptr));
  if (!h->stats_) return Error::from_errno("create the tracing counters");
  h->scope_.reset(bpf_map_create(BPF_MAP_TYPE_HASH, "myelin_tp_scope", sizeof(myelin_tp_scope_key), 1, 16384, nullptr));
  if (!h->scope_) return Error::from_errno("create the tracing scope map");
  auto ring = bpf::RingBuffer<myelin_tp_event>::open(h->events_.get(), std::move(cb), "tracing events");
  if (!ring) return ring.error();
  h->ring_ = std::move(*ring);
  return h;
}

TracingHooks::~TracingHooks() = default;

namespace {

bpf_program* program_of(tracepoint* s, int which) {
  bpf_program* progs[] = {s->progs.myelin_tracepoint,     s->progs.myelin_uprobe,   s->progs.myelin_fentry,
                          s->progs.myelin_fentry_syscall, s->progs.myelin_fmod_ret, s->progs.myelin_fmod_ret_syscall,
                          s->progs.myelin_fexit,          s->progs.myelin_fexit_syscall};
  return progs[which];
}

constexpr int kPrograms = 8;

}  // namespace

Result<std::unique_ptr<TracingHooks::Hook>> TracingHooks::open_hook(const myelin_tp_config& config, Program program, const std::string& what,
                                                                    const std::string& attach_target) {
  auto hook = std::make_unique<Hook>();
  auto skel = bpf::Skeleton<tracepoint>::open("tracepoint (a tracing hook for " + what + ")");
  if (!skel) return skel.error();
  hook->skel = std::move(*skel);
  auto* s = hook->skel.get();
  for (int i = 0; i < kPrograms; ++i) bpf_program__set_autoload(program_of(s, i), i == static_cast<int>(program));
  hook->prog = program_of(s, static_cast<int>(program));
  if (!attach_target.empty() && bpf_program__set_attach_target(hook->prog, 0, attach_target.c_str()) != 0)
    return Error::from_errno("find kernel function " + attach_target + " in the kernel's BTF");
  if (bpf_map__reuse_fd(s->maps.myelin_tp_events, events_.get()) || bpf_map__reuse_fd(s->maps.myelin_tp_stats, stats_.get()) ||
      bpf_map__reuse_fd(s->maps.myelin_exec_binary, exec_binary_fd_) || bpf_map__reuse_fd(s->maps.myelin_tp_scope, scope_.get()))
    return Error::from_errno("share the tracing maps");
  if (auto st = hook->skel.load(); !st) return st.error();
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(s->maps.myelin_tp_config), &zero, &config, BPF_ANY) != 0)
    return Error::from_errno("write the compiled policy");
  return hook;
}

Result<uint32_t> TracingHooks::attach(const std::string& subsystem, const std::string& event, const myelin_tp_config& config) {
  auto hook = open_hook(config, Program::tracepoint, subsystem + "/" + event);
  if (!hook) return hook.error();
  auto link = attach_tracepoint((*hook)->skel->progs.myelin_tracepoint, tracefs_, subsystem, event);
  if (!link) return link.error();
  (*hook)->link = std::move(*link);
  uint32_t id = next_++;
  hooks_[id] = std::move(*hook);
  return id;
}

Result<uint32_t> TracingHooks::attach_uprobe(const std::string& path, const std::string& symbol, const myelin_tp_config& config) {
  auto hook = open_hook(config, Program::uprobe, path + ":" + symbol);
  if (!hook) return hook.error();
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = symbol.c_str());
  auto link = bpf::Link::attach("attach a uprobe to " + symbol + " in " + path + " (is the symbol exported by that file?)",
                                [&] { return bpf_program__attach_uprobe_opts((*hook)->skel->progs.myelin_uprobe, -1, path.c_str(), 0, &opts); });
  if (!link) return link.error();
  (*hook)->link = std::move(*link);
  uint32_t id = next_++;
  hooks_[id] = std::move(*hook);
  return id;
}

Result<uint32_t> TracingHooks::attach_kprobe(const std::string& function, bool syscall, KprobeMode mode, const myelin_tp_config& config) {
  const Program program = mode == KprobeMode::override ? (syscall ? Program::fmod_ret_syscall : Program::fmod_ret)
                          : mode == KprobeMode::exit   ? (syscall ? Program::fexit_syscall : Program::fexit)
                                                       : (syscall ? Program::fentry_syscall : Program::fentry);
  const std::string kind = mode == KprobeMode::override ? "fmod_ret" : mode == KprobeMode::exit ? "fexit" : "fentry";
  auto hook = open_hook(config, program, kind + "/" + function, function);
  if (!hook) return hook.error();
  auto link = bpf::Link::attach("attach " + kind + " to " + function, [&] { return bpf_program__attach_trace((*hook)->prog); });
  if (!link) return link.error();
  (*hook)->link = std::move(*link);
  uint32_t id = next_++;
  hooks_[id] = std::move(*hook);
  return id;
}

Status TracingHooks::set_scope(uint32_t policy_id, const std::set<uint32_t>& netns) {
  auto& cur = scopes_[policy_id];
  const uint8_t one = 1;
  for (uint32_t ns : netns)
    if (!cur.count(ns)) {
      myelin_tp_scope_key k{policy_id, ns};
      if (bpf_map_update_elem(scope_.get(), &k, &one, BPF_ANY) != 0) return Error::from_errno("add a pod to a policy's scope");
    }
  for (uint32_t ns : cur)
    if (!netns.count(ns)) {
      myelin_tp_scope_key k{policy_id, ns};
      bpf_map_delete_elem(scope_.get(), &k);
    }
  cur = netns;
  return {};
}

void TracingHooks::drop_scope(uint32_t policy_id) {
  (void)set_scope(policy_id, {});
  scopes_.erase(policy_id);
}

void TracingHooks::detach(uint32_t hook) { hooks_.erase(hook); }

int TracingHooks::poll(int timeout_ms) { return ring_.poll(timeout_ms); }

myelin_proc_stats TracingHooks::stats() const { return sum_proc_stats(stats_.get()); }

}  // namespace myelin::datapath
