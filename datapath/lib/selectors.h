/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The TracingPolicy selector engine: does a hit (its captured args, the
 * process's binary, the task) match a selector of the hook's compiled
 * config, and which is the first that does. Pure logic: no BPF helper and
 * no kernel struct is touched here, so C++ unit tests include this header
 * as it is (tests/unit/tracing/selector_engine_test.cpp).
 *
 * What it asks of the task is declared below and defined by the includer
 * (BPF: hook_kernel.h reads it with CO-RE; tests: a fake task).
 */
#pragma once

#include "myelin/abi/tracing.h"

struct task_struct;
/* Its tgid, or (in_ns) its pid as seen in its own pid namespace: 0 for a
 * process of the host's (initial) pid namespace, which has none (Tetragon's nspid). */
static __always_inline __u32 task__pid(struct task_struct *t, bool in_ns);
static __always_inline struct task_struct *task__parent(struct task_struct *t);
/* The inode number of its namespace of type ns (enum myelin_hook_ns_type). */
static __always_inline __u32 task__ns_inum(struct task_struct *t, __u8 ns);
/* Its capability set (enum myelin_hook_cap_set) as a mask. */
static __always_inline __u64 task__caps(struct task_struct *t, __u8 set);

/* A string or buffer arg (s, len bytes) against an Equal / NotEqual / Prefix / Postfix cond. */
static __always_inline bool selectors__str_matches(const struct myelin_hook_cond *c, const char *s, __u32 len)
{
	const __u32 M = MYELIN_HOOK_STR_MAX - 1;
	if (c->op == MYELIN_HOOK_OP_POSTFIX) {
		if (c->str_len > len)
			return false;
		__u32 base = len - c->str_len;
		for (int k = 0; k < MYELIN_HOOK_STR_MAX - 1; k++) {
			if (k >= c->str_len)
				break;
			if (s[(base + k) & M] != c->str[k])
				return false;
		}
		return true;
	}
	bool same = true;
	for (int k = 0; k < MYELIN_HOOK_STR_MAX - 1; k++) {
		if (k >= c->str_len)
			break;
		if (s[k] != c->str[k]) {
			same = false;
			break;
		}
	}
	/* Equal: no more bytes than the value's (a buffer's bytes are not NUL-terminated). */
	if (same && c->op != MYELIN_HOOK_OP_PREFIX)
		same = len == c->str_len;
	return c->op == MYELIN_HOOK_OP_NE ? !same : same;
}

/* An address against addr/bits (the cond's str and str_len), same family only. */
static __always_inline bool selectors__addr_in(const __u8 *addr, __u8 family, const struct myelin_hook_cond *c)
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

static __always_inline bool selectors__sock_matches(const struct myelin_hook_cond *c, const struct myelin_sock_tuple *t)
{
	switch (c->op) {
	case MYELIN_HOOK_OP_SPORT: return t->sport == c->value;
	case MYELIN_HOOK_OP_NOT_SPORT: return t->sport != c->value;
	case MYELIN_HOOK_OP_DPORT: return t->dport == c->value;
	case MYELIN_HOOK_OP_NOT_DPORT: return t->dport != c->value;
	case MYELIN_HOOK_OP_SADDR: return selectors__addr_in(t->saddr, t->family, c);
	case MYELIN_HOOK_OP_NOT_SADDR: return !selectors__addr_in(t->saddr, t->family, c);
	case MYELIN_HOOK_OP_DADDR: return selectors__addr_in(t->daddr, t->family, c);
	case MYELIN_HOOK_OP_NOT_DADDR: return !selectors__addr_in(t->daddr, t->family, c);
	case MYELIN_HOOK_OP_PROTOCOL: return t->protocol == c->value;
	case MYELIN_HOOK_OP_FAMILY: return t->family == c->value;
	case MYELIN_HOOK_OP_STATE: return t->state == c->value;
	case MYELIN_HOOK_OP_SPORT_PRIV: return t->sport < 1024;
	case MYELIN_HOOK_OP_NOT_SPORT_PRIV: return t->sport >= 1024;
	case MYELIN_HOOK_OP_DPORT_PRIV: return t->dport < 1024;
	case MYELIN_HOOK_OP_NOT_DPORT_PRIV: return t->dport >= 1024;
	}
	return false;
}

/* Is arg type `type` matched by its tuple (strs[i] starts with a myelin_sock_tuple)? */
static __always_inline bool selectors__is_tuple(__u8 type)
{
	return type == MYELIN_HOOK_ARG_SOCK || type == MYELIN_HOOK_ARG_SOCKET || type == MYELIN_HOOK_ARG_SKB ||
	       type == MYELIN_HOOK_ARG_SOCKADDR;
}

/* Is arg type `type` compared as bytes (what hook_args.h put in strs[i], str_lens[i] long)? */
static __always_inline bool selectors__is_string(__u8 type)
{
	return type == MYELIN_HOOK_ARG_STRING || type == MYELIN_HOOK_ARG_FD || type == MYELIN_HOOK_ARG_FILE || type == MYELIN_HOOK_ARG_PATH ||
	       type == MYELIN_HOOK_ARG_BUF || type == MYELIN_HOOK_ARG_NET_DEV;
}

/* InMap / NotInMap: is v one of the cond's set (str_len __u64 values in str)? */
static __always_inline bool selectors__in_set(const struct myelin_hook_cond *c, __u64 v)
{
	for (int k = 0; k < MYELIN_HOOK_SET_VALUES; k++) {
		if (k >= c->str_len)
			break;
		__u64 x;
		__builtin_memcpy(&x, &c->str[k * 8], 8);
		if (x == v)
			return true;
	}
	return false;
}

/* One matchArgs / matchReturnArgs condition on the captured event. */
static __always_inline bool selectors__cond_matches(const struct myelin_hook_config *cfg, const struct myelin_hook_cond *c,
						    const struct myelin_hook_event *e)
{
	__u32 a = c->arg;
	if (c->arg == MYELIN_HOOK_RET_ARG) {  /* matchReturnArgs: the return value, signed */
		__s64 r = e->ret;
		switch (c->op) {
		case MYELIN_HOOK_OP_EQ: return r == (__s64)c->value;
		case MYELIN_HOOK_OP_NE: return r != (__s64)c->value;
		case MYELIN_HOOK_OP_GT: return r > (__s64)c->value;
		case MYELIN_HOOK_OP_LT: return r < (__s64)c->value;
		case MYELIN_HOOK_OP_MASK: return (r & c->value) != 0;
		}
		return false;
	}
	if (a >= MYELIN_HOOK_MAX_ARGS)
		return false;
	const __u8 type = cfg->args[a].type;
	if (selectors__is_tuple(type))
		return selectors__sock_matches(c, (const struct myelin_sock_tuple *)e->strs[a]);
	if (selectors__is_string(type))
		return selectors__str_matches(c, e->strs[a], e->str_lens[a]);
	__u64 v = e->ints[a];
	switch (c->op) {
	case MYELIN_HOOK_OP_EQ: return v == c->value;
	case MYELIN_HOOK_OP_NE: return v != c->value;
	case MYELIN_HOOK_OP_GT: return type == MYELIN_HOOK_ARG_INT ? (__s64)v > (__s64)c->value : v > c->value;
	case MYELIN_HOOK_OP_LT: return type == MYELIN_HOOK_ARG_INT ? (__s64)v < (__s64)c->value : v < c->value;
	case MYELIN_HOOK_OP_MASK: return (v & c->value) != 0;
	case MYELIN_HOOK_OP_IN_MAP: return selectors__in_set(c, v);
	case MYELIN_HOOK_OP_NOT_IN_MAP: return !selectors__in_set(c, v);
	}
	return false;
}

static __always_inline bool selectors__pid_listed(const struct myelin_hook_selector *s, __u32 pid)
{
	for (int j = 0; j < MYELIN_HOOK_MAX_PIDS; j++)
		if (j < s->npids && s->pids[j] == pid)
			return true;
	return false;
}

/* matchPIDs, with Tetragon's meaning: In: the process is listed (with
 * followForks: it or one of its ancestors); NotIn: it is not (none of
 * them). With isNamespacePID each process counts as its pid in its own pid
 * namespace, 0 in the host's: so a host ancestor counts as pid 0, a host
 * process matches In [0], and with followForks a process outside any pid
 * namespace matches neither In nor NotIn. */
static __always_inline bool selectors__pids_match(const struct myelin_hook_selector *s, struct task_struct *t)
{
	const bool in_ns = s->pid_flags & MYELIN_HOOK_PID_NAMESPACED;
	const bool follow = s->pid_flags & MYELIN_HOOK_PID_FOLLOW_FORKS;
	if (in_ns && follow && task__pid(t, true) == 0)
		return false;
	bool found = false;
	for (int depth = 0; depth <= MYELIN_HOOK_ANCESTORS; depth++) {
		if (!t)
			break;
		if (selectors__pid_listed(s, task__pid(t, in_ns))) {
			found = true;
			break;
		}
		/* The host's init (or the idle task) has no ancestor to look at. */
		if (!follow || task__pid(t, false) <= 1)
			break;
		t = task__parent(t);
	}
	return found == (s->pid_op == MYELIN_HOOK_SET_IN);
}

static __always_inline bool selectors__ns_matches(const struct myelin_hook_ns_match *m, struct task_struct *t)
{
	__u32 inum = task__ns_inum(t, m->ns);
	bool found = false;
	for (int j = 0; j < MYELIN_HOOK_NS_VALUES; j++)
		if (j < m->nvalues && m->values[j] == inum)
			found = true;
	return found == (m->op == MYELIN_HOOK_SET_IN);
}

/* Every part of selector s holds (they are AND-ed; an absent part holds). */
static __always_inline bool selectors__matches(const struct myelin_hook_config *cfg, const struct myelin_hook_selector *s,
					       const struct myelin_hook_event *e, const struct myelin_exec_binary *binary,
					       struct task_struct *t)
{
	if (s->binary_op == MYELIN_HOOK_SET_IN || s->binary_op == MYELIN_HOOK_SET_NOT_IN) {
		bool found = false;
		for (int j = 0; j < MYELIN_HOOK_MAX_BINARIES; j++)
			if (j < s->nbinaries && binary->id && s->binaries[j] == binary->id)
				found = true;
		if (found != (s->binary_op == MYELIN_HOOK_SET_IN))
			return false;
	} else if (s->binary_op == MYELIN_HOOK_SET_PREFIX || s->binary_op == MYELIN_HOOK_SET_NOT_PREFIX) {
		bool found = (binary->prefixes & s->binaries[0]) != 0;
		if (found != (s->binary_op == MYELIN_HOOK_SET_PREFIX))
			return false;
	}
	if (s->pid_op != MYELIN_HOOK_SET_ANY && !selectors__pids_match(s, t))
		return false;
	if (s->cap_op != MYELIN_HOOK_SET_ANY) {
		bool any = (task__caps(t, s->cap_set) & s->caps) != 0;
		if (any != (s->cap_op == MYELIN_HOOK_SET_IN))
			return false;
	}
	for (int n = 0; n < MYELIN_HOOK_MAX_NS; n++) {
		if (n >= s->nns)
			break;
		if (!selectors__ns_matches(&s->ns[n], t))
			return false;
	}
	for (int c = 0; c < MYELIN_HOOK_MAX_CONDS; c++) {
		if (c >= s->nconds)
			break;
		if (!selectors__cond_matches(cfg, &s->conds[c], e))
			return false;
	}
	return true;
}

/* What a hit does: the first selector that matches (selectors are OR-ed,
 * in order), its action and the action's argument. A config without
 * selectors posts every hit (selector 0, Post). */
struct selectors__verdict {
	int selector;               /* -1: none matched, nothing is done */
	__u8 action;                /* enum myelin_hook_action */
	__s32 arg;                  /* Signal: the signal; Override: the errno */
	__u8 flags;                 /* MYELIN_HOOK_ACTF_* */
};

static __always_inline struct selectors__verdict selectors__first_match(const struct myelin_hook_config *cfg,
									   const struct myelin_hook_event *e,
									   const struct myelin_exec_binary *binary,
									   struct task_struct *t)
{
	struct selectors__verdict v = {-1, MYELIN_HOOK_ACT_POST, 0, 0};
	if (cfg->nselectors == 0) {
		v.selector = 0;
		return v;
	}
	for (int s = 0; s < MYELIN_HOOK_MAX_SELECTORS; s++) {
		if (s >= cfg->nselectors)
			break;
		if (selectors__matches(cfg, &cfg->selectors[s], e, binary, t)) {
			v.selector = s;
			v.action = cfg->selectors[s].action;
			v.arg = cfg->selectors[s].action_arg;
			v.flags = cfg->selectors[s].action_flags;
			break;
		}
	}
	return v;
}
