// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A TracingPolicy uprobe (spec.uprobes): the entry of a function of a
 * binary or library, one instance per (policy, hook, symbol), args from the
 * argument registers by position (0-4). A hit, in the shared engine
 * (lib/hook_run.h):
 *   not in a scoped policy's pods -> nothing
 *   registers -> args -> first matching selector (none -> nothing)
 *   Sigkill / Signal the process -> post unless NoPost
 */
#include "lib/hook_kernel.h"
#include "lib/hook_maps.h"
#include "lib/hook_run.h"

#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline __u64 hook__arg(void *ctx, int flavor, __u16 position, __u8 size)
{
	struct pt_regs *regs = ctx;
	switch (position) {
	case 0: return PT_REGS_PARM1_CORE(regs);
	case 1: return PT_REGS_PARM2_CORE(regs);
	case 2: return PT_REGS_PARM3_CORE(regs);
	case 3: return PT_REGS_PARM4_CORE(regs);
	default: return PT_REGS_PARM5_CORE(regs);
	}
}

static __always_inline bool hook__ret(void *ctx, int flavor, __s64 *ret)
{
	return false;
}

SEC("uprobe")
int myelin_uprobe(struct pt_regs *ctx)
{
	hook__run(ctx, 0);
	return 0;
}
