// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A TracingPolicy tracepoint hook. One instance is loaded per (policy,
 * tracepoint); its config map holds the compiled policy: which record fields
 * to capture (offsets from the tracepoint's format) and the selectors. The
 * filtering happens here, in the kernel: nothing reaches user space unless a
 * selector matches (or the policy has none). Actions: post an event, not
 * post, or send SIGKILL / a signal to the process (it is killed on its way
 * back to user space: the call itself may have completed).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "myelin/abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_tp_config);
} myelin_tp_config SEC(".maps");

/* Shared by every instance (the agent reuses one map for all). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4u << 20);
} myelin_tp_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_proc_stats);
} myelin_tp_stats SEC(".maps");

/* Shared with process.bpf.c: tgid -> id of the binary it runs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} myelin_exec_binary SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_tp_event);
} myelin_tp_scratch SEC(".maps");

const struct myelin_tp_event *unused_tp_event __attribute__((unused));

static __always_inline bool cond_matches(const struct myelin_tp_config *cfg, const struct myelin_tp_cond *c,
					 const struct myelin_tp_event *e)
{
	__u32 a = c->arg & (MYELIN_TP_MAX_ARGS - 1);
	if (cfg->args[a].type == MYELIN_TP_ARG_STRING) {
		if (c->op != MYELIN_TP_OP_PREFIX && c->op != MYELIN_TP_OP_EQ && c->op != MYELIN_TP_OP_NE)
			return false;
		bool same = true;
		for (int k = 0; k < MYELIN_TP_STR_MAX - 1; k++) {
			if (k >= c->str_len)
				break;
			if (e->strs[a][k] != c->str[k]) {
				same = false;
				break;
			}
		}
		if (same && c->op != MYELIN_TP_OP_PREFIX && (c->str_len & (MYELIN_TP_STR_MAX - 1)) < MYELIN_TP_STR_MAX)
			same = e->strs[a][c->str_len & (MYELIN_TP_STR_MAX - 1)] == 0;
		return c->op == MYELIN_TP_OP_NE ? !same : same;
	}
	__u64 v = e->ints[a];
	switch (c->op) {
	case MYELIN_TP_OP_EQ: return v == c->value;
	case MYELIN_TP_OP_NE: return v != c->value;
	case MYELIN_TP_OP_GT:
		return cfg->args[a].type == MYELIN_TP_ARG_INT ? (__s64)v > (__s64)c->value : v > c->value;
	case MYELIN_TP_OP_LT:
		return cfg->args[a].type == MYELIN_TP_ARG_INT ? (__s64)v < (__s64)c->value : v < c->value;
	case MYELIN_TP_OP_MASK: return (v & c->value) != 0;
	}
	return false;
}

static __always_inline bool selector_matches(const struct myelin_tp_config *cfg, const struct myelin_tp_selector *s,
					     const struct myelin_tp_event *e, __u32 binary)
{
	if (s->binary_op) {
		bool found = false;
		for (int j = 0; j < MYELIN_TP_MAX_BINARIES; j++)
			if (j < s->nbinaries && binary && s->binaries[j] == binary)
				found = true;
		if (found != (s->binary_op == 1))
			return false;
	}
	for (int c = 0; c < MYELIN_TP_MAX_CONDS; c++) {
		if (c >= s->nconds)
			break;
		if (!cond_matches(cfg, &s->conds[c], e))
			return false;
	}
	return true;
}

static __always_inline void count(bool sent)
{
	__u32 zero = 0;
	struct myelin_proc_stats *st = bpf_map_lookup_elem(&myelin_tp_stats, &zero);
	if (!st)
		return;
	if (sent)
		st->events_sent++;
	else
		st->events_lost++;
}

SEC("tracepoint")
int myelin_tracepoint(void *ctx)
{
	__u32 zero = 0;
	const struct myelin_tp_config *cfg = bpf_map_lookup_elem(&myelin_tp_config, &zero);
	struct myelin_tp_event *e = bpf_map_lookup_elem(&myelin_tp_scratch, &zero);
	if (!cfg || !e)
		return 0;

	for (int i = 0; i < MYELIN_TP_MAX_ARGS; i++) {
		e->ints[i] = 0;
		e->strs[i][0] = 0;
		if (i >= cfg->nargs)
			continue;
		const struct myelin_tp_arg *a = &cfg->args[i];
		void *field = (char *)ctx + a->offset;
		if (a->type == MYELIN_TP_ARG_STRING) {
			__u64 ptr = 0;
			bpf_probe_read_kernel(&ptr, sizeof(ptr), field);
			bpf_probe_read_user_str(e->strs[i], MYELIN_TP_STR_MAX, (void *)ptr);
			continue;
		}
		__u64 v = 0;
		switch (a->size) {
		case 1: { __s8 x = 0; bpf_probe_read_kernel(&x, 1, field); v = a->type == MYELIN_TP_ARG_INT ? (__u64)(__s64)x : (__u8)x; break; }
		case 2: { __s16 x = 0; bpf_probe_read_kernel(&x, 2, field); v = a->type == MYELIN_TP_ARG_INT ? (__u64)(__s64)x : (__u16)x; break; }
		case 4: { __s32 x = 0; bpf_probe_read_kernel(&x, 4, field); v = a->type == MYELIN_TP_ARG_INT ? (__u64)(__s64)x : (__u32)x; break; }
		default: bpf_probe_read_kernel(&v, 8, field); break;
		}
		e->ints[i] = v;
	}

	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	__u32 *bid = bpf_map_lookup_elem(&myelin_exec_binary, &tgid);
	__u32 binary = bid ? *bid : 0;

	int matched = -1;
	__u8 action = MYELIN_TP_ACT_POST;
	__u32 sig = 0;
	if (cfg->nselectors == 0)
		matched = 0;
	for (int s = 0; s < MYELIN_TP_MAX_SELECTORS; s++) {
		if (matched >= 0 || s >= cfg->nselectors)
			break;
		if (selector_matches(cfg, &cfg->selectors[s], e, binary)) {
			matched = s;
			action = cfg->selectors[s].action;
			sig = cfg->selectors[s].signal;
		}
	}
	if (matched < 0)
		return 0;

	if (action == MYELIN_TP_ACT_SIGKILL)
		bpf_send_signal(9);
	else if (action == MYELIN_TP_ACT_SIGNAL && sig > 0 && sig < 65)
		bpf_send_signal(sig);
	if (action == MYELIN_TP_ACT_NOPOST)
		return 0;

	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	e->policy_id = cfg->policy_id;
	e->hook_id = cfg->hook_id;
	e->pid = tgid;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->netns = BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
	e->action = action;
	e->selector = matched;
	e->ktime_ns = bpf_ktime_get_ns();
	count(bpf_ringbuf_output(&myelin_tp_events, e, sizeof(*e), 0) == 0);
	return 0;
}
