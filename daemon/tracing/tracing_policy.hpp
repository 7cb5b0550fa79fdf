// SPDX-License-Identifier: Apache-2.0
// TracingPolicy (cilium.io/v1alpha1, Tetragon's format): the model, the
// YAML decoder (errors name file:line:field; every field Myelin does not
// implement is an error that names it, never ignored) and the compiler of a
// tracepoint hook into the in-kernel config (myelin_tp_config), using the
// tracepoint's format from tracefs.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "myelin/abi.h"
#include "myelin/result.hpp"

namespace myelin::tracing {

struct TpArg {
  int index = 0;        // field of the tracepoint record (its format, common fields included)
  std::string type;     // int, int32, int64, long, uint32, uint64, size_t, string
};
struct MatchArg {
  int index = 0;        // position in the hook's args list
  std::string op;       // Equal, NotEqual, GT, LT, Mask, Prefix
  std::string value;
};
struct Selector {
  std::vector<MatchArg> args;
  std::string binaries_op;              // "", In, NotIn
  std::vector<std::string> binaries;
  std::string action = "Post";          // Post, NoPost, Sigkill, Signal
  int signal = 0;
};
struct TracepointHook {
  std::string subsystem, event;
  std::vector<TpArg> args;
  std::vector<Selector> selectors;
};

// spec.lsmhooks: the hook's object (the file unlinked or renamed, the
// binary executed, the file opened) matched by path: Equal (that file) or
// Prefix (a directory and everything under it), resolved to inodes at load.
struct LsmSelector {
  std::string op;                  // Equal, Prefix
  std::vector<std::string> paths;
  std::string action = "Post";     // Post, NoPost, Sigkill, Override
  int error = -1;                  // Override: argError (-1 = EPERM)
};
struct LsmHook {
  std::string hook;                // inode_unlink, inode_rename, path_unlink, bprm_check_security, file_open
  std::vector<LsmSelector> selectors;
};

struct TracingPolicy {
  std::string kind, ns, name, source;   // source: file:line
  std::vector<TracepointHook> tracepoints;
  std::vector<LsmHook> lsmhooks;
  std::vector<std::string> other_hooks; // "kprobes", "uprobes": need kernel support Myelin checks at load
};

// The hook id (enum myelin_lsm_hook) of a hook name, 0 if Myelin has no program for it.
uint32_t lsm_hook_id(const std::string& name);

// Where the kernel has no BPF-LSM, an lsmhook becomes tracepoints on the
// syscalls that reach it, matching the path argument as a string, with
// Sigkill for Override: the process dies, but the call may have completed.
// (syscalls/<event>, the name of its path field) per hook.
std::vector<std::pair<std::string, std::string>> lsm_fallback_syscalls(const std::string& hook);

Result<std::vector<TracingPolicy>> decode_tracing_yaml(const std::string& text, const std::string& file);

// Field layout of one tracepoint, from <tracefs>/events/<subsystem>/<event>/format.
struct TpField {
  std::string decl, name;
  uint16_t offset = 0;
  uint8_t size = 0;
  bool is_signed = false;
};
Result<std::vector<TpField>> tracepoint_format(const std::string& tracefs, const std::string& subsystem, const std::string& event);

// binary_id: the id a matchBinaries path gets (the agent writes it to the map).
Result<myelin_tp_config> compile_hook(const TracepointHook& hook, const std::vector<TpField>& format, uint32_t policy_id,
                                      uint32_t hook_id, const std::function<uint32_t(const std::string&)>& binary_id);

// The fallback hooks of `p`'s lsmhooks, given the format of each syscall tracepoint.
Result<std::vector<TracepointHook>> lsm_fallback(const TracingPolicy& p,
                                                 const std::function<Result<std::vector<TpField>>(const std::string& event)>& format);

}  // namespace myelin::tracing
