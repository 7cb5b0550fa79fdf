// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-process TCP sensor: connect, accept and close as the process does
 * them, so the current task is the process responsible:
 * - connect at the syscall's return (the source port is assigned by then),
 *   its fd resolved to the socket through the task's file table;
 * - accept at the syscall's return, the new fd resolved the same way (the
 *   connection itself became established in softirq context, any task);
 * - close when the kernel starts closing the connection from the process's
 *   side: ESTABLISHED -> FIN_WAIT1 or CLOSE_WAIT -> LAST_ACK, which only
 *   tcp_close()/shutdown() do, in the process, also when it exits without
 *   calling close(). An abortive close (RST on unread data) is not seen.
 * Anything but an inet TCP socket is ignored in the kernel.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "myelin/abi/sensors.h"
#include "lib/ringbuf.h"
#include "lib/sock.h"
#include "lib/task.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MYELIN_S_IFMT   0170000
#define MYELIN_S_IFSOCK 0140000
#define MYELIN_TCP_FIN_WAIT1 4
#define MYELIN_TCP_LAST_ACK  9

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1u << 20);
} myelin_sock_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_proc_stats);
} myelin_sock_stats SEC(".maps");

/* A connect() in progress: its fd and the address asked for (a refused
 * connect leaves the socket without its destination). */
struct connect_args {
	__s32 fd;
	__u16 family;
	__u16 port;             /* network order */
	__u8 addr[16];
};

/* tid -> the connect() it is in. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct connect_args);
} myelin_connect_fd SEC(".maps");

const struct myelin_sock_event *unused_sock_event __attribute__((unused));

static __always_inline struct sock *fd_sock(struct task_struct *t, long fd)
{
	struct file *f = task_fd_file(t, fd);
	if (!f)
		return NULL;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & MYELIN_S_IFMT) != MYELIN_S_IFSOCK)
		return NULL;
	struct socket *so = BPF_CORE_READ(f, private_data);
	return so ? BPF_CORE_READ(so, sk) : NULL;
}

static __always_inline void emit(struct sock *sk, __u8 type, __s32 ret, const struct connect_args *asked)
{
	struct myelin_sock_tuple t;
	if (!sock_tuple(sk, &t) || t.protocol != IPPROTO_TCP)
		return;

	struct myelin_sock_event *e = ringbuf__reserve(&myelin_sock_events, sizeof(*e), &myelin_sock_stats);
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->type = type;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	e->ret = ret;
	e->ktime_ns = bpf_ktime_get_ns();
	e->cookie = (__u64)sk;
	e->sock = t;
	if (asked && ret != 0 && ret != -115 /* EINPROGRESS */ && asked->family == t.family) {
		/* Failed: the kernel cleared the destination; report the one asked for. */
		e->sock.dport = bpf_ntohs(asked->port);
		__builtin_memcpy(e->sock.daddr, asked->addr, 16);
	}
	ringbuf__submit(e, &myelin_sock_stats);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int myelin_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct connect_args a = { .fd = (__s32)ctx->args[0] };
	const void *uaddr = (const void *)ctx->args[1];
	bpf_probe_read_user(&a.family, sizeof(a.family), uaddr);
	bpf_probe_read_user(&a.port, sizeof(a.port), uaddr + 2);
	if (a.family == MYELIN_AF_INET)
		bpf_probe_read_user(a.addr, 4, uaddr + 4);      /* sockaddr_in.sin_addr */
	else if (a.family == MYELIN_AF_INET6)
		bpf_probe_read_user(a.addr, 16, uaddr + 8);     /* sockaddr_in6.sin6_addr */
	bpf_map_update_elem(&myelin_connect_fd, &tid, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int myelin_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct connect_args *a = bpf_map_lookup_elem(&myelin_connect_fd, &tid);
	if (!a)
		return 0;
	struct connect_args asked = *a;
	bpf_map_delete_elem(&myelin_connect_fd, &tid);
	emit(fd_sock((struct task_struct *)bpf_get_current_task(), asked.fd), MYELIN_SOCK_CONNECT, (__s32)ctx->ret, &asked);
	return 0;
}

static __always_inline int accepted(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0)
		return 0;
	emit(fd_sock((struct task_struct *)bpf_get_current_task(), ctx->ret), MYELIN_SOCK_ACCEPT, 0, NULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int myelin_exit_accept4(struct trace_event_raw_sys_exit *ctx) { return accepted(ctx); }

SEC("tracepoint/syscalls/sys_exit_accept")
int myelin_exit_accept(struct trace_event_raw_sys_exit *ctx) { return accepted(ctx); }

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(myelin_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (newstate == MYELIN_TCP_FIN_WAIT1 || newstate == MYELIN_TCP_LAST_ACK)
		emit((struct sock *)sk, MYELIN_SOCK_CLOSE, 0, NULL);
	return 0;
}
