// SPDX-License-Identifier: Apache-2.0
// The TracingPolicy hook engine (datapath/lib/selectors.h, hook_args.h,
// hook_run.h) as C++, no kernel and no root: the headers the BPF objects
// build on, included as they are, over stubbed BPF helpers and a fake task.
// The cases are selector_cases.hpp's, which tests/datapath/hook_engine_test
// also runs through the kernel (BPF_PROG_TEST_RUN).
#include <gtest/gtest.h>
#include <linux/types.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "myelin/abi/tracing.h"
#include "selector_cases.hpp"

// ---- the BPF side, stubbed ----
#ifndef __always_inline  // glibc's <sys/cdefs.h> has it
#define __always_inline inline __attribute__((always_inline))
#endif
#define _Static_assert static_assert

struct task_struct {
  uint32_t pid = 0, ns_pid = 0;
  task_struct* parent = nullptr;
  uint32_t ns[MYELIN_NS_USER + 1] = {};
  uint64_t caps[3] = {};
};

namespace stub {

// What a bpf_map_lookup_elem returns: a pointer of whatever type it is assigned to, as in C.
struct AnyPtr {
  void* p;
  template <typename T>
  operator T*() const {
    return static_cast<T*>(p);
  }
  explicit operator bool() const { return p != nullptr; }
};

struct Map {};
struct World {
  myelin_hook_config config{};
  myelin_hook_event scratch{};
  myelin_proc_stats stats{};
  char path_scratch[512] = {};
  uint32_t tgid = 0, tid = 0, uid = 0;
  std::optional<myelin_exec_binary> binary;
  std::set<std::pair<uint32_t, uint32_t>> scope;  // (policy, netns)
  task_struct* task = nullptr;
  std::map<int64_t, std::string> fds;  // fd -> path
  std::vector<myelin_hook_event> posted;
  std::vector<int> signals;
};
World w;
uint8_t one = 1;

}  // namespace stub

stub::Map myelin_hook_compiled, myelin_hook_scratch, myelin_hook_stats, myelin_exec_binary, myelin_hook_scope, myelin_hook_path_scratch,
    myelin_hook_events;

static stub::AnyPtr bpf_map_lookup_elem(void* map, const void* key) {
  auto& w = stub::w;
  if (map == &myelin_hook_compiled) return {&w.config};
  if (map == &myelin_hook_scratch) return {&w.scratch};
  if (map == &myelin_hook_stats) return {&w.stats};
  if (map == &myelin_hook_path_scratch) return {w.path_scratch};
  if (map == &myelin_exec_binary)
    return {w.binary && *static_cast<const uint32_t*>(key) == w.tgid ? &*w.binary : nullptr};
  if (map == &myelin_hook_scope) {
    const auto* k = static_cast<const myelin_hook_scope_key*>(key);
    return {w.scope.count({k->policy_id, k->netns}) ? &stub::one : nullptr};
  }
  ADD_FAILURE() << "a lookup in a map the engine does not have";
  return {nullptr};
}
static uint64_t bpf_get_current_task() { return reinterpret_cast<uint64_t>(stub::w.task); }
static uint64_t bpf_get_current_pid_tgid() { return (uint64_t{stub::w.tgid} << 32) | stub::w.tid; }
static uint64_t bpf_get_current_uid_gid() { return stub::w.uid; }
static uint64_t bpf_ktime_get_ns() { return 42; }
static long bpf_send_signal(uint32_t sig) {
  stub::w.signals.push_back(static_cast<int>(sig));
  return 0;
}
static long bpf_ringbuf_output(void* ring, void* data, uint64_t size, uint64_t) {
  EXPECT_EQ(ring, &myelin_hook_events);
  EXPECT_EQ(size, sizeof(myelin_hook_event));
  myelin_hook_event e;
  std::memcpy(&e, data, sizeof e);
  stub::w.posted.push_back(e);
  return 0;
}
static void* bpf_ringbuf_reserve(void*, uint64_t, uint64_t) { return nullptr; }  // ringbuf.h's other path: unused by the engine
static void bpf_ringbuf_submit(void*, uint64_t) {}
// Memory reads: user and kernel memory are this process's; NULL faults.
static long bpf_probe_read_kernel(void* dst, uint32_t n, const void* src) {
  if (!src) return std::memset(dst, 0, n), -EFAULT;
  std::memcpy(dst, src, n);
  return 0;
}
static long bpf_probe_read_user(void* dst, uint32_t n, const void* src) { return bpf_probe_read_kernel(dst, n, src); }
static long bpf_probe_read_kernel_str(void* dst, uint32_t n, const void* src) {
  if (!src) return std::memset(dst, 0, n), -EFAULT;
  const size_t len = strnlen(static_cast<const char*>(src), n - 1);
  std::memcpy(dst, src, len);
  static_cast<char*>(dst)[len] = 0;
  return static_cast<long>(len + 1);
}
static long bpf_probe_read_user_str(void* dst, uint32_t n, const void* src) { return bpf_probe_read_kernel_str(dst, n, src); }

