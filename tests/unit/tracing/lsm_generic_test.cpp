// SPDX-License-Identifier: Apache-2.0
// lsmhooks beyond the inode rules: any hook by name, its arguments by
// position, the full selectors (matchBinaries, Postfix, ...), scoped
// policies; compiled as a kernel function's hook.
#include <gtest/gtest.h>

#include "tracing_policy.hpp"

namespace myelin::tracing {
namespace {

const char* kHead = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: l}\nspec:\n";

TEST(LsmGeneric, WhichLsmhooksAreGeneric) {
  // Tetragon's lsm_file_open example, in our words: matchBinaries and two Equal values.
  auto r = decode_tracing_yaml(std::string(kHead) + R"(  lsmhooks:
  - hook: "file_open"
    args:
    - index: 0
      type: "file"
    selectors:
    - matchBinaries: [{operator: In, values: ["/usr/bin/cat"]}]
      matchArgs: [{index: 0, operator: Equal, values: ["/etc/passwd", "/etc/shadow"]}]
  - hook: "socket_connect"
    args: [{index: 0, type: int}, {index: 2, type: int}]
    selectors:
    - matchArgs: [{index: 2, operator: GT, values: ["0"]}]
      matchActions: [{action: Override, argError: -13}]
  - hook: "inode_unlink"
    selectors:
    - matchArgs: [{index: 0, operator: Prefix, values: ["/etc"]}]
      matchActions: [{action: Override, argError: -1}]
)",
                               "l.yaml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& p = (*r)[0];
  ASSERT_EQ(p.lsmhooks.size(), 3u);
  EXPECT_TRUE(p.lsmhooks[0].generic) << "matchBinaries is beyond the inode rules";
  EXPECT_TRUE(p.lsmhooks[1].generic) << "a hook the inode rules do not have";
  EXPECT_FALSE(p.lsmhooks[2].generic) << "the inode rules' own form stays theirs";
  ASSERT_EQ(p.lsmhooks[1].args.size(), 2u);
  EXPECT_EQ(p.lsmhooks[1].generic_selectors[0].action, MYELIN_HOOK_ACT_OVERRIDE);
  KprobeHook k;
  k.call = p.lsmhooks[0].hook;
  k.syscall = false;
  k.args = p.lsmhooks[0].args;
  k.selectors = p.lsmhooks[0].generic_selectors;
  auto cfg = compile_kprobe(k, 1, 2, [](const std::string& b, bool) { return b == "/usr/bin/cat" ? 5u : 0u; });
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->nselectors, 2) << "two Equal values, two selectors";
  EXPECT_EQ(cfg->args[0].type, MYELIN_HOOK_ARG_FILE);
  EXPECT_EQ(cfg->path_arg, 1);
  EXPECT_TRUE(cfg->flags & MYELIN_HOOK_CFG_KERNEL_STRINGS);
  // Without BPF-LSM there is no syscall fallback for a generic lsmhook: refused, naming it.
  auto fb = lsm_fallback(p, [](const std::string&) { return Result<std::vector<TpField>>(std::vector<TpField>{}); });
  ASSERT_FALSE(fb);
  EXPECT_NE(fb.error().message.find("spec.lsmhooks (file_open): this lsmhook"), std::string::npos) << fb.error().message;
}

TEST(LsmGeneric, ScopedPoliciesAndRefusals) {
  auto r = decode_tracing_yaml(std::string(kHead) + R"(  podSelector: {matchLabels: {app: web}}
  lsmhooks:
  - hook: inode_unlink
    args: [{index: 1, type: int}]
    selectors:
    - matchArgs: [{index: 1, operator: Equal, values: ["3"]}]
)",
                               "l.yaml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE((*r)[0].scoped());
  EXPECT_TRUE((*r)[0].lsmhooks[0].generic) << "a scoped lsmhook runs where its pods are: the generic engine checks the scope";
  struct Case {
    const char* yaml;
    const char* want;
  };
  const Case cases[] = {
      {"  lsmhooks:\n  - hook: \"File Open\"\n", "l.yaml:6: spec.lsmhooks[0].hook: 'File Open' is not an LSM hook name"},
      {"  lsmhooks:\n  - hook: file_open\n    args: [{index: 5, type: file}]\n", "spec.lsmhooks[0].args[0].index: an lsmhook reads the hook's arguments 0-4"},
      {"  lsmhooks:\n  - hook: file_open\n    selectors:\n    - matchArgs: [{index: 0, operator: Postfix, values: [x]}]\n",
       "spec.lsmhooks[0].selectors[0].matchArgs[0].index: 0 names no argument"},
  };
  for (const auto& c : cases) {
    auto bad = decode_tracing_yaml(std::string(kHead) + c.yaml, "l.yaml");
    ASSERT_FALSE(bad) << c.yaml;
    EXPECT_NE(bad.error().message.find(c.want), std::string::npos) << bad.error().message;
  }
}

}  // namespace
}  // namespace myelin::tracing
