/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Process lifecycle (process.bpf.c and the agent's process cache): one
 * ring buffer record per exec, exit and fork. The matchBinaries state the
 * same programs keep for TracingPolicy is in tracing.h; their counters,
 * myelin_proc_stats, in common.h.
 */
#ifndef MYELIN_ABI_PROCESS_H
#define MYELIN_ABI_PROCESS_H

#include "myelin/abi/common.h"

enum myelin_proc_event_type {
	MYELIN_PROC_EXEC = 1,
	MYELIN_PROC_EXIT = 2,
	MYELIN_PROC_FORK = 3,   /* a new process (not a thread): keeps the parent chain */
};

#define MYELIN_PROC_F_ARGS_TRUNCATED   0x1  /* the arguments did not fit */
#define MYELIN_PROC_F_ARGS_UNREADABLE  0x2  /* the new image's argv page was not readable */
#define MYELIN_PROC_F_BINARY_TRUNCATED 0x4

#define MYELIN_PROC_BINARY_MAX 256
#define MYELIN_PROC_ARGS_MAX   1024
#define MYELIN_PROC_EVENTS_BYTES (8u << 20)

/* One fixed-size record per exec, exit or fork. Arguments are the raw
 * NUL-separated argv block, args_len bytes of it valid. */
struct myelin_process_event {
	__u8  type;             /* enum myelin_proc_event_type */
	__u8  flags;            /* MYELIN_PROC_F_* */
	__u16 args_len;
	__u32 pid;              /* thread group id (the process) */
	__u32 tid;
	__u32 ppid;             /* real parent's tgid */
	__u32 uid;
	__u32 auid;             /* loginuid; 0xffffffff when unset */
	__u32 netns;            /* network namespace inode: pod attribution */
	__u32 exit_code;        /* exit: wait status (code << 8 | signal) */
	__u64 ktime_ns;         /* CLOCK_MONOTONIC of the event */
	__u64 start_ns;         /* the process's start (task->start_time, monotonic) */
	__u64 parent_start_ns;
	__u64 cgroup_id;
	char  comm[16];
	char  binary[MYELIN_PROC_BINARY_MAX];
	char  args[MYELIN_PROC_ARGS_MAX];
};
MYELIN_ASSERT_SIZE(myelin_process_event, 1360);

/* Every struct and enum of this header (the layout test: common.h). */
#define MYELIN_ABI_PROCESS_STRUCTS(X) \
	X(myelin_process_event)

#define MYELIN_ABI_PROCESS_ENUMS(X) \
	X(myelin_proc_event_type)

#endif /* MYELIN_ABI_PROCESS_H */
