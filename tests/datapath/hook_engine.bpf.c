// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test only: the TracingPolicy hook engine (lib/selectors.h, hook_args.h,
 * hook_run.h, with the production kernel reads of lib/hook_kernel.h and the
 * maps of lib/hook_maps.h) behind a raw_tp entry, because this kernel runs
 * raw_tp programs with BPF_PROG_TEST_RUN and not tracepoint, uprobe or
 * fentry ones (ENOTSUPP). The context is a call's arguments by position
 * (as a uprobe's or a kprobe's config reads them), [5] its return value:
 *   ctx[0..5] -> a copy on the stack -> the engine -> the program's return is the hit's (Override)
 */
#include "lib/hook_kernel.h"
#include "lib/hook_maps.h"
#include "lib/hook_run.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline __u64 hook__arg(void *ctx, int flavor, __u16 position, __u8 size)
{
	__u64 *args = ctx;
	switch (position) {
	case 0: return args[0];
	case 1: return args[1];
	case 2: return args[2];
	case 3: return args[3];
	default: return args[4];
	}
}

static __always_inline bool hook__ret(void *ctx, int flavor, __s64 *ret)
{
	*ret = (__s64)((__u64 *)ctx)[5];
	return true;
}

SEC("raw_tp")
int hook_engine(__u64 *ctx)
{
	/* Copied out at constant offsets: the verifier refuses a ctx pointer
	 * moved by a variable position. */
	__u64 args[6] = {ctx[0], ctx[1], ctx[2], ctx[3], ctx[4], ctx[5]};
	return hook__run(args, 0);
}
