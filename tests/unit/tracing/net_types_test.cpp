// SPDX-License-Identifier: Apache-2.0
// The network and credential arg types (arg_types.hpp) through the real
// decoder and compiler: nop, label, skb, socket, sockaddr, net_device, cred,
// user_namespace, capability and the capability sets, sock as a return
// value with returnArgAction, TrackSock / UntrackSock in matchActions, the
// State and Priv operators; what each compiles to, what is refused (with
// its message), and the JSON events show for each (Tetragon's field names).
// Policies are written for these tests, in the shapes of Tetragon's examples.
#include <gtest/gtest.h>

#include <cstring>

#include "arg_types.hpp"
#include "tracing_policy.hpp"

namespace myelin::tracing {
namespace {

const BinaryIds kIds = [](const std::string&, bool) { return 1u; };

std::string policy(const std::string& kprobes) {
  return "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: n}\nspec:\n  kprobes:\n" + kprobes;
}

// The first kprobe of `kprobes` decoded and compiled; or the refusal / compile error.
Result<myelin_hook_config> compiled(const std::string& kprobes, size_t which = 0) {
  auto d = decode_tracing_yaml(policy(kprobes), "n.yaml");
  if (!d) return d.error();
  return compile_kprobe((*d)[0].kprobes.at(which), 1, 1, kIds);
}

std::string refusal(const std::string& kprobes) {
  auto c = compiled(kprobes);
  return c ? "accepted" : c.error().message;
}

// Packets to DNS servers other than the local resolver (dns-only-specified-servers' shape).
const char* kDns = R"(  - call: ip_output
    syscall: false
    args:
    - {index: 0, type: nop}
    - {index: 1, type: sock, label: sock}
    - {index: 2, type: skb, label: datagram}
    selectors:
    - matchArgs:
      - {index: 2, operator: Protocol, values: [IPPROTO_UDP]}
      - {index: 2, operator: DPort, values: ["53"]}
      - {index: 2, operator: NotDAddr, values: [127.0.0.53]}
      matchActions:
      - action: Sigkill
)";

TEST(NetTypes, SkbConditionsCompileToTheTupleOperators) {
  auto cfg = compiled(kDns);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->nargs, 3);
  EXPECT_EQ(cfg->args[0].type, MYELIN_HOOK_ARG_NOP);
  EXPECT_EQ(cfg->args[1].type, MYELIN_HOOK_ARG_SOCK);
  EXPECT_EQ(cfg->args[2].type, MYELIN_HOOK_ARG_SKB);
  const auto& s = cfg->selectors[0];
  ASSERT_EQ(s.nconds, 3);
  EXPECT_EQ(s.conds[0].op, MYELIN_HOOK_OP_PROTOCOL);
  EXPECT_EQ(s.conds[0].value, 17u);
  EXPECT_EQ(s.conds[1].op, MYELIN_HOOK_OP_DPORT);
  EXPECT_EQ(s.conds[1].value, 53u);
  EXPECT_EQ(s.conds[2].op, MYELIN_HOOK_OP_NOT_DADDR);
  EXPECT_EQ(s.conds[2].value, 2u);     // its family
  EXPECT_EQ(s.conds[2].str_len, 32);   // a host address: all bits
  EXPECT_EQ(std::memcmp(s.conds[2].str, "\x7f\x00\x00\x35", 4), 0);
  EXPECT_EQ(s.action, MYELIN_HOOK_ACT_SIGKILL);
}

TEST(NetTypes, LabelsAreKept) {
  auto d = decode_tracing_yaml(policy(kDns), "n.yaml");
  ASSERT_TRUE(d) << d.error().message;
  const auto& args = (*d)[0].kprobes[0].args;
  EXPECT_EQ(args[0].label, "");
  EXPECT_EQ(args[1].label, "sock");
  EXPECT_EQ(args[2].label, "datagram");
  EXPECT_NE(refusal("  - call: f\n    syscall: false\n    args: [{index: 0, type: int, label: [a]}]\n").find("args[0].label: must be a string"),
            std::string::npos);
}

