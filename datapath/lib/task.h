/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the runtime programs read about the current task: its open files
 * (fd -> path), its namespaces, its capabilities and its pid as seen inside
 * its own pid namespace. CO-RE reads only; no helper that a tracepoint
 * cannot call (bpf_d_path is not allowed there), so paths are rebuilt by
 * walking dentries and mounts, bounded.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "myelin/abi/tracing.h"

#define MYELIN_PATH_DEPTH 20  /* components (dentries and mount crossings) walked */

/* The struct file behind `fd` of the current task, or NULL. */
static __always_inline struct file *task_fd_file(struct task_struct *t, long fd)
{
	if (fd < 0)
		return NULL;
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || (unsigned long)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), fds + fd);
	return f;
}

/* Per-CPU scratch for dentry_path. `pos` lives in map memory on purpose:
 * the verifier does not track it there, so every iteration of the walk
 * reaches the loop head in the same state and is pruned instead of
 * branching into 2^depth paths. */
struct myelin_path_scratch {
	char buf[2 * MYELIN_HOOK_STR_MAX];
	__u32 pos;
	__u32 truncated;
};

/*
 * The absolute path of (dentry, vfsmount) written to out[0..MYELIN_HOOK_STR_MAX),
 * NUL-terminated; returns its length. Built backwards in `ps->buf` (twice
 * the string size, so the verifier can bound every copy). A path longer
 * than the buffer keeps its tail and starts with "...".
 */
static __always_inline __u32 dentry_path(struct dentry *d, struct vfsmount *vfs, struct myelin_path_scratch *ps, char *out)
{
	const __u32 P = MYELIN_HOOK_STR_MAX;
	struct mount *mnt = container_of(vfs, struct mount, mnt);
	ps->pos = P - 1;
	ps->truncated = 0;
	ps->buf[P - 1] = 0;
	for (int i = 0; i < MYELIN_PATH_DEPTH; i++) {
		struct dentry *mnt_root = BPF_CORE_READ(vfs, mnt_root);
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (d == mnt_root || d == parent) {
			/* The root of a mount: continue from where it is mounted. */
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
			if (up == mnt || !up)
				break;
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			vfs = &up->mnt;
			continue;
		}
		struct qstr name = BPF_CORE_READ(d, d_name);
		__u32 len = name.len;
		__u32 pos = ps->pos;
		if (len + 1 > pos || len >= P) {
			ps->truncated = 1;
			break;
		}
		pos -= len;
		bpf_probe_read_kernel(ps->buf + (pos & (P - 1)), len & (P - 1), name.name);
		pos -= 1;
		ps->buf[pos & (P - 1)] = '/';
		ps->pos = pos;
		d = parent;
	}
	__u32 pos = ps->pos & (P - 1);
	if (pos == P - 1) {  /* the root itself */
		pos -= 1;
		ps->buf[pos] = '/';
	}
	if (ps->truncated && pos >= 3) {
		pos -= 3;
		ps->buf[pos & (P - 1)] = '.';
		ps->buf[(pos + 1) & (P - 1)] = '.';
		ps->buf[(pos + 2) & (P - 1)] = '.';
	}
	bpf_probe_read_kernel(out, P, ps->buf + (pos & (P - 1)));
	return P - 1 - pos;
}

static __always_inline __u32 file_path(struct file *f, struct myelin_path_scratch *ps, char *out)
{
	out[0] = 0;
	if (!f)
		return 0;
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	struct vfsmount *vfs = BPF_CORE_READ(f, f_path.mnt);
	if (!d || !vfs)
		return 0;
	return dentry_path(d, vfs, ps, out);
}

/* The task's pid namespace (the one its pid was allocated in) and its pid there. */
static __always_inline struct pid_namespace *task_pid_ns(struct task_struct *t, __u32 *nr)
{
	struct pid *p = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(p, level);
	struct upid up = {};
	bpf_probe_read_kernel(&up, sizeof(up), (char *)p + bpf_core_field_offset(struct pid, numbers) +
							 (level & 31) * bpf_core_type_size(struct upid));
	if (nr)
		*nr = up.nr;
	return up.ns;
}

static __always_inline __u32 task_ns_inum(struct task_struct *t, __u8 ns)
{
	switch (ns) {
	case MYELIN_NS_UTS: return BPF_CORE_READ(t, nsproxy, uts_ns, ns.inum);
	case MYELIN_NS_IPC: return BPF_CORE_READ(t, nsproxy, ipc_ns, ns.inum);
	case MYELIN_NS_MNT: return BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
	case MYELIN_NS_PID: {
		struct pid_namespace *pns = task_pid_ns(t, NULL);
		return pns ? BPF_CORE_READ(pns, ns.inum) : 0;
	}
	case MYELIN_NS_PID_FOR_CHILDREN: return BPF_CORE_READ(t, nsproxy, pid_ns_for_children, ns.inum);
	case MYELIN_NS_NET: return BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
	case MYELIN_NS_TIME:
		if (bpf_core_field_exists(t->nsproxy->time_ns))
			return BPF_CORE_READ(t, nsproxy, time_ns, ns.inum);
		return 0;
	case MYELIN_NS_TIME_FOR_CHILDREN:
		if (bpf_core_field_exists(t->nsproxy->time_ns_for_children))
			return BPF_CORE_READ(t, nsproxy, time_ns_for_children, ns.inum);
		return 0;
	case MYELIN_NS_CGROUP: return BPF_CORE_READ(t, nsproxy, cgroup_ns, ns.inum);
	case MYELIN_NS_USER: return BPF_CORE_READ(t, cred, user_ns, ns.inum);
	}
	return 0;
}

/* One capability set as a 64-bit mask (kernel_cap_t is 64 bits in every layout). */
static __always_inline __u64 task_caps(struct task_struct *t, __u8 set)
{
	const struct cred *c = BPF_CORE_READ(t, cred);
	__u64 v = 0;
	switch (set) {
	case MYELIN_HOOK_CAP_INHERITABLE: bpf_core_read(&v, sizeof(v), &c->cap_inheritable); break;
	case MYELIN_HOOK_CAP_PERMITTED: bpf_core_read(&v, sizeof(v), &c->cap_permitted); break;
	default: bpf_core_read(&v, sizeof(v), &c->cap_effective); break;
	}
	return v;
}
