// SPDX-License-Identifier: Apache-2.0
// spec.lists (Tetragon's ListSpec): what a list names, with Tetragon's
// meaning of each type. A syscalls list names syscalls ("sys_dup",
// "__ia32_sys_dup", "i386/sys_dup"): as a kprobe's call (list:NAME) each is
// the syscall's kernel function on its ABI, and the kprobe is a syscall;
// as an InMap / NotInMap value each is the syscall's number (a 32-bit ABI's
// with bit 31 set, as Tetragon's syscall64). generated_syscalls: every
// syscall of this architecture the kernel has (its BTF names the function);
// generated_ftrace: every function of available_filter_functions that a
// pattern matches; a list without a type: its values are kernel functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "myelin/result.hpp"
#include "tracing_policy.hpp"

namespace myelin::tracing {

// A list type's code, none when the YAML name is not one (Tetragon's names, case-insensitive; "" is none).
std::optional<ListType> list_type(const std::string& yaml);
bool is_syscall_list(ListType t);  // syscalls, generated_syscalls

// One syscalls-list value: its ABI (x64, i386, arm64, arm32) and name
// without "sys_" ("dup"); an error says why it is not one.
struct SyscallRef {
  std::string abi, name;
};
Result<SyscallRef> parse_syscall(const std::string& value);
// Its number (a 32-bit ABI's with bit 31 set), or why there is none.
Result<uint64_t> syscall_id(const SyscallRef& s);
// Its kernel function ("__x64_sys_dup"); the value must have named it as sys_NAME.
Result<std::string> syscall_symbol(const std::string& value);

// What the compiler asks of the running kernel for generated lists.
struct ListKernel {
  std::function<bool(const std::string& function)> has_function;  // the kernel's BTF has this function
  std::string tracefs;                                            // where available_filter_functions is
};

// The kernel functions a list names, each with whether it is a syscall.
struct ListFunction {
  std::string function;
  bool syscall = false;
};
Result<std::vector<ListFunction>> list_functions(const ListSpec& list, const ListKernel& kernel);

// The syscall numbers of a syscalls list (InMap / NotInMap values).
Result<std::vector<uint64_t>> list_syscall_ids(const ListSpec& list);

// The list a value names ("list:NAME"): null if the value is not a list
// reference; *missing set when it is one but names no list of `lists`.
const ListSpec* list_of(const std::string& value, const std::vector<ListSpec>& lists, bool* missing);

}  // namespace myelin::tracing