// tcp-listen's shape: sockets allocated (tracked, not posted), freed (untracked, not posted), listening on a port.
const char* kListen = R"(  - call: sk_alloc
    syscall: false
    return: true
    args: [{index: 0, type: nop}, {index: 1, type: int, label: family}]
    returnArg: {index: 0, type: sock}
    returnArgAction: TrackSock
    selectors:
    - matchArgs: [{index: 1, operator: Equal, values: ["2", "10"]}]
      matchActions: [{action: NoPost}]
  - call: __sk_free
    syscall: false
    args: [{index: 0, type: sock}]
    selectors:
    - matchArgs: [{index: 0, operator: Family, values: [AF_INET, "10"]}]
      matchActions:
      - {action: UntrackSock, argSock: 0}
      - {action: NoPost}
  - call: tcp_set_state
    syscall: false
    args: [{index: 0, type: sock}, {index: 1, type: int, label: state}]
    selectors:
    - matchArgs:
      - {index: 0, operator: State, values: [TCP_SYN_RECV]}
      - {index: 0, operator: SPortPriv}
)";

TEST(NetTypes, ReturnedSockIsTrackedInTheSlotAfterTheArgs) {
  auto cfg = compiled(kListen, 0);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->ret_type, MYELIN_HOOK_ARG_SOCK);
  EXPECT_EQ(cfg->ret_slot, 2);
  EXPECT_EQ(cfg->ret_action, MYELIN_HOOK_ACT_TRACKSOCK);
  EXPECT_EQ(cfg->nselectors, 2);  // one per family value
  EXPECT_EQ(cfg->selectors[1].conds[0].value, 10u);
  EXPECT_EQ(cfg->selectors[0].action, MYELIN_HOOK_ACT_NOPOST);
  EXPECT_EQ(cfg->selectors[0].sock_action, 0);
}

TEST(NetTypes, UntrackSockBesideNoPost) {
  auto cfg = compiled(kListen, 1);
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_EQ(cfg->nselectors, 2);
  for (int s = 0; s < 2; ++s) {
    EXPECT_EQ(cfg->selectors[s].sock_action, MYELIN_HOOK_ACT_UNTRACKSOCK);
    EXPECT_EQ(cfg->selectors[s].sock_arg, 0);
    EXPECT_EQ(cfg->selectors[s].action, MYELIN_HOOK_ACT_NOPOST);
    EXPECT_EQ(cfg->selectors[s].conds[0].op, MYELIN_HOOK_OP_FAMILY);
  }
  EXPECT_EQ(cfg->selectors[0].conds[0].value, 2u);
  EXPECT_EQ(cfg->selectors[1].conds[0].value, 10u);
  EXPECT_EQ(cfg->ret_type, 0);
  EXPECT_EQ(cfg->ret_action, 0);
}

TEST(NetTypes, StateAndPrivOperators) {
  auto cfg = compiled(kListen, 2);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->selectors[0].conds[0].op, MYELIN_HOOK_OP_STATE);
  EXPECT_EQ(cfg->selectors[0].conds[0].value, 3u);  // TCP_SYN_RECV
  EXPECT_EQ(cfg->selectors[0].conds[1].op, MYELIN_HOOK_OP_SPORT_PRIV);
}

