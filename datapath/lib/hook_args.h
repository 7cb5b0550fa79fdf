/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The argument readers of a TracingPolicy hook: each configured arg of a hit
 * into the event (integers widened as their type says, strings and buffers
 * copied, an fd / file / path resolved to its path, a sock to its tuple).
 * Where an arg comes from is the entry object's business; how it is read
 * and what is kept is this header's. Only the probe-read helpers are called
 * here, so C++ tests include it with those helpers stubbed.
 *
 * Declared below, defined by the includer: where an arg comes from (the
 * entry object's hook__arg / hook__ret) and how kernel objects are read
 * (BPF: hook_kernel.h; tests: stubs).
 */
#pragma once

#include "myelin/abi/tracing.h"

struct task_struct;
struct myelin_path_scratch;
/* One argument as 64 bits: a tracepoint record's field at `offset` (`size`
 * bytes), or a call's argument at position `offset`; `flavor` is the entry
 * program's own constant (e.g. fentry or a syscall's fentry). */
static __always_inline __u64 hook__arg(void *ctx, int flavor, __u16 offset, __u8 size);
/* The return value, where the hook has one (return probes). */
static __always_inline bool hook__ret(void *ctx, int flavor, __s64 *ret);
/* A struct sock * as its tuple. */
static __always_inline void args__sock(__u64 sk, struct myelin_sock_tuple *tuple);
/* A network or credential object (sock, socket, skb, sockaddr, net_device,
 * cred, user_namespace, kernel_cap_t: hook_objects.h) at *v as the event
 * keeps it in out; its bytes there. *v becomes the arg's integer. */
static __always_inline __u32 args__object(__u8 type, __u64 *v, char *out);
/* An fd of task t, a struct file * or a struct path * (type) as its path in out; its length. */
static __always_inline __u32 args__path(__u8 type, __u64 v, struct task_struct *t, struct myelin_path_scratch *ps, char *out);

/* An integer of `size` bytes at `field` (kernel memory: a tracepoint record), widened. */
static __always_inline __u64 args__read_int(const void *field, __u8 size, bool is_signed)
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

/* A 64-bit value cut to its type's `size`, sign-extended for signed types. */
static __always_inline __u64 args__narrow(__u64 v, __u8 size, bool is_signed)
{
	switch (size) {
	case 1: return is_signed ? (__u64)(__s64)(__s8)v : (__u8)v;
	case 2: return is_signed ? (__u64)(__s64)(__s16)v : (__u16)v;
	case 4: return is_signed ? (__u64)(__s64)(__s32)v : (__u32)v;
	}
	return v;
}

/* Is the arg an object args__object reads? */
static __always_inline bool args__is_object(__u8 type)
{
	return type == MYELIN_HOOK_ARG_SOCK || (type >= MYELIN_HOOK_ARG_SKB && type <= MYELIN_HOOK_ARG_CAPS);
}

/* Does the arg keep the raw pointer (strings, buffers, kernel objects), not a narrowed integer? */
static __always_inline bool args__is_pointer(__u8 type)
{
	return type == MYELIN_HOOK_ARG_STRING || type == MYELIN_HOOK_ARG_FILE || type == MYELIN_HOOK_ARG_PATH ||
	       type == MYELIN_HOOK_ARG_SOCK || type == MYELIN_HOOK_ARG_BUF || args__is_object(type);
}

/* The hook's args into e (ints, strs, str_lens) and its return value into e->ret. */
static __always_inline void args__capture(void *ctx, int flavor, const struct myelin_hook_config *cfg, struct myelin_hook_event *e,
					  struct task_struct *t, struct myelin_path_scratch *scratch)
{
	const bool kernel = cfg->flags & MYELIN_HOOK_CFG_KERNEL_STRINGS;
	for (int i = 0; i < MYELIN_HOOK_MAX_ARGS; i++) {
		e->ints[i] = 0;
		e->strs[i][0] = 0;
		e->str_lens[i] = 0;
		if (i >= cfg->nargs)
			continue;
		const struct myelin_hook_arg *a = &cfg->args[i];
		if (a->type == MYELIN_HOOK_ARG_NOP)  /* declared only: never read */
			continue;
		const bool is_signed = a->type == MYELIN_HOOK_ARG_INT || a->type == MYELIN_HOOK_ARG_FD;
		__u64 v = hook__arg(ctx, flavor, a->offset, a->size);
		if (!args__is_pointer(a->type))
			v = args__narrow(v, a->size, is_signed);
		if (a->type == MYELIN_HOOK_ARG_BUF) {
			/* Its bytes (user memory unless a kernel function's), as many as its length says, at most 127. */
			__u64 len = hook__arg(ctx, flavor, a->size_offset, a->size_size);
			len = args__narrow(len, a->size_size, false);
			__u32 n = len < MYELIN_HOOK_STR_MAX - 1 ? (__u32)len : MYELIN_HOOK_STR_MAX - 1;
			n &= MYELIN_HOOK_STR_MAX - 1;
			long r = kernel ? bpf_probe_read_kernel(e->strs[i], n, (void *)v) : bpf_probe_read_user(e->strs[i], n, (void *)v);
			e->str_lens[i] = r == 0 ? n : 0;
			e->ints[i] = len;
			continue;
		}
		if (a->type == MYELIN_HOOK_ARG_STRING) {
			long n = kernel ? bpf_probe_read_kernel_str(e->strs[i], MYELIN_HOOK_STR_MAX, (void *)v)
					: bpf_probe_read_user_str(e->strs[i], MYELIN_HOOK_STR_MAX, (void *)v);
			e->str_lens[i] = n > 0 ? n - 1 : 0;
			continue;
		}
		if (args__is_object(a->type))
			e->str_lens[i] = args__object(a->type, &v, e->strs[i]);
		e->ints[i] = v;
	}
	e->ret = 0;
	__s64 ret = 0;
	if (hook__ret(ctx, flavor, &ret))
		e->ret = ret;
	/* A return value that is an object (a sock): read into the arg slot the compiler left for it. */
	if (cfg->ret_type && cfg->ret_slot < MYELIN_HOOK_MAX_ARGS) {
		__u64 rv = (__u64)e->ret;
		__u32 s = cfg->ret_slot;
		if (s < MYELIN_HOOK_MAX_ARGS) {
			e->str_lens[s] = rv ? args__object(cfg->ret_type, &rv, e->strs[s]) : 0;
			e->ints[s] = rv;
		}
	}
	/* One fd / file / path per hook is resolved to its path (the walk is the costly part). */
	if (cfg->path_arg && scratch) {
		__u32 i = cfg->path_arg - 1;
		if (i < MYELIN_HOOK_MAX_ARGS)
			e->str_lens[i] = args__path(cfg->args[i].type, e->ints[i], t, scratch, e->strs[i]);
	}
}
