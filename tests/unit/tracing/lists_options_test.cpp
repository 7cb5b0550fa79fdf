// SPDX-License-Identifier: Apache-2.0
// spec.lists (syscalls, generated_syscalls, generated_ftrace; list:NAME as
// a kprobe's call and as InMap / NotInMap values), spec.options and raw
// tracepoints (raw: true): decoding with Tetragon's meaning, the refusals
// (file:line: field: why) and the compiled config.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "lists.hpp"
#include "tracing_policy.hpp"

namespace myelin::tracing {
namespace {

const char* kHead = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: l}\nspec:\n";

// raw_syscalls/sys_enter as tracefs describes it.
std::vector<TpField> sys_enter_format() {
  return {{"unsigned short common_type", "common_type", 0, 2, false},
          {"unsigned char common_flags", "common_flags", 2, 1, false},
          {"unsigned char common_preempt_count", "common_preempt_count", 3, 1, false},
          {"int common_pid", "common_pid", 4, 4, true},
          {"long id", "id", 8, 8, true},
          {"unsigned long args[6]", "args", 16, 48, false}};
}

const BinaryIds kNoBinaries = [](const std::string&, bool) { return 0u; };

TEST(TracingLists, SyscallListAsInMapValuesOnRawSyscalls) {
  // Tetragon's list-syscalls-tracepoint example, in our words.
  auto r = decode_tracing_yaml(std::string(kHead) + R"(  lists:
  - name: dups
    type: syscalls
    values: ["sys_dup", "sys_dup2", "__ia32_sys_dup"]
  tracepoints:
  - subsystem: raw_syscalls
    event: sys_enter
    args: [{index: 4, type: uint64}]
    selectors:
    - matchArgs: [{index: 0, operator: InMap, values: ["list:dups", "292"]}]
)",
                               "l.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& p = (*r)[0];
  ASSERT_EQ(p.lists.size(), 1u);
  EXPECT_EQ(p.lists[0].type, ListType::syscalls);
  const auto& m = p.tracepoints[0].selectors[0].args[0];
  EXPECT_EQ(m.op, MYELIN_HOOK_OP_IN_MAP);
  // x86-64 dup 32, dup2 33; i386 dup 41 with bit 31 (Tetragon's 32-bit ABI mark); then the plain value.
  EXPECT_EQ(m.values, (std::vector<std::string>{"32", "33", std::to_string(41u | 0x80000000u), "292"}));
  auto cfg = compile_tracepoint(p.tracepoints[0], sys_enter_format(), 1, 1, kNoBinaries);
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_EQ(cfg->nselectors, 1) << "an InMap set is one condition, not one selector per value";
  const auto& c = cfg->selectors[0].conds[0];
  EXPECT_EQ(c.op, MYELIN_HOOK_OP_IN_MAP);
  ASSERT_EQ(c.str_len, 4);
  uint64_t v[4];
  std::memcpy(v, c.str, sizeof v);
  EXPECT_EQ(v[0], 32u);
  EXPECT_EQ(v[1], 33u);
  EXPECT_EQ(v[3], 292u);
}

TEST(TracingLists, InMapRangesAndTheSetLimit) {
  auto hook = [](const std::string& type, const std::string& values) {
    return std::string(kHead) + "  tracepoints:\n  - subsystem: raw_syscalls\n    event: sys_enter\n    args: [{index: 4, type: " + type +
           "}]\n    selectors:\n    - matchArgs: [{index: 0, operator: NotInMap, values: [" + values + "]}]\n";
  };
  auto r = decode_tracing_yaml(hook("int64", "\"-2:2\", \"10\""), "r.yaml");
  ASSERT_TRUE(r) << r.error().message;
  auto cfg = compile_tracepoint((*r)[0].tracepoints[0], sys_enter_format(), 1, 1, kNoBinaries);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->selectors[0].conds[0].op, MYELIN_HOOK_OP_NOT_IN_MAP);
  EXPECT_EQ(cfg->selectors[0].conds[0].str_len, 6) << "-2..2 and 10";
  // 17 values: refused, never cut to 16 (that would match what the policy excludes).
  r = decode_tracing_yaml(hook("uint64", "\"0:16\""), "r.yaml");
  ASSERT_TRUE(r) << r.error().message;
  cfg = compile_tracepoint((*r)[0].tracepoints[0], sys_enter_format(), 1, 1, kNoBinaries);
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("more than 16 values once ranges and lists are expanded"), std::string::npos) << cfg.error().message;
  // InMap compares integers: on a string argument, refused.
  r = decode_tracing_yaml(std::string(kHead) + "  uprobes:\n  - path: /bin/true\n    symbols: [main]\n    args: [{index: 0, type: string}]\n"
                              "    selectors:\n    - matchArgs: [{index: 0, operator: InMap, values: [\"1\"]}]\n",
                          "s.yaml");
  ASSERT_TRUE(r) << r.error().message;
  auto up = compile_uprobe((*r)[0].uprobes[0], 1, 1, kNoBinaries);
  ASSERT_FALSE(up);
  EXPECT_NE(up.error().message.find("InMap applies to integer arguments only"), std::string::npos) << up.error().message;
  r = decode_tracing_yaml(hook("uint64", "\"3:x\""), "r.yaml");
  ASSERT_TRUE(r);
  cfg = compile_tracepoint((*r)[0].tracepoints[0], sys_enter_format(), 1, 1, kNoBinaries);
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("'3:x' is not a min:max range of integers"), std::string::npos) << cfg.error().message;
}