TEST(NetTypes, SocketSockaddrNetDeviceCredAndCaps) {
  auto connect = compiled(R"(  - call: security_socket_connect
    syscall: false
    args: [{index: 0, type: socket}, {index: 1, type: sockaddr}, {index: 2, type: int}]
    selectors:
    - matchArgs:
      - {index: 0, operator: Protocol, values: [IPPROTO_TCP]}
      - {index: 1, operator: Family, values: [AF_INET6]}
      - {index: 1, operator: SAddr, values: ["fd00::/8"]}
      - {index: 1, operator: SPort, values: ["80"]}
)");
  ASSERT_TRUE(connect) << connect.error().message;
  EXPECT_EQ(connect->args[0].type, MYELIN_HOOK_ARG_SOCKET);
  EXPECT_EQ(connect->args[1].type, MYELIN_HOOK_ARG_SOCKADDR);
  EXPECT_EQ(connect->selectors[0].conds[1].value, 10u);
  EXPECT_EQ(connect->selectors[0].conds[2].value, 10u);
  EXPECT_EQ(connect->selectors[0].conds[2].str_len, 8);
  EXPECT_EQ(connect->selectors[0].conds[3].value, 80u);

  // (args listed at their own positions: matchArgs' index reads the same as a position and as Tetragon's arg index)
  auto dev = compiled("  - call: dev_hard_start_xmit\n    syscall: false\n    args: [{index: 0, type: nop}, {index: 1, type: net_device}]\n"
                      "    selectors:\n    - matchArgs: [{index: 1, operator: Equal, values: [lo]}]\n");
  ASSERT_TRUE(dev) << dev.error().message;
  EXPECT_EQ(dev->args[1].type, MYELIN_HOOK_ARG_NET_DEV);
  EXPECT_EQ(dev->selectors[0].conds[0].str_len, 2);
  EXPECT_EQ(std::string(dev->selectors[0].conds[0].str, 2), "lo");

  auto caps = compiled(R"(  - call: security_capset
    syscall: false
    args: [{index: 0, type: nop}, {index: 1, type: cred}, {index: 2, type: cap_effective}, {index: 3, type: cap_permitted}]
    selectors:
    - matchArgs: [{index: 2, operator: Mask, values: ["CAP_SYS_ADMIN,CAP_NET_RAW"]}]
    - matchArgs: [{index: 3, operator: NotEqual, values: ["0"]}]
)");
  ASSERT_TRUE(caps) << caps.error().message;
  EXPECT_EQ(caps->args[1].type, MYELIN_HOOK_ARG_CRED);
  EXPECT_EQ(caps->args[2].type, MYELIN_HOOK_ARG_CAPS);
  EXPECT_EQ(caps->selectors[0].conds[0].value, (1ull << 21) | (1ull << 13));
  EXPECT_EQ(caps->selectors[1].conds[0].op, MYELIN_HOOK_OP_NE);

  auto ns = compiled("  - call: cap_capable\n    syscall: false\n    return: true\n"
                     "    args: [{index: 1, type: user_namespace}, {index: 2, type: capability}]\n    returnArg: {index: 0, type: int}\n");
  ASSERT_TRUE(ns) << ns.error().message;
  EXPECT_EQ(ns->args[0].type, MYELIN_HOOK_ARG_USER_NS);
  EXPECT_EQ(ns->args[1].type, MYELIN_HOOK_ARG_INT);
  EXPECT_EQ(ns->args[1].size, 4);
  EXPECT_EQ(ns->ret_type, 0);  // an integer return: nothing read
}

TEST(NetTypes, NopKeepsItsPlaceOnEveryHookKind) {
  const std::string tp = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: n}\nspec:\n  tracepoints:\n"
                         "  - subsystem: syscalls\n    event: sys_enter_openat\n    args: [{index: 5, type: nop}, {index: 6, type: string}]\n";
  auto d = decode_tracing_yaml(tp, "n.yaml");
  ASSERT_TRUE(d) << d.error().message;
  std::vector<TpField> fmt(7);
  fmt[6] = {"const char * filename", "filename", 24, 8, false};
  fmt[5] = {"int dfd", "dfd", 16, 8, false};
  auto cfg = compile_tracepoint((*d)[0].tracepoints[0], fmt, 1, 1, kIds);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->args[0].type, MYELIN_HOOK_ARG_NOP);
  EXPECT_EQ(cfg->args[1].type, MYELIN_HOOK_ARG_STRING);
}

// As many int args as the kernel's config has slots.
std::string all_slots() {
  std::string out;
  for (int i = 0; i < MYELIN_HOOK_MAX_ARGS; ++i) out += (i ? ", " : "") + std::string("{index: ") + std::to_string(i) + ", type: int}";
  return out;
}

struct Refused {
  const char* name;
  std::string kprobes;
  const char* says;  // in the message
};

