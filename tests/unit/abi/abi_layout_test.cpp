// SPDX-License-Identifier: Apache-2.0
// The ABI's layout proof, built like Tetragon's alignchecker: abi_layout.bpf.o
// instantiates every struct the ABI headers list (MYELIN_ABI_*_STRUCTS), so
// clang -target bpf laid each out in its BTF; here each one's size and every
// member's name, offset and size there must be what the C++ compiler made of
// the same header. Nothing can be left out quietly: a struct an ABI header
// defines but does not list, a member not listed below, a struct listed
// below but not in the ABI (it does not compile), a bitfield, or a struct a
// production BPF object uses as a map key or value, or names myelin_*, that
// is not in the ABI, each fails. No privileges needed.
#include <gtest/gtest.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "abi_all.h"
#include "btf_file.hpp"

namespace {

using myelin::test::BtfFile;

struct Member {
  const char* name;
  size_t offset;
  size_t size;
};

// Each listed struct's members in declaration order. Only declared: a struct
// the ABI lists without a LAYOUT here does not compile.
template <class T>
struct Layout;
#define LAYOUT(T, ...)                                                  \
  template <>                                                           \
  struct Layout<T> {                                                    \
    using S = T;                                                        \
    static std::vector<Member> members() { return {__VA_ARGS__}; }      \
  };
#define M(f) Member{#f, offsetof(S, f), sizeof(S::f)}

// common.h
LAYOUT(myelin_addr, M(w))
LAYOUT(myelin_sock_tuple, M(family), M(protocol), M(state), M(type), M(sport), M(dport), M(saddr), M(daddr))
LAYOUT(myelin_proc_stats, M(events_sent), M(events_lost))
// net.h
LAYOUT(myelin_layout_val, M(version), M(map))
LAYOUT(myelin_ep_key, M(addr), M(family), M(pad))
LAYOUT(myelin_ep_info, M(ifindex), M(ep_id), M(identity), M(flags), M(mac), M(node_mac), M(policy_rev))
LAYOUT(myelin_ct_key, M(saddr), M(daddr), M(sport), M(dport), M(proto), M(family), M(kind), M(pad))
LAYOUT(myelin_ct_entry, M(created_ns), M(last_seen_ns), M(packets_fwd), M(bytes_fwd), M(packets_rev), M(bytes_rev),
       M(src_ep), M(dst_ep), M(policy_rev), M(backend_id), M(rev_nat_index), M(state), M(tcp_seen), M(flags), M(pad))
LAYOUT(myelin_ipcache_key, M(prefixlen), M(family), M(pad), M(addr))
LAYOUT(myelin_ipcache_val, M(identity), M(ipblock_identity), M(tunnel_endpoint), M(flags))
LAYOUT(myelin_node_config, M(routing_mode), M(node_ip), M(tunnel_ifindex), M(flags), M(native_cidr), M(native_prefix), M(pad), M(snat_port_min),
       M(snat_port_max), M(pad2))
LAYOUT(myelin_policy_key, M(prefixlen), M(ep_id), M(dir), M(proto), M(pad), M(identity), M(dport), M(pad2))
LAYOUT(myelin_policy_val, M(policy_id), M(flags))
LAYOUT(myelin_frag_key, M(saddr), M(daddr), M(id), M(proto), M(family), M(pad))
LAYOUT(myelin_frag_ports, M(sport), M(dport))
LAYOUT(myelin_flow_event, M(ts_ns), M(type), M(subtype), M(verdict), M(direction), M(drop_reason), M(obs_point),
       M(trace_reason), M(tcp_flags), M(ct_state), M(is_reply), M(family), M(proto), M(ifindex), M(src_ep), M(dst_ep),
       M(src_identity), M(dst_identity), M(len), M(eth_proto), M(sport), M(dport), M(icmp_type), M(icmp_code),
       M(eth_src), M(eth_dst), M(egress_policy_id), M(saddr), M(daddr), M(ingress_policy_id), M(dst_service),
       M(src_service), M(tunnel_peer))
LAYOUT(myelin_metrics_key, M(reason), M(dir), M(pad))
LAYOUT(myelin_metrics_val, M(packets), M(bytes))
LAYOUT(myelin_stats, M(events_sent), M(events_lost), M(ct_insert_failed), M(arp_replies), M(metrics_update_failed),
       M(frag_tracked), M(redirect_peer), M(redirect), M(to_stack))
// lb.h
LAYOUT(myelin_lb_svc_key, M(addr), M(dport), M(proto), M(scope), M(slot), M(family), M(pad))
LAYOUT(myelin_lb_svc_val, M(backend_id), M(count), M(rev_nat_index), M(flags), M(affinity_timeout))
LAYOUT(myelin_lb_backend, M(addr), M(port), M(proto), M(flags), M(family), M(pad))
LAYOUT(myelin_lb_revnat, M(addr), M(port), M(family), M(pad))
LAYOUT(myelin_lb_affinity_key, M(client), M(rev_nat_index), M(netns), M(pad))
LAYOUT(myelin_lb_affinity_val, M(last_used_ns), M(backend_id), M(pad))
LAYOUT(myelin_lb_sock_key, M(cookie), M(addr), M(port), M(family), M(pad))
LAYOUT(myelin_lb_sock_val, M(addr), M(port), M(rev_nat_index), M(backend_id))
LAYOUT(myelin_lb_config, M(flags), M(maglev_m), M(node_port_min), M(node_port_max), M(hairpin_ipv4))
LAYOUT(myelin_sock_xlate_event, M(ts_ns), M(type), M(xlate_point), M(proto), M(family), M(rev_nat_index), M(drop_reason), M(pad), M(cookie),
       M(cgroup_id), M(netns_cookie), M(orig_addr), M(xlate_addr), M(orig_port), M(xlate_port), M(pid), M(netns_ino), M(pad2))
// nat.h
LAYOUT(myelin_snat_key, M(saddr), M(daddr), M(sport), M(dport), M(proto), M(family), M(dir), M(pad))
LAYOUT(myelin_snat_entry, M(to_addr), M(to_port), M(flags), M(pad), M(rev_nat_index), M(pad2), M(created_ns), M(last_seen_ns))
// process.h
LAYOUT(myelin_process_event, M(type), M(flags), M(args_len), M(pid), M(tid), M(ppid), M(uid), M(auid), M(netns),
       M(exit_code), M(ktime_ns), M(start_ns), M(parent_start_ns), M(cgroup_id), M(comm), M(binary), M(args))
// tracing.h
LAYOUT(myelin_binary_key, M(path))
LAYOUT(myelin_binary_prefix_key, M(prefixlen), M(path))
LAYOUT(myelin_exec_binary, M(id), M(prefixes))
LAYOUT(myelin_hook_arg, M(offset), M(size), M(type), M(size_offset), M(size_size), M(pad))
LAYOUT(myelin_hook_cond, M(arg), M(op), M(str_len), M(pad), M(value), M(str))
LAYOUT(myelin_hook_ns_match, M(ns), M(op), M(nvalues), M(pad), M(values))
LAYOUT(myelin_hook_selector, M(nconds), M(binary_op), M(nbinaries), M(action), M(action_arg), M(binaries), M(conds),
       M(pid_op), M(npids), M(pid_flags), M(cap_op), M(cap_set), M(nns), M(sock_action), M(sock_arg), M(action_flags), M(pad2), M(pids), M(caps), M(ns))
LAYOUT(myelin_hook_config, M(policy_id), M(hook_id), M(nargs), M(nselectors), M(scoped), M(path_arg), M(flags), M(ret_type),
       M(ret_slot), M(ret_action), M(args), M(selectors))
LAYOUT(myelin_usdt_arg, M(val_off), M(reg_off), M(kind), M(size), M(is_signed), M(pad))
LAYOUT(myelin_usdt_spec, M(args))
LAYOUT(myelin_hook_scope_key, M(policy_id), M(netns))
LAYOUT(myelin_hook_sock, M(tuple), M(mark), M(priority))
LAYOUT(myelin_hook_skb, M(tuple), M(hash), M(len), M(priority), M(mark), M(secpath_len), M(secpath_olen))
LAYOUT(myelin_hook_user_ns, M(level), M(uid), M(gid), M(inum))
LAYOUT(myelin_hook_cred, M(uid), M(gid), M(euid), M(egid), M(suid), M(sgid), M(fsuid), M(fsgid), M(securebits), M(pad), M(permitted),
       M(effective), M(inheritable), M(user_ns))
LAYOUT(myelin_hook_sock_owner, M(pid), M(tid))
LAYOUT(myelin_hook_event, M(policy_id), M(hook_id), M(pid), M(tid), M(uid), M(netns), M(action), M(selector),
       M(str_lens), M(pad), M(ret), M(ktime_ns), M(ints), M(strs))
LAYOUT(myelin_lsm_key, M(hook), M(pad), M(dev), M(ino))
LAYOUT(myelin_lsm_rule, M(policy_id), M(rule_id), M(action), M(prefix), M(pad), M(error))
LAYOUT(myelin_lsm_event, M(policy_id), M(rule_id), M(hook), M(pid), M(tid), M(uid), M(netns), M(ret), M(action),
       M(depth), M(pad), M(ktime_ns), M(name))
// sensors.h
LAYOUT(myelin_sock_event, M(type), M(pad), M(pid), M(tid), M(uid), M(netns), M(ret), M(ktime_ns), M(cookie), M(sock))
LAYOUT(myelin_gpu_stats, M(calls), M(bytes_allocated), M(bytes_copied), M(kernel_launches), M(first_ns), M(last_ns),
       M(netns), M(pad), M(comm))
LAYOUT(myelin_block_key, M(dev), M(tgid))
LAYOUT(myelin_block_stats, M(ios), M(bytes), M(reads), M(writes), M(latency_sum_ns), M(latency_hist), M(netns), M(pad),
       M(comm))

struct Listed {
  std::string name;
  size_t size;
  std::vector<Member> members;
};

const std::vector<Listed>& listed_structs() {
  static const std::vector<Listed> all = [] {
    std::vector<Listed> v;
#define LISTED(T) v.push_back({#T, sizeof(T), Layout<T>::members()});
    MYELIN_ABI_STRUCTS(LISTED)
#undef LISTED
    return v;
  }();
  return all;
}

const std::set<std::string>& listed_enums() {
  static const std::set<std::string> all = {
#define LISTED(T) #T,
      MYELIN_ABI_ENUMS(LISTED)
#undef LISTED
  };
  return all;
}

const Listed* find_listed(const std::string& name) {
  for (const auto& s : listed_structs())
    if (s.name == name) return &s;
  return nullptr;
}

// Structs BPF objects keep to themselves (no user-space code reads or writes
// them), with why. Each must still exist in some object: a stale entry fails.
const std::map<std::string, std::string> kBpfPrivate = {
    {"myelin_path_scratch", "lib/task.h: per-CPU scratch of the dentry walk"},
    {"start", "block.bpf.c: a request's issue time, until it completes"},
    {"connect_args", "sockets.bpf.c: a connect() in progress, until it returns"},
    {"myelin_lb_maglev_inner", "lib/lb_maps.h: the template of a Maglev table (an array of backend ids); the agent creates the real ones"},
    {"lb_scratch", "lib/lb_nat.h: per-CPU scratch where the answer to a Service without backends is built"},
    {"myelin_uprobe_regs", "uprobe.bpf.c: a call's argument registers at entry, kept per thread until its return probe runs"},
};

// Every production BPF object (MYELIN_BPF_OBJECTS from cmake/Bpf.cmake), the
// layout object excluded.
std::vector<std::string> production_objects() {
  std::vector<std::string> out;
  std::stringstream list(MYELIN_BPF_OBJECTS);  // ':'-separated
  for (std::string o; std::getline(list, o, ':');)
    if (o != MYELIN_ABI_LAYOUT_OBJECT) out.push_back(o);
  return out;
}

// One struct of `b` against the C++ side: size, then every member in order.
void expect_layout(const BtfFile& b, const Listed& want, const std::string& where) {
  SCOPED_TRACE(want.name + " in " + where);
  const btf_type* t = b.find_struct(want.name);
  ASSERT_NE(t, nullptr) << want.name << " is not in the BTF";
  EXPECT_EQ(t->size, want.size) << "sizeof differs between clang -target bpf and C++";
  ASSERT_EQ(static_cast<size_t>(btf_vlen(t)), want.members.size())
      << "the BTF has " << btf_vlen(t) << " members, the test lists " << want.members.size()
      << ": list every member in LAYOUT(" << want.name << ", ...)";
  const btf_member* m = btf_members(t);
  for (size_t i = 0; i < want.members.size(); ++i) {
    const Member& w = want.members[i];
    const auto idx = static_cast<uint32_t>(i);
    EXPECT_EQ(b.name(m[i].name_off), w.name) << "member " << i << " (in declaration order)";
    EXPECT_EQ(btf_member_bitfield_size(t, idx), 0u) << w.name << " is a bitfield: the ABI has none (their layout is the compiler's)";
    EXPECT_EQ(btf_member_bit_offset(t, idx), w.offset * 8) << "offset of " << w.name;
    EXPECT_EQ(btf__resolve_size(b.get(), m[i].type), static_cast<int64_t>(w.size)) << "size of " << w.name;
  }
}

TEST(AbiLayout, EveryListedStructMatchesItsBtf) {
  BtfFile b(MYELIN_ABI_LAYOUT_OBJECT);
  ASSERT_TRUE(b.ok()) << "cannot read BTF from " << MYELIN_ABI_LAYOUT_OBJECT;
  ASSERT_GE(listed_structs().size(), 35u) << "the lists lost structs";
  for (const auto& s : listed_structs()) expect_layout(b, s, "abi_layout.bpf.o");
}

TEST(AbiLayout, EveryListedEnumIsInTheBtf) {
  BtfFile b(MYELIN_ABI_LAYOUT_OBJECT);
  ASSERT_TRUE(b.ok());
  for (const auto& e : listed_enums()) EXPECT_FALSE(b.enumerators(e).empty()) << e << " is not in the BTF";
}

// What the ABI headers define, read from their text: the lists above must
// hold every struct and enum of every header in the directory.
TEST(AbiLayout, EveryStructAndEnumOfTheHeadersIsListed) {
  const std::regex def(R"(^(struct|enum) (myelin_\w+) \{)");
  size_t headers = 0, structs = 0, enums = 0;
  for (const auto& f : std::filesystem::directory_iterator(MYELIN_ABI_INCLUDE_DIR)) {
    if (f.path().extension() != ".h") continue;
    ++headers;
    std::ifstream in(f.path());
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, def)) continue;
      SCOPED_TRACE(f.path().filename().string() + ": " + line);
      if (m[1] == "struct") {
        ++structs;
        EXPECT_NE(find_listed(m[2]), nullptr) << m[2] << " is not in its header's MYELIN_ABI_*_STRUCTS list";
      } else {
        ++enums;
        EXPECT_TRUE(listed_enums().count(m[2])) << m[2] << " is not in its header's MYELIN_ABI_*_ENUMS list";
      }
    }
  }
  EXPECT_EQ(headers, 7u) << "a new ABI header: add its lists to abi_all.h";
  EXPECT_EQ(structs, listed_structs().size()) << "a listed struct no header defines, or one defined twice";
  EXPECT_EQ(enums, listed_enums().size()) << "a listed enum no header defines, or one defined twice";
}

