// SPDX-License-Identifier: Apache-2.0
// TracingManager loads a TracingPolicy whole or not at all, on the real
// process probes and tracepoint hooks (root; the hooks watch openat of this
// test's own directory only and only post events, nothing is killed):
// - a policy whose second hook cannot attach loads nothing: the first hook,
//   attached by then, is detached again, so the opens it watched post no
//   event, while a control policy on the same opens does (positive control);
// - a new version of a policy that the kernel refuses leaves the previous
//   version in force (its events keep coming), listed beside the refusal.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "myelin/pseudo_fs.hpp"
#include "tracing/tracing_manager.hpp"

namespace myelin::tracing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// One policy: openat of files under `prefix`, posted; `bad` adds a second
// hook on a tracepoint no kernel has, which decodes but cannot attach.
std::string policy_yaml(const std::string& name, const std::string& prefix, bool bad) {
  std::string y = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: " + name +
                  "}\nspec:\n  tracepoints:\n"
                  "  - subsystem: syscalls\n    event: sys_enter_openat\n"
                  "    args: [{index: 5, type: int}, {index: 6, type: string}]\n"
                  "    selectors:\n    - matchArgs: [{index: 6, operator: Prefix, values: [\"" +
                  prefix + "\"]}]\n";
  if (bad) y += "  - subsystem: syscalls\n    event: sys_enter_myelin_no_such_event\n";
  return y;
}

class TracingLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: attaches the process probes and tracepoint hooks (run the suite with sudo)";
    auto mounts = pseudofs::Mounts::ensure();
    ASSERT_TRUE(mounts) << mounts.error().message;
    const auto& tracefs = (*mounts)[pseudofs::Fs::tracefs];
    if (!tracefs.available) GTEST_SKIP() << "no tracefs: " << tracefs.error;
    dir_ = fs::temp_directory_path() /
           ("mln-libs-tracing-" + std::to_string(getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "file") << "x";
    runtime_ = std::make_unique<runtime::RuntimeMonitor>("test-node", nullptr, 4096);
    ASSERT_TRUE(runtime_->start()) << "the process probes";
    manager_ = std::make_unique<TracingManager>(*runtime_, std::vector<datapath::Feature>{}, tracefs.path());
    ASSERT_TRUE(manager_->start());
    manager_->subscribe(store_);
  }
  void TearDown() override {
    manager_.reset();
    runtime_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // As a source does: the text into the store, which the manager follows.
  void apply(const std::string& file, const std::string& text) { store_.apply_text(file, text); }
  std::optional<PolicyState> state(const std::string& name, bool enabled) const {
    for (const auto& s : manager_->list())
      if (s.name == name && s.enabled == enabled) return s;
    return std::nullopt;
  }
  void touch() {  // one openat the hooks watch
    const int fd = ::open((dir_ / "file").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  // Events of policy `name` seen so far, waiting (bounded) until there are at
  // least `want`. Counted by the monitor (myelin_runtime_events_total), not
  // read back from its store, which the node's other processes overrun.
  size_t events(const std::string& name, size_t want) const {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    size_t n = 0;
    do {
      auto counts = runtime_->stats().events;
      n = counts[{"process_tracepoint", name}];
      if (n >= want) break;
      std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return n;
  }

  fs::path dir_;
  std::unique_ptr<runtime::RuntimeMonitor> runtime_;
  objects::ObjectStore store_;  // outlives the manager, which unsubscribes when it stops
  std::unique_ptr<TracingManager> manager_;
};

TEST_F(TracingLoad, APolicyWithOneHookThatCannotAttachLoadsNothing) {
  const std::string prefix = dir_.string() + "/";
  apply("control.yaml", policy_yaml("control", prefix, false));
  ASSERT_TRUE(state("control", true)) << "the control policy loads";
  apply("half.yaml", policy_yaml("half", prefix, true));
  auto half = state("half", false);
  ASSERT_TRUE(half) << "the policy with a bad hook is not enabled";
  EXPECT_EQ(half->hooks, 0u);
  ASSERT_TRUE(half->refusal);
  EXPECT_EQ(half->refusal->cause, policy::Refusal::Cause::kernel);
  EXPECT_EQ(half->refusal->field, "spec.tracepoints[1]") << half->refusal->message();
  EXPECT_NE(half->refusal->reason.find("nothing of the policy was loaded"), std::string::npos) << half->refusal->message();

  touch();
  ASSERT_EQ(events("control", 1), 1u) << "positive control: the opens are seen";
  touch();
  ASSERT_EQ(events("control", 2), 2u);
  EXPECT_EQ(events("half", 0), 0u) << "the first hook of the rejected policy was detached again: it posts nothing";
}

TEST_F(TracingLoad, ANewVersionTheKernelRefusesLeavesThePreviousInForce) {
  const std::string prefix = dir_.string() + "/";
  apply("p.yaml", policy_yaml("keep", prefix, false));
  ASSERT_TRUE(state("keep", true));
  touch();
  ASSERT_EQ(events("keep", 1), 1u) << "version 1 posts";

  apply("p.yaml", policy_yaml("keep", prefix, true));
  auto kept = state("keep", true);
  ASSERT_TRUE(kept) << "version 1 stays enabled";
  EXPECT_EQ(kept->hooks, 1u);
  auto refused = state("keep", false);
  ASSERT_TRUE(refused) << "version 2 is listed, refused";
  ASSERT_TRUE(refused->refusal);
  EXPECT_EQ(refused->refusal->cause, policy::Refusal::Cause::kernel);
  EXPECT_TRUE(refused->refusal->last_good_in_force) << refused->refusal->message();

  touch();
  EXPECT_EQ(events("keep", 2), 2u) << "version 1 still posts: the edit did not leave the opens unwatched";

  apply("p.yaml", policy_yaml("keep", dir_.string() + "/other/", false));
  EXPECT_TRUE(state("keep", true));
  EXPECT_FALSE(state("keep", false)) << "a good version 3 replaces both";
  apply("control.yaml", policy_yaml("control", prefix, false));
  touch();
  touch();
  ASSERT_EQ(events("control", 2), 2u) << "positive control: the opens are seen";
  EXPECT_EQ(events("keep", 0), 2u) << "version 3 watches elsewhere: version 1 is gone";
}

}  // namespace
}  // namespace myelin::tracing
