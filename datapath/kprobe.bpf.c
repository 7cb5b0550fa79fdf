// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A TracingPolicy kprobe (spec.kprobes) on a kernel function through BPF
 * trampolines: fentry at its entry, fexit at its return (the return value
 * captured), fmod_ret where a selector overrides (the function is not run
 * and returns the chosen errno). The loader loads one of these programs
 * per (policy, hook) and sets its attach target. Args are the function's
 * arguments by position; a syscall's (__x64_sys_*) are in the pt_regs it
 * receives. A hit, in the shared engine (lib/hook_run.h):
 *   not in a scoped policy's pods -> nothing
 *   arguments (and return value) -> first matching selector (none -> nothing)
 *   Sigkill / Signal the process -> post unless NoPost -> return the
 *   Override errno (fmod_ret) or 0
 * Does not load on kernels without BPF trampolines (tests/vm/ runs it).
 */
#include "lib/hook_kernel.h"
#include "lib/hook_maps.h"
#include "lib/hook_run.h"

#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The flavors of this object's programs. */
enum { FUNC, FUNC_SYSCALL, FUNC_EXIT, FUNC_EXIT_SYSCALL };

static __always_inline __u64 hook__arg(void *ctx, int flavor, __u16 position, __u8 size)
{
	__u64 v = 0;
	if (flavor == FUNC || flavor == FUNC_EXIT) {
		bpf_get_func_arg(ctx, position, &v);  /* bounded by the function's arity at run time */
		return v;
	}
	/* __x64_sys_*(const struct pt_regs *regs) */
	bpf_get_func_arg(ctx, 0, &v);
	struct pt_regs *regs = (struct pt_regs *)v;
	switch (position) {
	case 0: return PT_REGS_PARM1_CORE_SYSCALL(regs);
	case 1: return PT_REGS_PARM2_CORE_SYSCALL(regs);
	case 2: return PT_REGS_PARM3_CORE_SYSCALL(regs);
	case 3: return PT_REGS_PARM4_CORE_SYSCALL(regs);
	default: return PT_REGS_PARM5_CORE_SYSCALL(regs);
	}
}

static __always_inline bool hook__ret(void *ctx, int flavor, __s64 *ret)
{
	if (flavor != FUNC_EXIT && flavor != FUNC_EXIT_SYSCALL)
		return false;
	__u64 rv = 0;
	bpf_get_func_ret(ctx, &rv);
	*ret = (__s64)rv;
	return true;
}

SEC("fentry")
int myelin_fentry(void *ctx)
{
	hook__run(ctx, FUNC);
	return 0;
}

SEC("fentry")
int myelin_fentry_syscall(void *ctx)
{
	hook__run(ctx, FUNC_SYSCALL);
	return 0;
}

/* Return probes: the args (as they are at return) and the return value. */
SEC("fexit")
int myelin_fexit(void *ctx)
{
	hook__run(ctx, FUNC_EXIT);
	return 0;
}

SEC("fexit")
int myelin_fexit_syscall(void *ctx)
{
	hook__run(ctx, FUNC_EXIT_SYSCALL);
	return 0;
}

SEC("fmod_ret")
int myelin_fmod_ret(void *ctx)
{
	return hook__run(ctx, FUNC);
}

SEC("fmod_ret")
int myelin_fmod_ret_syscall(void *ctx)
{
	return hook__run(ctx, FUNC_SYSCALL);
}

/* A generic lsmhook (any hook of BPF-LSM by name; the loader sets it): the
 * hook's arguments by position, Override is what the hook returns (the
 * operation is refused before it happens). */
SEC("lsm")
int myelin_lsm(void *ctx)
{
	return hook__run(ctx, FUNC);
}