TEST(TracingLists, KprobeCallOfAListIsASyscallForSyscallLists) {
  auto r = decode_tracing_yaml(std::string(kHead) + R"(  lists:
  - name: "syscalls"
    type: "syscalls"
    values: ["sys_dup", "sys_dup2"]
  - name: "ksys"
    type: "generated_ftrace"
    pattern: "^ksys_*"
  kprobes:
  - call: "list:syscalls"
    syscall: false
  - call: "list:ksys"
    syscall: false
)",
                               "k.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& p = (*r)[0];
  EXPECT_TRUE(p.kprobes[0].syscall) << "Tetragon: a syscall list's kprobe is a syscall, whatever syscall says";
  EXPECT_FALSE(p.kprobes[1].syscall);
  EXPECT_EQ(p.kprobes[0].call, "list:syscalls");
  auto fns = list_functions(p.lists[0], {});
  ASSERT_TRUE(fns) << fns.error().message;
  ASSERT_EQ(fns->size(), 2u);
  EXPECT_EQ((*fns)[0].function, "__x64_sys_dup");
  EXPECT_EQ((*fns)[1].function, "__x64_sys_dup2");
  EXPECT_TRUE((*fns)[0].syscall);
}

TEST(TracingLists, GeneratedListsFromTheKernel) {
  ListSpec sys{1, "all", ListType::generated_syscalls, {}, ""};
  // The kernel's BTF: only these two syscall functions.
  ListKernel k{[](const std::string& fn) { return fn == "__x64_sys_read" || fn == "__x64_sys_dup"; }, ""};
  auto fns = list_functions(sys, k);
  ASSERT_TRUE(fns) << fns.error().message;
  ASSERT_EQ(fns->size(), 2u);
  EXPECT_EQ((*fns)[0].function, "__x64_sys_dup");
  EXPECT_EQ((*fns)[1].function, "__x64_sys_read");
  // generated_ftrace: available_filter_functions, module functions (with a space) and duplicates out.
  const std::string dir = std::filesystem::temp_directory_path() / ("myelin-ftrace-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/available_filter_functions") << "ksys_write\nvfs_read\nksys_read\nksys_read\n__ftrace_invalid_address___64\nksys_mod [m]\n";
  ListSpec ft{1, "ksys", ListType::generated_ftrace, {}, "^ksys_*"};
  fns = list_functions(ft, ListKernel{{}, dir});
  ASSERT_TRUE(fns) << fns.error().message;
  ASSERT_EQ(fns->size(), 2u);
  EXPECT_EQ((*fns)[0].function, "ksys_read");
  EXPECT_EQ((*fns)[1].function, "ksys_write");
  EXPECT_FALSE((*fns)[0].syscall);
  ft.pattern = "^nothing_like_this$";
  fns = list_functions(ft, ListKernel{{}, dir});
  ASSERT_FALSE(fns);
  EXPECT_NE(fns.error().message.find("matches no function"), std::string::npos) << fns.error().message;
  std::filesystem::remove_all(dir);
}

