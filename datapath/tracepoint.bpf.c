// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A TracingPolicy hook: a tracepoint, a uprobe or a kprobe (fentry, or
 * fmod_ret when a selector overrides). One instance is loaded per (policy,
 * hook); its config map holds the compiled policy: which args to capture
 * (tracepoint: offsets from the tracepoint's format; uprobe: the argument
 * registers; kprobe: the function's arguments, or a syscall's registers)
 * and the selectors. The filtering happens here, in the
 * kernel: nothing reaches user space unless a selector matches (or the
 * policy has none). Actions: post an event, not post, or send SIGKILL / a
 * signal to the process (it is killed on its way back to user space: the
 * call itself may have completed), or, on fmod_ret, Override: the function
 * is not run and returns the chosen errno.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "myelin/abi/tracing.h"
#include "../lib/ringbuf.h"
#include "../lib/sock.h"
#include "../lib/task.h"

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
	__type(value, struct myelin_tp_event);
} myelin_tp_scratch SEC(".maps");

/* Scoped policies (TracingPolicyNamespaced, podSelector): shared by every instance. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct myelin_tp_scope_key);
	__type(value, __u8);
} myelin_tp_scope SEC(".maps");

/* Where fd paths are built backwards (twice the string size). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_path_scratch);
} myelin_tp_path_scratch SEC(".maps");

const struct myelin_tp_event *unused_tp_event __attribute__((unused));

static __always_inline bool str_matches(const struct myelin_tp_cond *c, const char *s, __u32 len)
{
	const __u32 M = MYELIN_TP_STR_MAX - 1;
	if (c->op == MYELIN_TP_OP_POSTFIX) {
		if (c->str_len > len)
			return false;
		__u32 base = len - c->str_len;
		for (int k = 0; k < MYELIN_TP_STR_MAX - 1; k++) {
			if (k >= c->str_len)
				break;
			if (s[(base + k) & M] != c->str[k])
				return false;
		}
		return true;
	}
	bool same = true;
	for (int k = 0; k < MYELIN_TP_STR_MAX - 1; k++) {
		if (k >= c->str_len)
			break;
		if (s[k] != c->str[k]) {
			same = false;
			break;
		}
	}
	if (same && c->op != MYELIN_TP_OP_PREFIX)
		same = s[c->str_len & M] == 0;
	return c->op == MYELIN_TP_OP_NE ? !same : same;
}

/* An address against addr/bits (the cond's str and str_len), same family only. */
static __always_inline bool addr_in(const __u8 *addr, __u8 family, const struct myelin_tp_cond *c)
{
	if (family != c->value)
		return false;
	__u32 bits = c->str_len;
	for (int i = 0; i < 16; i++) {
		if (bits == 0)
			break;
		__u8 mask = bits >= 8 ? 0xff : (__u8)(0xff << (8 - bits));
		if ((addr[i] ^ (__u8)c->str[i]) & mask)
			return false;
		bits = bits >= 8 ? bits - 8 : 0;
	}
	return true;
}

static __always_inline bool sock_matches(const struct myelin_tp_cond *c, const struct myelin_sock_tuple *t)
{
	switch (c->op) {
	case MYELIN_TP_OP_SPORT: return t->sport == c->value;
	case MYELIN_TP_OP_NOT_SPORT: return t->sport != c->value;
	case MYELIN_TP_OP_DPORT: return t->dport == c->value;
	case MYELIN_TP_OP_NOT_DPORT: return t->dport != c->value;
	case MYELIN_TP_OP_SADDR: return addr_in(t->saddr, t->family, c);
	case MYELIN_TP_OP_NOT_SADDR: return !addr_in(t->saddr, t->family, c);
	case MYELIN_TP_OP_DADDR: return addr_in(t->daddr, t->family, c);
	case MYELIN_TP_OP_NOT_DADDR: return !addr_in(t->daddr, t->family, c);
	case MYELIN_TP_OP_PROTOCOL: return t->protocol == c->value;
	case MYELIN_TP_OP_FAMILY: return t->family == c->value;
	}
	return false;
}

