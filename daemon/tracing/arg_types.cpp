// SPDX-License-Identifier: Apache-2.0
#include "arg_types.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string_view>

namespace myelin::tracing {
namespace {

// Linux's address families (Tetragon's names; 22, SNA, it does not name).
constexpr const char* kFamilies[] = {"AF_UNSPEC", "AF_UNIX",   "AF_INET",    "AF_AX25",  "AF_IPX",     "AF_APPLETALK", "AF_NETROM",
                                     "AF_BRIDGE", "AF_ATMPVC", "AF_X25",     "AF_INET6", "AF_ROSE",    "AF_DECnet",    "AF_NETBEUI",
                                     "AF_SECURITY", "AF_KEY",  "AF_NETLINK", "AF_PACKET", "AF_ASH",    "AF_ECONET",    "AF_ATMSVC",
                                     "AF_RDS",    "",          "AF_IRDA",    "AF_PPPOX", "AF_WANPIPE", "AF_LLC",       "AF_IB",
                                     "AF_MPLS",   "AF_CAN",    "AF_TIPC",    "AF_BLUETOOTH", "AF_IUCV", "AF_RXRPC",    "AF_ISDN",
                                     "AF_PHONET", "AF_IEEE802154", "AF_CAIF", "AF_ALG",   "AF_NFC",     "AF_VSOCK",     "AF_KCM",
                                     "AF_QIPCRTR", "AF_SMC",   "AF_XDP",     "AF_MCTP"};

struct Numbered {
  uint16_t number;
  const char* name;
};
constexpr Numbered kProtocols[] = {
    {0, "IPPROTO_IP"},       {1, "IPPROTO_ICMP"},   {2, "IPPROTO_IGMP"},   {4, "IPPROTO_IPIP"},    {6, "IPPROTO_TCP"},
    {8, "IPPROTO_EGP"},      {12, "IPPROTO_PUP"},   {17, "IPPROTO_UDP"},   {22, "IPPROTO_IDP"},    {29, "IPPROTO_TP"},
    {33, "IPPROTO_DCCP"},    {41, "IPPROTO_IPV6"},  {46, "IPPROTO_RSVP"},  {47, "IPPROTO_GRE"},    {50, "IPPROTO_ESP"},
    {51, "IPPROTO_AH"},      {58, "IPPROTO_ICMPV6"}, {92, "IPPROTO_MTP"},  {94, "IPPROTO_BEETPH"}, {98, "IPPROTO_ENCAP"},
    {103, "IPPROTO_PIM"},    {108, "IPPROTO_COMP"}, {132, "IPPROTO_SCTP"}, {136, "IPPROTO_UDPLITE"}, {137, "IPPROTO_MPLS"},
    {143, "IPPROTO_ETHERNET"}, {255, "IPPROTO_RAW"}, {262, "IPPROTO_MPTCP"}};
constexpr const char* kStates[] = {"",           "TCP_ESTABLISHED", "TCP_SYN_SENT",   "TCP_SYN_RECV", "TCP_FIN_WAIT1",
                                   "TCP_FIN_WAIT2", "TCP_TIME_WAIT", "TCP_CLOSE",     "TCP_CLOSE_WAIT", "TCP_LAST_ACK",
                                   "TCP_LISTEN", "TCP_CLOSING",     "TCP_NEW_SYN_RECV"};
constexpr const char* kSockTypes[] = {"", "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM", "SOCK_SEQPACKET", "SOCK_DCCP", "SOCK_PACKET"};
// Tetragon's CapabilitiesType names (1 is DAC_OVERRIDE there, without CAP_).
constexpr const char* kCaps[] = {"CAP_CHOWN", "DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
                                 "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
                                 "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
                                 "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
                                 "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
                                 "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
                                 "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};
// Tetragon's SecureBitsType names, bit by bit.
constexpr const char* kSecureBits[] = {"SecBitNoRoot", "SecBitNoRootLocked", "SecBitNoSetUidFixup", "SecBitNoSetUidFixupLocked",
                                       "SecBitKeepCaps", "SecBitKeepCapsLocked", "SecBitNoCapAmbientRaise", "SecBitNoCapAmbientRaiseLocked"};

std::optional<uint64_t> number(const std::string& v, uint64_t max) {
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 19) return std::nullopt;
  const uint64_t n = std::stoull(v);
  if (n > max) return std::nullopt;
  return n;
}

bool is_tuple(uint8_t t) {
  return t == MYELIN_HOOK_ARG_SOCK || t == MYELIN_HOOK_ARG_SOCKET || t == MYELIN_HOOK_ARG_SKB || t == MYELIN_HOOK_ARG_SOCKADDR;
}

bool is_addr_op(myelin_hook_op op) {
  return op == MYELIN_HOOK_OP_SADDR || op == MYELIN_HOOK_OP_NOT_SADDR || op == MYELIN_HOOK_OP_DADDR || op == MYELIN_HOOK_OP_NOT_DADDR;
}

const char* type_yaml(uint8_t kernel_type) {
  switch (kernel_type) {
    case MYELIN_HOOK_ARG_SOCK: return "sock";
    case MYELIN_HOOK_ARG_SOCKET: return "socket";
    case MYELIN_HOOK_ARG_SKB: return "skb";
    case MYELIN_HOOK_ARG_SOCKADDR: return "sockaddr";
    case MYELIN_HOOK_ARG_NET_DEV: return "net_device";
    case MYELIN_HOOK_ARG_CRED: return "cred";
    case MYELIN_HOOK_ARG_USER_NS: return "user_namespace";
    case MYELIN_HOOK_ARG_CAPS: return "kernel_cap_t";
    case MYELIN_HOOK_ARG_NOP: return "nop";
  }
  return "?";
}

// An address or CIDR into the cond (str: the bytes, str_len: the prefix length, value: the family).
Status addr_cond(myelin_hook_cond& cond, const std::string& value) {
  const auto slash = value.find('/');
  const std::string addr = value.substr(0, slash);
  uint8_t bytes[16] = {};
  const int family = inet_pton(AF_INET, addr.c_str(), bytes) == 1 ? 2 : inet_pton(AF_INET6, addr.c_str(), bytes) == 1 ? 10 : 0;
  if (!family) return Error{"'" + value + "' is not an address or CIDR"};
  const uint64_t max = family == 2 ? 32 : 128;
  uint64_t bits = max;
  if (slash != std::string::npos) {
    auto b = number(value.substr(slash + 1), max);
    if (!b) return Error{"'" + value + "': the prefix length must be 0-" + std::to_string(max)};
    bits = *b;
  }
  std::memcpy(cond.str, bytes, sizeof bytes);
  cond.str_len = static_cast<uint8_t>(bits);
  cond.value = static_cast<uint64_t>(family);
  return {};
}

}  // namespace

std::string family_name(uint16_t family) {
  if (family < std::size(kFamilies) && *kFamilies[family]) return kFamilies[family];
  return std::to_string(family);
}
std::optional<uint16_t> family_number(const std::string& name) {
  for (size_t i = 0; i < std::size(kFamilies); ++i)
    if (*kFamilies[i] && name == kFamilies[i]) return static_cast<uint16_t>(i);
  return std::nullopt;
}
std::string protocol_name(uint16_t protocol) {
  for (const auto& p : kProtocols)
    if (p.number == protocol) return p.name;
  return std::to_string(protocol);
}
std::optional<uint16_t> protocol_number(const std::string& name) {
  for (const auto& p : kProtocols)
    if (name == p.name) return p.number;
  return std::nullopt;
}
std::string tcp_state_name(uint8_t state) {
  if (state && state < std::size(kStates)) return kStates[state];
  return std::to_string(state);
}
std::optional<uint8_t> tcp_state_number(const std::string& name) {
  for (size_t i = 1; i < std::size(kStates); ++i)
    if (name == kStates[i]) return static_cast<uint8_t>(i);
  return std::nullopt;
}
std::string sock_type_name(uint16_t type) {
  if (type && type < std::size(kSockTypes)) return kSockTypes[type];
  return std::to_string(type);
}
std::string capability_name(int cap) { return cap >= 0 && cap < static_cast<int>(std::size(kCaps)) ? kCaps[cap] : ""; }

std::optional<uint64_t> capability_mask(const std::string& value) {
  if (auto n = number(value, UINT64_MAX)) return n;
  if (value.rfind("0x", 0) == 0 && value.size() > 2 && value.size() <= 18 && value.find_first_not_of("0123456789abcdefABCDEF", 2) == std::string::npos)
    return std::stoull(value, nullptr, 16);
  uint64_t mask = 0;
  size_t at = 0;
  while (at <= value.size()) {
    size_t comma = value.find(',', at);
    if (comma == std::string::npos) comma = value.size();
    std::string name = value.substr(at, comma - at);
    while (!name.empty() && name.front() == ' ') name.erase(0, 1);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    for (auto& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    int cap = -1;
    for (int i = 0; i < static_cast<int>(std::size(kCaps)); ++i)
      if (name == kCaps[i] || (i == 1 && name == "CAP_DAC_OVERRIDE")) cap = i;
    if (cap < 0) return std::nullopt;
    mask |= 1ull << cap;
    at = comma + 1;
  }
  return mask;
}

bool is_object_arg(uint8_t t) {
  return is_tuple(t) || t == MYELIN_HOOK_ARG_NET_DEV || t == MYELIN_HOOK_ARG_CRED || t == MYELIN_HOOK_ARG_USER_NS || t == MYELIN_HOOK_ARG_CAPS ||
         t == MYELIN_HOOK_ARG_NOP;
}

Status compile_object_cond(myelin_hook_cond& cond, myelin_hook_op op, uint8_t t, const std::string& value) {
  cond.op = op;
  const std::string opn = op_name(op), ty = type_yaml(t);
  const bool sock_op = applies(kOperators, op, kOnSock);
  if (t == MYELIN_HOOK_ARG_NOP) return Error{"names a nop arg, which is not read (give the arg a type to match it)"};
  if (t == MYELIN_HOOK_ARG_CRED || t == MYELIN_HOOK_ARG_USER_NS)
    return Error{"a " + ty + " arg has no matchArgs operator (as in Tetragon); match the process with matchCapabilities or matchNamespaces"};
  if (t == MYELIN_HOOK_ARG_CAPS) {
    if (op != MYELIN_HOOK_OP_EQ && op != MYELIN_HOOK_OP_NE && op != MYELIN_HOOK_OP_MASK)
      return Error{opn + " does not apply to a capability set (Equal, NotEqual, Mask)"};
    auto mask = capability_mask(value);
    if (!mask) return Error{"'" + value + "' is not a capability mask (a number, or names: CAP_SYS_ADMIN,CAP_NET_RAW)"};
    cond.value = *mask;
    return {};
  }
  if (t == MYELIN_HOOK_ARG_NET_DEV) {
    if (!applies(kOperators, op, kOnString)) return Error{opn + " does not apply to a net_device (its name: Equal, NotEqual, Prefix, Postfix)"};
    if (value.size() > 15) return Error{"'" + value + "' is longer than a device name (15 bytes)"};
    std::memcpy(cond.str, value.data(), value.size());
    cond.str_len = static_cast<uint8_t>(value.size());
    return {};
  }
  // sock, socket, skb, sockaddr: by their tuple.
  if (!sock_op)
    return Error{opn + " does not apply to a " + ty + " argument (SPort, DPort, SAddr, DAddr, their Not and Priv forms, Protocol, Family, State)"};
  if (t == MYELIN_HOOK_ARG_SOCKADDR && (op == MYELIN_HOOK_OP_DPORT || op == MYELIN_HOOK_OP_NOT_DPORT || op == MYELIN_HOOK_OP_DPORT_PRIV ||
                                        op == MYELIN_HOOK_OP_NOT_DPORT_PRIV || op == MYELIN_HOOK_OP_DADDR || op == MYELIN_HOOK_OP_NOT_DADDR ||
                                        op == MYELIN_HOOK_OP_PROTOCOL || op == MYELIN_HOOK_OP_STATE))
    return Error{opn + ": a sockaddr is one address and port: it supports SAddr, SPort (their Not and Priv forms) and Family (as in Tetragon)"};
  if (applies(kOperators, op, kNoValues)) return {};  // SPortPriv, ...: no value
  if (is_addr_op(op)) return addr_cond(cond, value);
  // A name of its table, else a number up to max.
  auto named = [&](auto by_name, uint64_t max, const char* what) -> Status {
    const auto v = by_name(value);
    const std::optional<uint64_t> n = v ? std::optional<uint64_t>(*v) : number(value, max);
    if (!n) return Error{"'" + value + "' is not " + what};
    cond.value = *n;
    return {};
  };
  if (op == MYELIN_HOOK_OP_PROTOCOL) return named(protocol_number, 65535, "a protocol (IPPROTO_TCP, IPPROTO_UDP, ... or a number)");
  if (op == MYELIN_HOOK_OP_FAMILY) return named(family_number, 65535, "an address family (AF_INET, AF_INET6, ... or a number)");
  if (op == MYELIN_HOOK_OP_STATE) return named(tcp_state_number, 255, "a TCP state (TCP_ESTABLISHED, TCP_SYN_RECV, ... or a number)");
  // the ports
  if (value.find(':') != std::string::npos) return Error{"'" + value + "': port ranges are not supported by Myelin yet (one port per value)"};
  auto port = number(value, 65535);
  if (!port) return Error{"'" + value + "' is not a port (0-65535)"};
  cond.value = *port;
  return {};
}

nlohmann::json sock_json(const myelin_hook_sock& s, uint64_t cookie) {
  const myelin_sock_tuple& t = s.tuple;
  nlohmann::json j{{"family", family_name(t.family)}, {"type", sock_type_name(t.type)}, {"protocol", protocol_name(t.protocol)}};
  if (s.mark) j["mark"] = s.mark;
  if (s.priority) j["priority"] = s.priority;
  if (t.family == 2 || t.family == 10) {
    char a[INET6_ADDRSTRLEN] = {}, b[INET6_ADDRSTRLEN] = {};
    const int af = t.family == 10 ? AF_INET6 : AF_INET;
    inet_ntop(af, t.saddr, a, sizeof a);
    inet_ntop(af, t.daddr, b, sizeof b);
    j["saddr"] = a, j["daddr"] = b;
    j["sport"] = t.sport, j["dport"] = t.dport;
  }
  j["cookie"] = std::to_string(cookie);
  if (t.state) j["state"] = tcp_state_name(t.state);
  return j;
}

nlohmann::json object_arg_json(ArgType type, const myelin_hook_event& e, size_t i) {
  const char* raw = e.strs[i];
  auto caps_list = [](uint64_t m) {
    nlohmann::json a = nlohmann::json::array();
    for (int b = 0; b < 64; ++b)
      if (m & (1ull << b)) a.push_back(b < static_cast<int>(std::size(kCaps)) ? nlohmann::json(kCaps[b]) : nlohmann::json(b));
    return a;
  };
  auto user_ns = [](const myelin_hook_user_ns& u) {
    nlohmann::json ns = nlohmann::json::object();
    if (u.inum) ns["inum"] = u.inum;
    if (u.level == 0) ns["is_host"] = true;
    return nlohmann::json{{"level", u.level}, {"uid", u.uid}, {"gid", u.gid}, {"ns", ns}};
  };
  auto hex = [](uint64_t m) {
    char b[17];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(m));
    return std::string(b);
  };
  switch (type) {
    case ArgType::nop: return nullptr;
    case ArgType::sock:
    case ArgType::socket: {
      myelin_hook_sock s{};
      std::memcpy(&s, raw, std::min<size_t>(sizeof s, e.str_lens[i]));
      return {{"sock_arg", sock_json(s, e.ints[i])}};
    }
    case ArgType::skb: {
      myelin_hook_skb s{};
      std::memcpy(&s, raw, std::min<size_t>(sizeof s, e.str_lens[i]));
      const myelin_sock_tuple& t = s.tuple;
      nlohmann::json j = nlohmann::json::object();
      if (s.hash) j["hash"] = s.hash;
      if (s.len) j["len"] = s.len;
      if (s.priority) j["priority"] = s.priority;
      if (s.mark) j["mark"] = s.mark;
      if (t.family == 2 || t.family == 10) {
        char a[INET6_ADDRSTRLEN] = {}, b[INET6_ADDRSTRLEN] = {};
        const int af = t.family == 10 ? AF_INET6 : AF_INET;
        inet_ntop(af, t.saddr, a, sizeof a);
        inet_ntop(af, t.daddr, b, sizeof b);
        j["saddr"] = a, j["daddr"] = b;
      }
      if (t.sport) j["sport"] = t.sport;
      if (t.dport) j["dport"] = t.dport;
      if (t.protocol) j["proto"] = t.protocol;
      if (s.secpath_len) j["sec_path_len"] = s.secpath_len;
      if (s.secpath_olen) j["sec_path_olen"] = s.secpath_olen;
      j["protocol"] = protocol_name(t.protocol);
      j["family"] = family_name(t.family);
      return {{"skb_arg", j}};
    }
    case ArgType::sockaddr: {
      myelin_sock_tuple t{};
      std::memcpy(&t, raw, std::min<size_t>(sizeof t, e.str_lens[i]));
      nlohmann::json j{{"family", family_name(t.family)}};
      if (t.family == 2 || t.family == 10) {
        char a[INET6_ADDRSTRLEN] = {};
        inet_ntop(t.family == 10 ? AF_INET6 : AF_INET, t.saddr, a, sizeof a);
        j["addr"] = a;
      }
      if (t.sport) j["port"] = t.sport;
      return {{"sockaddr_arg", j}};
    }
    case ArgType::net_device:  // Tetragon reads a net_device as its name, shown as a string_arg
      return {{"string_arg", std::string(raw, std::min<size_t>(e.str_lens[i], 15))}};
    case ArgType::cred: {
      myelin_hook_cred c{};
      std::memcpy(&c, raw, std::min<size_t>(sizeof c, e.str_lens[i]));
      nlohmann::json j{{"uid", c.uid},     {"gid", c.gid},   {"euid", c.euid},   {"egid", c.egid},
                       {"suid", c.suid},   {"sgid", c.sgid}, {"fsuid", c.fsuid}, {"fsgid", c.fsgid}};
      if (c.securebits) {
        nlohmann::json bits = nlohmann::json::array();
        for (size_t b = 0; b < std::size(kSecureBits); ++b)
          if (c.securebits & (1u << b)) bits.push_back(kSecureBits[b]);
        j["securebits"] = bits;
      }
      nlohmann::json caps = nlohmann::json::object();
      if (c.permitted) caps["permitted"] = caps_list(c.permitted);
      if (c.effective) caps["effective"] = caps_list(c.effective);
      if (c.inheritable) caps["inheritable"] = caps_list(c.inheritable);
      j["caps"] = caps;
      j["user_ns"] = user_ns(c.user_ns);
      return {{"process_credentials_arg", j}};
    }
    case ArgType::user_namespace: {
      myelin_hook_user_ns u{};
      std::memcpy(&u, raw, std::min<size_t>(sizeof u, e.str_lens[i]));
      return {{"user_ns_arg", user_ns(u)}};
    }
    case ArgType::capability: {
      const auto v = static_cast<int32_t>(e.ints[i]);
      nlohmann::json j{{"value", v}};
      if (!capability_name(v).empty()) j["name"] = capability_name(v);
      return {{"capability_arg", j}};
    }
    case ArgType::kernel_cap_t: return {{"kernel_cap_t_arg", hex(e.ints[i])}};
    case ArgType::cap_effective: return {{"cap_effective_arg", hex(e.ints[i])}};
    case ArgType::cap_inheritable: return {{"cap_inheritable_arg", hex(e.ints[i])}};
    case ArgType::cap_permitted: return {{"cap_permitted_arg", hex(e.ints[i])}};
    default: break;
  }
  return nullptr;
}

}  // namespace myelin::tracing