// What hook_kernel.h reads with CO-RE, from the fake task.
static inline __u32 task__pid(struct task_struct* t, bool in_ns) { return in_ns ? t->ns_pid : t->pid; }
static inline struct task_struct* task__parent(struct task_struct* t) { return t->parent; }
static inline __u32 task__ns_inum(struct task_struct* t, __u8 ns) { return ns <= MYELIN_NS_USER ? t->ns[ns] : 0; }
static inline __u64 task__caps(struct task_struct* t, __u8 set) { return t->caps[set % 3]; }
static inline __u32 task__netns(struct task_struct* t) { return t->ns[MYELIN_NS_NET]; }
static inline void args__sock(__u64 sk, struct myelin_sock_tuple* tuple) {
  std::memcpy(tuple, reinterpret_cast<const void*>(sk), sizeof *tuple);
}
static inline __u32 args__path(__u8 type, __u64 v, struct task_struct*, struct myelin_path_scratch*, char* out) {
  if (type != MYELIN_HOOK_ARG_FD || !stub::w.fds.count(static_cast<int64_t>(v))) return out[0] = 0, 0;
  const std::string& p = stub::w.fds[static_cast<int64_t>(v)];
  std::memcpy(out, p.c_str(), p.size() + 1);
  return static_cast<__u32>(p.size());
}
// A call's arguments by position (the test wrapper's: uprobe and kprobe configs), and its return value.
static inline __u64 hook__arg(void* ctx, int, __u16 position, __u8) { return static_cast<const __u64*>(ctx)[position % 6]; }
static inline bool hook__ret(void* ctx, int, __s64* ret) {
  *ret = static_cast<const __s64*>(ctx)[5];
  return true;
}

#include "lib/hook_run.h"