TEST(NetTypes, RefusedWithWhy) {
  const std::string f = "  - call: f\n    syscall: false\n";
  const Refused cases[] = {
      {"skb on a syscall", "  - call: sys_sendto\n    args: [{index: 0, type: skb}]\n", "'skb' is a kernel object"},
      {"Equal on skb", f + "    args: [{index: 0, type: skb}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"1\"]}]\n",
       "Equal does not apply to a skb argument"},
      {"DPort on sockaddr", f + "    args: [{index: 0, type: sockaddr}]\n    selectors:\n    - matchArgs: [{index: 0, operator: DPort, values: [\"53\"]}]\n",
       "a sockaddr is one address and port"},
      {"matchArgs on cred", f + "    args: [{index: 0, type: cred}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"0\"]}]\n",
       "a cred arg has no matchArgs operator"},
      {"matchArgs on nop", f + "    args: [{index: 0, type: nop}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"0\"]}]\n",
       "names a nop arg"},
      {"a State that is none", f + "    args: [{index: 0, type: sock}]\n    selectors:\n    - matchArgs: [{index: 0, operator: State, values: [TCP_BOGUS]}]\n",
       "'TCP_BOGUS' is not a TCP state"},
      {"a port range", f + "    args: [{index: 0, type: skb}]\n    selectors:\n    - matchArgs: [{index: 0, operator: DPort, values: [\"1:1023\"]}]\n",
       "port ranges are not supported by Myelin yet"},
      {"a long device name", f + "    args: [{index: 0, type: net_device}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [abcdefghijklmnopq]}]\n",
       "longer than a device name"},
      {"a capability that is none", f + "    args: [{index: 0, type: cap_effective}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Mask, values: [CAP_FLY]}]\n",
       "is not a capability mask"},
      {"Prefix on a capability set", f + "    args: [{index: 0, type: cap_permitted}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Prefix, values: [\"1\"]}]\n",
       "does not apply to a capability set"},
      {"returnArgAction without return", f + "    returnArgAction: TrackSock\n", "returnArgAction: needs return: true"},
      {"returnArgAction on an int", f + "    return: true\n    returnArg: {index: 0, type: int}\n    returnArgAction: TrackSock\n",
       "TrackSock needs returnArg type sock"},
      {"returnArgAction of another name", f + "    return: true\n    returnArg: {index: 0, type: sock}\n    returnArgAction: Post\n",
       "'Post' is not supported here (TrackSock, UntrackSock)"},
      {"a sock return on a syscall", "  - call: sys_socket\n    return: true\n    returnArg: {index: 0, type: sock}\n",
       "only a kernel function (syscall: false) returns"},
      {"a sock return without a free slot", f + "    return: true\n    args: [" + all_slots() + "]\n    returnArg: {index: 0, type: sock}\n",
       "needs a free arg slot"},
      {"argSock out of range", f + "    args: [{index: 0, type: sock}]\n    selectors:\n    - matchActions: [{action: UntrackSock, argSock: 1}]\n",
       "argSock: names no argument"},
      {"argSock on an int", f + "    args: [{index: 0, type: int}]\n    selectors:\n    - matchActions: [{action: TrackSock}]\n",
       "argSock 0 is not a sock or socket argument"},
      {"two TrackSocks", f + "    args: [{index: 0, type: sock}]\n    selectors:\n    - matchActions: [{action: TrackSock}, {action: UntrackSock}]\n",
       "one TrackSock or UntrackSock per selector"},
      {"TrackSock with argError", f + "    args: [{index: 0, type: sock}]\n    selectors:\n    - matchActions: [{action: TrackSock, argError: -1}]\n",
       "matchActions[0].argError"},
      {"SPort on a string", f + "    args: [{index: 0, type: string}]\n    selectors:\n    - matchArgs: [{index: 0, operator: SPort, values: [\"1\"]}]\n",
       "applies to sock arguments only"},
  };
  for (const auto& c : cases) {
    const std::string why = refusal(c.kprobes);
    EXPECT_NE(why.find(c.says), std::string::npos) << c.name << ": " << why;
  }
  // TrackSock is a kprobe's: a uprobe refuses it.
  auto up = decode_tracing_yaml("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: n}\nspec:\n  uprobes:\n"
                                "  - path: /bin/true\n    symbols: [main]\n    args: [{index: 0, type: int}]\n"
                                "    selectors:\n    - matchActions: [{action: TrackSock}]\n",
                                "n.yaml");
  ASSERT_FALSE(up);
  EXPECT_NE(up.error().message.find("n.yaml:10: spec.uprobes[0].selectors[0].matchActions[0].action: TrackSock tracks a kernel sock"),
            std::string::npos)
      << up.error().message;
}

