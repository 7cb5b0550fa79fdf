// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/tracing_hooks.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <vector>

#include "kprobe.skel.h"
#include "myelin/bpf/link.hpp"
#include "myelin/bpf/skeleton.hpp"
#include "myelin/datapath/runtime_probes.hpp"
#include "myelin/datapath/tracepoints.hpp"
#include "tracepoint.skel.h"
#include "uprobe.skel.h"

namespace myelin::datapath {

struct TracingHooks::Hook {
  virtual ~Hook() = default;
};

template <typename T>
struct TracingHooks::HookOf final : TracingHooks::Hook {
  bpf::Skeleton<T> skel;
  bpf_program* prog = nullptr;
  bpf::Link link;  // after skel: detached before the object closes
};

Result<std::unique_ptr<TracingHooks>> TracingHooks::create(int exec_binary_fd, std::string tracefs, Callback cb) {
  std::unique_ptr<TracingHooks> h(new TracingHooks());
  h->exec_binary_fd_ = exec_binary_fd;
  h->tracefs_ = std::move(tracefs);
  h->events_.reset(bpf_map_create(BPF_MAP_TYPE_RINGBUF, "myelin_hook_events", 0, 0, 4u << 20, nullptr));
  if (!h->events_) return Error::from_errno("create the tracing events ring buffer");
  h->stats_.reset(bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "myelin_hook_stats", sizeof(uint32_t), sizeof(myelin_proc_stats), 1, nullptr));
  if (!h->stats_) return Error::from_errno("create the tracing counters");
  h->scope_.reset(bpf_map_create(BPF_MAP_TYPE_HASH, "myelin_hook_scope", sizeof(myelin_hook_scope_key), 1, 16384, nullptr));
  if (!h->scope_) return Error::from_errno("create the tracing scope map");
  h->socks_.reset(bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "myelin_hook_socks", sizeof(uint64_t), sizeof(myelin_hook_sock_owner), 32768, nullptr));
  if (!h->socks_) return Error::from_errno("create the tracked sockets map (TrackSock)");
  auto ring = bpf::RingBuffer<myelin_hook_event>::open(h->events_.get(), std::move(cb), "tracing events");
  if (!ring) return ring.error();
  h->ring_ = std::move(*ring);
  return h;
}

TracingHooks::~TracingHooks() = default;

template <typename T>
Result<std::unique_ptr<TracingHooks::HookOf<T>>> TracingHooks::open_hook(const myelin_hook_config& config, bpf_program* (*program)(T*),
                                                                         const std::string& what, const std::string& attach_target,
                                                                         int (*prepare)(T*, int), int prepare_fd) {
  auto hook = std::make_unique<HookOf<T>>();
  auto skel = bpf::Skeleton<T>::open(what);
  if (!skel) return skel.error();
  hook->skel = std::move(*skel);
  T* s = hook->skel.get();
  hook->prog = program(s);
  bpf_program* p = nullptr;
  bpf_object__for_each_program(p, s->obj) bpf_program__set_autoload(p, p == hook->prog);
  if (!attach_target.empty() && bpf_program__set_attach_target(hook->prog, 0, attach_target.c_str()) != 0)
    return Error::from_errno("find kernel function " + attach_target + " in the kernel's BTF");
  if (bpf_map__reuse_fd(s->maps.myelin_hook_events, events_.get()) || bpf_map__reuse_fd(s->maps.myelin_hook_stats, stats_.get()) ||
      bpf_map__reuse_fd(s->maps.myelin_exec_binary, exec_binary_fd_) || bpf_map__reuse_fd(s->maps.myelin_hook_scope, scope_.get()) ||
      bpf_map__reuse_fd(s->maps.myelin_hook_socks, socks_.get()))
    return Error::from_errno("share the tracing maps");
  if (prepare && prepare(s, prepare_fd) != 0) return Error::from_errno("share the maps of " + what);
  if (auto st = hook->skel.load(); !st) return st.error();
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(s->maps.myelin_hook_compiled), &zero, &config, BPF_ANY) != 0)
    return Error::from_errno("write the compiled policy");
  return hook;
}

