// SPDX-License-Identifier: Apache-2.0
// TracingHooks: TracingPolicy hooks, one entry object per kind of hook
// (tracepoint.bpf.c, uprobe.bpf.c, kprobe.bpf.c: fentry / fexit /
// fmod_ret), all built on one engine (datapath/lib/selectors.h,
// hook_args.h, hook_run.h). Each hook is its own instance of its object
// with its own config map (the compiled selectors); all share one ring
// buffer, one counter map, the pod scope of scoped policies and the process
// probes' tgid -> binary-id map, and the tracked sockets. Hooks attach and detach with their policy;
// nothing is pinned.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "myelin/abi/tracing.h"
#include "myelin/bpf/ring_buffer.hpp"
#include "myelin/fd.hpp"
#include "myelin/result.hpp"

struct bpf_program;

namespace myelin::datapath {

class TracingHooks {
 public:
  using Callback = std::function<void(const myelin_hook_event&)>;
  // exec_binary_fd: the process probes' myelin_exec_binary map; tracefs:
  // where tracepoint ids are read ("" when there is none).
  static Result<std::unique_ptr<TracingHooks>> create(int exec_binary_fd, std::string tracefs, Callback cb);
  ~TracingHooks();  // out of line: Hook is defined in the .cpp

  // Loads one instance with `config` and attaches it to subsystem:event.
  Result<uint32_t> attach(const std::string& subsystem, const std::string& event, const myelin_hook_config& config);
  // ... or to the raw tracepoint `event` (raw: true; its args are the tracepoint's arguments).
  Result<uint32_t> attach_raw(const std::string& event, const myelin_hook_config& config);
  // ... or to a USDT probe site: a uprobe at file `offset` of `path`, the
  // note's semaphore at `ref_ctr_offset` (0: none) counted up while attached,
  // its arguments placed as `spec` says.
  Result<uint32_t> attach_usdt(const std::string& path, uint64_t offset, uint64_t ref_ctr_offset, const myelin_usdt_spec& spec,
                               const myelin_hook_config& config);
  // ... or to the entry of `symbol` in the ELF file `path` (every process mapping it).
  Result<uint32_t> attach_uprobe(const std::string& path, const std::string& symbol, const myelin_hook_config& config);
  // ... or to its return (return: true): an entry probe keeps the argument
  // registers per thread, the return probe runs the config on them and the return value.
  Result<uint32_t> attach_uretprobe(const std::string& path, const std::string& symbol, const myelin_hook_config& config);
  // ... or to the kernel function `function` (BTF): fentry at its entry,
  // fmod_ret to override (it can make the function return an errno without
  // running), fexit at its return (the return value is captured).
  // syscall: the function is a syscall entry (__x64_sys_*), args are in its pt_regs.
  enum class KprobeMode { entry, override, exit };
  Result<uint32_t> attach_kprobe(const std::string& function, bool syscall, KprobeMode mode, const myelin_hook_config& config);
  // ... or to the BPF-LSM hook `hook` (file_open, ...): its arguments by
  // position, an Override refuses the operation.
  Result<uint32_t> attach_lsm(const std::string& hook, const myelin_hook_config& config);
  void detach(uint32_t hook);
  // The network namespaces a scoped policy applies to (config.scoped).
  Status set_scope(uint32_t policy_id, const std::set<uint32_t>& netns);
  void drop_scope(uint32_t policy_id);
  int poll(int timeout_ms);
  myelin_proc_stats stats() const;  // summed over CPUs

 private:
  TracingHooks() = default;
  struct Hook;                                 // an attached instance, whatever its object
  template <typename T> struct HookOf;         // ... of skeleton T
  struct HookPair;                             // a uprobe's entry and return instances (return: true)
  // An instance of object T (named `what` in errors) with only `program` loaded, sharing the maps, its config written.
  template <typename T>
  Result<std::unique_ptr<HookOf<T>>> open_hook(const myelin_hook_config& config, bpf_program* (*program)(T*), const std::string& what,
                                               const std::string& attach_target = "", int (*prepare)(T*, int) = nullptr, int prepare_fd = -1);
  uint32_t keep(std::unique_ptr<Hook> hook);
  int exec_binary_fd_ = -1;
  std::string tracefs_;
  UniqueFd events_, stats_, scope_;
  UniqueFd socks_;  // TrackSock's sock -> owner, shared by every hook
  std::map<uint32_t, std::set<uint32_t>> scopes_;
  bpf::RingBuffer<myelin_hook_event> ring_;
  std::map<uint32_t, std::unique_ptr<Hook>> hooks_;  // last: the hooks go first
  uint32_t next_ = 1;
};

}  // namespace myelin::datapath
