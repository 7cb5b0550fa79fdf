// SPDX-License-Identifier: Apache-2.0
// The pseudo-filesystem table and what Mounts::ensure decides from what a
// machine has mounted, against a stand-in for statfs and mount(2) (the real
// mounts are exercised as root by tests/integration/fresh_machine_test.sh).
#include <gtest/gtest.h>
#include <linux/magic.h>

#include <cerrno>
#include <map>
#include <set>

#include "myelin/pseudo_fs.hpp"

namespace myelin::pseudofs {
namespace {

// A machine: what is mounted where, which mounts fail, and the mounts made.
struct Machine {
  std::map<std::string, uint64_t> mounted;
  std::map<std::string, int> refuse;  // mount point -> errno
  std::set<std::string> ignore;       // mount "succeeds" but nothing appears
  std::vector<std::string> calls;
  System system() {
    return {[this](const std::string& p) -> std::optional<uint64_t> {
              auto it = mounted.find(p);
              if (it == mounted.end()) return 0x62656572;  // sysfs: the empty directory under /sys
              return it->second;
            },
            [this](const Spec& s) {
              calls.emplace_back(s.name);
              if (auto r = refuse.find(std::string(s.where)); r != refuse.end()) return r->second;
              if (!ignore.count(std::string(s.where))) mounted[std::string(s.where)] = s.magic;
              return 0;
            }};
  }
  static Machine used() {
    return {{{"/sys/fs/bpf", BPF_FS_MAGIC}, {"/sys/kernel/tracing", TRACEFS_MAGIC}, {"/sys/kernel/security", SECURITYFS_MAGIC}}};
  }
};

TEST(PseudoFs, TableSaysWhatWhereAndWhoNeedsIt) {
  ASSERT_EQ(table().size(), 3u);
  for (Fs fs : {Fs::bpffs, Fs::tracefs, Fs::securityfs}) {
    EXPECT_EQ(spec(fs).fs, fs);
    EXPECT_FALSE(spec(fs).needed_by.empty());
  }
  EXPECT_EQ(spec(Fs::bpffs).where, "/sys/fs/bpf");
  EXPECT_EQ(spec(Fs::bpffs).type, "bpf");
  EXPECT_TRUE(spec(Fs::bpffs).required);
  EXPECT_EQ(spec(Fs::tracefs).where, "/sys/kernel/tracing");
  EXPECT_FALSE(spec(Fs::tracefs).required);
  EXPECT_NE(spec(Fs::tracefs).needed_by.find("--network-events"), std::string_view::npos);
  EXPECT_EQ(spec(Fs::securityfs).where, "/sys/kernel/security");
  EXPECT_FALSE(spec(Fs::securityfs).required);
  EXPECT_NE(spec(Fs::securityfs).needed_by.find("bpf-lsm"), std::string_view::npos);
}

TEST(PseudoFs, DecidesFromTheFilesystemTypeOnly) {
  const Spec& t = spec(Fs::tracefs);
  EXPECT_EQ(decide(t, TRACEFS_MAGIC), Action::use);
  EXPECT_EQ(decide(t, 0x62656572), Action::mount);  // the bare sysfs directory
  EXPECT_EQ(decide(t, BPF_FS_MAGIC), Action::mount);  // something else mounted there
  EXPECT_EQ(decide(t, std::nullopt), Action::mount);
}

TEST(PseudoFs, UsedMachineMountsNothing) {
  Machine m = Machine::used();
  auto r = Mounts::ensure(m.system());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(m.calls.empty());
  for (const auto& s : r->states()) {
    EXPECT_TRUE(s.available) << s.spec->name;
    EXPECT_FALSE(s.mounted_now) << s.spec->name;
  }
  EXPECT_EQ((*r)[Fs::tracefs].path(), "/sys/kernel/tracing");
  EXPECT_EQ((*r)[Fs::securityfs].detail(), "/sys/kernel/security: the bpf-lsm probe (the active LSMs)");
}

TEST(PseudoFs, FreshMachineMountsEachOnceInTableOrder) {
  Machine m;
  auto r = Mounts::ensure(m.system());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(m.calls, (std::vector<std::string>{"bpffs", "tracefs", "securityfs"}));
  for (const auto& s : r->states()) {
    EXPECT_TRUE(s.available && s.mounted_now) << s.spec->name;
    EXPECT_NE(s.detail().find(", mounted by the agent"), std::string::npos) << s.detail();
  }
  // A second agent start finds them and mounts nothing.
  m.calls.clear();
  ASSERT_TRUE(Mounts::ensure(m.system()));
  EXPECT_TRUE(m.calls.empty());
}

TEST(PseudoFs, OptionalFailureTurnsItsFeaturesOffWithTheReason) {
  Machine m;
  m.refuse["/sys/kernel/tracing"] = EPERM;
  auto r = Mounts::ensure(m.system());
  ASSERT_TRUE(r) << r.error().message;
  const State& t = (*r)[Fs::tracefs];
  EXPECT_FALSE(t.available);
  EXPECT_EQ(t.path(), "");
  EXPECT_EQ(t.error, "mount tracefs on /sys/kernel/tracing: Operation not permitted");
  EXPECT_EQ(t.detail().rfind(t.error + "; off: --network-events", 0), 0u) << t.detail();
  EXPECT_TRUE((*r)[Fs::bpffs].available);
  EXPECT_TRUE((*r)[Fs::securityfs].available);  // the others are still tried
}

TEST(PseudoFs, RequiredFailureIsTheErrorNamingTheMount) {
  Machine m;
  m.refuse["/sys/fs/bpf"] = EPERM;
  auto r = Mounts::ensure(m.system());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "mount bpffs on /sys/fs/bpf: Operation not permitted (needed by the pod datapath's pinned maps)");
  EXPECT_EQ(m.calls, std::vector<std::string>{"bpffs"});
}

TEST(PseudoFs, MountThatLeavesNoFilesystemIsAFailure) {
  Machine m = Machine::used();
  m.mounted.erase("/sys/kernel/security");
  m.ignore.insert("/sys/kernel/security");
  auto r = Mounts::ensure(m.system());
  ASSERT_TRUE(r);
  EXPECT_FALSE((*r)[Fs::securityfs].available);
  EXPECT_NE((*r)[Fs::securityfs].error.find("statfs does not see a securityfs"), std::string::npos) << (*r)[Fs::securityfs].error;
}

}  // namespace
}  // namespace myelin::pseudofs
