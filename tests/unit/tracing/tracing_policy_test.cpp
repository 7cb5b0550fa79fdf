// SPDX-License-Identifier: Apache-2.0
// TracingPolicy decoding (Tetragon's YAML; every unsupported field is an
// error naming file:line:field) and compilation of a tracepoint hook against
// a tracepoint format, as tracefs describes it.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "tracing_policy.hpp"

namespace myelin::tracing {
namespace {

const char* kGood = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: big-writes
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 5
      type: int
    - index: 6
      type: string
    selectors:
    - matchArgs:
      - index: 6
        operator: Prefix
        values: ["/etc/"]
      - index: 5
        operator: Equal
        values: ["-100"]
      matchBinaries:
      - operator: In
        values: ["/usr/bin/cat"]
      matchActions:
      - action: Sigkill
---
apiVersion: v1
kind: Namespace
metadata: {name: ignored}
)";

// The fields of syscalls/sys_enter_openat (common fields first), as tracefs lists them.
std::vector<TpField> openat_format() {
  return {{"unsigned short common_type", "common_type", 0, 2, false},
          {"unsigned char common_flags", "common_flags", 2, 1, false},
          {"unsigned char common_preempt_count", "common_preempt_count", 3, 1, false},
          {"int common_pid", "common_pid", 4, 4, true},
          {"int __syscall_nr", "__syscall_nr", 8, 4, true},
          {"int dfd", "dfd", 16, 8, false},
          {"const char * filename", "filename", 24, 8, false},
          {"int flags", "flags", 32, 8, false},
          {"umode_t mode", "mode", 40, 8, false}};
}

TEST(TracingPolicyDecode, TetragonShapeDecodes) {
  auto r = decode_tracing_yaml(kGood, "p.yaml");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 1u) << "other kinds are not TracingPolicies";
  const auto& p = (*r)[0];
  EXPECT_EQ(p.name, "big-writes");
  EXPECT_EQ(p.source, "p.yaml:1");
  ASSERT_EQ(p.tracepoints.size(), 1u);
  const auto& h = p.tracepoints[0];
  EXPECT_EQ(h.event, "sys_enter_openat");
  ASSERT_EQ(h.selectors.size(), 1u);
  EXPECT_EQ(h.selectors[0].action, MYELIN_HOOK_ACT_SIGKILL);
  EXPECT_EQ(h.selectors[0].binaries, std::vector<std::string>{"/usr/bin/cat"});
}

TEST(TracingPolicyDecode, UnsupportedFieldsAreErrorsWithFileLineField) {
  struct Case {
    const char* replace;
    const char* with;
    const char* want;
  } cases[] = {
      {"operator: Prefix", "operator: Suffix", "p.yaml:17: spec.tracepoints[0].selectors[0].matchArgs[0].operator: 'Suffix' is not supported"},
      {"action: Sigkill", "action: Override", "p.yaml:26: spec.tracepoints[0].selectors[0].matchActions[0].action: Override needs a kprobe"},
      {"matchBinaries:", "matchReturnArgs:", "p.yaml:23: spec.tracepoints[0].selectors[0].matchReturnArgs: needs a return probe"},
      {"matchBinaries:", "matchCapabilityChanges:", "p.yaml:22: spec.tracepoints[0].selectors[0].matchCapabilityChanges: is not supported by Myelin yet"},
      {"type: string", "type: sock", "p.yaml:13: spec.tracepoints[0].args[1].type: 'sock' is a kernel object, which only a kprobe on a kernel function"},
      {"type: string", "type: blob", "p.yaml:13: spec.tracepoints[0].args[1].type: 'blob' is not supported"},
      {"      - index: 6\n        operator: Prefix", "      - index: 7\n        operator: Prefix",
       "p.yaml:16: spec.tracepoints[0].selectors[0].matchArgs[0].index: 7 names no argument: no entry of the hook's args has index 7 (their indexes: 5, 6)"},
      {"apiVersion: cilium.io/v1alpha1", "apiVersion: cilium.io/v2", "p.yaml:1: apiVersion: must be cilium.io/v1alpha1"},
  };
  for (const auto& c : cases) {
    std::string text = kGood;
    auto at = text.find(c.replace);
    ASSERT_NE(at, std::string::npos) << c.replace;
    text.replace(at, std::strlen(c.replace), c.with);
    auto r = decode_tracing_yaml(text, "p.yaml");
    ASSERT_FALSE(r) << c.with;
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
  }
}

