// SPDX-License-Identifier: Apache-2.0
// The TracingPolicy hook engine (datapath/lib/selectors.h, hook_args.h,
// hook_run.h) as C++, no kernel and no root: the headers the BPF objects
// build on, included as they are, over stubbed BPF helpers and a fake task.
// The cases are selector_cases.hpp's, which tests/datapath/hook_engine_test
// also runs through the kernel (BPF_PROG_TEST_RUN).
#include <gtest/gtest.h>
#include <linux/types.h>

#include <array>
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
// The network and credential objects: the test passes a pointer to what the
// kernel would have read (a myelin_hook_sock, _skb, _cred, ..., a tuple for a
// sockaddr, a name for a net_device, a mask for a kernel_cap_t).
static inline __u32 args__object(__u8 type, __u64* v, char* out) {
  const void* p = reinterpret_cast<const void*>(*v);
  const auto copy = [&](size_t n) {
    if (p) std::memcpy(out, p, n);
    else std::memset(out, 0, n);
    return static_cast<__u32>(p ? n : 0);
  };
  switch (type) {
    case MYELIN_HOOK_ARG_SOCK:  // a bare tuple (as the kernel's sock_tuple reads it), no mark or priority
      std::memset(out, 0, sizeof(myelin_hook_sock));
      if (p) std::memcpy(out, p, sizeof(myelin_sock_tuple));
      return sizeof(myelin_hook_sock);
    case MYELIN_HOOK_ARG_SOCKET: return copy(sizeof(myelin_hook_sock));
    case MYELIN_HOOK_ARG_SKB: return copy(sizeof(myelin_hook_skb));
    case MYELIN_HOOK_ARG_SOCKADDR: return copy(sizeof(myelin_sock_tuple));
    case MYELIN_HOOK_ARG_CRED: return copy(sizeof(myelin_hook_cred));
    case MYELIN_HOOK_ARG_USER_NS: return copy(sizeof(myelin_hook_user_ns));
    case MYELIN_HOOK_ARG_NET_DEV: {
      const size_t n = p ? strnlen(static_cast<const char*>(p), 15) : 0;
      if (p) std::memcpy(out, p, n);
      return static_cast<__u32>(n);
    }
    case MYELIN_HOOK_ARG_CAPS: {
      uint64_t m = 0;
      if (p) std::memcpy(&m, p, 8);
      *v = m;
      return 0;
    }
  }
  return 0;
}
// TrackSock's map: sock -> owner.
namespace stub {
std::map<uint64_t, myelin_hook_sock_owner> socks;
}
static inline void hook__sock_track(__u64 sk, __u8 action, __u32 pid, __u32 tid) {
  if (action == MYELIN_HOOK_ACT_UNTRACKSOCK) stub::socks.erase(sk);
  else stub::socks[sk] = {pid, tid};
}
static inline bool hook__sock_owner(__u64 sk, struct myelin_hook_sock_owner* owner) {
  auto it = stub::socks.find(sk);
  if (it == stub::socks.end()) return false;
  *owner = it->second;
  return true;
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

// ---- network and credential args (kprobes; kernel objects the stub reads as plain structs) ----

// A kprobe hook (its YAML, 4-space indent) compiled; hits of it in the fake world.
struct NetHook {
  Fixture f;
  myelin_hook_config cfg{};
  explicit NetHook(const char* yaml) {
    struct myelin_exec_binary bin {};
    auto c = compile(Case{"net", yaml, {}, post(), true}, f.p, &bin);
    EXPECT_TRUE(c) << c.error().message;
    if (c) cfg = *c;
  }
  // One hit with these call args (pointers to what the kernel would read) by process tgid; posted or not.
  bool hit(std::vector<__u64> args, uint32_t tgid = kSelf, int64_t ret = 0) {
    stub::w = stub::World{};
    stub::w.config = cfg;
    stub::w.task = &f.self;
    stub::w.tgid = tgid, stub::w.tid = tgid + 1;
    __u64 ctx[6] = {};
    for (size_t i = 0; i < args.size() && i < 5; ++i) ctx[i] = args[i];
    ctx[5] = static_cast<__u64>(ret);
    hook__run(ctx, 0);
    return stub::w.posted.size() == 1;
  }
  const myelin_hook_event& event() const { return stub::w.posted.at(0); }
};

template <typename T>
__u64 ptr(const T& obj) {
  return reinterpret_cast<__u64>(&obj);
}

myelin_hook_skb packet(uint8_t proto, const std::array<uint8_t, 4>& daddr, uint16_t dport) {
  myelin_hook_skb p{};
  p.tuple.family = 2, p.tuple.protocol = proto, p.tuple.dport = dport, p.tuple.sport = 40000;
  p.tuple.saddr[0] = 10, p.tuple.saddr[3] = 2;
  std::memcpy(p.tuple.daddr, daddr.data(), 4);
  p.len = 80;
  return p;
}

TEST(NetArgs, SkbByProtocolPortAndAddress) {
  // DNS to anything but the local resolver (dns-only-specified-servers' shape).
  NetHook h("    args: [{index: 0, type: nop}, {index: 1, type: sock}, {index: 2, type: skb}]\n"
            "    selectors:\n    - matchArgs:\n"
            "      - {index: 2, operator: Protocol, values: [IPPROTO_TCP, IPPROTO_UDP]}\n"
            "      - {index: 2, operator: DPort, values: [\"53\"]}\n"
            "      - {index: 2, operator: NotDAddr, values: [127.0.0.53]}\n");
  ASSERT_EQ(h.cfg.nselectors, 2);
  const myelin_sock_tuple sk{};
  struct {
    const char* what;
    myelin_hook_skb skb;
    bool posted;
  } cases[] = {
      {"udp to 8.8.8.8:53", packet(17, {8, 8, 8, 8}, 53), true},
      {"tcp to 8.8.8.8:53", packet(6, {8, 8, 8, 8}, 53), true},
      {"udp to the local resolver", packet(17, {127, 0, 0, 53}, 53), false},
      {"udp to 8.8.8.8:80", packet(17, {8, 8, 8, 8}, 80), false},
      {"icmp to 8.8.8.8", packet(1, {8, 8, 8, 8}, 53), false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(h.hit({0x1234, ptr(sk), ptr(c.skb)}), c.posted) << c.what;
    if (!c.posted || stub::w.posted.empty()) continue;
    const auto& e = h.event();
    EXPECT_EQ(e.ints[0], 0u) << "a nop arg is not read";
    EXPECT_EQ(e.str_lens[2], sizeof(myelin_hook_skb));
    myelin_hook_skb seen{};
    std::memcpy(&seen, e.strs[2], sizeof seen);
    EXPECT_EQ(seen.tuple.dport, 53);
    EXPECT_EQ(seen.len, 80u);
  }
}

TEST(NetArgs, SockaddrAndSocket) {
  NetHook h("    args: [{index: 0, type: socket}, {index: 1, type: sockaddr}]\n"
            "    selectors:\n    - matchArgs:\n"
            "      - {index: 0, operator: Protocol, values: [IPPROTO_TCP]}\n"
            "      - {index: 1, operator: Family, values: [AF_INET]}\n"
            "      - {index: 1, operator: SAddr, values: [192.168.0.0/16]}\n"
            "      - {index: 1, operator: NotSPortPriv}\n");
  myelin_hook_sock tcp{}, udp{};
  tcp.tuple.family = udp.tuple.family = 2;
  tcp.tuple.protocol = 6, udp.tuple.protocol = 17;
  auto addr = [](std::array<uint8_t, 4> a, uint16_t port) {
    myelin_sock_tuple t{};
    t.family = 2, t.sport = port;
    std::memcpy(t.saddr, a.data(), 4);
    return t;
  };
  const auto lan8080 = addr({192, 168, 1, 1}, 8080), lan80 = addr({192, 168, 1, 1}, 80), wan8080 = addr({1, 1, 1, 1}, 8080);
  EXPECT_TRUE(h.hit({ptr(tcp), ptr(lan8080)}));
  EXPECT_FALSE(h.hit({ptr(udp), ptr(lan8080)})) << "udp";
  EXPECT_FALSE(h.hit({ptr(tcp), ptr(lan80)})) << "a privileged port";
  EXPECT_FALSE(h.hit({ptr(tcp), ptr(wan8080)})) << "outside 192.168/16";
  myelin_sock_tuple v6 = lan8080;
  v6.family = 10;
  EXPECT_FALSE(h.hit({ptr(tcp), ptr(v6)})) << "AF_INET6";
}

TEST(NetArgs, StateNetDeviceAndCapabilitySets) {
  NetHook state("    args: [{index: 0, type: sock}, {index: 1, type: int}]\n"
                "    selectors:\n    - matchArgs: [{index: 0, operator: State, values: [TCP_SYN_RECV]}]\n");
  myelin_sock_tuple syn{}, est{};
  syn.family = est.family = 2;
  syn.state = 3, est.state = 1;
  EXPECT_TRUE(state.hit({ptr(syn), 1}));
  EXPECT_FALSE(state.hit({ptr(est), 1}));

  NetHook dev("    args: [{index: 0, type: nop}, {index: 1, type: net_device}]\n"
              "    selectors:\n    - matchArgs: [{index: 1, operator: Prefix, values: [eth]}]\n");
  const char eth0[] = "eth0", lo[] = "lo";
  EXPECT_TRUE(dev.hit({0, reinterpret_cast<__u64>(eth0)}));
  EXPECT_EQ(std::string(dev.event().strs[1], dev.event().str_lens[1]), "eth0");
  EXPECT_FALSE(dev.hit({0, reinterpret_cast<__u64>(lo)}));

  NetHook caps("    args: [{index: 0, type: nop}, {index: 1, type: cred}, {index: 2, type: cap_effective}]\n"
               "    selectors:\n    - matchArgs: [{index: 2, operator: Mask, values: [CAP_SYS_ADMIN]}]\n");
  myelin_hook_cred cred{};
  cred.uid = 1000, cred.effective = 1ull << 21;
  const uint64_t admin = 1ull << 21, none = 1ull << 5;
  EXPECT_TRUE(caps.hit({0, ptr(cred), ptr(admin)}));
  EXPECT_EQ(caps.event().ints[2], admin) << "the mask the pointer points at";
  myelin_hook_cred seen{};
  std::memcpy(&seen, caps.event().strs[1], sizeof seen);
  EXPECT_EQ(seen.uid, 1000u);
  EXPECT_FALSE(caps.hit({0, ptr(cred), ptr(none)}));
}

TEST(NetArgs, TrackedSockReportsItsOwner) {
  stub::socks.clear();
  // sk_alloc(net, family, ...) returns the sock: tracked for the process that allocated it (family 2 only).
  NetHook alloc("    return: true\n    args: [{index: 0, type: nop}, {index: 1, type: int}]\n"
                "    returnArg: {index: 0, type: sock}\n    returnArgAction: TrackSock\n"
                "    selectors:\n    - matchArgs: [{index: 1, operator: Equal, values: [\"2\"]}]\n      matchActions: [{action: NoPost}]\n");
  NetHook use("    args: [{index: 0, type: sock}]\n");
  NetHook free_("    args: [{index: 0, type: sock}]\n    selectors:\n    - matchActions: [{action: UntrackSock, argSock: 0}, {action: NoPost}]\n");
  myelin_sock_tuple a{}, b{};
  a.family = b.family = 2;
  a.sport = 1337;
  EXPECT_FALSE(alloc.hit({0, 2}, 500, static_cast<int64_t>(ptr(a)))) << "NoPost";
  EXPECT_EQ(stub::socks.count(ptr(a)), 1u) << "tracked all the same";
  EXPECT_FALSE(alloc.hit({0, 10}, 500, static_cast<int64_t>(ptr(b))));
  EXPECT_EQ(stub::socks.count(ptr(b)), 0u) << "the selector did not match: not tracked";
  // In another process's context (softirq), the event names the owner.
  ASSERT_TRUE(use.hit({ptr(a)}, 900));
  EXPECT_EQ(use.event().pid, 500u);
  EXPECT_EQ(use.event().tid, 501u);
  ASSERT_TRUE(use.hit({ptr(b)}, 900));
  EXPECT_EQ(use.event().pid, 900u) << "an untracked sock: the current process";
  EXPECT_FALSE(free_.hit({ptr(a)}, 900));
  EXPECT_EQ(stub::socks.count(ptr(a)), 0u) << "untracked";
  ASSERT_TRUE(use.hit({ptr(a)}, 900));
  EXPECT_EQ(use.event().pid, 900u);
}

TEST(NetArgs, ReturnedSockIsReadIntoItsSlot) {
  stub::socks.clear();
  NetHook alloc("    return: true\n    args: [{index: 0, type: int}]\n    returnArg: {index: 0, type: sock}\n");
  myelin_sock_tuple a{};
  a.family = 10, a.protocol = 6;
  ASSERT_TRUE(alloc.hit({10}, 500, static_cast<int64_t>(ptr(a))));
  const auto& e = alloc.event();
  EXPECT_EQ(e.ints[1], ptr(a));
  EXPECT_EQ(e.str_lens[1], sizeof(myelin_hook_sock));
  EXPECT_EQ(static_cast<uint8_t>(e.strs[1][0]), 10) << "the tuple's family";
  EXPECT_TRUE(stub::socks.empty()) << "no returnArgAction: nothing tracked";
  ASSERT_TRUE(alloc.hit({10}, 500, 0));
  EXPECT_EQ(alloc.event().str_lens[1], 0) << "NULL returned: nothing read";
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
