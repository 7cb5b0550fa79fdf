// SPDX-License-Identifier: Apache-2.0
// TracingPolicy (cilium.io/v1alpha1, Tetragon's format): the model, the
// YAML decoder (errors name file:line:field; every field Myelin does not
// implement is an error that names it, never ignored) and the compiler of
// each hook (tracepoint: with its format from tracefs; uprobe; kprobe) into
// the in-kernel config (myelin_hook_config). Fields are read with Tetragon's meaning
// of null, empty and omitted (null is omitted; defaults are its CRD's).
// Every name of the YAML's vocabulary (operators, actions, arg types, ...)
// is decoded once to its code (vocabulary.hpp): the model holds codes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "myelin/abi/tracing.h"
#include "myelin/policy/model.hpp"
#include "myelin/policy/refusal.hpp"
#include "myelin/result.hpp"
#include "vocabulary.hpp"

namespace myelin::tracing {

struct HookArg {
  int index = 0;        // tracepoint: field of the record (its format, common fields included); uprobe, kprobe: the argument's position
  ArgType type = ArgType::none;  // int, int32, int64, long, uint32, uint64, size_t, string, fd, char_buf (kprobes also file, path, sock)
  int size_arg_index = 0;  // char_buf: 1 + the index (same meaning as index) of the arg holding its length
  std::string label;       // shown with the arg in events ("label"), as Tetragon's
};
struct MatchArg {
  int index = 0;        // position in the hook's args list (the YAML's index names the arg whose own index it is; args: [N] a position)
  myelin_hook_op op = MYELIN_HOOK_OP_EQ;  // Equal, NotEqual, GT, LT, Mask, Prefix, Postfix; sock args: SPort, ...
  std::vector<std::string> values;  // any of them (the compiler expands several into selectors)
};
struct NamespaceMatch {
  uint8_t ns = 0;       // enum myelin_hook_ns_type: Uts, Ipc, Mnt, Pid, PidForChildren, Net, Time, TimeForChildren, Cgroup, User
  myelin_hook_set_op op = MYELIN_HOOK_SET_IN;  // In, NotIn
  std::vector<std::string> values;  // inode numbers or host_ns
};
struct Selector {
  std::vector<MatchArg> args;
  std::vector<MatchArg> return_args;    // matchReturnArgs (return probes): index 0, the return value
  myelin_hook_set_op binaries_op = MYELIN_HOOK_SET_ANY;  // none, In, NotIn, Prefix, NotPrefix
  std::vector<std::string> binaries;
  myelin_hook_set_op pids_op = MYELIN_HOOK_SET_ANY;      // none, In, NotIn
  std::vector<uint32_t> pids;
  bool follow_forks = false, namespace_pids = false;
  myelin_hook_set_op caps_op = MYELIN_HOOK_SET_ANY;      // none, In, NotIn
  myelin_hook_cap_set caps_type = MYELIN_HOOK_CAP_EFFECTIVE;
  uint64_t caps = 0;
  std::vector<NamespaceMatch> namespaces;
  myelin_hook_action action = MYELIN_HOOK_ACT_POST;  // Post, NoPost, Sigkill, Signal, Override (kprobes)
  bool also_kill = false;               // matchActions Override and Sigkill: the call fails and the process is killed
  bool no_post = false;                 // matchActions NoPost beside another action: it acts, no event
  int signal = 0;
  int error = -1;                       // Override: argError (a negative errno; -1 is EPERM)
  // TrackSock / UntrackSock in matchActions (beside the action): the sock or socket arg at position sock_arg
  uint8_t sock_action = 0;              // 0, MYELIN_HOOK_ACT_TRACKSOCK or MYELIN_HOOK_ACT_UNTRACKSOCK
  int sock_arg = 0;                     // argSock
};
// Tetragon's limits on a hook's message and tags (longer ones are truncated).
inline constexpr size_t kMaxMessage = 256, kMaxTags = 16, kMaxTag = 128;
// Tetragon's limit on a selector's matchActions.
inline constexpr size_t kMaxActions = 3;

// What every hook carries besides its own fields: its line in the source
// (for errors found when loading) and the message and tags its events carry,
// escaped as Tetragon escapes them.
struct HookInfo {
  int line = 0;
  std::string message;
  std::vector<std::string> tags;
};

struct TracepointHook : HookInfo {
  std::string subsystem, event;
  bool raw = false;                // raw: true: a raw tracepoint, args are its TP_PROTO arguments by position (0-5), kernel memory
  std::vector<HookArg> args;
  std::vector<Selector> selectors;
};

// spec.lsmhooks: the hook's object (the file unlinked or renamed, the
// binary executed, the file opened) matched by path: Equal (that file) or
// Prefix (a directory and everything under it), resolved to inodes at load.
struct LsmSelector {
  myelin_hook_op op = MYELIN_HOOK_OP_EQ;             // Equal, Prefix
  std::vector<std::string> paths;
  myelin_hook_action action = MYELIN_HOOK_ACT_POST;  // Post, NoPost, Sigkill, Override
  int error = -1;                  // Override: argError (-1 = EPERM)
};
struct LsmHook : HookInfo {
  // generic: any hook of the kernel's BPF-LSM by name (Tetragon's way), its
  // arguments by position and the full selectors, run by the kprobe engine
  // (kprobe.bpf.c's lsm program); taken for a hook the inode rules below do
  // not cover, selectors they cannot express, or a scoped policy.
  bool generic = false;
  std::vector<HookArg> args;       // generic: the hook's arguments (kernel objects: file, path, ...)
  std::vector<Selector> generic_selectors;
  std::string hook;                // inode_unlink, inode_rename, path_unlink, path_rename, bprm_check_security, file_open (events name it)
  myelin_lsm_hook id = MYELIN_LSM_INODE_UNLINK;  // that hook's code
  LsmObject arg_type = LsmObject::none;          // file, path, dentry, linux_binprm: how events show the object (none: path_arg)
  std::vector<LsmSelector> selectors;
};

// spec.uprobes: a function of a binary or library, by symbol; args are the
// function's arguments by position (0-4).
struct UprobeHook : HookInfo {
  std::string path;
  std::vector<std::string> symbols;
  bool ret = false;                  // return: true: a uretprobe beside an entry probe (args kept at entry, the event at return)
  ArgType ret_type = ArgType::none;  // returnArg.type
  std::vector<HookArg> args;
  std::vector<Selector> selectors;
};

// spec.usdts: a USDT probe (provider, name) of a binary or library, every
// site of it its .note.stapsdt lists; args name the probe's arguments by
// position (index: the note's argument), read as its notes say.
struct UsdtHook : HookInfo {
  std::string path, provider, name;
  std::vector<HookArg> args;
  std::vector<Selector> selectors;
};

// spec.kprobes: a kernel function by name, attached as fentry (fmod_ret when
// a selector overrides); syscall: true for a syscall ("sys_write"), whose
// args are the syscall's. args index the function's arguments (0-4).
struct KprobeHook : HookInfo {
  std::string call;
  bool syscall = true;             // Tetragon's default: a kernel function says syscall: false
  bool ret = false;                // return: true, attached as fexit; returnArg is an integer
  ArgType ret_type = ArgType::none;  // returnArg.type: how events show the return value (an integer, or sock)
  uint8_t ret_action = 0;          // returnArgAction: 0, MYELIN_HOOK_ACT_TRACKSOCK or MYELIN_HOOK_ACT_UNTRACKSOCK (the returned sock)
  std::vector<HookArg> args;
  std::vector<Selector> selectors;
  bool overrides() const;
  // The kernel function attached: a syscall's is this architecture's wrapper.
  std::string function(const std::function<std::string(const std::string&)>& syscall_function) const;
};

// spec.lists (lists.hpp): named lists of functions or syscalls, used as
// a kprobe's call ("list:NAME") and as InMap / NotInMap values.
enum class ListType : uint8_t { none, syscalls, generated_syscalls, generated_ftrace };
struct ListSpec {
  int line = 0;
  std::string name;
  ListType type = ListType::none;
  std::vector<std::string> values;  // none: functions; syscalls: syscall names ("sys_dup", "__ia32_sys_dup", "i386/sys_dup")
  std::string pattern;              // generated_ftrace: a regular expression over available_filter_functions
};

// spec.options (Tetragon's names; unknown ones are ignored with a warning, as Tetragon ignores them).
struct SpecOptions {
  bool disable_kprobe_multi = false;  // no meaning here: every kprobe is its own program already
  bool disable_uprobe_multi = false;  // no meaning here: every uprobe is its own program already
  bool override_return = false;       // override-method: override-return (fmod-ret is the only method here)
  bool monitor = false;               // policy-mode: monitor: enforcement actions are reported, not taken
  int sleepable_preload_size = 0;     // no meaning here (no sleepable programs)
};

// A return probe with an Override (return: true), as the two probes that
// run it: at entry (fmod_ret) the selectors without matchReturnArgs, only
// the overriding ones posting; at return (fexit) the same selectors, the
// overriding ones posting nothing (entry did), the others with the value.
std::pair<KprobeHook, KprobeHook> split_return_override(const KprobeHook& hook);

struct TracingPolicy {
  std::string kind, ns, name, source;   // source: file:line
  std::string file;                     // the file (or API object) alone
  int line = 0;                         // of the document
  std::vector<TracepointHook> tracepoints;
  std::vector<UprobeHook> uprobes;
  std::vector<KprobeHook> kprobes;
  std::vector<LsmHook> lsmhooks;
  std::vector<UsdtHook> usdts;                   // spec.usdts
  bool loader = false;                           // spec.loader: report the executable files processes map (process_loader)
  std::vector<ListSpec> lists;                   // spec.lists
  SpecOptions options;                           // spec.options
  std::optional<policy::Selector> pod_selector;  // spec.podSelector
  std::vector<std::string> warnings;             // accepted with a change (a message truncated, as Tetragon does): file:line: field: what
  bool scoped() const { return kind == "TracingPolicyNamespaced" || pod_selector.has_value(); }
};

// The hook id (enum myelin_lsm_hook) of a hook name, 0 if Myelin has no program for it.
uint32_t lsm_hook_id(const std::string& name);

// Where the kernel has no BPF-LSM, an lsmhook becomes tracepoints on the
// syscalls that reach it, matching the path argument as a string, with
// Sigkill for Override: the process dies, but the call may have completed.
// (syscalls/<event>, the name of its path field) per hook.
std::vector<std::pair<std::string, std::string>> lsm_fallback_syscalls(myelin_lsm_hook hook);

// Every TracingPolicy and TracingPolicyNamespaced of a (multi-document)
// YAML text, other kinds passed over; or the refusal of all of it, naming
// the document at fault (a document without a readable kind is refused too).
policy::Decoded<std::vector<TracingPolicy>> decode_tracing(const std::string& text, const std::string& file);
// The same, the refusal as one message (file:line: field: why).
Result<std::vector<TracingPolicy>> decode_tracing_yaml(const std::string& text, const std::string& file);

// Field layout of one tracepoint, from <tracefs>/events/<subsystem>/<event>/format.
struct TpField {
  std::string decl, name;
  uint16_t offset = 0;
  uint8_t size = 0;
  bool is_signed = false;
};
Result<std::vector<TpField>> tracepoint_format(const std::string& tracefs, const std::string& subsystem, const std::string& event);

// What the compiler asks the agent: the id a matchBinaries path gets, or
// with prefix the bit a path prefix gets (the agent writes them to the
// process probes' maps; 0: no room left), and the inode of a host namespace
// (host_ns).
using BinaryIds = std::function<uint32_t(const std::string& path, bool prefix)>;
using HostNamespaces = std::function<uint32_t(uint8_t ns_type)>;

Result<myelin_hook_config> compile_tracepoint(const TracepointHook& hook, const std::vector<TpField>& format, uint32_t policy_id,
                                      uint32_t hook_id, const BinaryIds& binary_id, const HostNamespaces& host_ns = {});
// A kprobe's config: args read from the function's arguments (or the syscall's registers).
Result<myelin_hook_config> compile_kprobe(const KprobeHook& hook, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                        const HostNamespaces& host_ns = {});
// A raw tracepoint's config: args are the tracepoint's arguments by position (kernel memory).
Result<myelin_hook_config> compile_raw_tracepoint(const TracepointHook& hook, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                                  const HostNamespaces& host_ns = {});
// A USDT probe's config: args are the note's arguments (their places: the object's myelin_usdt_specs).
Result<myelin_hook_config> compile_usdt(const UsdtHook& hook, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                        const HostNamespaces& host_ns = {});
// A uprobe's config: args read from the argument registers.
Result<myelin_hook_config> compile_uprobe(const UprobeHook& hook, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                        const HostNamespaces& host_ns = {});

// spec.loader: the hook that sees a process map a file executable
// (syscalls/sys_enter_mmap with PROT_EXEC and a file descriptor; args: the
// fd resolved to its path, prot, the fd), given that tracepoint's format.
Result<TracepointHook> loader_hook(const std::function<Result<std::vector<TpField>>(const std::string& event)>& format);

// The fallback hooks of `p`'s lsmhooks, given the format of each syscall tracepoint.
Result<std::vector<TracepointHook>> lsm_fallback(const TracingPolicy& p,
                                                 const std::function<Result<std::vector<TpField>>(const std::string& event)>& format);

}  // namespace myelin::tracing
