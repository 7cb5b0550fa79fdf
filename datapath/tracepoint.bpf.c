// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A TracingPolicy tracepoint hook (spec.tracepoints, and the syscall
 * tracepoints that stand in for lsmhooks where there is no BPF-LSM). One
 * instance per (policy, hook); its config is the compiled hook, whose args
 * are fields of the tracepoint's record at the offsets of its tracefs
 * format; a raw tracepoint's (raw: true) are its arguments by position. A
 * hit, in the shared engine (lib/hook_run.h):
 *   not in a scoped policy's pods -> nothing
 *   record fields -> args -> first matching selector (none -> nothing)
 *   Sigkill / Signal the process (killed on its way back to user space:
 *   the call itself may have completed) -> post unless NoPost
 */
#include "lib/hook_kernel.h"
#include "lib/hook_maps.h"
#include "lib/hook_run.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The flavors of this object's programs. */
enum { TP_RECORD, TP_RAW };

/* A field of the record (kernel memory): `size` bytes at `offset`; a raw
 * tracepoint's argument at position `offset` (0-5). */
static __always_inline __u64 hook__arg(void *ctx, int flavor, __u16 offset, __u8 size)
{
	if (flavor == TP_RAW) {
		/* Read, not dereferenced: a load through a variable offset of ctx is
		 * refused, and a constant one past the tracepoint's arguments would
		 * make it fail to attach. */
		__u64 v = 0;
		if (offset < 6)
			bpf_probe_read_kernel(&v, sizeof(v), &((struct bpf_raw_tracepoint_args *)ctx)->args[offset]);
		return v;
	}
	return args__read_int((char *)ctx + offset, size, false);
}

static __always_inline bool hook__ret(void *ctx, int flavor, __s64 *ret)
{
	return false;
}

SEC("tracepoint")
int myelin_tracepoint(void *ctx)
{
	hook__run(ctx, TP_RECORD);
	return 0;
}

/* raw: true: the tracepoint's TP_PROTO arguments, before the record is built. */
SEC("raw_tp")
int myelin_raw_tracepoint(struct bpf_raw_tracepoint_args *ctx)
{
	hook__run(ctx, TP_RAW);
	return 0;
}
