/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One hit of a TracingPolicy hook, whatever its kind:
 *   config and scratch of this instance       (no config: nothing)
 *   scoped policy and the task's netns not in its scope -> nothing
 *   capture the args                           (hook_args.h)
 *   first matching selector                    (selectors.h; none -> nothing)
 *   act: Sigkill / Signal now, Override as the return value (hook_act.h);
 *        Sigkill too beside an Override (MYELIN_HOOK_ACTF_SIGKILL)
 *   post the event unless NoPost (alone or beside the action)              (ringbuf.h: sent or lost, counted)
 * Helpers and the maps of hook_maps.h by name: the C++ tests include this
 * header with both stubbed. The includer defines what selectors.h and
 * hook_args.h declare, and task__netns.
 */
#pragma once

#include "hook_act.h"
#include "hook_args.h"
#include "ringbuf.h"
#include "selectors.h"

/* The inode number of the task's network namespace (a scoped policy's key). */
static __always_inline __u32 task__netns(struct task_struct *t);

/* Returns what an fmod_ret program returns: 0 (run the function) or the Override errno. */
static __always_inline int hook__run(void *ctx, int flavor)
{
	__u32 zero = 0;
	const struct myelin_hook_config *cfg = bpf_map_lookup_elem(&myelin_hook_compiled, &zero);
	struct myelin_hook_event *e = bpf_map_lookup_elem(&myelin_hook_scratch, &zero);
	if (!cfg || !e)
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u32 netns = task__netns(t);
	if (cfg->scoped) {
		struct myelin_hook_scope_key k = {cfg->policy_id, netns};
		if (!bpf_map_lookup_elem(&myelin_hook_scope, &k))
			return 0;
	}
	args__capture(ctx, flavor, cfg, e, t, bpf_map_lookup_elem(&myelin_hook_path_scratch, &zero));

	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct myelin_exec_binary none = {0, 0};
	const struct myelin_exec_binary *binary = bpf_map_lookup_elem(&myelin_exec_binary, &tgid);
	if (!binary)
		binary = &none;

	struct selectors__verdict v = selectors__first_match(cfg, e, binary, t);
	if (v.selector < 0)
		return 0;

	int ret = hook__act(v.action, v.arg);
	if (v.flags & MYELIN_HOOK_ACTF_SIGKILL)  /* Override and Sigkill: the call fails and the process dies */
		bpf_send_signal(9);
	if (v.action == MYELIN_HOOK_ACT_NOPOST || (v.flags & MYELIN_HOOK_ACTF_NOPOST))
		return ret;

	e->policy_id = cfg->policy_id;
	e->hook_id = cfg->hook_id;
	e->pid = tgid;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->netns = netns;
	e->action = v.action;
	e->selector = v.selector;
	if (v.action == MYELIN_HOOK_ACT_OVERRIDE)
		e->ret = ret;
	e->ktime_ns = bpf_ktime_get_ns();
	ringbuf__output(&myelin_hook_events, e, sizeof(*e), &myelin_hook_stats);
	return ret;
}
