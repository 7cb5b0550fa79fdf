// SPDX-License-Identifier: Apache-2.0
// ProcessCache: every live process of the node as the agent knows it, built
// from exec/fork/exit records and, at start, from /proc (processes that were
// already running), and the last 4096 that exited (parents of late children,
// targets of records still in flight). It gives each process its exec_id
// (unique across the node's lifetime: node, start time and pid, as
// Tetragon's) and its parent.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "myelin/abi/process.h"

namespace myelin::runtime {

// Standard base64 (exec ids, byte arguments).
std::string base64(const std::string& in);

struct PodRef {
  std::string ns, name;
  uint32_t endpoint_id = 0;
  std::string container_id;  // when attributed by the container's cgroup
};

struct Process {
  std::string exec_id, parent_exec_id;
  uint32_t pid = 0, tid = 0, ppid = 0, uid = 0, auid = 0xffffffff, netns = 0;
  std::string binary, arguments, cwd;
  uint64_t start_mono_ns = 0;  // task start, CLOCK_MONOTONIC
  std::string flags;           // Tetragon's: "execve", "procFS", "clone", "truncArgs", ...
  std::optional<PodRef> pod;
  uint64_t cgroup_id = 0;
};

class ProcessCache {
 public:
  // The pod of a process: by its cgroup (0: unknown) where a container runtime made one, else by its network namespace.
  using PodResolver = std::function<std::optional<PodRef>(uint32_t netns, uint64_t cgroup_id)>;
  ProcessCache(std::string node_name, PodResolver pods);

  // Reads /proc; returns the processes found (oldest first), now cached.
  std::vector<Process> scan_proc(const std::string& proc = "/proc");

  // The process after an exec record, and its parent if known.
  std::pair<Process, std::optional<Process>> on_exec(const myelin_process_event& e);
  void on_fork(const myelin_process_event& e);
  // The process that exited (from the cache, or built from the record), and its parent.
  std::pair<Process, std::optional<Process>> on_exit(const myelin_process_event& e);

  std::optional<Process> get(uint32_t pid) const;  // live or recently exited
  size_t size() const;

 private:
  std::string exec_id(uint64_t start_ns, uint32_t pid) const;
  std::optional<Process> known_locked(uint32_t pid) const;  // live, else recently exited

  std::string node_;
  PodResolver pods_;
  std::string cgroup2_;  // where cgroup v2 is mounted: /proc scans read the processes' cgroups there
  mutable std::mutex mu_;
  std::map<uint32_t, Process> live_;
  std::map<uint32_t, Process> exited_;   // recent exits: parents of late children
  std::deque<uint32_t> exited_order_;
};

// "a\0b\0c\0" -> "a b c" (as Tetragon prints arguments: without argv[0]).
std::string join_args(const char* block, size_t len, bool skip_argv0);

}  // namespace myelin::runtime
