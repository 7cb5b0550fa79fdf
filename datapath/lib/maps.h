/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map of the pod datapath, pinned by name under the agent's bpffs root
 * so they outlive the agent (restarts adopt them). Keys/values: abi.h. */
#pragma once

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MYELIN_ENDPOINTS_MAX);
	__type(key, struct myelin_ep_key);
	__type(value, struct myelin_ep_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_ep SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MYELIN_CT_MAX);
	__type(key, struct myelin_ct_key);
	__type(value, struct myelin_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MYELIN_FRAG_MAX);
	__type(key, struct myelin_frag_key);
	__type(value, struct myelin_frag_ports);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_frag SEC(".maps");

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

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MYELIN_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MYELIN_IPCACHE_MAX);
	__type(key, struct myelin_ipcache_key);
	__type(value, struct myelin_ipcache_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_ipcache SEC(".maps");

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