TEST(NetTypes, Names) {
  EXPECT_EQ(family_name(2), "AF_INET");
  EXPECT_EQ(family_name(10), "AF_INET6");
  EXPECT_EQ(family_name(1), "AF_UNIX");
  EXPECT_EQ(family_name(22), "22");
  EXPECT_EQ(family_number("AF_NETLINK"), 16);
  EXPECT_EQ(protocol_name(17), "IPPROTO_UDP");
  EXPECT_EQ(protocol_number("IPPROTO_SCTP"), 132);
  EXPECT_EQ(tcp_state_name(10), "TCP_LISTEN");
  EXPECT_EQ(tcp_state_number("TCP_NEW_SYN_RECV"), 12);
  EXPECT_FALSE(tcp_state_number("LISTEN"));
  EXPECT_EQ(capability_name(21), "CAP_SYS_ADMIN");
  EXPECT_EQ(capability_name(1), "DAC_OVERRIDE");  // Tetragon's name
  EXPECT_EQ(capability_mask("0x3"), 3u);
  EXPECT_EQ(capability_mask("cap_chown, CAP_KILL"), (1u << 0) | (1u << 5));
  EXPECT_FALSE(capability_mask("CAP_CHOWN,"));
}

// An event with arg i's bytes set from `obj`.
template <typename T>
myelin_hook_event with(size_t i, const T& obj, uint64_t v = 0) {
  myelin_hook_event e{};
  std::memcpy(e.strs[i], &obj, sizeof obj);
  e.str_lens[i] = sizeof obj;
  e.ints[i] = v;
  return e;
}

