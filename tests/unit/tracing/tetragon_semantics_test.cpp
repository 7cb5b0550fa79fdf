// SPDX-License-Identifier: Apache-2.0
// Fields Myelin used to read differently from Tetragon (pkg/selectors,
// pkg/sensors/tracing): several matchActions in a selector, several
// matchPIDs entries, return: true with an Override, Tetragon's limits (5
// args, 3 actions; 4 matchArgs and 4 selectors here), each decoded and compiled,
// with the refusals of what still cannot be expressed.
#include <gtest/gtest.h>

#include <string>

#include "tracing_policy.hpp"

namespace myelin::tracing {
namespace {

std::string kprobe_doc(const std::string& hook) {
  return "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: t}\nspec:\n  kprobes:\n  - call: security_file_open\n"
         "    syscall: false\n" +
         hook;
}

const BinaryIds kNoBinaries = [](const std::string&, bool) { return 1u; };

void refused(const std::string& text, const std::string& want) {
  auto r = decode_tracing_yaml(text, "t.yaml");
  ASSERT_FALSE(r) << text;
  EXPECT_NE(r.error().message.find(want), std::string::npos) << r.error().message;
}

TEST(TetragonSemantics, SeveralActionsInOneSelector) {
  auto r = decode_tracing_yaml(kprobe_doc("    args: [{index: 0, type: file}]\n    selectors:\n"
                                          "    - matchActions: [{action: Override, argError: -1}, {action: Sigkill}]\n"
                                          "    - matchActions: [{action: Sigkill}, {action: Override, argError: -13}]\n"
                                          "    - matchActions: [{action: Post}, {action: Sigkill}]\n"
                                          "    - matchActions: [{action: Sigkill}, {action: NoPost}]\n"),
                               "t.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& s = r->at(0).kprobes[0].selectors;
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].action, MYELIN_HOOK_ACT_OVERRIDE);
  EXPECT_TRUE(s[0].also_kill);
  EXPECT_EQ(s[0].error, -1);
  EXPECT_EQ(s[1].action, MYELIN_HOOK_ACT_OVERRIDE) << "in either order";
  EXPECT_TRUE(s[1].also_kill);
  EXPECT_EQ(s[1].error, -13);
  EXPECT_EQ(s[2].action, MYELIN_HOOK_ACT_SIGKILL) << "Post beside Sigkill: Sigkill posts anyway";
  EXPECT_FALSE(s[2].also_kill);
  EXPECT_FALSE(s[2].no_post);
  EXPECT_EQ(s[3].action, MYELIN_HOOK_ACT_SIGKILL);
  EXPECT_TRUE(s[3].no_post) << "kills, posts nothing";

  auto cfg = compile_kprobe(r->at(0).kprobes[0], 1, 2, kNoBinaries);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->selectors[0].action, MYELIN_HOOK_ACT_OVERRIDE);
  EXPECT_EQ(cfg->selectors[0].action_arg, -1);
  EXPECT_EQ(cfg->selectors[0].action_flags, MYELIN_HOOK_ACTF_SIGKILL);
  EXPECT_EQ(cfg->selectors[2].action_flags, 0);
  EXPECT_EQ(cfg->selectors[3].action_flags, MYELIN_HOOK_ACTF_NOPOST);

  const std::string at = "t.yaml:9: spec.kprobes[0].selectors[0].matchActions";
  refused(kprobe_doc("    selectors:\n    - matchActions: [{action: Post}, {action: NoPost}]\n"),
          at + ": Post and NoPost in one selector contradict each other");
  refused(kprobe_doc("    selectors:\n    - matchActions: [{action: Sigkill}, {action: Signal, argSig: 10}]\n"),
          at + "[1].action: Signal beside Sigkill in one selector is not supported by Myelin yet");
  refused(kprobe_doc("    selectors:\n    - matchActions: [{action: Post}, {action: Post}, {action: Post}, {action: Post}]\n"),
          at + ": 4 actions: at most 3 per selector (Tetragon's limit)");
  refused(kprobe_doc("    selectors:\n    - matchActions: [{action: Post}, {action: Override}]\n"),
          at + "[1].argError: Override needs argError");
}