TEST(TracingPolicyDecode, LsmhooksAndOtherHooks) {
  auto r = decode_tracing_yaml(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: protect}
spec:
  kprobes:
  - call: fd_install
  lsmhooks:
  - hook: bprm_check_security
    args: [{index: 0, type: linux_binprm}]
    selectors:
    - matchArgs: [{index: 0, operator: Prefix, values: ["/tmp", "/dev/shm"]}]
      matchActions: [{action: Override, argError: -1}]
)",
                               "l.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& p = (*r)[0];
  ASSERT_EQ(p.kprobes.size(), 1u) << "checked against the kernel when loading";
  EXPECT_EQ(p.kprobes[0].call, "fd_install");
  ASSERT_EQ(p.lsmhooks.size(), 1u);
  EXPECT_EQ(lsm_hook_id(p.lsmhooks[0].hook), uint32_t{MYELIN_LSM_BPRM_CHECK});
  EXPECT_EQ(p.lsmhooks[0].selectors[0].paths.size(), 2u);
  EXPECT_EQ(p.lsmhooks[0].selectors[0].error, -1);
  // Another hook is a generic lsmhook (attached by name from the kernel's BTF when loading).
  auto other = decode_tracing_yaml("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: x}\nspec:\n  lsmhooks:\n  - hook: socket_connect\n    selectors: []\n",
                                   "l.yaml");
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_TRUE((*other)[0].lsmhooks[0].generic);
  EXPECT_FALSE(p.lsmhooks[0].generic) << "the inode rules' form stays theirs";
}

TEST(TracingPolicyCompile, ArgsFromTheFormatAndSelectorsIntoTheConfig) {
  auto r = decode_tracing_yaml(kGood, "p.yaml");
  ASSERT_TRUE(r);
  auto cfg = compile_tracepoint((*r)[0].tracepoints[0], openat_format(), 7, 3, [](const std::string& b, bool) { return b == "/usr/bin/cat" ? 42u : 0u; });
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->policy_id, 7u);
  EXPECT_EQ(cfg->hook_id, 3u);
  ASSERT_EQ(cfg->nargs, 2);
  EXPECT_EQ(cfg->args[0].offset, 16);
  EXPECT_EQ(cfg->args[0].type, MYELIN_HOOK_ARG_INT);
  EXPECT_EQ(cfg->args[1].offset, 24);
  EXPECT_EQ(cfg->args[1].type, MYELIN_HOOK_ARG_STRING);
  ASSERT_EQ(cfg->nselectors, 1);
  const auto& s = cfg->selectors[0];
  EXPECT_EQ(s.action, MYELIN_HOOK_ACT_SIGKILL);
  EXPECT_EQ(s.binary_op, MYELIN_HOOK_SET_IN);
  EXPECT_EQ(s.binaries[0], 42u);
  ASSERT_EQ(s.nconds, 2);
  EXPECT_EQ(s.conds[0].op, MYELIN_HOOK_OP_PREFIX);
  EXPECT_EQ(std::string(s.conds[0].str, s.conds[0].str_len), "/etc/");
  EXPECT_EQ(s.conds[1].op, MYELIN_HOOK_OP_EQ);
  EXPECT_EQ(static_cast<int64_t>(s.conds[1].value), -100);
}

TEST(TracingPolicyCompile, MismatchesWithTheKernelAreErrors) {
  auto r = decode_tracing_yaml(kGood, "p.yaml");
  ASSERT_TRUE(r);
  auto hook = (*r)[0].tracepoints[0];
  auto bin = [](const std::string&, bool) { return 1u; };
  hook.args[1].index = 12;
  auto e = compile_tracepoint(hook, openat_format(), 1, 1, bin);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("the tracepoint has 9 fields"), std::string::npos) << e.error().message;
  hook.args[1].index = 4;  // __syscall_nr: an int, not a string pointer
  e = compile_tracepoint(hook, openat_format(), 1, 1, bin);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("is not a pointer to a string"), std::string::npos) << e.error().message;
  hook = (*r)[0].tracepoints[0];
  hook.selectors[0].args[0].index = 0;  // Prefix on the int dfd
  e = compile_tracepoint(hook, openat_format(), 1, 1, bin);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("Prefix applies to strings only"), std::string::npos) << e.error().message;
}