// ---- the tests ----
namespace myelin::tracing::cases {
namespace {

constexpr uint32_t kSelf = 4242, kParent = 4000, kNetns = 4026531992u;

struct Fixture {
  task_struct init, parent, self;
  Process p{kSelf, kParent, kNetns, "/srv/case"};
  Fixture() {
    init.pid = init.ns_pid = 1;
    parent.pid = kParent, parent.ns_pid = 7, parent.parent = &init;
    self.pid = kSelf, self.ns_pid = 8, self.parent = &parent;
    for (auto* t : {&init, &parent, &self}) {
      for (uint8_t n = MYELIN_NS_UTS; n <= MYELIN_NS_USER; ++n) t->ns[n] = 4026531830u + n;
      t->ns[MYELIN_NS_NET] = kNetns;
      for (auto& c : t->caps) c = (1ull << 41) - 1;  // root: every capability
    }
  }
};

// One hit of c's hook in the fake world; the event it posted (if any) in stub::w.posted.
int run(const Case& c, Fixture& f) {
  stub::w = stub::World{};
  struct myelin_exec_binary bin {};
  auto cfg = compile(c, f.p, &bin);
  EXPECT_TRUE(cfg) << cfg.error().message;
  if (!cfg) return 0;
  stub::w.config = *cfg;
  stub::w.binary = bin;
  stub::w.tgid = kSelf, stub::w.tid = kSelf + 1;
  stub::w.task = &f.self;
  std::vector<std::string> keep;  // the strings and buffers the arguments point at
  keep.reserve(c.args.size());
  __u64 ctx[6] = {};
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (auto* v = std::get_if<int64_t>(&c.args[i])) ctx[i] = static_cast<__u64>(*v);
    if (auto* s = std::get_if<Str>(&c.args[i])) ctx[i] = reinterpret_cast<__u64>(keep.emplace_back(s->s).c_str());
    if (auto* b = std::get_if<Bytes>(&c.args[i])) ctx[i] = reinterpret_cast<__u64>(keep.emplace_back(b->b).data());
    if (auto* file = std::get_if<File>(&c.args[i])) {
      const int64_t fd = 3 + static_cast<int64_t>(i);
      stub::w.fds[fd] = f.p.dir + "/" + file->name;
      ctx[i] = static_cast<__u64>(fd);
    }
  }
  ctx[5] = static_cast<__u64>(c.ret);
  return hook__run(ctx, 0);
}

class SelectorEngine : public testing::TestWithParam<Case> {};

TEST_P(SelectorEngine, HitDoesWhatTheCaseSays) {
  const Case& c = GetParam();
  Fixture f;
  const int ret = run(c, f);
  const Expect& x = c.expect;
  EXPECT_EQ(ret, x.retval);
  EXPECT_EQ(stub::w.signals, x.signal ? std::vector<int>{x.signal} : std::vector<int>{});
  ASSERT_EQ(stub::w.posted.size(), x.posted ? 1u : 0u);
  EXPECT_EQ(stub::w.stats.events_sent, x.posted ? 1u : 0u);
  if (!x.posted) return;
  const auto& e = stub::w.posted[0];
  EXPECT_EQ(e.selector, x.selector);
  EXPECT_EQ(e.action, x.action);
  EXPECT_EQ(e.policy_id, 7u);
  EXPECT_EQ(e.hook_id, 3u);
  EXPECT_EQ(e.pid, kSelf);
  EXPECT_EQ(e.tid, kSelf + 1);
  EXPECT_EQ(e.netns, kNetns);
  for (const auto& [i, v] : x.ints) EXPECT_EQ(static_cast<int64_t>(e.ints[i]), v) << "ints[" << i << "]";
  for (const auto& [i, s] : x.strs) {
    EXPECT_EQ(std::string(e.strs[i], e.str_lens[i]), expand(s, f.p)) << "strs[" << i << "]";
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, SelectorEngine, testing::ValuesIn(table()), [](const testing::TestParamInfo<Case>& i) {
  std::string n;
  for (char ch : std::string(i.param.name)) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return std::to_string(i.index) + "_" + n;
});

// What the table cannot say through the kernel: a sock argument is a kernel
// pointer (its tuple read with CO-RE), a scoped policy needs the scope map.
TEST(SelectorEngineStubbed, SockArgumentsByPortAndAddress) {
  Fixture f;
  const Case c{"sock", "    args: [{index: 0, type: sock}]\n    selectors:\n    - matchArgs:\n"
                       "      - {index: 0, operator: DPort, values: [\"443\"]}\n      - {index: 0, operator: NotDAddr, values: [\"10.0.0.0/8\"]}\n",
               {}, post(), true};
  myelin_sock_tuple t{};
  t.family = 2, t.protocol = 6, t.dport = 443;
  const uint8_t outside[4] = {192, 0, 2, 1}, inside[4] = {10, 1, 2, 3};
  for (const auto* addr : {outside, inside}) {
    stub::w = stub::World{};
    struct myelin_exec_binary bin {};
    auto cfg = compile(c, f.p, &bin);
    ASSERT_TRUE(cfg) << cfg.error().message;
    stub::w.config = *cfg;
    stub::w.task = &f.self;
    std::memcpy(t.daddr, addr, 4);
    __u64 ctx[6] = {reinterpret_cast<__u64>(&t)};
    hook__run(ctx, 0);
    EXPECT_EQ(stub::w.posted.size(), addr == outside ? 1u : 0u) << int(addr[0]);
  }
}

TEST(SelectorEngineStubbed, ScopedPolicyActsOnlyInItsPodsNetns) {
  Fixture f;
  struct myelin_exec_binary bin {};
  auto cfg = compile(table()[0], f.p, &bin);
  ASSERT_TRUE(cfg);
  for (bool in_scope : {false, true}) {
    stub::w = stub::World{};
    stub::w.config = *cfg;
    stub::w.config.scoped = 1;
    stub::w.task = &f.self;
    if (in_scope) stub::w.scope.insert({7, kNetns});
    stub::w.scope.insert({8, kNetns});  // another policy's pod: not this one's scope
    __u64 ctx[6] = {};
    hook__run(ctx, 0);
    EXPECT_EQ(stub::w.posted.size(), in_scope ? 1u : 0u);
  }
}

TEST(SelectorEngineStubbed, IsNamespacePidMatchesThePidInItsOwnNamespace) {
  Fixture f;
  const Case c{"ns pid", "    selectors:\n    - matchPIDs: [{operator: In, values: [8], isNamespacePID: true}]\n", {}, post()};
  EXPECT_EQ(run(c, f), 0);
  EXPECT_EQ(stub::w.posted.size(), 1u) << "pid 8 in its namespace";
  const Case host{"host pid", "    selectors:\n    - matchPIDs: [{operator: In, values: [8]}]\n", {}, post()};
  run(host, f);
  EXPECT_EQ(stub::w.posted.size(), 0u) << "8 is not its host pid";
}

// matchPIDs as Tetragon means them (pfilter.h), over a fake host with a
// container: isNamespacePID reads each process's pid in its own pid
// namespace, 0 for a process of the host's; with followForks the ancestors
// count too (a host ancestor as 0) and a host process matches neither In
// nor NotIn. Each row: the matchPIDs entry, the process of the hit, matched?
TEST(SelectorEngineStubbed, MatchPidsAsTetragonMeansThem) {
  task_struct init, shim, cinit, app, host;
  init.pid = 1, init.ns_pid = 0;                                  // the host's init
  shim.pid = 500, shim.ns_pid = 0, shim.parent = &init;          // a container runtime's shim, on the host
  cinit.pid = 600, cinit.ns_pid = 1, cinit.parent = &shim;       // the container's init: pid 1 in its namespace
  app.pid = 601, app.ns_pid = 2, app.parent = &cinit;            // a process in the container
  host.pid = 700, host.ns_pid = 0, host.parent = &init;          // a host process
  struct Row {
    const char* pids;
    task_struct* t;
    bool matched;
  } rows[] = {
      {"{operator: In, isNamespacePID: true, values: [2]}", &app, true},
      {"{operator: In, isNamespacePID: true, values: [2]}", &cinit, false},
      {"{operator: In, isNamespacePID: true, values: [2]}", &host, false},
      {"{operator: In, isNamespacePID: true, values: [0]}", &host, true},   // a host process counts as 0
      {"{operator: NotIn, isNamespacePID: true, values: [1]}", &host, true},
      {"{operator: NotIn, isNamespacePID: true, values: [1]}", &cinit, false},
      {"{operator: NotIn, isNamespacePID: true, followForks: true, values: [1]}", &host, false},  // outside a pid namespace: neither
      {"{operator: In, isNamespacePID: true, followForks: true, values: [700]}", &host, false},
      {"{operator: NotIn, isNamespacePID: true, followForks: true, values: [1]}", &app, false},  // its container's init is its ancestor
      {"{operator: NotIn, isNamespacePID: true, followForks: true, values: [5]}", &app, true},
      {"{operator: In, isNamespacePID: true, followForks: true, values: [1]}", &app, true},
      {"{operator: In, isNamespacePID: true, followForks: true, values: [0]}", &app, true},     // the shim, a host ancestor, counts as 0
      {"{operator: In, isNamespacePID: true, followForks: true, values: [7]}", &app, false},
      {"{operator: NotIn, isNamespacePID: true, followForks: true, values: [1, 0]}", &app, false},
      {"{operator: In, followForks: true, values: [500]}", &app, true},                         // host pids: the shim is an ancestor
      {"{operator: In, followForks: true, values: [500]}", &host, false},
      {"{operator: In, values: [500]}", &app, false},
      {"{operator: NotIn, followForks: true, values: [500]}", &host, true},
  };
  for (const auto& r : rows) {
    const std::string yaml = std::string("    selectors:\n    - matchPIDs: [") + r.pids + "]\n";
    const Case with{"pids", yaml.c_str(), {}, post()};
    stub::w = stub::World{};
    struct myelin_exec_binary bin {};
    auto cfg = compile(with, Process{r.t->pid, 0, 0, "/"}, &bin);
    ASSERT_TRUE(cfg) << cfg.error().message;
    stub::w.config = *cfg;
    stub::w.task = r.t;
    stub::w.tgid = r.t->pid;
    __u64 ctx[6] = {};
    hook__run(ctx, 0);
    EXPECT_EQ(stub::w.posted.size(), r.matched ? 1u : 0u) << r.pids << " for pid " << r.t->pid << " (ns pid " << r.t->ns_pid << ")";
  }
}

}  // namespace
}  // namespace myelin::tracing::cases
