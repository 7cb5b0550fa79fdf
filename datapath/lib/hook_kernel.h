/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the selector engine (selectors.h) and the argument readers
 * (hook_args.h) ask of the kernel, read with CO-RE: the task's pids,
 * parent, namespaces and capabilities, a socket's tuple, a file's path.
 * BPF only; the C++ tests define the same functions over a fake task.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "hook_objects.h"
#include "sock.h"
#include "task.h"

static __always_inline __u32 task__pid(struct task_struct *t, bool in_ns)
{
	__u32 pid = BPF_CORE_READ(t, tgid);
	if (!in_ns)
		return pid;
	struct task_struct *leader = BPF_CORE_READ(t, group_leader);
	if (BPF_CORE_READ(leader, thread_pid, level) == 0)
		return 0;  /* the host's pid namespace: no namespace pid, as Tetragon's nspid */
	task_pid_ns(leader, &pid);
	return pid;
}

static __always_inline struct task_struct *task__parent(struct task_struct *t)
{
	return BPF_CORE_READ(t, real_parent);
}

static __always_inline __u32 task__ns_inum(struct task_struct *t, __u8 ns)
{
	return task_ns_inum(t, ns);
}

static __always_inline __u64 task__caps(struct task_struct *t, __u8 set)
{
	return task_caps(t, set);
}

static __always_inline __u32 task__netns(struct task_struct *t)
{
	return BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
}

static __always_inline void args__sock(__u64 sk, struct myelin_sock_tuple *tuple)
{
	sock_tuple((struct sock *)sk, tuple);
}

/* An fd of the task, a struct file * or a struct path * as its path in out. */
static __always_inline __u32 args__path(__u8 type, __u64 v, struct task_struct *t, struct myelin_path_scratch *ps, char *out)
{
	if (type == MYELIN_HOOK_ARG_PATH) {
		struct path *p = (struct path *)v;
		return dentry_path(BPF_CORE_READ(p, dentry), BPF_CORE_READ(p, mnt), ps, out);
	}
	struct file *f = type == MYELIN_HOOK_ARG_FILE ? (struct file *)v : task_fd_file(t, (long)v);
	return file_path(f, ps, out);
}