TEST(TracingPolicyFallback, LsmhooksBecomeSigkillAtSyscallEntryWithoutBpfLsm) {
  auto r = decode_tracing_yaml(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: protect}
spec:
  lsmhooks:
  - hook: inode_unlink
    selectors:
    - matchArgs: [{index: 0, operator: Prefix, values: ["/data/", "/etc/"]}]
      matchActions: [{action: Override, argError: -1}]
)",
                               "f.yaml");
  ASSERT_TRUE(r) << r.error().message;
  // unlinkat exists here, unlink does not (as on arm64): it is skipped.
  auto format = [](const std::string& ev) -> Result<std::vector<TpField>> {
    if (ev != "sys_enter_unlinkat") return Error{"no such tracepoint"};
    return std::vector<TpField>{{"", "common_type", 0, 2, false}, {"", "common_flags", 2, 1, false},
                                {"", "common_preempt_count", 3, 1, false}, {"", "common_pid", 4, 4, true},
                                {"", "__syscall_nr", 8, 4, true}, {"int dfd", "dfd", 16, 8, false},
                                {"const char * pathname", "pathname", 24, 8, false}, {"int flag", "flag", 32, 8, false}};
  };
  auto hooks = lsm_fallback((*r)[0], format);
  ASSERT_TRUE(hooks) << hooks.error().message;
  ASSERT_EQ(hooks->size(), 1u);
  const auto& h = (*hooks)[0];
  EXPECT_EQ(h.event, "sys_enter_unlinkat");
  ASSERT_EQ(h.args.size(), 1u);
  EXPECT_EQ(h.args[0].index, 6) << "the pathname field, found by name";
  ASSERT_EQ(h.selectors.size(), 2u) << "one selector per path";
  EXPECT_EQ(h.selectors[0].action, MYELIN_HOOK_ACT_SIGKILL) << "Override cannot be honoured: kill instead";
  EXPECT_EQ(h.selectors[1].args[0].values.at(0), "/etc/");
  EXPECT_EQ(h.selectors[1].args[0].op, MYELIN_HOOK_OP_PREFIX);
}

const char* kSelectors = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicyNamespaced
metadata: {name: scoped, namespace: shop}
spec:
  podSelector:
    matchLabels: {app: cart}
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_write
    args: [{index: 5, type: fd}, {index: 7, type: size_t}]
    selectors:
    - matchArgs:
      - {index: 5, operator: Prefix, values: ["/etc/", "/usr/"]}
      - {index: 7, operator: GT, values: ["4096"]}
      matchPIDs: [{operator: NotIn, followForks: true, isNamespacePID: true, values: [1]}]
      matchNamespaces: [{namespace: Mnt, operator: NotIn, values: [host_ns]}]
      matchCapabilities: [{type: Effective, operator: In, values: [CAP_SYS_ADMIN, CAP_NET_RAW]}]
      matchActions: [{action: Sigkill}]
    - matchArgs: [{index: 5, operator: Postfix, values: [".key"]}]
  uprobes:
  - path: /usr/lib/libssl.so.3
    symbols: [SSL_write]
    args: [{index: 2, type: int}]
    selectors:
    - matchArgs: [{index: 2, operator: GT, values: ["65536"]}]
      matchActions: [{action: Signal, argSig: 19}]
)";

// sys_enter_write as tracefs lists it.
std::vector<TpField> write_format() {
  return {{"unsigned short common_type", "common_type", 0, 2, false}, {"unsigned char common_flags", "common_flags", 2, 1, false},
          {"unsigned char common_preempt_count", "common_preempt_count", 3, 1, false}, {"int common_pid", "common_pid", 4, 4, true},
          {"int __syscall_nr", "__syscall_nr", 8, 4, true}, {"unsigned int fd", "fd", 16, 8, false},
          {"const char * buf", "buf", 24, 8, false}, {"size_t count", "count", 32, 8, false}};
}