// The production objects as built: every struct they share with user space
// is an ABI struct, and has the ABI's layout there too (a .bpf.c that
// redefined one, or a macro that changed it, would differ).
TEST(AbiLayout, ProductionObjectsShareOnlyAbiStructs) {
  const auto objects = production_objects();
  ASSERT_GE(objects.size(), 7u) << MYELIN_BPF_OBJECTS;
  std::set<std::string> compared, private_seen;
  for (const auto& o : objects) {
    SCOPED_TRACE(o);
    BtfFile b(o);
    ASSERT_TRUE(b.ok()) << "cannot read BTF from " << o;
    std::set<std::string> shared;
    for (const auto& s : b.map_structs()) shared.insert(s);
    for (const auto& s : b.struct_names())
      if (s.rfind("myelin_", 0) == 0) shared.insert(s);
    for (const auto& s : shared) {
      if (kBpfPrivate.count(s)) {
        private_seen.insert(s);
        continue;
      }
      const Listed* l = find_listed(s);
      EXPECT_NE(l, nullptr) << "struct " << s << " is a map key or value, or a myelin_ struct, of " << o
                            << " but not in the ABI: move it to datapath/include/myelin/abi/ and list it"
                            << " (or, if user space never touches it, to kBpfPrivate)";
      if (!l) continue;
      expect_layout(b, *l, o);
      compared.insert(s);
    }
  }
  for (const auto& [s, why] : kBpfPrivate) EXPECT_TRUE(private_seen.count(s)) << "stale kBpfPrivate entry " << s << " (" << why << ")";
  // Positive control: the maps' structs of the pod datapath and the runtime were found.
  for (const char* s : {"myelin_ct_key", "myelin_ct_entry", "myelin_policy_key", "myelin_hook_config", "myelin_lsm_rule",
                        "myelin_block_stats", "myelin_gpu_stats", "myelin_binary_key"})
    EXPECT_TRUE(compared.count(s)) << s << " not seen in any production object";
}

}  // namespace