uint32_t TracingHooks::keep(std::unique_ptr<Hook> hook) {
  uint32_t id = next_++;
  hooks_[id] = std::move(hook);
  return id;
}

Result<uint32_t> TracingHooks::attach(const std::string& subsystem, const std::string& event, const myelin_hook_config& config) {
  auto hook = open_hook<tracepoint>(config, [](tracepoint* s) { return s->progs.myelin_tracepoint; }, "tracepoint (a tracing hook for " + subsystem + "/" + event + ")");
  if (!hook) return hook.error();
  auto link = attach_tracepoint((*hook)->prog, tracefs_, subsystem, event);
  if (!link) return link.error();
  (*hook)->link = std::move(*link);
  return keep(std::move(*hook));
}

Result<uint32_t> TracingHooks::attach_raw(const std::string& event, const myelin_hook_config& config) {
  auto hook = open_hook<tracepoint>(config, [](tracepoint* s) { return s->progs.myelin_raw_tracepoint; },
                                    "tracepoint (a tracing hook for the raw tracepoint " + event + ")");
  if (!hook) return hook.error();
  auto link = bpf::Link::attach("attach to the raw tracepoint " + event + " (does this kernel have it?)",
                                [&] { return bpf_program__attach_raw_tracepoint((*hook)->prog, event.c_str()); });
  if (!link) return link.error();
  (*hook)->link = std::move(*link);
  return keep(std::move(*hook));
}

// An entry/return pair of one uprobe (return: true): the entry probe is detached first.
struct TracingHooks::HookPair final : TracingHooks::Hook {
  std::unique_ptr<Hook> ret, entry;
};

Result<uint32_t> TracingHooks::attach_uretprobe(const std::string& path, const std::string& symbol, const myelin_hook_config& config) {
  auto ret = open_hook<uprobe>(config, [](uprobe* s) { return s->progs.myelin_uretprobe; }, "uprobe (a return probe of " + path + ":" + symbol + ")");
  if (!ret) return ret.error();
  const int regs = bpf_map__fd((*ret)->skel.get()->maps.myelin_uprobe_entry);
  auto entry = open_hook<uprobe>(
      config, [](uprobe* s) { return s->progs.myelin_uprobe_keep_args; }, "uprobe (the entry of " + path + ":" + symbol + ", for its return probe)", "",
      [](uprobe* s, int fd) { return bpf_map__reuse_fd(s->maps.myelin_uprobe_entry, fd); }, regs);
  if (!entry) return entry.error();
  LIBBPF_OPTS(bpf_uprobe_opts, ropts, .retprobe = true, .func_name = symbol.c_str());
  auto rlink = bpf::Link::attach("attach a return probe to " + symbol + " in " + path,
                                 [&] { return bpf_program__attach_uprobe_opts((*ret)->prog, -1, path.c_str(), 0, &ropts); });
  if (!rlink) return rlink.error();
  (*ret)->link = std::move(*rlink);
  LIBBPF_OPTS(bpf_uprobe_opts, eopts, .func_name = symbol.c_str());
  auto elink = bpf::Link::attach("attach a uprobe to " + symbol + " in " + path + " (is the symbol exported by that file?)",
                                 [&] { return bpf_program__attach_uprobe_opts((*entry)->prog, -1, path.c_str(), 0, &eopts); });
  if (!elink) return elink.error();
  (*entry)->link = std::move(*elink);
  auto pair = std::make_unique<HookPair>();
  pair->ret = std::move(*ret);
  pair->entry = std::move(*entry);
  return keep(std::move(pair));
}

Result<uint32_t> TracingHooks::attach_usdt(const std::string& path, uint64_t offset, uint64_t ref_ctr_offset, const myelin_usdt_spec& spec,
                                           const myelin_hook_config& config) {
  auto hook = open_hook<uprobe>(config, [](uprobe* s) { return s->progs.myelin_usdt; }, "uprobe (a USDT probe of " + path + ")");
  if (!hook) return hook.error();
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd((*hook)->skel.get()->maps.myelin_usdt_specs), &zero, &spec, BPF_ANY) != 0)
    return Error::from_errno("write the USDT probe's argument places");
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .ref_ctr_offset = static_cast<size_t>(ref_ctr_offset));
  auto link = bpf::Link::attach("attach a uprobe at offset " + std::to_string(offset) + " of " + path + " (a USDT probe site)",
                                [&] { return bpf_program__attach_uprobe_opts((*hook)->prog, -1, path.c_str(), offset, &opts); });
  if (!link) return link.error();
  (*hook)->link = std::move(*link);
  return keep(std::move(*hook));
}

