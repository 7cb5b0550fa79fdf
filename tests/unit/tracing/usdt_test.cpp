// SPDX-License-Identifier: Apache-2.0
// spec.usdts: decoding, the argument spec strings of .note.stapsdt notes
// (x86-64 operands) and the notes of a binary built with <sys/sdt.h>
// probes (tests/tools/hooks_workload); uprobes with return: true.
#include <gtest/gtest.h>

#include "tracing_policy.hpp"
#include "usdt_notes.hpp"

namespace myelin::tracing {
namespace {

const char* kHead = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: u}\nspec:\n";

TEST(UsdtArgs, OperandsAsTheProbeReadsThem) {
  auto a = usdt_arg("-4@%edi");
  EXPECT_EQ(a.spec.kind, MYELIN_USDT_ARG_REG);
  EXPECT_EQ(a.spec.reg_off, 112) << "rdi in struct pt_regs";
  EXPECT_EQ(a.spec.size, 4);
  EXPECT_TRUE(a.spec.is_signed);
  a = usdt_arg("8@-16(%rbp)");
  EXPECT_EQ(a.spec.kind, MYELIN_USDT_ARG_DEREF);
  EXPECT_EQ(a.spec.reg_off, 32);
  EXPECT_EQ(a.spec.val_off, -16);
  EXPECT_FALSE(a.spec.is_signed);
  a = usdt_arg("2@(%r12)");
  EXPECT_EQ(a.spec.kind, MYELIN_USDT_ARG_DEREF);
  EXPECT_EQ(a.spec.reg_off, 24);
  EXPECT_EQ(a.spec.val_off, 0);
  a = usdt_arg("-8@$-42");
  EXPECT_EQ(a.spec.kind, MYELIN_USDT_ARG_CONST);
  EXPECT_EQ(a.spec.val_off, -42);
  a = usdt_arg("1@%r8b");
  EXPECT_EQ(a.spec.reg_off, 72);
  // What the probe cannot place: kept as an error, used only if a policy names that argument.
  for (const char* bad : {"4@counter(%rip)", "8@8(%rax,%rbx,4)", "3@%eax", "4@%xmm0", "junk"}) {
    auto b = usdt_arg(bad);
    EXPECT_EQ(b.spec.kind, 0) << bad;
    EXPECT_FALSE(b.error.empty()) << bad;
  }
}

#ifdef HOOKS_WORKLOAD
TEST(UsdtNotes, TheProbesOfABinary) {
  auto notes = usdt_notes(HOOKS_WORKLOAD);
  ASSERT_TRUE(notes) << notes.error().message;
  if (notes->empty()) GTEST_SKIP() << "hooks_workload was built without <sys/sdt.h>";
  const UsdtNote* args = nullptr;
  const UsdtNote* sem = nullptr;
  for (const auto& n : *notes) {
    if (n.provider == "myelin_test" && n.name == "args") args = &n;
    if (n.provider == "myelin_test" && n.name == "sem") sem = &n;
  }
  ASSERT_NE(args, nullptr);
  ASSERT_NE(sem, nullptr);
  ASSERT_EQ(args->args.size(), 2u);
  EXPECT_EQ(args->args[0].spec.size, 4) << args->args[0].text;
  EXPECT_TRUE(args->args[0].spec.is_signed) << args->args[0].text;
  EXPECT_EQ(args->args[1].spec.size, 8) << args->args[1].text;
  EXPECT_NE(args->args[0].spec.kind, 0) << args->args[0].error;
  EXPECT_NE(args->args[1].spec.kind, 0) << args->args[1].error;
  EXPECT_GT(args->offset, 0u);
  EXPECT_NE(args->semaphore, 0u) << "built with _SDT_HAS_SEMAPHORES";
  EXPECT_NE(args->semaphore_offset, 0u);
  EXPECT_NE(sem->semaphore, args->semaphore);
}
#endif

TEST(UsdtNotes, NotAnElfFile) {
  auto n = usdt_notes("/proc/self/status");
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().message.find("is not an ELF file"), std::string::npos) << n.error().message;
}

TEST(UsdtDecode, FieldsAndRefusals) {
  auto r = decode_tracing_yaml(std::string(kHead) + R"(  usdts:
  - path: "/usr/bin/x"
    provider: "test"
    name: "usdt3"
    message: "m1"
    args:
    - index: 0
      type: "int32"
    - index: 1
      type: "int64"
    selectors:
    - matchArgs: [{index: 1, operator: GT, values: ["10"]}]
)",
                               "u.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& u = (*r)[0].usdts.at(0);
  EXPECT_EQ(u.provider, "test");
  EXPECT_EQ(u.name, "usdt3");
  EXPECT_EQ(u.message, "m1");
  ASSERT_EQ(u.args.size(), 2u);
  auto cfg = compile_usdt(u, 1, 2, [](const std::string&, bool) { return 0u; });
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->args[1].offset, 1) << "the note's argument";
  EXPECT_EQ(cfg->args[1].size, 8);
  struct Case {
    const char* yaml;
    const char* want;
  };
  const Case cases[] = {
      {"  usdts:\n  - {path: x, provider: p, name: n}\n", "u.yaml:6: spec.usdts[0].path: 'x' is not an absolute path"},
      {"  usdts:\n  - {path: /x, name: n}\n", "spec.usdts[0].provider: is required"},
      {"  usdts:\n  - {path: /x, provider: p, name: n, args: [{index: 12, type: int}]}\n", "spec.usdts[0].args[0].index: a USDT probe has arguments 0-11"},
      {"  usdts:\n  - {path: /x, provider: p, name: n, offset: 4}\n", "spec.usdts[0].offset: is not supported by Myelin yet"},
  };
  for (const auto& c : cases) {
    auto bad = decode_tracing_yaml(std::string(kHead) + c.yaml, "u.yaml");
    ASSERT_FALSE(bad) << c.yaml;
    EXPECT_NE(bad.error().message.find(c.want), std::string::npos) << bad.error().message;
  }
}

TEST(UprobeReturn, ReturnProbeAndMatchReturnArgs) {
  auto r = decode_tracing_yaml(std::string(kHead) + R"(  uprobes:
  - path: /usr/bin/x
    symbols: [f]
    return: true
    returnArg: {index: 0, type: long}
    args: [{index: 0, type: long}]
    selectors:
    - matchReturnArgs: [{index: 0, operator: GT, values: ["100"]}]
)",
                               "r.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& up = (*r)[0].uprobes[0];
  EXPECT_TRUE(up.ret);
  EXPECT_EQ(up.ret_type, ArgType::long_);
  auto cfg = compile_uprobe(up, 1, 2, [](const std::string&, bool) { return 0u; });
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_EQ(cfg->selectors[0].nconds, 1);
  EXPECT_EQ(cfg->selectors[0].conds[0].arg, MYELIN_HOOK_RET_ARG);
  // Without return: true, returnArg is ignored (as Tetragon) and matchReturnArgs has nothing to match.
  r = decode_tracing_yaml(std::string(kHead) + "  uprobes:\n  - {path: /x, symbols: [f], returnArg: {index: 0, type: long}}\n", "r.yaml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE((*r)[0].uprobes[0].ret);
  auto bad = decode_tracing_yaml(std::string(kHead) + "  uprobes:\n  - path: /x\n    symbols: [f]\n    selectors:\n"
                                                      "    - matchReturnArgs: [{index: 0, operator: GT, values: [\"1\"]}]\n",
                                 "r.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("needs a return probe (a kprobe or uprobe with return: true)"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace myelin::tracing