TEST(TracingLists, SyscallValues) {
  auto s = parse_syscall("i386/sys_dup");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->abi, "i386");
  EXPECT_EQ(s->name, "dup");
  EXPECT_EQ(*syscall_id(*s), 41u | 0x80000000u);
  EXPECT_EQ(*syscall_id(*parse_syscall("dup")), 32u) << "InMap takes a name without sys_ too (Tetragon's ID())";
  EXPECT_EQ(*syscall_symbol("__ia32_sys_dup"), "__ia32_sys_dup");
  EXPECT_EQ(*syscall_symbol("x64/sys_dup3"), "__x64_sys_dup3");
  EXPECT_FALSE(syscall_symbol("dup")) << "a kprobe needs the function: sys_dup";
  EXPECT_FALSE(parse_syscall("arm64/__x64_sys_dup"));
  EXPECT_FALSE(parse_syscall("mips/sys_dup"));
}

TEST(TracingLists, Refusals) {
  struct Case {
    const char* yaml;
    const char* want;
  };
  const Case cases[] = {
      {"  lists:\n  - {name: a, type: syscall, values: [sys_dup]}\n  kprobes:\n  - call: list:a\n",
       "l.yaml:6: spec.lists[0].type: 'syscall' is not a list type (syscalls, generated_syscalls, generated_ftrace)"},
      {"  lists:\n  - {name: a, type: generated_syscalls, values: [sys_dup]}\n  kprobes:\n  - call: list:a\n",
       "spec.lists[0].values: a generated list (generated_syscalls) has no values"},
      {"  lists:\n  - {name: a, type: generated_ftrace}\n  kprobes:\n  - call: list:a\n", "spec.lists[0].pattern: generated_ftrace needs a pattern"},
      {"  lists:\n  - {name: a, type: generated_ftrace, pattern: \"ksys_(\"}\n  kprobes:\n  - call: list:a\n",
       "spec.lists[0].pattern: 'ksys_(' is not a regular expression"},
      {"  lists:\n  - {name: a, type: syscalls, values: [sys_dupXXX]}\n  kprobes:\n  - call: list:a\n",
       "l.yaml:6: spec.lists[0].values[0]: 'dupXXX' is not a syscall of ABI x64"},
      {"  lists:\n  - {name: a, type: syscalls, values: [sys_dup]}\n  - {name: a, type: syscalls, values: [sys_dup2]}\n  kprobes:\n  - call: list:a\n",
       "spec.lists[1].name: 'a' names two lists"},
      {"  lists:\n  - {name: a, type: syscalls, values: [sys_dup]}\n  kprobes:\n  - call: list:wrongname\n",
       "l.yaml:8: spec.kprobes[0].call: 'list:wrongname' names no list of spec.lists"},
      {"  lists:\n  - {name: a, values: [ksys_read]}\n  tracepoints:\n  - subsystem: raw_syscalls\n    event: sys_enter\n"
       "    args: [{index: 4, type: uint64}]\n    selectors:\n    - matchArgs: [{index: 0, operator: InMap, values: [\"list:a\"]}]\n",
       "spec.tracepoints[0].selectors[0].matchArgs[0].values[0]: list 'a' is not of type syscalls"},
      {"  tracepoints:\n  - subsystem: raw_syscalls\n    event: sys_enter\n"
       "    args: [{index: 4, type: uint64}]\n    selectors:\n    - matchArgs: [{index: 0, operator: InMap, values: [\"list:nope\"]}]\n",
       "matchArgs[0].values[0]: 'list:nope' names no list of spec.lists"},
      {"  lists:\n  - {name: a, type: syscalls}\n  kprobes:\n  - call: list:a\n", "spec.lists[0].values: a list of at least one name"},
  };
  for (const auto& c : cases) {
    auto r = decode_tracing_yaml(std::string(kHead) + c.yaml, "l.yaml");
    ASSERT_FALSE(r) << c.yaml;
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
  }
}

TEST(TracingOptions, TetragonsOptions) {
  auto r = decode_tracing_yaml(std::string(kHead) + R"(  options:
  - name: "disable-kprobe-multi"
    value: "1"
  - name: disable-uprobe-multi
    value: "false"
  - name: policy-mode
    value: monitor
  - name: sleepable-preload-size
    value: "8"
  - name: override-method
    value: fmod-ret
  - name: some-future-option
    value: x
  tracepoints:
  - {subsystem: syscalls, event: sys_enter_openat}
)",
                               "o.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& o = (*r)[0].options;
  EXPECT_TRUE(o.disable_kprobe_multi);
  EXPECT_FALSE(o.disable_uprobe_multi);
  EXPECT_TRUE(o.monitor);
  EXPECT_EQ(o.sleepable_preload_size, 8);
  EXPECT_FALSE(o.override_return);
  ASSERT_EQ((*r)[0].warnings.size(), 1u);
  EXPECT_NE((*r)[0].warnings[0].find("o.yaml:16: spec.options[5].name: 'some-future-option' is not an option Tetragon knows: ignored"),
            std::string::npos)
      << (*r)[0].warnings[0];
  // Tetragon's library example: options beside the hooks.
  r = decode_tracing_yaml(std::string(kHead) + "  options:\n  - name: override-method\n    value: override-return\n"
                              "  kprobes:\n  - call: security_file_open\n    syscall: false\n",
                          "o.yaml");
  ASSERT_TRUE(r) << "override-return without an Override changes nothing: " << r.error().message;
  EXPECT_TRUE((*r)[0].options.override_return);
}