static __always_inline bool cond_matches(const struct myelin_tp_config *cfg, const struct myelin_tp_cond *c,
					 const struct myelin_tp_event *e)
{
	__u32 a = c->arg & (MYELIN_TP_MAX_ARGS - 1);
	if (c->arg == MYELIN_TP_RET_ARG) {  /* matchReturnArgs: the return value, signed */
		__s64 r = e->ret;
		switch (c->op) {
		case MYELIN_TP_OP_EQ: return r == (__s64)c->value;
		case MYELIN_TP_OP_NE: return r != (__s64)c->value;
		case MYELIN_TP_OP_GT: return r > (__s64)c->value;
		case MYELIN_TP_OP_LT: return r < (__s64)c->value;
		case MYELIN_TP_OP_MASK: return (r & c->value) != 0;
		}
		return false;
	}
	const __u8 type = cfg->args[a].type;
	if (type == MYELIN_TP_ARG_SOCK)
		return sock_matches(c, (const struct myelin_sock_tuple *)e->strs[a]);
	if (type == MYELIN_TP_ARG_STRING || type == MYELIN_TP_ARG_FD || type == MYELIN_TP_ARG_FILE || type == MYELIN_TP_ARG_PATH)
		return str_matches(c, e->strs[a], e->str_lens[a]);
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

static __always_inline bool pid_listed(const struct myelin_tp_selector *s, __u32 pid)
{
	for (int j = 0; j < MYELIN_TP_MAX_PIDS; j++)
		if (j < s->npids && s->pids[j] == pid)
			return true;
	return false;
}

/* matchPIDs: the process (or, with followForks, one of its ancestors) is listed. */
static __always_inline bool pids_match(const struct myelin_tp_selector *s, struct task_struct *t)
{
	bool found = false;
	for (int depth = 0; depth <= MYELIN_TP_ANCESTORS; depth++) {
		if (!t)
			break;
		__u32 pid = BPF_CORE_READ(t, tgid);
		if (s->pid_flags & MYELIN_TP_PID_NAMESPACED)
			task_pid_ns(BPF_CORE_READ(t, group_leader), &pid);
		if (pid_listed(s, pid)) {
			found = true;
			break;
		}
		if (!(s->pid_flags & MYELIN_TP_PID_FOLLOW_FORKS) || pid <= 1)
			break;
		t = BPF_CORE_READ(t, real_parent);
	}
	return found == (s->pid_op == MYELIN_TP_SET_IN);
}

static __always_inline bool ns_matches(const struct myelin_tp_ns_match *m, struct task_struct *t)
{
	__u32 inum = task_ns_inum(t, m->ns);
	bool found = false;
	for (int j = 0; j < MYELIN_TP_NS_VALUES; j++)
		if (j < m->nvalues && m->values[j] == inum)
			found = true;
	return found == (m->op == MYELIN_TP_SET_IN);
}

static __always_inline bool selector_matches(const struct myelin_tp_config *cfg, const struct myelin_tp_selector *s,
					     const struct myelin_tp_event *e, const struct myelin_exec_binary *binary,
					     struct task_struct *t)
{
	if (s->binary_op == MYELIN_TP_SET_IN || s->binary_op == MYELIN_TP_SET_NOT_IN) {
		bool found = false;
		for (int j = 0; j < MYELIN_TP_MAX_BINARIES; j++)
			if (j < s->nbinaries && binary->id && s->binaries[j] == binary->id)
				found = true;
		if (found != (s->binary_op == MYELIN_TP_SET_IN))
			return false;
	} else if (s->binary_op == MYELIN_TP_SET_PREFIX || s->binary_op == MYELIN_TP_SET_NOT_PREFIX) {
		bool found = (binary->prefixes & s->binaries[0]) != 0;
		if (found != (s->binary_op == MYELIN_TP_SET_PREFIX))
			return false;
	}
	if (s->pid_op != MYELIN_TP_SET_ANY && !pids_match(s, t))
		return false;
	if (s->cap_op != MYELIN_TP_SET_ANY) {
		bool any = (task_caps(t, s->cap_set) & s->caps) != 0;
		if (any != (s->cap_op == MYELIN_TP_SET_IN))
			return false;
	}
	for (int n = 0; n < MYELIN_TP_MAX_NS; n++) {
		if (n >= s->nns)
			break;
		if (!ns_matches(&s->ns[n], t))
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

/* An integer argument of `size` bytes at `field` (kernel memory), widened. */
static __always_inline __u64 read_int(const void *field, __u8 size, bool is_signed)
{
	switch (size) {
	case 1: { __s8 x = 0; bpf_probe_read_kernel(&x, 1, field); return is_signed ? (__u64)(__s64)x : (__u8)x; }
	case 2: { __s16 x = 0; bpf_probe_read_kernel(&x, 2, field); return is_signed ? (__u64)(__s64)x : (__u16)x; }
	case 4: { __s32 x = 0; bpf_probe_read_kernel(&x, 4, field); return is_signed ? (__u64)(__s64)x : (__u32)x; }
	}
	__u64 v = 0;
	bpf_probe_read_kernel(&v, 8, field);
	return v;
}

static __always_inline __u64 narrow(__u64 v, __u8 size, bool is_signed)
{
	switch (size) {
	case 1: return is_signed ? (__u64)(__s64)(__s8)v : (__u8)v;
	case 2: return is_signed ? (__u64)(__s64)(__s16)v : (__u16)v;
	case 4: return is_signed ? (__u64)(__s64)(__s32)v : (__u32)v;
	}
	return v;
}

enum hook_flavor { TRACEPOINT, UPROBE, FENTRY, FENTRY_SYSCALL, FEXIT, FEXIT_SYSCALL };

/* A function argument (fentry/fmod_ret: bounded by the function's arity at run time). */
static __always_inline __u64 func_arg(void *ctx, enum hook_flavor flavor, __u16 index)
{
	__u64 v = 0;
	if (flavor == FENTRY || flavor == FEXIT) {
		bpf_get_func_arg(ctx, index, &v);
		return v;
	}
	/* FENTRY_SYSCALL: __x64_sys_*(const struct pt_regs *regs) */
	__u64 r = 0;
	bpf_get_func_arg(ctx, 0, &r);
	struct pt_regs *regs = (struct pt_regs *)r;
	switch (index) {
	case 0: return PT_REGS_PARM1_CORE_SYSCALL(regs);
	case 1: return PT_REGS_PARM2_CORE_SYSCALL(regs);
	case 2: return PT_REGS_PARM3_CORE_SYSCALL(regs);
	case 3: return PT_REGS_PARM4_CORE_SYSCALL(regs);
	default: return PT_REGS_PARM5_CORE_SYSCALL(regs);
	}
}

/* One argument as 64 bits: from the tracepoint record at `offset` (`size`
 * bytes), or the call's argument at position `offset`. */
static __always_inline __u64 raw_arg(void *ctx, enum hook_flavor flavor, __u16 offset, __u8 size)
{
	if (flavor >= FENTRY)
		return func_arg(ctx, flavor, offset);
	if (flavor == UPROBE) {
		struct pt_regs *regs = ctx;
		switch (offset) {
		case 0: return PT_REGS_PARM1_CORE(regs);
		case 1: return PT_REGS_PARM2_CORE(regs);
		case 2: return PT_REGS_PARM3_CORE(regs);
		case 3: return PT_REGS_PARM4_CORE(regs);
		default: return PT_REGS_PARM5_CORE(regs);
		}
	}
	return read_int((char *)ctx + offset, size, false);
}

/* The hook's args: from the tracepoint record, a uprobe's argument registers or a function's arguments (offset = index). */
static __always_inline void capture(void *ctx, enum hook_flavor flavor, const struct myelin_tp_config *cfg,
				    struct myelin_tp_event *e, struct task_struct *t)
{
	__u32 zero = 0;
	struct myelin_path_scratch *scratch = bpf_map_lookup_elem(&myelin_tp_path_scratch, &zero);
	for (int i = 0; i < MYELIN_TP_MAX_ARGS; i++) {
		e->ints[i] = 0;
		e->strs[i][0] = 0;
		e->str_lens[i] = 0;
		if (i >= cfg->nargs)
			continue;
		const struct myelin_tp_arg *a = &cfg->args[i];
		const bool is_signed = a->type == MYELIN_TP_ARG_INT || a->type == MYELIN_TP_ARG_FD;
		__u64 v = raw_arg(ctx, flavor, a->offset, a->size);
		if (a->type != MYELIN_TP_ARG_STRING && a->type != MYELIN_TP_ARG_FILE && a->type != MYELIN_TP_ARG_PATH &&
		    a->type != MYELIN_TP_ARG_SOCK && a->type != MYELIN_TP_ARG_BUF)
			v = narrow(v, a->size, is_signed);
		if (a->type == MYELIN_TP_ARG_BUF) {
			/* Its bytes (user memory unless a kernel function's), as many as its length says, at most 127. */
			__u64 len = raw_arg(ctx, flavor, a->size_offset, a->size_size);
			len = narrow(len, a->size_size, false);
			__u32 n = len < MYELIN_TP_STR_MAX - 1 ? (__u32)len : MYELIN_TP_STR_MAX - 1;
			n &= MYELIN_TP_STR_MAX - 1;
			long r = cfg->flags & MYELIN_TP_CFG_KERNEL_STRINGS ? bpf_probe_read_kernel(e->strs[i], n, (void *)v)
									   : bpf_probe_read_user(e->strs[i], n, (void *)v);
			e->str_lens[i] = r == 0 ? n : 0;
			e->ints[i] = len;
			continue;
		}
		if (a->type == MYELIN_TP_ARG_STRING) {
			long n = cfg->flags & MYELIN_TP_CFG_KERNEL_STRINGS ? bpf_probe_read_kernel_str(e->strs[i], MYELIN_TP_STR_MAX, (void *)v)
									   : bpf_probe_read_user_str(e->strs[i], MYELIN_TP_STR_MAX, (void *)v);
			e->str_lens[i] = n > 0 ? n - 1 : 0;
			continue;
		}
		e->ints[i] = v;
		if (a->type == MYELIN_TP_ARG_SOCK) {
			sock_tuple((struct sock *)v, (struct myelin_sock_tuple *)e->strs[i]);
			e->str_lens[i] = sizeof(struct myelin_sock_tuple);
		}
	}
	e->ret = 0;
	if (flavor == FEXIT || flavor == FEXIT_SYSCALL) {
		__u64 rv = 0;
		bpf_get_func_ret(ctx, &rv);
		e->ret = (__s64)rv;
	}
	/* One fd / file / path per hook is resolved to its path (the walk is the costly part). */
	if (cfg->path_arg && scratch) {
		__u32 i = (cfg->path_arg - 1) & (MYELIN_TP_MAX_ARGS - 1);
		__u8 type = cfg->args[i].type;
		if (type == MYELIN_TP_ARG_PATH) {
			struct path *p = (struct path *)e->ints[i];
			e->str_lens[i] = dentry_path(BPF_CORE_READ(p, dentry), BPF_CORE_READ(p, mnt), scratch, e->strs[i]);
		} else {
			struct file *f = type == MYELIN_TP_ARG_FILE ? (struct file *)e->ints[i] : task_fd_file(t, (long)e->ints[i]);
			e->str_lens[i] = file_path(f, scratch, e->strs[i]);
		}
	}
}

/* Returns what an fmod_ret program returns: 0 (run the function) or the Override errno. */
static __always_inline int run_hook(void *ctx, enum hook_flavor flavor)
{
	__u32 zero = 0;
	const struct myelin_tp_config *cfg = bpf_map_lookup_elem(&myelin_tp_config, &zero);
	struct myelin_tp_event *e = bpf_map_lookup_elem(&myelin_tp_scratch, &zero);
	if (!cfg || !e)
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u32 netns = BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
	if (cfg->scoped) {
		struct myelin_tp_scope_key k = { .policy_id = cfg->policy_id, .netns = netns };
		if (!bpf_map_lookup_elem(&myelin_tp_scope, &k))
			return 0;
	}
	capture(ctx, flavor, cfg, e, t);

	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct myelin_exec_binary none = {};
	const struct myelin_exec_binary *binary = bpf_map_lookup_elem(&myelin_exec_binary, &tgid);
	if (!binary)
		binary = &none;

	int matched = -1;
	__u8 action = MYELIN_TP_ACT_POST;
	__s32 arg = 0;
	if (cfg->nselectors == 0)
		matched = 0;
	for (int s = 0; s < MYELIN_TP_MAX_SELECTORS; s++) {
		if (matched >= 0 || s >= cfg->nselectors)
			break;
		if (selector_matches(cfg, &cfg->selectors[s], e, binary, t)) {
			matched = s;
			action = cfg->selectors[s].action;
			arg = cfg->selectors[s].action_arg;
		}
	}
	if (matched < 0)
		return 0;

	if (action == MYELIN_TP_ACT_SIGKILL)
		bpf_send_signal(9);
	else if (action == MYELIN_TP_ACT_SIGNAL && arg > 0 && arg < 65)
		bpf_send_signal(arg);
	int ret = action == MYELIN_TP_ACT_OVERRIDE ? arg : 0;
	if (action == MYELIN_TP_ACT_NOPOST)
		return ret;

	e->policy_id = cfg->policy_id;
	e->hook_id = cfg->hook_id;
	e->pid = tgid;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->netns = netns;
	e->action = action;
	e->selector = matched;
	if (action == MYELIN_TP_ACT_OVERRIDE)
		e->ret = ret;
	e->ktime_ns = bpf_ktime_get_ns();
	ringbuf__output(&myelin_tp_events, e, sizeof(*e), &myelin_tp_stats);
	return ret;
}

SEC("tracepoint")
int myelin_tracepoint(void *ctx)
{
	run_hook(ctx, TRACEPOINT);
	return 0;
}

SEC("uprobe")
int myelin_uprobe(struct pt_regs *ctx)
{
	run_hook(ctx, UPROBE);
	return 0;
}

/* kprobes: the loader sets the attach target (and loads only one of these). */
SEC("fentry")
int myelin_fentry(void *ctx)
{
	run_hook(ctx, FENTRY);
	return 0;
}

SEC("fentry")
int myelin_fentry_syscall(void *ctx)
{
	run_hook(ctx, FENTRY_SYSCALL);
	return 0;
}

/* Return probes: the args (as they are at return) and the return value. */
SEC("fexit")
int myelin_fexit(void *ctx)
{
	run_hook(ctx, FEXIT);
	return 0;
}

SEC("fexit")
int myelin_fexit_syscall(void *ctx)
{
	run_hook(ctx, FEXIT_SYSCALL);
	return 0;
}

SEC("fmod_ret")
int myelin_fmod_ret(void *ctx)
{
	return run_hook(ctx, FENTRY);
}

SEC("fmod_ret")
int myelin_fmod_ret_syscall(void *ctx)
{
	return run_hook(ctx, FENTRY_SYSCALL);
}
