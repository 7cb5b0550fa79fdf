// SPDX-License-Identifier: Apache-2.0
// matchNamespaces values are 32-bit inode numbers: a longer one threw
// std::out_of_range out of the compiler (stoul) and ended the agent, and one
// above 2^32 - 1 was truncated, so NotIn [4294967297] meant NotIn [1]
// (found by tests/fuzz).
#include <gtest/gtest.h>

#include "tracing_policy.hpp"

namespace myelin::tracing {
namespace {

std::string policy_with(const std::string& value) {
  return "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: ns}\nspec:\n  uprobes:\n  - path: /bin/true\n"
         "    symbols: [main]\n    selectors:\n    - matchNamespaces:\n      - {namespace: Mnt, operator: NotIn, values: [\"" +
         value + "\"]}\n";
}

TEST(NamespaceValues, AboveThirtyTwoBitsIsADecodeError) {
  for (const char* v : {"4294967296", "4294967297", "99999999999999999999999"}) {
    auto r = decode_tracing_yaml(policy_with(v), "t.yaml");
    ASSERT_FALSE(r) << v;
    EXPECT_NE(r.error().message.find("t.yaml:10: spec.uprobes[0].selectors[0].matchNamespaces[0].values"), std::string::npos)
        << r.error().message;
  }
}

TEST(NamespaceValues, TheLargestInodeCompilesAsWritten) {
  auto r = decode_tracing_yaml(policy_with("4294967295"), "t.yaml");
  ASSERT_TRUE(r) << r.error().message;
  auto cfg = compile_uprobe((*r)[0].uprobes[0], 1, 1, [](const std::string&, bool) { return 1u; });
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->selectors[0].ns[0].values[0], 4294967295u);
}

}  // namespace
}  // namespace myelin::tracing