Result<uint32_t> TracingHooks::attach_uprobe(const std::string& path, const std::string& symbol, const myelin_hook_config& config) {
  auto hook = open_hook<uprobe>(config, [](uprobe* s) { return s->progs.myelin_uprobe; }, "uprobe (a tracing hook for " + path + ":" + symbol + ")");
  if (!hook) return hook.error();
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = symbol.c_str());
  auto link = bpf::Link::attach("attach a uprobe to " + symbol + " in " + path + " (is the symbol exported by that file?)",
                                [&] { return bpf_program__attach_uprobe_opts((*hook)->prog, -1, path.c_str(), 0, &opts); });
  if (!link) return link.error();
  (*hook)->link = std::move(*link);
  return keep(std::move(*hook));
}

namespace {

// The kprobe object's program for a mode and whether the function is a syscall.
using KprobeProgram = bpf_program* (*)(kprobe*);
constexpr KprobeProgram kprobe_program(TracingHooks::KprobeMode mode, bool syscall) {
  using Mode = TracingHooks::KprobeMode;
  if (mode == Mode::override)
    return syscall ? KprobeProgram([](kprobe* s) { return s->progs.myelin_fmod_ret_syscall; })
                   : KprobeProgram([](kprobe* s) { return s->progs.myelin_fmod_ret; });
  if (mode == Mode::exit)
    return syscall ? KprobeProgram([](kprobe* s) { return s->progs.myelin_fexit_syscall; })
                   : KprobeProgram([](kprobe* s) { return s->progs.myelin_fexit; });
  return syscall ? KprobeProgram([](kprobe* s) { return s->progs.myelin_fentry_syscall; })
                 : KprobeProgram([](kprobe* s) { return s->progs.myelin_fentry; });
}

}  // namespace

Result<uint32_t> TracingHooks::attach_kprobe(const std::string& function, bool syscall, KprobeMode mode, const myelin_hook_config& config) {
  const std::string kind = mode == KprobeMode::override ? "fmod_ret" : mode == KprobeMode::exit ? "fexit" : "fentry";
  auto hook = open_hook<kprobe>(config, kprobe_program(mode, syscall), "kprobe (a tracing hook for " + kind + "/" + function + ")", function);
  if (!hook) return hook.error();
  auto link = bpf::Link::attach("attach " + kind + " to " + function, [&] { return bpf_program__attach_trace((*hook)->prog); });
  if (!link) return link.error();
  (*hook)->link = std::move(*link);
  return keep(std::move(*hook));
}

Result<uint32_t> TracingHooks::attach_lsm(const std::string& hook_name, const myelin_hook_config& config) {
  auto hook = open_hook<kprobe>(config, [](kprobe* s) { return s->progs.myelin_lsm; }, "kprobe (a tracing hook for lsm/" + hook_name + ")",
                                hook_name);
  if (!hook) return hook.error();
  auto link = bpf::Link::attach("attach BPF-LSM to " + hook_name, [&] { return bpf_program__attach_lsm((*hook)->prog); });
  if (!link) return link.error();
  (*hook)->link = std::move(*link);
  return keep(std::move(*hook));
}

Status TracingHooks::set_scope(uint32_t policy_id, const std::set<uint32_t>& netns) {
  auto& cur = scopes_[policy_id];
  const uint8_t one = 1;
  for (uint32_t ns : netns)
    if (!cur.count(ns)) {
      myelin_hook_scope_key k{policy_id, ns};
      if (bpf_map_update_elem(scope_.get(), &k, &one, BPF_ANY) != 0) return Error::from_errno("add a pod to a policy's scope");
    }
  for (uint32_t ns : cur)
    if (!netns.count(ns)) {
      myelin_hook_scope_key k{policy_id, ns};
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