TEST(TracingPolicyDecode, ScopeProcessSelectorsAndUprobes) {
  auto r = decode_tracing_yaml(kSelectors, "s.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& p = (*r)[0];
  EXPECT_EQ(p.ns, "shop");
  EXPECT_TRUE(p.scoped());
  ASSERT_TRUE(p.pod_selector);
  EXPECT_TRUE(p.pod_selector->matches({{"app", "cart"}}));
  EXPECT_FALSE(p.pod_selector->matches({{"app", "web"}}));
  const auto& sel = p.tracepoints[0].selectors[0];
  EXPECT_EQ(sel.pids_op, MYELIN_HOOK_SET_NOT_IN);
  EXPECT_TRUE(sel.follow_forks);
  EXPECT_TRUE(sel.namespace_pids);
  EXPECT_EQ(sel.caps, (1ull << 21) | (1ull << 13)) << "CAP_SYS_ADMIN is 21, CAP_NET_RAW 13";
  ASSERT_EQ(sel.namespaces.size(), 1u);
  EXPECT_EQ(sel.namespaces[0].values, std::vector<std::string>{"host_ns"});
  ASSERT_EQ(p.uprobes.size(), 1u);
  EXPECT_EQ(p.uprobes[0].symbols, std::vector<std::string>{"SSL_write"});

  // A namespaced policy's lsmhooks are generic ones (the engine checks the pods' scope), whose matchArgs name its args.
  std::string lsm = std::string(kSelectors) + "  lsmhooks:\n  - hook: file_open\n    selectors: [{matchArgs: [{index: 0, operator: Prefix, values: [/etc]}]}]\n";
  auto bad = decode_tracing_yaml(lsm, "s.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("spec.lsmhooks[0].selectors[0].matchArgs[0].index: 0 names no argument"), std::string::npos) << bad.error().message;
  std::string caps = kSelectors;
  caps.replace(caps.find("CAP_NET_RAW"), 11, "CAP_NET_RAWR");
  bad = decode_tracing_yaml(caps, "s.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("s.yaml:17: spec.tracepoints[0].selectors[0].matchCapabilities[0].values: 'CAP_NET_RAWR' is not a capability"),
            std::string::npos)
      << bad.error().message;
}

TEST(TracingPolicyCompile, ProcessSelectorsFdArgsAndValueExpansion) {
  auto r = decode_tracing_yaml(kSelectors, "s.yaml");
  ASSERT_TRUE(r) << r.error().message;
  auto bin = [](const std::string&, bool) { return 1u; };
  auto host = [](uint8_t ns) { return ns == MYELIN_NS_MNT ? 4026531841u : 0u; };
  auto cfg = compile_tracepoint((*r)[0].tracepoints[0], write_format(), 3, 4, bin, host);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->args[0].type, MYELIN_HOOK_ARG_FD);
  EXPECT_EQ(cfg->args[0].size, 4) << "the fd is the low half of its slot";
  EXPECT_EQ(cfg->path_arg, 1) << "the kernel resolves args[0] to a path";
  ASSERT_EQ(cfg->nselectors, 3) << "two Prefix values are two selectors, then the Postfix one";
  for (int i = 0; i < 2; ++i) {
    const auto& s = cfg->selectors[i];
    EXPECT_EQ(s.action, MYELIN_HOOK_ACT_SIGKILL);
    EXPECT_EQ(s.pid_op, MYELIN_HOOK_SET_NOT_IN);
    EXPECT_EQ(s.pid_flags, MYELIN_HOOK_PID_FOLLOW_FORKS | MYELIN_HOOK_PID_NAMESPACED);
    EXPECT_EQ(s.pids[0], 1u);
    EXPECT_EQ(s.cap_op, MYELIN_HOOK_SET_IN);
    EXPECT_EQ(s.ns[0].ns, MYELIN_NS_MNT);
    EXPECT_EQ(s.ns[0].values[0], 4026531841u) << "host_ns is pid 1's namespace";
    EXPECT_EQ(s.conds[1].value, 4096u);
  }
  EXPECT_EQ(std::string(cfg->selectors[0].conds[0].str), "/etc/");
  EXPECT_EQ(std::string(cfg->selectors[1].conds[0].str), "/usr/");
  EXPECT_EQ(cfg->selectors[2].conds[0].op, MYELIN_HOOK_OP_POSTFIX);
  EXPECT_EQ(cfg->selectors[2].action, MYELIN_HOOK_ACT_POST);

  // Too many combinations for one hook is an error, never a silently dropped value.
  auto hook = (*r)[0].tracepoints[0];
  hook.selectors[1].args[0].values = {"a", "b", "c"};
  auto e = compile_tracepoint(hook, write_format(), 3, 4, bin, host);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("5 selectors once each matchArgs value is its own (at most 4 per hook"), std::string::npos) << e.error().message;
  // host_ns that cannot be read is an error too.
  e = compile_tracepoint((*r)[0].tracepoints[0], write_format(), 3, 4, bin, {});
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("cannot read the host's Mnt namespace"), std::string::npos) << e.error().message;

  auto up = compile_uprobe((*r)[0].uprobes[0], 3, 5, bin, host);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->args[0].offset, 2) << "the third argument register";
  EXPECT_EQ(up->selectors[0].action, MYELIN_HOOK_ACT_SIGNAL);
  EXPECT_EQ(up->selectors[0].action_arg, 19);
}

