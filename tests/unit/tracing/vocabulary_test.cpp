// SPDX-License-Identifier: Apache-2.0
// The TracingPolicy vocabulary (vocabulary.hpp): every kernel code has a
// name, and every name decodes to its code exactly where its row says it
// applies, and is refused elsewhere, through the real decoder and compiler.
#include <gtest/gtest.h>

#include "tracing_policy.hpp"
#include "vocabulary.hpp"

namespace myelin::tracing {
namespace {

const BinaryIds kIds = [](const std::string&, bool) { return 1u; };

// A uprobe (or a kprobe on a kernel function) of one arg of `type` and one selector `selector`.
std::string hook(bool kprobe, const std::string& type, const std::string& selector) {
  return std::string("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: v}\nspec:\n") +
         (kprobe ? "  kprobes:\n  - call: security_file_open\n    syscall: false\n" : "  uprobes:\n  - path: /bin/true\n    symbols: [main]\n") +
         "    args: [{index: 0, type: " + type + "}]\n    selectors:\n    - " + selector + "\n";
}

Result<myelin_hook_config> compiled(bool kprobe, const std::string& type, const std::string& selector) {
  auto d = decode_tracing_yaml(hook(kprobe, type, selector), "v.yaml");
  if (!d) return d.error();
  return kprobe ? compile_kprobe((*d)[0].kprobes[0], 1, 1, kIds) : compile_uprobe((*d)[0].uprobes[0], 1, 1, kIds);
}

TEST(Vocabulary, EveryKernelCodeHasAName) {
  for (int op = MYELIN_HOOK_OP_EQ; op <= MYELIN_HOOK_OP_FAMILY; ++op)
    EXPECT_NE(name_of(kOperators, static_cast<myelin_hook_op>(op)), "?") << "operator " << op;
  for (int op = MYELIN_HOOK_SET_IN; op <= MYELIN_HOOK_SET_NOT_PREFIX; ++op)
    EXPECT_NE(name_of(kSetOperators, static_cast<myelin_hook_set_op>(op)), "?") << "set operator " << op;
  for (int a = MYELIN_HOOK_ACT_POST; a <= MYELIN_HOOK_ACT_OVERRIDE; ++a)
    EXPECT_NE(name_of(kActions, static_cast<myelin_hook_action>(a)), "?") << "action " << a;
  for (int c = MYELIN_HOOK_CAP_EFFECTIVE; c <= MYELIN_HOOK_CAP_PERMITTED; ++c)
    EXPECT_NE(name_of(kCapabilitySets, static_cast<myelin_hook_cap_set>(c)), "?") << "capability set " << c;
  for (int h = MYELIN_LSM_INODE_UNLINK; h <= MYELIN_LSM_PATH_RENAME; ++h)
    EXPECT_NE(name_of(kLsmHooks, static_cast<myelin_lsm_hook>(h)), "?") << "lsm hook " << h;
  for (uint8_t k = MYELIN_HOOK_ARG_INT; k <= MYELIN_HOOK_ARG_BUF; ++k) {
    bool named = false;
    for (const auto& r : kArgTypes) named |= r.kernel == k;
    EXPECT_TRUE(named) << "arg type " << int(k);
  }
}

TEST(Vocabulary, OperatorsDecodeToTheirCodeWhereTheyApplyOnly) {
  struct On {
    uint32_t where;
    const char* type;
    const char* value;
    bool kprobe;
  };
  const On ons[] = {{kOnInteger, "int", "1", false}, {kOnString, "string", "/x", false}, {kOnSock, "sock", "80", true}};
  for (const auto& row : kOperators) {
    for (const auto& on : ons) {
      SCOPED_TRACE(std::string(row.yaml) + " on " + on.type);
      const bool addr = std::string_view(row.yaml).find("ddr") != std::string_view::npos;  // SAddr, Saddr, NotDAddr, ...
      const std::string value = on.where == kOnSock && addr ? "10.0.0.0/8" : on.value;
      auto cfg = compiled(on.kprobe, on.type, "matchArgs: [{index: 0, operator: " + std::string(row.yaml) + ", values: [\"" + value + "\"]}]");
      if (row.where & on.where) {
        ASSERT_TRUE(cfg) << cfg.error().message;
        EXPECT_EQ(cfg->selectors[0].conds[0].op, row.code);
      } else {
        EXPECT_FALSE(cfg) << "accepted where it does not apply";
      }
    }
  }
}

TEST(Vocabulary, ActionsDecodeOnTheHooksTheyApplyTo) {
  for (const auto& row : kActions) {
    SCOPED_TRACE(row.yaml);
    const std::string arg = row.code == MYELIN_HOOK_ACT_SIGNAL ? ", argSig: 10" : row.code == MYELIN_HOOK_ACT_OVERRIDE ? ", argError: -1" : "";
    for (bool kprobe : {false, true}) {
      auto cfg = compiled(kprobe, "int", "matchActions: [{action: " + std::string(row.yaml) + arg + "}]");
      if (row.where & (kprobe ? kOnKprobe : kOnUprobe)) {
        ASSERT_TRUE(cfg) << cfg.error().message;
        EXPECT_EQ(cfg->selectors[0].action, row.code);
      } else {
        EXPECT_FALSE(cfg) << (kprobe ? "kprobe" : "uprobe");
      }
    }
    const std::string lsm = std::string("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: v}\nspec:\n  lsmhooks:\n") +
                            "  - hook: file_open\n    selectors:\n    - matchArgs: [{index: 0, operator: Prefix, values: [/etc/]}]\n" +
                            "      matchActions: [{action: " + std::string(row.yaml) + (row.code == MYELIN_HOOK_ACT_OVERRIDE ? ", argError: -1" : "") + "}]\n";
    auto d = decode_tracing_yaml(lsm, "v.yaml");
    EXPECT_EQ(bool(d), bool(row.where & kOnLsm)) << "lsmhook";
    if (d) {
      EXPECT_EQ((*d)[0].lsmhooks[0].selectors[0].action, row.code);
    }
  }
}

TEST(Vocabulary, ArgTypesDecodeToTheirKernelCodeAndSize) {
  for (const auto& row : kArgTypes) {
    SCOPED_TRACE(row.yaml);
    const std::string type = row.code == ArgType::char_buf ? "char_buf, sizeArgIndex: 1" : std::string(row.yaml);
    for (bool kprobe : {false, true}) {
      auto d = decode_tracing_yaml(hook(kprobe, type, "{}"), "v.yaml");
      const bool applies = (row.where & kAnyHook) || (kprobe && (row.where & kKernelObject));
      ASSERT_EQ(bool(d), applies) << (kprobe ? "kprobe" : "uprobe") << (d ? "" : ": " + d.error().message);
      if (!d) continue;
      const auto& args = kprobe ? (*d)[0].kprobes[0].args : (*d)[0].uprobes[0].args;
      EXPECT_EQ(args[0].type, row.code);
      auto cfg = kprobe ? compile_kprobe((*d)[0].kprobes[0], 1, 1, kIds) : compile_uprobe((*d)[0].uprobes[0], 1, 1, kIds);
      ASSERT_TRUE(cfg) << cfg.error().message;
      EXPECT_EQ(cfg->args[0].type, row.kernel);
      EXPECT_EQ(cfg->args[0].size, row.call_size);
    }
  }
}

TEST(Vocabulary, SetOperatorsOfBinariesAndOfTheOtherSets) {
  for (const auto& row : kSetOperators) {
    SCOPED_TRACE(row.yaml);
    auto bins = compiled(false, "int", "matchBinaries: [{operator: " + std::string(row.yaml) + ", values: [/usr/bin/x]}]");
    ASSERT_EQ(bool(bins), bool(row.where & kInBinaries));
    if (bins) {
      EXPECT_EQ(bins->selectors[0].binary_op, row.code);
    }
    auto pids = compiled(false, "int", "matchPIDs: [{operator: " + std::string(row.yaml) + ", values: [1]}]");
    ASSERT_EQ(bool(pids), bool(row.where & kInSets));
    if (pids) {
      EXPECT_EQ(pids->selectors[0].pid_op, row.code);
    }
  }
}

}  // namespace
}  // namespace myelin::tracing
