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
/* Socket tracking (hook_maps.h: one map for every instance): TrackSock
 * records a sock's owner, UntrackSock forgets it; an event whose sock or
 * socket arg is tracked reports its owner as the process. */
static __always_inline void hook__sock_track(__u64 sk, __u8 action, __u32 pid, __u32 tid);
static __always_inline bool hook__sock_owner(__u64 sk, struct myelin_hook_sock_owner *owner);

/* TrackSock / UntrackSock of the matching selector (a sock arg) and of returnArgAction (the returned sock). */
static __always_inline void hook__track_socks(const struct myelin_hook_config *cfg, const struct myelin_hook_event *e, int selector,
					      __u32 tgid, __u32 tid)
{
	if (selector >= 0 && selector < MYELIN_HOOK_MAX_SELECTORS && cfg->nselectors) {
		const struct myelin_hook_selector *s = &cfg->selectors[selector];
		__u32 a = s->sock_arg;
		if (s->sock_action && a < MYELIN_HOOK_MAX_ARGS && e->ints[a])
			hook__sock_track(e->ints[a], s->sock_action, tgid, tid);
	}
	if (cfg->ret_action && e->ret)
		hook__sock_track((__u64)e->ret, cfg->ret_action, tgid, tid);
}

/* The process of a tracked sock among the event's args, as the event's (the last one tracked). */
static __always_inline void hook__sock_owners(const struct myelin_hook_config *cfg, struct myelin_hook_event *e)
{
	for (int i = 0; i < MYELIN_HOOK_MAX_ARGS; i++) {
		if (i >= cfg->nargs)
			break;
		const __u8 type = cfg->args[i].type;
		struct myelin_hook_sock_owner o;
		if ((type == MYELIN_HOOK_ARG_SOCK || type == MYELIN_HOOK_ARG_SOCKET) && e->ints[i] && hook__sock_owner(e->ints[i], &o)) {
			e->pid = o.pid;
			e->tid = o.tid;
		}
	}
}

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
	hook__track_socks(cfg, e, v.selector, tgid, (__u32)pid_tgid);
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
	hook__sock_owners(cfg, e);
	e->action = v.action;
	e->selector = v.selector;
	if (v.action == MYELIN_HOOK_ACT_OVERRIDE)
		e->ret = ret;
	e->ktime_ns = bpf_ktime_get_ns();
	ringbuf__output(&myelin_hook_events, e, sizeof(*e), &myelin_hook_stats);
	return ret;
}