TEST(TracingPolicyKprobes, SyscallAndKernelFunctionsOverrideAndErrors) {
  auto r = decode_tracing_yaml(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: live-patch}
spec:
  kprobes:
  - call: sys_write
    syscall: true
    args: [{index: 0, type: fd}, {index: 2, type: size_t}]
    selectors:
    - matchArgs: [{index: 2, operator: GT, values: ["4096"]}]
      matchBinaries: [{operator: In, values: [/usr/bin/dd]}]
      matchActions: [{action: Override, argError: -27}]
  - call: security_file_permission
    syscall: false
    args: [{index: 0, type: file}, {index: 1, type: int}]
    selectors:
    - matchArgs: [{index: 0, operator: Prefix, values: [/etc/]}]
)",
                               "k.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& p = (*r)[0];
  ASSERT_EQ(p.kprobes.size(), 2u);
  auto x86 = [](const std::string& n) { return "__x64_sys_" + n; };
  EXPECT_EQ(p.kprobes[0].function(x86), "__x64_sys_write") << "a syscall attaches to this architecture's wrapper";
  EXPECT_EQ(p.kprobes[1].function(x86), "security_file_permission");
  EXPECT_TRUE(p.kprobes[0].overrides());
  EXPECT_FALSE(p.kprobes[1].overrides());
  auto bin = [](const std::string&, bool) { return 9u; };
  auto w = compile_kprobe(p.kprobes[0], 1, 2, bin);
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->flags & MYELIN_HOOK_CFG_KERNEL_STRINGS, 0) << "a syscall's strings are in user memory";
  EXPECT_EQ(w->args[1].offset, 2) << "the syscall's third argument";
  EXPECT_EQ(w->selectors[0].action, MYELIN_HOOK_ACT_OVERRIDE);
  EXPECT_EQ(w->selectors[0].action_arg, -27);
  auto f = compile_kprobe(p.kprobes[1], 1, 3, bin);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->args[0].type, MYELIN_HOOK_ARG_FILE);
  EXPECT_EQ(f->path_arg, 1);
  EXPECT_EQ(f->flags & MYELIN_HOOK_CFG_KERNEL_STRINGS, MYELIN_HOOK_CFG_KERNEL_STRINGS);

  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"  - call: tcp_connect\n    selectors: [{matchReturnArgs: [{index: 0, operator: LT, values: [0]}]}]\n",
       "spec.kprobes[0].selectors[0].matchReturnArgs: needs a return probe: set return: true"},
      {"  - call: sys_openat\n    syscall: true\n    args: [{index: 0, type: file}]\n",
       "k.yaml:8: spec.kprobes[0].args[0].type: 'file' is a kernel object, which only a kprobe on a kernel function"},
      {"  - call: fd_install\n    selectors: [{matchActions: [{action: Override}]}]\n", "spec.kprobes[0].selectors[0].matchActions[0].argError: Override needs argError"},
  };
  for (const auto& c : cases) {
    auto bad = decode_tracing_yaml(std::string("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: x}\nspec:\n  kprobes:\n") + c.text, "k.yaml");
    ASSERT_FALSE(bad) << c.text;
    EXPECT_NE(bad.error().message.find(c.want), std::string::npos) << bad.error().message;
  }
}

