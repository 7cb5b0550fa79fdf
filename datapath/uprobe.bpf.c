// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A TracingPolicy uprobe (spec.uprobes): the entry of a function of a
 * binary or library, one instance per (policy, hook, symbol), args from the
 * argument registers by position (0-4); or a USDT probe site (spec.usdts),
 * args where its note says they are (myelin_usdt_specs). A hit, in the shared engine
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

/* The flavors of this object's programs. */
enum { UPROBE_CALL, UPROBE_USDT, UPROBE_RETURN };

/* return: true: the argument registers at the function's entry, per thread,
 * for its return probe (one map per entry/return pair: the agent shares the
 * return instance's with the entry one). LRU: a call that never returns
 * (longjmp, exit) does not fill it. */
struct myelin_uprobe_regs {
	__u64 regs[5];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct myelin_uprobe_regs);
} myelin_uprobe_entry SEC(".maps");

/* spec.usdts: where this instance's probe finds each note argument (written by the agent). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_usdt_spec);
} myelin_usdt_specs SEC(".maps");

/* A USDT argument as its note places it, widened from its size (signed or not). */
static __always_inline __u64 usdt__arg(struct pt_regs *regs, __u16 position)
{
	__u32 zero = 0;
	const struct myelin_usdt_spec *spec = bpf_map_lookup_elem(&myelin_usdt_specs, &zero);
	if (!spec || position >= MYELIN_USDT_MAX_ARGS)
		return 0;
	const struct myelin_usdt_arg *a = &spec->args[position];
	__u64 v = 0;
	switch (a->kind) {
	case MYELIN_USDT_ARG_CONST:
		v = (__u64)a->val_off;
		break;
	case MYELIN_USDT_ARG_REG:
		bpf_probe_read_kernel(&v, sizeof(v), (char *)regs + (a->reg_off & 0xff));
		break;
	case MYELIN_USDT_ARG_DEREF: {
		__u64 base = 0;
		bpf_probe_read_kernel(&base, sizeof(base), (char *)regs + (a->reg_off & 0xff));
		__u32 n = a->size;
		if (n == 0 || n > 8)
			n = 8;
		bpf_probe_read_user(&v, n, (void *)(base + a->val_off));
		break;
	}
	default:
		return 0;
	}
	return args__narrow(v, a->size, a->is_signed);
}

static __always_inline __u64 hook__arg(void *ctx, int flavor, __u16 position, __u8 size)
{
	struct pt_regs *regs = ctx;
	if (flavor == UPROBE_USDT)
		return usdt__arg(regs, position);
	if (flavor == UPROBE_RETURN) {
		__u64 id = bpf_get_current_pid_tgid();
		const struct myelin_uprobe_regs *r = bpf_map_lookup_elem(&myelin_uprobe_entry, &id);
		return r && position < 5 ? r->regs[position] : 0;
	}
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
	if (flavor != UPROBE_RETURN)
		return false;
	*ret = (__s64)PT_REGS_RC_CORE((struct pt_regs *)ctx);
	return true;
}

SEC("uprobe")
int myelin_uprobe(struct pt_regs *ctx)
{
	hook__run(ctx, UPROBE_CALL);
	return 0;
}

/* return: true, at the entry: keep the argument registers for the return probe. */
SEC("uprobe")
int myelin_uprobe_keep_args(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct myelin_uprobe_regs r = {{PT_REGS_PARM1_CORE(ctx), PT_REGS_PARM2_CORE(ctx), PT_REGS_PARM3_CORE(ctx), PT_REGS_PARM4_CORE(ctx),
					 PT_REGS_PARM5_CORE(ctx)}};
	bpf_map_update_elem(&myelin_uprobe_entry, &id, &r, BPF_ANY);
	return 0;
}

/* return: true, at the return: the args kept at entry, the return value,
 * selectors (matchArgs and matchReturnArgs) -> post. */
SEC("uretprobe")
int myelin_uretprobe(struct pt_regs *ctx)
{
	hook__run(ctx, UPROBE_RETURN);
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&myelin_uprobe_entry, &id);
	return 0;
}

/* spec.usdts: a probe site of a .note.stapsdt note; args as the note places them. */
SEC("uprobe")
int myelin_usdt(struct pt_regs *ctx)
{
	hook__run(ctx, UPROBE_USDT);
	return 0;
}
