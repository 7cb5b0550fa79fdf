// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A TracingPolicy tracepoint hook (spec.tracepoints, and the syscall
 * tracepoints that stand in for lsmhooks where there is no BPF-LSM). One
 * instance per (policy, hook); its config is the compiled hook, whose args
 * are fields of the tracepoint's record at the offsets of its tracefs
 * format. A hit, in the shared engine (lib/hook_run.h):
 *   not in a scoped policy's pods -> nothing
 *   record fields -> args -> first matching selector (none -> nothing)
 *   Sigkill / Signal the process (killed on its way back to user space:
 *   the call itself may have completed) -> post unless NoPost
 */
#include "lib/hook_kernel.h"
#include "lib/hook_maps.h"
#include "lib/hook_run.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* A field of the record (kernel memory): `size` bytes at `offset`. */
static __always_inline __u64 hook__arg(void *ctx, int flavor, __u16 offset, __u8 size)
{
	return args__read_int((char *)ctx + offset, size, false);
}

static __always_inline bool hook__ret(void *ctx, int flavor, __s64 *ret)
{
	return false;
}

SEC("tracepoint")
int myelin_tracepoint(void *ctx)
{
	hook__run(ctx, 0);
	return 0;
}