TEST(TetragonSemantics, SeveralMatchPidsEntries) {
  auto r = decode_tracing_yaml(kprobe_doc("    selectors:\n    - matchPIDs:\n"
                                          "      - {operator: NotIn, followForks: true, isNamespacePID: true, values: [1]}\n"
                                          "      - {operator: NotIn, followForks: true, isNamespacePID: true, values: [0]}\n"),
                               "t.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& s = r->at(0).kprobes[0].selectors[0];
  EXPECT_EQ(s.pids_op, MYELIN_HOOK_SET_NOT_IN) << "AND-ed NotIn entries: one NotIn of all their values";
  EXPECT_EQ(s.pids, (std::vector<uint32_t>{1, 0}));
  EXPECT_TRUE(s.follow_forks);
  EXPECT_TRUE(s.namespace_pids);

  const std::string at = "t.yaml:11: spec.kprobes[0].selectors[0].matchPIDs[1]: several matchPIDs entries are supported when all are NotIn";
  refused(kprobe_doc("    selectors:\n    - matchPIDs:\n      - {operator: In, values: [1]}\n      - {operator: In, values: [2]}\n"), at);
  refused(kprobe_doc("    selectors:\n    - matchPIDs:\n      - {operator: NotIn, values: [1]}\n      - {operator: NotIn, followForks: true, values: [2]}\n"),
          at);
  refused(kprobe_doc("    selectors:\n    - matchPIDs:\n      - {operator: NotIn, values: [1, 2, 3]}\n      - {operator: NotIn, values: [4, 5]}\n"),
          "spec.kprobes[0].selectors[0].matchPIDs[1].values: 5 pids in the selector's matchPIDs: at most 4");
}

TEST(TetragonSemantics, ReturnWithOverrideRunsAtEntryAndReportsTheReturn) {
  auto r = decode_tracing_yaml(kprobe_doc("    return: true\n    args: [{index: 0, type: file}]\n    returnArg: {index: 0, type: int}\n"
                                          "    selectors:\n"
                                          "    - matchArgs: [{index: 0, operator: Prefix, values: [/etc/]}]\n"
                                          "      matchReturnArgs: [{index: 0, operator: LT, values: ['0']}]\n"
                                          "    - matchArgs: [{index: 0, operator: Prefix, values: [/secret/]}]\n"
                                          "      matchActions: [{action: Override, argError: -1}, {action: Sigkill}]\n"),
                               "t.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& kp = r->at(0).kprobes[0];
  EXPECT_TRUE(kp.ret);
  EXPECT_TRUE(kp.overrides());
  auto [entry, exit] = split_return_override(kp);
  EXPECT_FALSE(entry.ret) << "the entry probe (fmod_ret)";
  EXPECT_TRUE(entry.overrides());
  EXPECT_EQ(entry.selectors[0].action, MYELIN_HOOK_ACT_NOPOST) << "only the overriding selector posts at entry";
  EXPECT_TRUE(entry.selectors[0].return_args.empty()) << "the return value is not known at entry";
  EXPECT_EQ(entry.selectors[1].action, MYELIN_HOOK_ACT_OVERRIDE);
  EXPECT_TRUE(entry.selectors[1].also_kill);
  EXPECT_TRUE(exit.ret) << "the return probe (fexit) beside it";
  EXPECT_FALSE(exit.overrides());
  EXPECT_EQ(exit.selectors[0].action, MYELIN_HOOK_ACT_POST);
  EXPECT_EQ(exit.selectors[0].return_args.size(), 1u);
  EXPECT_EQ(exit.selectors[1].action, MYELIN_HOOK_ACT_NOPOST) << "an overridden call was posted at entry";
  EXPECT_FALSE(exit.selectors[1].also_kill);
  auto e = compile_kprobe(entry, 1, 1, kNoBinaries);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->selectors[1].action_flags, MYELIN_HOOK_ACTF_SIGKILL);
  auto x = compile_kprobe(exit, 1, 2, kNoBinaries);
  ASSERT_TRUE(x) << x.error().message;
  EXPECT_EQ(x->selectors[0].nconds, 2) << "the arg and the return value";
}

TEST(TetragonSemantics, TetragonsLimits) {
  // 5 args (a kprobe reads arguments 0-4); 4 matchArgs in a selector (Tetragon's 5 do not verify here yet).
  const std::string five = "    args: [{index: 0, type: int}, {index: 1, type: int}, {index: 2, type: int}, {index: 3, type: int}, {index: 4, type: int}]\n";
  auto r = decode_tracing_yaml(kprobe_doc(five + "    selectors:\n    - matchArgs:\n"
                                                 "      - {index: 0, operator: Equal, values: ['0']}\n      - {index: 1, operator: Equal, values: ['1']}\n"
                                                 "      - {index: 2, operator: Equal, values: ['2']}\n      - {index: 4, operator: Equal, values: ['4']}\n"),
                               "t.yaml");
  ASSERT_TRUE(r) << r.error().message;
  auto cfg = compile_kprobe(r->at(0).kprobes[0], 1, 1, kNoBinaries);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->nargs, 5);
  EXPECT_EQ(cfg->args[4].offset, 4);
  EXPECT_EQ(cfg->selectors[0].nconds, 4);
  EXPECT_EQ(cfg->selectors[0].conds[3].arg, 4);
  EXPECT_EQ(cfg->selectors[0].conds[3].value, 4u);

  refused(kprobe_doc(five.substr(0, five.size() - 2) + ", {index: 4, type: int}]\n"), "spec.kprobes[0].args: a list of at most 5 args");
  refused(kprobe_doc(five + "    selectors:\n    - matchArgs:\n" + [] {
            std::string m;
            for (int i = 0; i < 5; ++i) m += "      - {index: " + std::to_string(i) + ", operator: Equal, values: ['1']}\n";
            return m;
          }()),
          "spec.kprobes[0].selectors[0]: at most 4 matchArgs and matchReturnArgs entries per selector");
}

TEST(TetragonSemantics, OverrideReturnsWhatArgErrorSaysAndEqualTrimsTheNul) {
  auto r = decode_tracing_yaml(kprobe_doc("    args: [{index: 0, type: string}]\n    selectors:\n"
                                          "    - matchArgs: [{index: 0, operator: Equal, values: [\"security.capability\\0\"]}]\n"
                                          "      matchActions: [{action: Override, argError: 1}]\n"),
                               "t.yaml");
  ASSERT_TRUE(r) << r.error().message;
  auto cfg = compile_kprobe(r->at(0).kprobes[0], 1, 1, kNoBinaries);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->selectors[0].action_arg, 1) << "a positive return, as Tetragon allows";
  EXPECT_EQ(cfg->selectors[0].conds[0].str_len, 19) << "the value's trailing NUL trimmed, as Tetragon's string maps";
  EXPECT_EQ(std::string(cfg->selectors[0].conds[0].str), "security.capability");
  refused(kprobe_doc("    selectors:\n    - matchActions: [{action: Override, argError: 0}]\n"),
          "t.yaml:9: spec.kprobes[0].selectors[0].matchActions[0].argError: must not be 0");
}

}  // namespace
}  // namespace myelin::tracing