TEST(TracingPolicyCompile, BinaryPrefixesBecomeBitsOfOneMask) {
  auto r = decode_tracing_yaml(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: writable}
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args: [{index: 6, type: string}]
    selectors:
    - matchBinaries: [{operator: NotPrefix, values: [/usr/, /bin/]}]
      matchActions: [{action: Sigkill}]
)",
                               "b.yaml");
  ASSERT_TRUE(r) << r.error().message;
  std::map<std::string, uint32_t> bits;
  auto bin = [&](const std::string& p, bool prefix) -> uint32_t {
    EXPECT_TRUE(prefix);
    auto [it, fresh] = bits.try_emplace(p, static_cast<uint32_t>(bits.size() + 1));
    return it->second;
  };
  auto cfg = compile_tracepoint((*r)[0].tracepoints[0], openat_format(), 1, 1, bin);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->selectors[0].binary_op, MYELIN_HOOK_SET_NOT_PREFIX);
  EXPECT_EQ(cfg->selectors[0].binaries[0], 0x3u) << "bits 0 and 1";
  auto full = compile_tracepoint((*r)[0].tracepoints[0], openat_format(), 1, 1, [](const std::string&, bool) { return 0u; });
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find("no room for prefix '/usr/'"), std::string::npos) << full.error().message;
}

TEST(TracingPolicyCompile, CharBufTakesItsLengthFromAnotherArg) {
  auto r = decode_tracing_yaml(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: payloads}
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_write
    args: [{index: 5, type: fd}, {index: 6, type: char_buf, sizeArgIndex: 8}]
  kprobes:
  - call: sys_write
    syscall: true
    args: [{index: 1, type: char_buf, sizeArgIndex: 3}]
)",
                               "c.yaml");
  ASSERT_TRUE(r) << r.error().message;
  auto bin = [](const std::string&, bool) { return 0u; };
  auto tp = compile_tracepoint((*r)[0].tracepoints[0], write_format(), 1, 1, bin);
  ASSERT_TRUE(tp) << tp.error().message;
  EXPECT_EQ(tp->args[1].type, MYELIN_HOOK_ARG_BUF);
  EXPECT_EQ(tp->args[1].offset, 24) << "buf";
  EXPECT_EQ(tp->args[1].size_offset, 32) << "count, field 7 (sizeArgIndex 8)";
  EXPECT_EQ(tp->args[1].size_size, 8);
  auto kp = compile_kprobe((*r)[0].kprobes[0], 1, 2, bin);
  ASSERT_TRUE(kp) << kp.error().message;
  EXPECT_EQ(kp->args[0].size_offset, 2) << "the syscall's third argument";
  auto hook = (*r)[0].tracepoints[0];
  hook.args[1].size_arg_index = 7;  // buf itself: a pointer, not a length
  auto bad = compile_tracepoint(hook, write_format(), 1, 1, bin);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("sizeArgIndex 7 names no integer field"), std::string::npos) << bad.error().message;
  auto missing = decode_tracing_yaml("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: x}\nspec:\n  tracepoints:\n"
                                     "  - {subsystem: syscalls, event: sys_enter_write, args: [{index: 6, type: char_buf}]}\n",
                                     "m.yaml");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("char_buf needs sizeArgIndex"), std::string::npos) << missing.error().message;
}

