// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * TracingPolicy lsmhooks on BPF-LSM: unlink, rename, exec and open of
 * protected files and directories. An LSM program's return value is the
 * hook's verdict, so an Override here happens before the operation: the
 * file survives, the exec never starts. Rules are (hook, dev, inode) keys
 * written by the agent; the program looks up the object's inode and each
 * parent's (Prefix), so paths are matched without building strings.
 * Loaded only where the kernel runs BPF as an LSM (lsm=...,bpf).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "myelin/abi/tracing.h"
#include "lib/hook_act.h"
#include "lib/ringbuf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct myelin_lsm_key);
	__type(value, struct myelin_lsm_rule);
} myelin_lsm_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1u << 20);
} myelin_lsm_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_proc_stats);
} myelin_lsm_stats SEC(".maps");

const struct myelin_lsm_event *unused_lsm_event __attribute__((unused));

static __always_inline int decide(__u32 hook, struct dentry *dentry)
{
	struct myelin_lsm_key key = {.hook = hook};
	struct myelin_lsm_rule *rule = NULL;
	struct dentry *d = dentry;
	__u8 depth = 0;

	for (int i = 0; i < MYELIN_LSM_MAX_DEPTH; i++) {
		struct inode *inode = BPF_CORE_READ(d, d_inode);
		if (inode) {
			key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
			key.ino = BPF_CORE_READ(inode, i_ino);
			rule = bpf_map_lookup_elem(&myelin_lsm_rules, &key);
			if (rule && (i == 0 || rule->prefix)) {
				depth = i;
				break;
			}
			rule = NULL;
		}
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (!parent || parent == d)
			break;
		d = parent;
	}
	if (!rule)
		return 0;

	int ret = hook__act(rule->action, rule->error);
	if (rule->action == MYELIN_HOOK_ACT_NOPOST)
		return ret;

	struct myelin_lsm_event *e = ringbuf__reserve(&myelin_lsm_events, sizeof(*e), &myelin_lsm_stats);
	if (!e)
		return ret;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	e->policy_id = rule->policy_id;
	e->rule_id = rule->rule_id;
	e->hook = hook;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->netns = BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
	e->ret = ret;
	e->action = rule->action;
	e->depth = depth;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	e->ktime_ns = bpf_ktime_get_ns();
	bpf_probe_read_kernel_str(e->name, sizeof(e->name), BPF_CORE_READ(dentry, d_name.name));
	ringbuf__submit(e, &myelin_lsm_stats);
	return ret;
}

SEC("lsm/inode_unlink")
int BPF_PROG(myelin_inode_unlink, struct inode *dir, struct dentry *dentry, int prev)
{
	if (prev)
		return prev;
	return decide(MYELIN_LSM_INODE_UNLINK, dentry);
}

SEC("lsm/inode_rename")
int BPF_PROG(myelin_inode_rename, struct inode *old_dir, struct dentry *old_dentry, struct inode *new_dir,
	     struct dentry *new_dentry, int prev)
{
	if (prev)
		return prev;
	return decide(MYELIN_LSM_INODE_RENAME, old_dentry);
}

SEC("lsm/path_unlink")
int BPF_PROG(myelin_path_unlink, const struct path *dir, struct dentry *dentry, int prev)
{
	if (prev)
		return prev;
	return decide(MYELIN_LSM_PATH_UNLINK, dentry);
}

/* Only the first two arguments: the hook gained a flags argument over
 * kernel versions. prev is not needed: the trampoline runs this program
 * only while every earlier one returned 0. */
SEC("lsm/path_rename")
int BPF_PROG(myelin_path_rename, const struct path *old_dir, struct dentry *old_dentry)
{
	return decide(MYELIN_LSM_PATH_RENAME, old_dentry);
}

SEC("lsm/bprm_check_security")
int BPF_PROG(myelin_bprm_check, struct linux_binprm *bprm, int prev)
{
	if (prev)
		return prev;
	return decide(MYELIN_LSM_BPRM_CHECK, BPF_CORE_READ(bprm, file, f_path.dentry));
}

SEC("lsm/file_open")
int BPF_PROG(myelin_file_open, struct file *file, int prev)
{
	if (prev)
		return prev;
	return decide(MYELIN_LSM_FILE_OPEN, BPF_CORE_READ(file, f_path.dentry));
}
