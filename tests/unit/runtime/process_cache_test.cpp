// SPDX-License-Identifier: Apache-2.0
// The process cache from exec/fork/exit records alone (no kernel): exec ids,
// the parent chain across fork and exec, parents that exited first, pid
// reuse, records of processes never seen, and what the pod resolver is asked.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "runtime/process_cache.hpp"

namespace myelin::runtime {
namespace {

// Pids far above any pid_max (4194304): the cache reads /proc/<pid>/cwd on
// exec, and these are no process of this machine.
constexpr uint32_t kInit = 900000001, kShell = 900000100, kChild = 900000101;

myelin_process_event record(uint8_t type, uint32_t pid, uint32_t ppid, uint64_t ktime_ns, uint64_t start_ns,
                            const std::string& binary = "", const std::string& args = "") {
  myelin_process_event e{};
  e.type = type;
  e.pid = e.tid = pid;
  e.ppid = ppid;
  e.ktime_ns = ktime_ns;
  e.start_ns = start_ns;
  std::memcpy(e.binary, binary.data(), std::min(binary.size(), sizeof e.binary - 1));
  std::memcpy(e.args, args.data(), std::min(args.size(), sizeof e.args));
  e.args_len = static_cast<uint16_t>(std::min(args.size(), sizeof e.args));
  std::memcpy(e.comm, "comm", 4);
  return e;
}
myelin_process_event exec(uint32_t pid, uint32_t ppid, uint64_t t, const std::string& binary, const std::string& args = "") {
  return record(MYELIN_PROC_EXEC, pid, ppid, t, t, binary, args);
}
myelin_process_event fork(uint32_t pid, uint32_t ppid, uint64_t t) { return record(MYELIN_PROC_FORK, pid, ppid, t, t); }
myelin_process_event exit_of(uint32_t pid, uint32_t ppid, uint64_t t, uint64_t start) {
  return record(MYELIN_PROC_EXIT, pid, ppid, t, start);
}

TEST(ProcessCache, ExecForkExecExitKeepsTheParentChain) {
  ProcessCache cache("node-a", nullptr);
  auto [init, no_parent] = cache.on_exec(exec(kInit, 0, 10, "/sbin/init"));
  EXPECT_FALSE(no_parent);
  auto [shell, shell_parent] = cache.on_exec(exec(kShell, kInit, 20, "/bin/bash", std::string("bash\0-c\0ls", 11)));
  ASSERT_TRUE(shell_parent);
  EXPECT_EQ(shell_parent->pid, kInit);
  EXPECT_EQ(shell.parent_exec_id, init.exec_id);
  EXPECT_EQ(shell.arguments, "-c ls") << "argv[0] is not an argument, as in Tetragon";
  EXPECT_EQ(shell.exec_id, base64("node-a:20:" + std::to_string(kShell))) << "node, start time and pid name a process";

  cache.on_fork(fork(kChild, kShell, 30));
  auto forked = cache.get(kChild);
  ASSERT_TRUE(forked);
  EXPECT_EQ(forked->binary, "/bin/bash") << "a fork runs its parent's image until it execs";
  EXPECT_EQ(forked->parent_exec_id, shell.exec_id);
  EXPECT_EQ(forked->flags, "clone");
  EXPECT_NE(forked->exec_id, shell.exec_id);

  auto [ls, ls_parent] = cache.on_exec(exec(kChild, kShell, 40, "/bin/ls"));
  ASSERT_TRUE(ls_parent);
  EXPECT_EQ(ls_parent->exec_id, shell.exec_id) << "the exec'd child's parent is the shell, not the fork";
  EXPECT_EQ(ls.parent_exec_id, shell.exec_id);
  EXPECT_NE(ls.exec_id, forked->exec_id) << "a new image is a new exec id";
  EXPECT_EQ(cache.size(), 3u);

  auto [gone, gone_parent] = cache.on_exit(exit_of(kChild, kShell, 50, 40));
  EXPECT_EQ(gone.exec_id, ls.exec_id) << "the exit names the process as its exec did";
  EXPECT_EQ(gone.binary, "/bin/ls");
  ASSERT_TRUE(gone_parent);
  EXPECT_EQ(gone_parent->exec_id, shell.exec_id);
  EXPECT_EQ(cache.size(), 2u) << "no longer live";
  ASSERT_TRUE(cache.get(kChild)) << "but still known: its last records may be in flight";
  EXPECT_EQ(cache.get(kChild)->exec_id, ls.exec_id);
}

TEST(ProcessCache, ChildOfAParentThatAlreadyExitedFindsIt) {
  ProcessCache cache("n", nullptr);
  auto [shell, p] = cache.on_exec(exec(kShell, kInit, 20, "/bin/sh"));
  cache.on_fork(fork(kChild, kShell, 30));
  cache.on_exit(exit_of(kShell, kInit, 35, 20));
  auto [child, parent] = cache.on_exec(exec(kChild, kShell, 40, "/bin/sleep"));
  ASSERT_TRUE(parent) << "the exited parent is kept for its late children";
  EXPECT_EQ(child.parent_exec_id, shell.exec_id);
}

TEST(ProcessCache, PidReuseIsANewProcessAndItsChildrenFollowTheNewOne) {
  ProcessCache cache("n", nullptr);
  auto [first, a] = cache.on_exec(exec(kShell, kInit, 20, "/bin/first"));
  cache.on_exit(exit_of(kShell, kInit, 25, 20));
  auto [second, b] = cache.on_exec(exec(kShell, kInit, 60, "/bin/second"));
  EXPECT_NE(second.exec_id, first.exec_id);
  ASSERT_TRUE(cache.get(kShell));
  EXPECT_EQ(cache.get(kShell)->binary, "/bin/second") << "the live process wins over the one that exited";
  auto [child, parent] = cache.on_exec(exec(kChild, kShell, 70, "/bin/true"));
  EXPECT_EQ(child.parent_exec_id, second.exec_id);
}

// The cache keeps the last 4096 exits. A pid that exits twice (reused) must
// keep its newer record as long as any other record of that age.
TEST(ProcessCache, PidReusedAfterExitKeepsItsNewerExitRecord) {
  ProcessCache cache("n", nullptr);
  uint64_t t = 100;
  cache.on_exec(exec(kShell, kInit, t, "/bin/first"));
  cache.on_exit(exit_of(kShell, kInit, ++t, 100));
  for (uint32_t i = 0; i < 4000; ++i) {  // other processes come and go
    const uint64_t start = ++t;
    cache.on_fork(fork(kChild + 1 + i, kInit, start));
    cache.on_exit(exit_of(kChild + 1 + i, kInit, ++t, start));
  }
  const uint64_t second_start = ++t;
  cache.on_exec(exec(kShell, kInit, second_start, "/bin/second"));
  cache.on_exit(exit_of(kShell, kInit, ++t, second_start));
  for (uint32_t i = 0; i < 100; ++i) {  // 4102 exits recorded: the oldest six go
    const uint64_t start = ++t;
    cache.on_fork(fork(kChild + 5000 + i, kInit, start));
    cache.on_exit(exit_of(kChild + 5000 + i, kInit, ++t, start));
  }
  auto p = cache.get(kShell);
  ASSERT_TRUE(p) << "the second exit is 101 exits old: kept";
  EXPECT_EQ(p->binary, "/bin/second");
  EXPECT_FALSE(cache.get(kChild + 1)) << "positive control: the oldest exits did go";
}

TEST(ProcessCache, ExitOfAProcessNeverSeenIsBuiltFromTheRecord) {
  ProcessCache cache("n", nullptr);
  auto [p, parent] = cache.on_exit(exit_of(kChild, kShell, 50, 45));
  EXPECT_EQ(p.pid, kChild);
  EXPECT_EQ(p.binary, "comm") << "the task's comm: all the record knows";
  EXPECT_EQ(p.exec_id, base64("n:45:" + std::to_string(kChild))) << "named by its start, as its exec would have";
  EXPECT_FALSE(parent);
}

TEST(ProcessCache, PodResolverIsAskedWithTheNetnsAndTheCgroup) {
  std::vector<std::tuple<uint32_t, uint64_t>> asked;
  ProcessCache cache("n", [&](uint32_t netns, uint64_t cgroup) -> std::optional<PodRef> {
    asked.emplace_back(netns, cgroup);
    if (cgroup == 77) return PodRef{"prod", "web", 3, "c0ffee"};
    return std::nullopt;
  });
  auto e = exec(kShell, kInit, 20, "/app");
  e.netns = 4026530000u;
  e.cgroup_id = 77;
  auto [p, parent] = cache.on_exec(e);
  ASSERT_TRUE(p.pod);
  EXPECT_EQ(p.pod->name, "web");
  EXPECT_EQ(p.pod->container_id, "c0ffee");
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], std::make_tuple(4026530000u, uint64_t{77}));
  auto f = fork(kChild, kShell, 30);
  f.netns = 4026530000u;
  cache.on_fork(f);
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(std::get<1>(asked[1]), 77u) << "a fork is in its parent's cgroup (the record carries none)";
  ASSERT_TRUE(cache.get(kChild)->pod);
  EXPECT_EQ(cache.get(kChild)->pod->ns, "prod");
}

TEST(ProcessCache, Base64AndArguments) {
  EXPECT_EQ(base64("Man"), "TWFu");
  EXPECT_EQ(base64("Ma"), "TWE=");
  EXPECT_EQ(base64("M"), "TQ==");
  EXPECT_EQ(base64(""), "");
  const char block[] = "cat\0/etc/passwd\0-n\0";
  EXPECT_EQ(join_args(block, sizeof block - 1, true), "/etc/passwd -n");
  EXPECT_EQ(join_args(block, sizeof block - 1, false), "cat /etc/passwd -n");
  EXPECT_EQ(join_args("x", 1, true), "") << "argv[0] alone: no arguments";
}

}  // namespace
}  // namespace myelin::runtime