TEST(NetTypes, EventsShowTetragonsFields) {
  myelin_hook_skb skb{};
  skb.tuple.family = 2, skb.tuple.protocol = 17, skb.tuple.sport = 40000, skb.tuple.dport = 53;
  const uint8_t lo[4] = {127, 0, 0, 1}, dns[4] = {8, 8, 8, 8};
  std::memcpy(skb.tuple.saddr, lo, 4), std::memcpy(skb.tuple.daddr, dns, 4);
  skb.len = 60, skb.mark = 7;
  auto j = object_arg_json(ArgType::skb, with(1, skb), 1);
  EXPECT_EQ(j, nlohmann::json::parse(R"({"skb_arg": {"len": 60, "mark": 7, "saddr": "127.0.0.1", "daddr": "8.8.8.8", "sport": 40000,
                                      "dport": 53, "proto": 17, "protocol": "IPPROTO_UDP", "family": "AF_INET"}})"))
      << j.dump();

  myelin_sock_tuple sa{};
  sa.family = 10, sa.sport = 443;
  sa.saddr[15] = 1;
  j = object_arg_json(ArgType::sockaddr, with(0, sa), 0);
  EXPECT_EQ(j, nlohmann::json::parse(R"({"sockaddr_arg": {"family": "AF_INET6", "addr": "::1", "port": 443}})")) << j.dump();

  myelin_hook_sock sk{};
  sk.tuple.family = 2, sk.tuple.type = 1, sk.tuple.protocol = 6, sk.tuple.state = 10, sk.tuple.sport = 1337;
  sk.priority = 6;
  j = object_arg_json(ArgType::socket, with(0, sk, 0xffff888000001000ull), 0);
  EXPECT_EQ(j["sock_arg"]["state"], "TCP_LISTEN");
  EXPECT_EQ(j["sock_arg"]["type"], "SOCK_STREAM");
  EXPECT_EQ(j["sock_arg"]["priority"], 6);
  EXPECT_FALSE(j["sock_arg"].contains("mark"));  // zero: omitted, as protojson does
  EXPECT_EQ(j["sock_arg"]["cookie"], std::to_string(0xffff888000001000ull));

  myelin_hook_cred c{};
  c.uid = 1000, c.euid = 0, c.effective = 1ull << 21, c.permitted = (1ull << 21) | 1, c.securebits = 1 << 4;
  c.user_ns = {1, 1000, 1000, 4026532001u};
  j = object_arg_json(ArgType::cred, with(1, c), 1);
  const auto& pc = j["process_credentials_arg"];
  EXPECT_EQ(pc["uid"], 1000);
  EXPECT_EQ(pc["euid"], 0);  // a wrapper in Tetragon's proto: shown when zero
  EXPECT_EQ(pc["caps"]["effective"], nlohmann::json::parse(R"(["CAP_SYS_ADMIN"])"));
  EXPECT_EQ(pc["caps"]["permitted"], nlohmann::json::parse(R"(["CAP_CHOWN", "CAP_SYS_ADMIN"])"));
  EXPECT_FALSE(pc["caps"].contains("inheritable"));
  EXPECT_EQ(pc["securebits"], nlohmann::json::parse(R"(["SecBitKeepCaps"])"));
  EXPECT_EQ(pc["user_ns"], nlohmann::json::parse(R"({"level": 1, "uid": 1000, "gid": 1000, "ns": {"inum": 4026532001}})"));

  myelin_hook_user_ns host{0, 0, 0, 4026531837u};
  j = object_arg_json(ArgType::user_namespace, with(0, host), 0);
  EXPECT_EQ(j, nlohmann::json::parse(R"({"user_ns_arg": {"level": 0, "uid": 0, "gid": 0, "ns": {"inum": 4026531837, "is_host": true}}})"))
      << j.dump();

  myelin_hook_event e{};
  e.ints[2] = 21;
  EXPECT_EQ(object_arg_json(ArgType::capability, e, 2), nlohmann::json::parse(R"({"capability_arg": {"value": 21, "name": "CAP_SYS_ADMIN"}})"));
  e.ints[2] = 0x200000;
  EXPECT_EQ(object_arg_json(ArgType::cap_effective, e, 2), nlohmann::json::parse(R"({"cap_effective_arg": "0000000000200000"})"));
  EXPECT_EQ(object_arg_json(ArgType::cap_permitted, e, 2), nlohmann::json::parse(R"({"cap_permitted_arg": "0000000000200000"})"));
  std::memcpy(e.strs[1], "eth0", 4);
  e.str_lens[1] = 4;
  EXPECT_EQ(object_arg_json(ArgType::net_device, e, 1), nlohmann::json::parse(R"({"string_arg": "eth0"})"));  // as Tetragon prints it
  EXPECT_TRUE(object_arg_json(ArgType::nop, e, 0).is_null());
}

TEST(NetTypes, EveryNewKernelCodeHasAName) {
  for (uint8_t k : {MYELIN_HOOK_ARG_NOP, MYELIN_HOOK_ARG_SKB, MYELIN_HOOK_ARG_SOCKET, MYELIN_HOOK_ARG_SOCKADDR, MYELIN_HOOK_ARG_NET_DEV,
                    MYELIN_HOOK_ARG_CRED, MYELIN_HOOK_ARG_USER_NS, MYELIN_HOOK_ARG_CAPS}) {
    bool named = false;
    for (const auto& r : kArgTypes) named |= r.kernel == k;
    EXPECT_TRUE(named) << "arg type " << int(k);
  }
  for (int op = MYELIN_HOOK_OP_STATE; op <= MYELIN_HOOK_OP_NOT_DPORT_PRIV; ++op)
    EXPECT_NE(name_of(kOperators, static_cast<myelin_hook_op>(op)), "?") << "operator " << op;
}

}  // namespace
}  // namespace myelin::tracing
