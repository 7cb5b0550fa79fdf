/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps of a TracingPolicy hook object (tracepoint.bpf.c, uprobe.bpf.c,
 * kprobe.bpf.c). Each loaded instance has its own config (the compiled
 * policy of one hook) and scratch; the agent points the ring, the counters,
 * the pod scope and the process probes' binary map of every instance at one
 * shared map each.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "myelin/abi/tracing.h"
#include "task.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_hook_config);
} myelin_hook_compiled SEC(".maps");

/* Shared by every instance (the agent reuses one map for all). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4u << 20);
} myelin_hook_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_proc_stats);
} myelin_hook_stats SEC(".maps");

/* Shared with process.bpf.c: tgid -> the binary it runs (id, prefix bits). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct myelin_exec_binary);
} myelin_exec_binary SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_hook_event);
} myelin_hook_scratch SEC(".maps");

/* Scoped policies (TracingPolicyNamespaced, podSelector): shared by every instance. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct myelin_hook_scope_key);
	__type(value, __u8);
} myelin_hook_scope SEC(".maps");

/* Where fd paths are built backwards (twice the string size). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_path_scratch);
} myelin_hook_path_scratch SEC(".maps");

/* TrackSock: sock address -> the process it belongs to, shared by every instance. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, struct myelin_hook_sock_owner);
} myelin_hook_socks SEC(".maps");

static __always_inline void hook__sock_track(__u64 sk, __u8 action, __u32 pid, __u32 tid)
{
	if (action == MYELIN_HOOK_ACT_UNTRACKSOCK) {
		bpf_map_delete_elem(&myelin_hook_socks, &sk);
		return;
	}
	struct myelin_hook_sock_owner o = {pid, tid};
	bpf_map_update_elem(&myelin_hook_socks, &sk, &o, BPF_ANY);
}

static __always_inline bool hook__sock_owner(__u64 sk, struct myelin_hook_sock_owner *owner)
{
	const struct myelin_hook_sock_owner *o = bpf_map_lookup_elem(&myelin_hook_socks, &sk);
	if (!o)
		return false;
	*owner = *o;
	return true;
}

const struct myelin_hook_event *unused_hook_event __attribute__((unused));
const struct myelin_hook_skb *unused_hook_skb __attribute__((unused));
const struct myelin_hook_sock *unused_hook_sock __attribute__((unused));
const struct myelin_hook_cred *unused_hook_cred __attribute__((unused));
