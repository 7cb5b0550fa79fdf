// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Process lifecycle from the scheduler's BTF tracepoints: exec (with the
 * binary, argv, ids, network namespace and cgroup), exit of a whole process
 * (with its wait status), and fork of a new process (for the parent chain).
 * Every record goes on a ring buffer; a reservation failure is counted.
 * Loaded by myelind's RuntimeProbes; the agent adds pod, cwd and exec ids.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "myelin/abi/process.h"
#include "myelin/abi/tracing.h"
#include "lib/ringbuf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MYELIN_PROC_EVENTS_BYTES);
} myelin_proc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_proc_stats);
} myelin_proc_stats SEC(".maps");

/* Binaries that TracingPolicy selectors name (matchBinaries), path -> id,
 * written by the agent; and the id of the binary each process runs, kept
 * here at exec and fork for the tracing programs to read in the kernel. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct myelin_binary_key);
	__type(value, __u32);
} myelin_binaries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);      /* tgid */
	__type(value, struct myelin_exec_binary);
} myelin_exec_binary SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MYELIN_BINARY_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct myelin_binary_prefix_key);
	__type(value, __u32);    /* prefix bits */
} myelin_binary_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_binary_prefix_key);
} myelin_prefix_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_binary_key);
} myelin_binary_scratch SEC(".maps");

/* The prefixes (matchBinaries Prefix) the binary's path starts with, as bits: one LPM lookup. */
static __always_inline __u32 prefix_bits(const char *path)
{
	__u32 zero = 0;
	struct myelin_binary_prefix_key *k = bpf_map_lookup_elem(&myelin_prefix_scratch, &zero);
	if (!k)
		return 0;
	k->prefixlen = MYELIN_HOOK_STR_MAX * 8;
	bpf_probe_read_kernel(k->path, sizeof(k->path), path);
	__u32 *bits = bpf_map_lookup_elem(&myelin_binary_prefixes, k);
	return bits ? *bits : 0;
}

/* The fields every record carries. */
static __always_inline struct myelin_process_event *reserve(struct task_struct *t, __u8 type)
{
	struct myelin_process_event *e = ringbuf__reserve(&myelin_proc_events, sizeof(*e), &myelin_proc_stats);
	if (!e)
		return NULL;
	e->type = type;
	e->flags = 0;
	e->args_len = 0;
	e->pid = BPF_CORE_READ(t, tgid);
	e->tid = BPF_CORE_READ(t, pid);
	e->ppid = BPF_CORE_READ(t, real_parent, tgid);
	e->uid = BPF_CORE_READ(t, cred, uid.val);
	e->auid = 0xffffffff;
	if (bpf_core_field_exists(t->loginuid))
		e->auid = BPF_CORE_READ(t, loginuid.val);
	e->netns = BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
	e->exit_code = 0;
	e->ktime_ns = bpf_ktime_get_ns();
	e->start_ns = BPF_CORE_READ(t, group_leader, start_time);
	e->parent_start_ns = BPF_CORE_READ(t, real_parent, group_leader, start_time);
	e->cgroup_id = 0;
	BPF_CORE_READ_STR_INTO(&e->comm, t, comm);
	e->binary[0] = 0;
	e->args[0] = 0;
	return e;
}

static __always_inline void submit(struct myelin_process_event *e)
{
	ringbuf__submit(e, &myelin_proc_stats);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(myelin_proc_exec, struct task_struct *t, pid_t old_pid, struct linux_binprm *bprm)
{
	struct myelin_process_event *e = reserve(t, MYELIN_PROC_EXEC);
	if (!e)
		return 0;
	e->cgroup_id = bpf_get_current_cgroup_id();
	long n = bpf_probe_read_kernel_str(e->binary, sizeof(e->binary), BPF_CORE_READ(bprm, filename));
	if (n == sizeof(e->binary))
		e->flags |= MYELIN_PROC_F_BINARY_TRUNCATED;

	/* argv of the new image, a NUL-separated block in its memory. */
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start), end = BPF_CORE_READ(mm, arg_end);
	unsigned long len = end > start ? end - start : 0;
	if (len > MYELIN_PROC_ARGS_MAX) {
		len = MYELIN_PROC_ARGS_MAX;
		e->flags |= MYELIN_PROC_F_ARGS_TRUNCATED;
	}
	if (len > 0) {
		if (bpf_probe_read_user(e->args, len, (void *)start) == 0)
			e->args_len = len;
		else
			e->flags |= MYELIN_PROC_F_ARGS_UNREADABLE;
	}
	/* The binary's id, if a selector names it. */
	__u32 zero = 0, tgid = e->pid;
	struct myelin_binary_key *key = bpf_map_lookup_elem(&myelin_binary_scratch, &zero);
	submit(e);
	if (key) {
		__builtin_memset(key->path, 0, sizeof(key->path));
		bpf_probe_read_kernel_str(key->path, sizeof(key->path), BPF_CORE_READ(bprm, filename));
		struct myelin_exec_binary b = {};
		__u32 *id = bpf_map_lookup_elem(&myelin_binaries, key);
		if (id)
			b.id = *id;
		b.prefixes = prefix_bits(key->path);
		if (b.id || b.prefixes)
			bpf_map_update_elem(&myelin_exec_binary, &tgid, &b, BPF_ANY);
		else
			bpf_map_delete_elem(&myelin_exec_binary, &tgid);
	}
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(myelin_proc_exit, struct task_struct *t)
{
	/* A thread's exit is not the process's: report the last one out. */
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0;
	struct myelin_process_event *e = reserve(t, MYELIN_PROC_EXIT);
	if (!e)
		return 0;
	e->exit_code = BPF_CORE_READ(t, exit_code);
	__u32 tgid = e->pid;
	submit(e);
	bpf_map_delete_elem(&myelin_exec_binary, &tgid);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(myelin_proc_fork, struct task_struct *parent, struct task_struct *child)
{
	/* New threads share the parent's process: nothing to follow. */
	if (BPF_CORE_READ(child, tgid) != BPF_CORE_READ(child, pid))
		return 0;
	struct myelin_process_event *e = reserve(child, MYELIN_PROC_FORK);
	if (!e)
		return 0;
	BPF_CORE_READ_STR_INTO(&e->binary, parent, comm);
	__u32 ptgid = e->ppid, ctgid = e->pid;
	submit(e);
	struct myelin_exec_binary *b = bpf_map_lookup_elem(&myelin_exec_binary, &ptgid);  /* same image until it execs */
	if (b) {
		struct myelin_exec_binary v = *b;
		bpf_map_update_elem(&myelin_exec_binary, &ctgid, &v, BPF_ANY);
	}
	return 0;
}
