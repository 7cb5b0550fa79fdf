// SPDX-License-Identifier: Apache-2.0
// The TracingPolicy vocabulary, decoded once: every name a policy's YAML
// may use for an operator, a set operator, an action, an arg type, a
// capability set, an lsmhook or its object, as one table per kind of name
// of {YAML name, code, where it applies}. The decoder looks names up here
// and refuses a name where it does not apply; after it, the model, the
// compiler and the event path see only codes (abi/tracing.h's where the
// kernel reads them), never the names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "myelin/abi/tracing.h"

namespace myelin::tracing {

// Where a name applies: bits, combined in each row.
enum Where : uint32_t {
  // the hook kinds (actions)
  kOnTracepoint = 1u << 0,
  kOnUprobe = 1u << 1,
  kOnKprobe = 1u << 2,
  kOnLsm = 1u << 3,
  kOnHooks = kOnTracepoint | kOnUprobe | kOnKprobe,
  // what an operator compares (matchArgs, matchReturnArgs, an lsmhook's object)
  kOnInteger = 1u << 4,
  kOnString = 1u << 5,
  kOnSock = 1u << 6,
  kOnReturn = 1u << 7,
  kOnLsmObject = 1u << 8,
  // which selector a set operator is in
  kInBinaries = 1u << 9,
  kInSets = 1u << 10,  // matchPIDs, matchCapabilities, matchNamespaces: In and NotIn
  // who receives an arg type
  kAnyHook = 1u << 11,       // tracepoints, uprobes, kprobes
  kKernelObject = 1u << 12,  // only a kprobe on a kernel function (not a syscall)
  kReturnValue = 1u << 13,   // a kprobe's returnArg.type
  kReturnObject = 1u << 14,  // a kprobe's returnArg.type that is a kernel object (sock), not an integer
  kNoValues = 1u << 15,      // an operator that takes no values (SPortPriv, ...)
};

template <typename Code>
struct Name {
  std::string_view yaml;
  Code code;
  uint32_t where;
};

// matchArgs / matchReturnArgs operators (Tetragon's names; GreaterThan and
// LessThan are its aliases of GT and LT).
inline constexpr Name<myelin_hook_op> kOperators[] = {
    {"Equal", MYELIN_HOOK_OP_EQ, kOnInteger | kOnString | kOnReturn | kOnLsmObject},
    {"NotEqual", MYELIN_HOOK_OP_NE, kOnInteger | kOnString | kOnReturn},
    {"GT", MYELIN_HOOK_OP_GT, kOnInteger | kOnReturn},
    {"GreaterThan", MYELIN_HOOK_OP_GT, kOnInteger | kOnReturn},
    {"LT", MYELIN_HOOK_OP_LT, kOnInteger | kOnReturn},
    {"LessThan", MYELIN_HOOK_OP_LT, kOnInteger | kOnReturn},
    {"Mask", MYELIN_HOOK_OP_MASK, kOnInteger | kOnReturn},
    {"Prefix", MYELIN_HOOK_OP_PREFIX, kOnString | kOnLsmObject},
    {"Postfix", MYELIN_HOOK_OP_POSTFIX, kOnString},
    {"SPort", MYELIN_HOOK_OP_SPORT, kOnSock},
    {"NotSPort", MYELIN_HOOK_OP_NOT_SPORT, kOnSock},
    {"DPort", MYELIN_HOOK_OP_DPORT, kOnSock},
    {"NotDPort", MYELIN_HOOK_OP_NOT_DPORT, kOnSock},
    {"SAddr", MYELIN_HOOK_OP_SADDR, kOnSock},
    {"NotSAddr", MYELIN_HOOK_OP_NOT_SADDR, kOnSock},
    {"DAddr", MYELIN_HOOK_OP_DADDR, kOnSock},
    {"NotDAddr", MYELIN_HOOK_OP_NOT_DADDR, kOnSock},
    {"Protocol", MYELIN_HOOK_OP_PROTOCOL, kOnSock},
    {"Family", MYELIN_HOOK_OP_FAMILY, kOnSock},
    {"InMap", MYELIN_HOOK_OP_IN_MAP, kOnInteger},       // integers: any of a set (values, a:b ranges, list:NAME of syscalls)
    {"NotInMap", MYELIN_HOOK_OP_NOT_IN_MAP, kOnInteger},
    {"State", MYELIN_HOOK_OP_STATE, kOnSock},
    {"SPortPriv", MYELIN_HOOK_OP_SPORT_PRIV, kOnSock | kNoValues},
    {"NotSPortPriv", MYELIN_HOOK_OP_NOT_SPORT_PRIV, kOnSock | kNoValues},
    {"DPortPriv", MYELIN_HOOK_OP_DPORT_PRIV, kOnSock | kNoValues},
    {"NotDPortPriv", MYELIN_HOOK_OP_NOT_DPORT_PRIV, kOnSock | kNoValues},
    // Tetragon's other spellings of the sock operators
    {"Sport", MYELIN_HOOK_OP_SPORT, kOnSock},
    {"NotSport", MYELIN_HOOK_OP_NOT_SPORT, kOnSock},
    {"Dport", MYELIN_HOOK_OP_DPORT, kOnSock},
    {"NotDport", MYELIN_HOOK_OP_NOT_DPORT, kOnSock},
    {"Saddr", MYELIN_HOOK_OP_SADDR, kOnSock},
    {"NotSaddr", MYELIN_HOOK_OP_NOT_SADDR, kOnSock},
    {"Daddr", MYELIN_HOOK_OP_DADDR, kOnSock},
    {"NotDaddr", MYELIN_HOOK_OP_NOT_DADDR, kOnSock},
    {"SportPriv", MYELIN_HOOK_OP_SPORT_PRIV, kOnSock | kNoValues},
    {"NotSportPriv", MYELIN_HOOK_OP_NOT_SPORT_PRIV, kOnSock | kNoValues},
    {"DportPriv", MYELIN_HOOK_OP_DPORT_PRIV, kOnSock | kNoValues},
    {"NotDportPriv", MYELIN_HOOK_OP_NOT_DPORT_PRIV, kOnSock | kNoValues},
};

// matchBinaries, matchPIDs, matchCapabilities and matchNamespaces operators.
inline constexpr Name<myelin_hook_set_op> kSetOperators[] = {
    {"In", MYELIN_HOOK_SET_IN, kInBinaries | kInSets},
    {"NotIn", MYELIN_HOOK_SET_NOT_IN, kInBinaries | kInSets},
    {"Prefix", MYELIN_HOOK_SET_PREFIX, kInBinaries},
    {"NotPrefix", MYELIN_HOOK_SET_NOT_PREFIX, kInBinaries},
};

// matchActions (Override: a kprobe attached as fmod_ret, or an lsmhook).
inline constexpr Name<myelin_hook_action> kActions[] = {
    {"Post", MYELIN_HOOK_ACT_POST, kOnHooks | kOnLsm},
    {"NoPost", MYELIN_HOOK_ACT_NOPOST, kOnHooks | kOnLsm},
    {"Sigkill", MYELIN_HOOK_ACT_SIGKILL, kOnHooks | kOnLsm},
    {"Signal", MYELIN_HOOK_ACT_SIGNAL, kOnHooks},
    {"Override", MYELIN_HOOK_ACT_OVERRIDE, kOnKprobe | kOnLsm},
};

// matchCapabilities' type.
inline constexpr Name<myelin_hook_cap_set> kCapabilitySets[] = {
    {"Effective", MYELIN_HOOK_CAP_EFFECTIVE, kInSets},
    {"Inheritable", MYELIN_HOOK_CAP_INHERITABLE, kInSets},
    {"Permitted", MYELIN_HOOK_CAP_PERMITTED, kInSets},
};

// The arg types of tracepoints, uprobes and kprobes; one code per YAML name
// (the kernel's myelin_hook_arg_type is coarser: int32 and int64 are both
// signed integers, read with different sizes, shown with different keys).
enum class ArgType : uint8_t { none, int_, int32, int64, long_, uint32, uint64, size_t_, string, filename, fd, char_buf, file, path, sock,
  // network and credential objects (arg_types.hpp says what each reads, matches and shows)
  nop, skb, socket, sockaddr, net_device, cred, user_namespace, capability, kernel_cap_t, cap_effective, cap_inheritable, cap_permitted };

struct ArgTypeName {
  std::string_view yaml;
  ArgType code;
  uint32_t where;
  uint8_t kernel;     // enum myelin_hook_arg_type
  uint8_t call_size;  // bytes of a call's argument (uprobes, kprobes)
};
inline constexpr ArgTypeName kArgTypes[] = {
    {"int", ArgType::int_, kAnyHook | kReturnValue, MYELIN_HOOK_ARG_INT, 4},
    {"int32", ArgType::int32, kAnyHook | kReturnValue, MYELIN_HOOK_ARG_INT, 4},
    {"int64", ArgType::int64, kAnyHook | kReturnValue, MYELIN_HOOK_ARG_INT, 8},
    {"long", ArgType::long_, kAnyHook | kReturnValue, MYELIN_HOOK_ARG_INT, 8},
    {"uint32", ArgType::uint32, kAnyHook | kReturnValue, MYELIN_HOOK_ARG_UINT, 4},
    {"uint64", ArgType::uint64, kAnyHook | kReturnValue, MYELIN_HOOK_ARG_UINT, 8},
    {"size_t", ArgType::size_t_, kAnyHook | kReturnValue, MYELIN_HOOK_ARG_UINT, 8},
    {"string", ArgType::string, kAnyHook, MYELIN_HOOK_ARG_STRING, 8},
    {"filename", ArgType::filename, kAnyHook, MYELIN_HOOK_ARG_STRING, 8},
    {"fd", ArgType::fd, kAnyHook, MYELIN_HOOK_ARG_FD, 4},
    {"char_buf", ArgType::char_buf, kAnyHook, MYELIN_HOOK_ARG_BUF, 8},
    {"file", ArgType::file, kKernelObject, MYELIN_HOOK_ARG_FILE, 8},
    {"path", ArgType::path, kKernelObject, MYELIN_HOOK_ARG_PATH, 8},
    {"sock", ArgType::sock, kKernelObject | kReturnObject, MYELIN_HOOK_ARG_SOCK, 8},
    // Tetragon's nop: declared (it keeps its place), never read or shown
    {"nop", ArgType::nop, kAnyHook, MYELIN_HOOK_ARG_NOP, 8},
    {"skb", ArgType::skb, kKernelObject, MYELIN_HOOK_ARG_SKB, 8},
    {"socket", ArgType::socket, kKernelObject, MYELIN_HOOK_ARG_SOCKET, 8},
    {"sockaddr", ArgType::sockaddr, kKernelObject, MYELIN_HOOK_ARG_SOCKADDR, 8},
    {"net_device", ArgType::net_device, kKernelObject, MYELIN_HOOK_ARG_NET_DEV, 8},
    {"cred", ArgType::cred, kKernelObject, MYELIN_HOOK_ARG_CRED, 8},
    {"user_namespace", ArgType::user_namespace, kKernelObject, MYELIN_HOOK_ARG_USER_NS, 8},
    {"capability", ArgType::capability, kKernelObject, MYELIN_HOOK_ARG_INT, 4},  // an int: the capability's number
    {"kernel_cap_t", ArgType::kernel_cap_t, kKernelObject, MYELIN_HOOK_ARG_CAPS, 8},
    {"cap_effective", ArgType::cap_effective, kKernelObject, MYELIN_HOOK_ARG_CAPS, 8},
    {"cap_inheritable", ArgType::cap_inheritable, kKernelObject, MYELIN_HOOK_ARG_CAPS, 8},
    {"cap_permitted", ArgType::cap_permitted, kKernelObject, MYELIN_HOOK_ARG_CAPS, 8},
};

// How events show an lsmhook's object (its args[0].type; none: a path).
enum class LsmObject : uint8_t { none, file, path, dentry, linux_binprm };
inline constexpr Name<LsmObject> kLsmObjects[] = {
    {"file", LsmObject::file, kOnLsm},
    {"path", LsmObject::path, kOnLsm},
    {"dentry", LsmObject::dentry, kOnLsm},
    {"linux_binprm", LsmObject::linux_binprm, kOnLsm},
};

// The lsmhooks Myelin has a BPF-LSM program for.
inline constexpr Name<myelin_lsm_hook> kLsmHooks[] = {
    {"inode_unlink", MYELIN_LSM_INODE_UNLINK, kOnLsm},  {"inode_rename", MYELIN_LSM_INODE_RENAME, kOnLsm},
    {"path_unlink", MYELIN_LSM_PATH_UNLINK, kOnLsm},    {"path_rename", MYELIN_LSM_PATH_RENAME, kOnLsm},
    {"bprm_check_security", MYELIN_LSM_BPRM_CHECK, kOnLsm}, {"file_open", MYELIN_LSM_FILE_OPEN, kOnLsm},
};

// A YAML name's row of `table` that applies `where` (any bit); none if the
// name is not there or applies elsewhere only.
template <typename Row, size_t N>
constexpr const Row* lookup(const Row (&table)[N], std::string_view yaml, uint32_t where) {
  for (const auto& r : table)
    if (r.yaml == yaml && (r.where & where)) return &r;
  return nullptr;
}
// A code's row (its first, canonical name).
template <typename Row, size_t N, typename Code>
constexpr const Row* row_of(const Row (&table)[N], Code code) {
  for (const auto& r : table)
    if (r.code == code) return &r;
  return nullptr;
}
// A code's YAML name, for messages.
template <typename Row, size_t N, typename Code>
constexpr std::string_view name_of(const Row (&table)[N], Code code) {
  const Row* r = row_of(table, code);
  return r ? r->yaml : std::string_view("?");
}
// Does a code apply `where`?
template <typename Row, size_t N, typename Code>
constexpr bool applies(const Row (&table)[N], Code code, uint32_t where) {
  const Row* r = row_of(table, code);
  return r && (r->where & where);
}

// A negated operator: several values mean none of them (AND-ed), not any.
inline constexpr bool is_negated(myelin_hook_op op) {
  return op == MYELIN_HOOK_OP_NE || op == MYELIN_HOOK_OP_NOT_SPORT || op == MYELIN_HOOK_OP_NOT_DPORT || op == MYELIN_HOOK_OP_NOT_SADDR ||
         op == MYELIN_HOOK_OP_NOT_DADDR;
}
inline std::string op_name(myelin_hook_op op) { return std::string(name_of(kOperators, op)); }
inline std::string action_yaml(myelin_hook_action a) { return std::string(name_of(kActions, a)); }
inline const ArgTypeName& arg_type(ArgType t) {
  static constexpr ArgTypeName none{"", ArgType::none, 0, MYELIN_HOOK_ARG_NONE, 8};
  const ArgTypeName* r = row_of(kArgTypes, t);
  return r ? *r : none;
}
inline bool is_integer(ArgType t) { return applies(kArgTypes, t, kReturnValue); }

}  // namespace myelin::tracing
