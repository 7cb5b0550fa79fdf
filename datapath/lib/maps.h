/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map of the pod datapath, pinned by name under the agent's bpffs root
 * so they outlive the agent (restarts adopt them). Keys/values: abi/net.h.
 *
 * Each map that can fill says above it what happens when it is full; none
 * of them lets through what policy would deny. Sizes: abi/net.h, or myelind
 * --bpf-map-max-entries; fill levels: myelin_bpf_map_pressure{map_name}. */
#pragma once

/* Full: the agent's insert fails (E2BIG), so CNI ADD fails with "this node is
 * full" and rolls back (no map entry, no tc program, no route; the plugin
 * removes the pod's interface and address). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MYELIN_ENDPOINTS_MAX);
	__type(key, struct myelin_ep_key);
	__type(value, struct myelin_ep_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_ep SEC(".maps");

/* Full: LRU, the least recently used connection is evicted to make room. An
 * evicted connection's next packet finds no entry and goes through policy
 * again like a first packet (conntrack.h), so eviction can only cost a
 * denied packet, never pass one. An insert that still fails drops the packet
 * CT_MAP_INSERTION_FAILED (stats.ct_insert_failed). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MYELIN_CT_MAX);
	__type(key, struct myelin_ct_key);
	__type(value, struct myelin_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_ct SEC(".maps");

/* Full: LRU, the oldest datagram's first-fragment ports are evicted; its
 * later fragments are dropped FIRST_FRAGMENT_NOT_FOUND (never guessed). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MYELIN_FRAG_MAX);
	__type(key, struct myelin_frag_key);
	__type(value, struct myelin_frag_ports);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_frag SEC(".maps");

/* {reason, direction} keys, a few dozen at most: cannot fill in practice; a
 * failed insert is counted in stats.metrics_update_failed, the verdict is
 * unchanged. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MYELIN_METRICS_MAX);
	__type(key, struct myelin_metrics_key);
	__type(value, struct myelin_metrics_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_metrics SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_stats SEC(".maps");

/* Full: the event is not written and counted in stats.events_lost (trace.h);
 * the packet's verdict never depends on it. The agent turns the count into
 * lost-event records and myelin_lost_events_total{source="datapath_ringbuf"}. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MYELIN_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_events SEC(".maps");

/* Full: the agent's insert fails (ENOSPC) and the prefix is a gap: its
 * addresses get the identity of the longest installed prefix holding them, or
 * world. An endpoint whose policy would allow more under that identity (an
 * except, a deny) fails closed (PolicyManager, policy::fallback_widens). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MYELIN_IPCACHE_MAX);
	__type(key, struct myelin_ipcache_key);
	__type(value, struct myelin_ipcache_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_ipcache SEC(".maps");

/* Full (both policy maps): the agent's insert fails (ENOSPC) and the endpoint
 * it was for fails closed: MYELIN_EP_F_POLICY_FAILED, every new connection
 * dropped NO_POLICY_CONFIG (policy.h), until a regeneration fits. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MYELIN_POLICY_MAX);
	__type(key, struct myelin_policy_key);
	__type(value, struct myelin_policy_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_pol_allow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MYELIN_POLICY_MAX);
	__type(key, struct myelin_policy_key);
	__type(value, struct myelin_policy_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_pol_deny SEC(".maps");

/* This node (abi/net.h myelin_node_config): written by the agent before any
 * program is attached; every program reads key 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_node_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_node SEC(".maps");

static __always_inline const struct myelin_node_config *node_config(void)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&myelin_node, &k);
}
