// SPDX-License-Identifier: Apache-2.0
// A TracingPolicy hook's event in Tetragon's JSON: its message and tags
// (absent when the hook has none, as Tetragon omits empty fields), a
// kprobe's return value shown as its returnArg type, an lsmhook's object
// as its arg type.
#include <gtest/gtest.h>

#include "runtime/event_store.hpp"
#include "tracing/return_arg.hpp"

namespace myelin::runtime {
namespace {

Event hook_event(Event::Type type) {
  Event e;
  e.type = type;
  e.time_ns = 1'800'000'000'000'000'000;
  e.process.pid = 7;
  e.process.binary = "/usr/bin/cat";
  e.policy = "watch";
  e.action = MYELIN_HOOK_ACT_POST;
  return e;
}

TEST(RuntimeEventJson, MessageAndTagsOfEveryHookKind) {
  for (auto [type, key] : {std::pair{Event::Type::tracepoint, "process_tracepoint"}, std::pair{Event::Type::kprobe, "process_kprobe"},
                           std::pair{Event::Type::uprobe, "process_uprobe"}, std::pair{Event::Type::lsm, "process_lsm"}}) {
    auto e = hook_event(type);
    e.message = "cat read \\\"a secret\\\"";
    e.tags = {"observability.filesystem", "secrets"};
    auto j = to_json(e, "node", 0);
    ASSERT_TRUE(j.contains(key)) << j.dump();
    EXPECT_EQ(j[key]["message"], "cat read \\\"a secret\\\"") << key;
    EXPECT_EQ(j[key]["tags"], nlohmann::json::array({"observability.filesystem", "secrets"})) << key;
    EXPECT_EQ(j[key]["policy_name"], "watch");
    auto none = to_json(hook_event(type), "node", 0);
    EXPECT_FALSE(none[key].contains("message")) << "omitted when the hook has none, as in Tetragon's JSON";
    EXPECT_FALSE(none[key].contains("tags"));
  }
  auto exec = to_json(Event{}, "node", 0);
  EXPECT_FALSE(exec["process_exec"].contains("message"));
}

TEST(RuntimeEventJson, KprobeReturnAsItsReturnArgType) {
  struct Case {
    Event::ReturnArg type;
    nlohmann::json want;
  } cases[] = {
      {Event::ReturnArg::int_arg, {{"int_arg", -2}}},
      {Event::ReturnArg::long_arg, {{"long_arg", -2}}},
      {Event::ReturnArg::size_arg, {{"size_arg", "18446744073709551614"}}},
  };
  for (const auto& c : cases) {
    auto e = hook_event(Event::Type::kprobe);
    e.has_return = true;
    e.return_value = -2;
    e.return_arg = c.type;
    EXPECT_EQ(to_json(e, "n", 0)["process_kprobe"]["return"], c.want) << c.want.dump();
  }
  // Which returnArg type shows how (decoded once, with the policy).
  for (auto [yaml, want] : {std::pair{"int", Event::ReturnArg::int_arg}, std::pair{"int32", Event::ReturnArg::int_arg},
                            std::pair{"long", Event::ReturnArg::long_arg}, std::pair{"int64", Event::ReturnArg::long_arg},
                            std::pair{"uint32", Event::ReturnArg::size_arg}, std::pair{"uint64", Event::ReturnArg::size_arg},
                            std::pair{"size_t", Event::ReturnArg::size_arg}}) {
    const auto* row = tracing::lookup(tracing::kArgTypes, yaml, tracing::kReturnValue);
    ASSERT_NE(row, nullptr) << yaml;
    EXPECT_EQ(tracing::return_arg_of(row->code), want) << yaml;
  }
}

TEST(RuntimeEventJson, LsmObjectInTheCompactLineWhateverItsArgKey) {
  auto e = hook_event(Event::Type::lsm);
  e.event = "file_open";
  e.args.push_back({{"file_arg", {{"path", "/etc/shadow"}}}});
  EXPECT_NE(to_compact(e).find("file_open /etc/shadow (watch)"), std::string::npos) << to_compact(e);
}

}  // namespace
}  // namespace myelin::runtime