TEST(TracingPolicyKprobes, SockArgsAndTheirOperators) {
  auto r = decode_tracing_yaml(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: connects}
spec:
  kprobes:
  - call: tcp_connect
    syscall: false
    args: [{index: 0, type: sock}]
    selectors:
    - matchArgs:
      - {index: 0, operator: DPort, values: ["443", "8443"]}
      - {index: 0, operator: NotDAddr, values: ["10.0.0.0/8"]}
      - {index: 0, operator: Family, values: [AF_INET]}
)",
                               "s.yaml");
  ASSERT_TRUE(r) << r.error().message;
  auto cfg = compile_kprobe((*r)[0].kprobes[0], 1, 1, [](const std::string&, bool) { return 0u; });
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->args[0].type, MYELIN_HOOK_ARG_SOCK);
  ASSERT_EQ(cfg->nselectors, 2) << "one selector per DPort value";
  const auto& c = cfg->selectors[1].conds;
  EXPECT_EQ(c[0].op, MYELIN_HOOK_OP_DPORT);
  EXPECT_EQ(c[0].value, 8443u);
  EXPECT_EQ(c[1].op, MYELIN_HOOK_OP_NOT_DADDR);
  EXPECT_EQ(c[1].value, 2u) << "the CIDR's family";
  EXPECT_EQ(c[1].str_len, 8) << "its prefix length";
  EXPECT_EQ(static_cast<uint8_t>(c[1].str[0]), 10);
  EXPECT_EQ(c[2].op, MYELIN_HOOK_OP_FAMILY);
  EXPECT_EQ(c[2].value, 2u);

  auto hook = (*r)[0].kprobes[0];
  hook.selectors[0].args[1].values = {"10.0.0.0/33"};
  auto bad = compile_kprobe(hook, 1, 1, [](const std::string&, bool) { return 0u; });
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("the prefix length must be 0-32"), std::string::npos) << bad.error().message;
  hook = (*r)[0].kprobes[0];
  hook.selectors[0].args[0].op = MYELIN_HOOK_OP_PREFIX;
  bad = compile_kprobe(hook, 1, 1, [](const std::string&, bool) { return 0u; });
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("Prefix does not apply to a sock argument"), std::string::npos) << bad.error().message;
  auto neg = decode_tracing_yaml(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: x}
spec:
  kprobes:
  - call: tcp_connect
    syscall: false
    args: [{index: 0, type: sock}]
    selectors:
    - matchArgs: [{index: 0, operator: NotDPort, values: ["80", "443"]}]
)",
                                 "n.yaml");
  ASSERT_TRUE(neg) << neg.error().message;
  // Neither 80 nor 443 (Tetragon's): two conditions AND-ed in one selector, not two selectors.
  auto ncfg = compile_kprobe(neg->at(0).kprobes[0], 1, 1, [](const std::string&, bool) { return 0u; });
  ASSERT_TRUE(ncfg) << ncfg.error().message;
  ASSERT_EQ(ncfg->nselectors, 1);
  ASSERT_EQ(ncfg->selectors[0].nconds, 2);
  EXPECT_EQ(ncfg->selectors[0].conds[0].op, MYELIN_HOOK_OP_NOT_DPORT);
  EXPECT_EQ(ncfg->selectors[0].conds[0].value, 80u);
  EXPECT_EQ(ncfg->selectors[0].conds[1].op, MYELIN_HOOK_OP_NOT_DPORT);
  EXPECT_EQ(ncfg->selectors[0].conds[1].value, 443u);
}

TEST(TracingPolicyKprobes, ReturnProbesMatchTheReturnValueInTheKernel) {
  auto r = decode_tracing_yaml(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: failed-opens}
spec:
  kprobes:
  - call: sys_openat
    syscall: true
    return: true
    args: [{index: 1, type: string}]
    returnArg: {index: 0, type: int}
    selectors:
    - matchArgs: [{index: 1, operator: Prefix, values: [/etc/, /root/]}]
      matchReturnArgs: [{index: 0, operator: LT, values: [0]}]
)",
                               "r.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& kp = (*r)[0].kprobes[0];
  EXPECT_TRUE(kp.ret);
  auto cfg = compile_kprobe(kp, 1, 1, [](const std::string&, bool) { return 0u; });
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_EQ(cfg->nselectors, 2) << "one selector per Prefix value";
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(cfg->selectors[i].nconds, 2);
    EXPECT_EQ(cfg->selectors[i].conds[1].arg, MYELIN_HOOK_RET_ARG) << "the return value";
    EXPECT_EQ(cfg->selectors[i].conds[1].op, MYELIN_HOOK_OP_LT);
    EXPECT_EQ(static_cast<int64_t>(cfg->selectors[i].conds[1].value), 0);
  }
}

}  // namespace
}  // namespace myelin::tracing