TEST(TracingOptions, Refusals) {
  struct Case {
    const char* yaml;
    const char* want;
  };
  const Case cases[] = {
      {"  options:\n  - {name: disable-kprobe-multi, value: yes please}\n", "o.yaml:6: spec.options[0].value: disable-kprobe-multi takes true or false"},
      {"  options:\n  - {name: policy-mode, value: audit}\n", "spec.options[0].value: policy-mode is enforce or monitor, not 'audit'"},
      {"  options:\n  - {name: override-method, value: kprobe}\n", "spec.options[0].value: override-method is fmod-ret or override-return"},
      {"  options:\n  - {name: sleepable-preload-size, value: \"0\"}\n", "sleepable-preload-size must be a positive integer"},
      {"  options:\n  - {value: \"1\"}\n", "spec.options[0].name: is required"},
      {"  options:\n  - {name: override-method, value: override-return}\n  kprobes:\n  - call: security_file_open\n    syscall: false\n"
       "    selectors:\n    - matchActions: [{action: Override, argError: -1}]\n",
       "spec.options: override-method override-return: Myelin overrides with fmod_ret only"},
  };
  for (const auto& c : cases) {
    auto r = decode_tracing_yaml(std::string(kHead) + c.yaml + "  tracepoints:\n  - {subsystem: syscalls, event: sys_enter_openat}\n", "o.yaml");
    ASSERT_FALSE(r) << c.yaml;
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
  }
}

TEST(TracingRawTracepoint, ArgsByPositionInKernelMemory) {
  auto r = decode_tracing_yaml(std::string(kHead) + R"(  tracepoints:
  - subsystem: sched
    event: sched_process_exec
    raw: true
    args:
    - {index: 1, type: int}
    - {index: 0, type: file}
    selectors:
    - matchArgs: [{index: 1, operator: GT, values: ["0"]}]
)",
                               "raw.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& tp = (*r)[0].tracepoints[0];
  EXPECT_TRUE(tp.raw);
  auto cfg = compile_raw_tracepoint(tp, 3, 4, kNoBinaries);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->nargs, 2);
  EXPECT_EQ(cfg->args[0].offset, 1) << "the argument's position, not a record offset";
  EXPECT_EQ(cfg->args[0].size, 4);
  EXPECT_EQ(cfg->args[1].type, MYELIN_HOOK_ARG_FILE);
  EXPECT_TRUE(cfg->flags & MYELIN_HOOK_CFG_KERNEL_STRINGS) << "a raw tracepoint's pointers are the kernel's";
  EXPECT_EQ(cfg->path_arg, 2);
  // A record-format tracepoint does not take kernel objects; raw args stop at 5.
  auto bad = decode_tracing_yaml(std::string(kHead) + "  tracepoints:\n  - subsystem: sched\n    event: sched_process_exec\n    args: [{index: 0, type: file}]\n",
                                 "raw.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("spec.tracepoints[0].args[0].type: 'file' is a kernel object"), std::string::npos) << bad.error().message;
  bad = decode_tracing_yaml(std::string(kHead) + "  tracepoints:\n  - subsystem: sched\n    event: sched_process_exec\n    raw: true\n"
                                                 "    args: [{index: 6, type: int}]\n",
                            "raw.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("raw.yaml:9: spec.tracepoints[0].args[0].index: a raw tracepoint reads its arguments 0-5"), std::string::npos)
      << bad.error().message;
  bad = decode_tracing_yaml(std::string(kHead) + "  tracepoints:\n  - subsystem: sched\n    event: sched_process_exec\n    raw: maybe\n", "raw.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("spec.tracepoints[0].raw: must be true or false"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace myelin::tracing
