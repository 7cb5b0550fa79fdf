// SPDX-License-Identifier: Apache-2.0
// The ABI proof: every struct of abi.h that the BPF object uses has, in the
// object's BTF, the same size and the same member offsets as the C++ side
// compiled from the same header. A padding or type drift fails here.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cstddef>

#include "myelin/abi/net.h"
#include "myelin/abi/process.h"

namespace {

struct Member {
  const char* name;
  size_t offset;
};
struct StructAbi {
  const char* name;
  size_t size;
  std::vector<Member> members;
};

#define M(S, f) Member{#f, offsetof(S, f)}

const std::vector<StructAbi> kStructs = {
    {"myelin_ep_key", sizeof(myelin_ep_key), {M(myelin_ep_key, addr), M(myelin_ep_key, family), M(myelin_ep_key, pad)}},
    {"myelin_ep_info", sizeof(myelin_ep_info),
     {M(myelin_ep_info, ifindex), M(myelin_ep_info, ep_id), M(myelin_ep_info, identity), M(myelin_ep_info, flags),
      M(myelin_ep_info, mac), M(myelin_ep_info, node_mac), M(myelin_ep_info, policy_rev)}},
    {"myelin_ct_key", sizeof(myelin_ct_key),
     {M(myelin_ct_key, saddr), M(myelin_ct_key, daddr), M(myelin_ct_key, sport), M(myelin_ct_key, dport),
      M(myelin_ct_key, proto), M(myelin_ct_key, family)}},
    {"myelin_ct_entry", sizeof(myelin_ct_entry),
     {M(myelin_ct_entry, created_ns), M(myelin_ct_entry, last_seen_ns), M(myelin_ct_entry, packets_fwd),
      M(myelin_ct_entry, bytes_fwd), M(myelin_ct_entry, packets_rev), M(myelin_ct_entry, bytes_rev),
      M(myelin_ct_entry, src_ep), M(myelin_ct_entry, dst_ep), M(myelin_ct_entry, state), M(myelin_ct_entry, tcp_seen),
      M(myelin_ct_entry, policy_rev)}},
    {"myelin_frag_key", sizeof(myelin_frag_key),
     {M(myelin_frag_key, saddr), M(myelin_frag_key, daddr), M(myelin_frag_key, id), M(myelin_frag_key, proto),
      M(myelin_frag_key, family)}},
    {"myelin_ipcache_key", sizeof(myelin_ipcache_key),
     {M(myelin_ipcache_key, prefixlen), M(myelin_ipcache_key, family), M(myelin_ipcache_key, addr)}},
    {"myelin_ipcache_val", sizeof(myelin_ipcache_val), {M(myelin_ipcache_val, identity), M(myelin_ipcache_val, ipblock_identity)}},
    {"myelin_policy_key", sizeof(myelin_policy_key),
     {M(myelin_policy_key, prefixlen), M(myelin_policy_key, ep_id), M(myelin_policy_key, dir), M(myelin_policy_key, proto),
      M(myelin_policy_key, identity), M(myelin_policy_key, dport)}},
    {"myelin_policy_val", sizeof(myelin_policy_val), {M(myelin_policy_val, policy_id), M(myelin_policy_val, flags)}},
    {"myelin_frag_ports", sizeof(myelin_frag_ports), {M(myelin_frag_ports, sport), M(myelin_frag_ports, dport)}},
    {"myelin_metrics_key", sizeof(myelin_metrics_key), {M(myelin_metrics_key, reason), M(myelin_metrics_key, dir)}},
    {"myelin_metrics_val", sizeof(myelin_metrics_val), {M(myelin_metrics_val, packets), M(myelin_metrics_val, bytes)}},
    {"myelin_stats", sizeof(myelin_stats),
     {M(myelin_stats, events_sent), M(myelin_stats, events_lost), M(myelin_stats, ct_insert_failed), M(myelin_stats, arp_replies),
      M(myelin_stats, metrics_update_failed), M(myelin_stats, frag_tracked), M(myelin_stats, redirect_peer),
      M(myelin_stats, redirect), M(myelin_stats, to_stack)}},
    {"myelin_flow_event", sizeof(myelin_flow_event),
     {M(myelin_flow_event, ts_ns), M(myelin_flow_event, type), M(myelin_flow_event, subtype),
      M(myelin_flow_event, verdict), M(myelin_flow_event, direction), M(myelin_flow_event, drop_reason),
      M(myelin_flow_event, obs_point), M(myelin_flow_event, trace_reason), M(myelin_flow_event, tcp_flags),
      M(myelin_flow_event, ct_state), M(myelin_flow_event, is_reply), M(myelin_flow_event, family),
      M(myelin_flow_event, proto), M(myelin_flow_event, ifindex), M(myelin_flow_event, src_ep),
      M(myelin_flow_event, dst_ep), M(myelin_flow_event, src_identity), M(myelin_flow_event, dst_identity),
      M(myelin_flow_event, len), M(myelin_flow_event, eth_proto), M(myelin_flow_event, sport),
      M(myelin_flow_event, dport), M(myelin_flow_event, icmp_type), M(myelin_flow_event, icmp_code),
      M(myelin_flow_event, eth_src), M(myelin_flow_event, eth_dst), M(myelin_flow_event, egress_policy_id),
      M(myelin_flow_event, saddr), M(myelin_flow_event, ingress_policy_id),
      M(myelin_flow_event, daddr)}},
};

const std::vector<StructAbi> kProcessStructs = {
    {"myelin_process_event", sizeof(myelin_process_event),
     {M(myelin_process_event, type), M(myelin_process_event, flags), M(myelin_process_event, args_len),
      M(myelin_process_event, pid), M(myelin_process_event, tid), M(myelin_process_event, ppid), M(myelin_process_event, uid),
      M(myelin_process_event, auid), M(myelin_process_event, netns), M(myelin_process_event, exit_code),
      M(myelin_process_event, ktime_ns), M(myelin_process_event, start_ns), M(myelin_process_event, parent_start_ns),
      M(myelin_process_event, cgroup_id), M(myelin_process_event, comm), M(myelin_process_event, binary),
      M(myelin_process_event, args)}},
    {"myelin_proc_stats", sizeof(myelin_proc_stats), {M(myelin_proc_stats, events_sent), M(myelin_proc_stats, events_lost)}},
};

void check_object(const char* object, const std::vector<StructAbi>& structs) {
  btf* b = btf__parse(object, nullptr);
  ASSERT_NE(b, nullptr) << "cannot read BTF from " << object;
  for (const auto& s : structs) {
    SCOPED_TRACE(s.name);
    int id = btf__find_by_name_kind(b, s.name, BTF_KIND_STRUCT);
    ASSERT_GT(id, 0) << s.name << " is not in the BPF object's BTF: the BPF side no longer uses it?";
    const btf_type* t = btf__type_by_id(b, static_cast<__u32>(id));
    EXPECT_EQ(t->size, s.size) << "sizeof differs";
    const btf_member* m = btf_members(t);
    for (const auto& want : s.members) {
      bool found = false;
      for (int i = 0; i < btf_vlen(t); ++i) {
        if (std::string(btf__name_by_offset(b, m[i].name_off)) != want.name) continue;
        found = true;
        EXPECT_EQ(btf_member_bit_offset(t, static_cast<__u32>(i)) / 8, want.offset) << "offset of " << want.name;
      }
      EXPECT_TRUE(found) << "member " << want.name << " missing in BTF";
    }
    EXPECT_EQ(static_cast<size_t>(btf_vlen(t)) >= s.members.size(), true);
  }
  btf__free(b);
}

TEST(AbiBtf, EveryStructMatchesTheBpfObject) { check_object(MYELIN_LXC_BPF_OBJECT, kStructs); }
TEST(AbiBtf, ProcessEventsMatchTheProcessObject) { check_object(MYELIN_PROCESS_BPF_OBJECT, kProcessStructs); }

}  // namespace
