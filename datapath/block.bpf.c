// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Storage: block requests timed from issue to completion (block
 * tracepoints, BTF form), counted per (device, issuing process) with a log2
 * latency histogram in the kernel. The issuing task is the one that handed
 * the request to the driver: the application itself for direct and
 * synchronous I/O, a kernel worker for page-cache writeback.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "myelin/abi/sensors.h"
#include "lib/map_helpers.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct start {
	__u64 ts;
	__u32 tgid;
	__u32 netns;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);     /* the request's address */
	__type(value, struct start);
} myelin_block_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct myelin_block_key);
	__type(value, struct myelin_block_stats);
} myelin_block_stats SEC(".maps");

SEC("tp_btf/block_rq_issue")
int BPF_PROG(myelin_block_issue, struct request *rq)
{
	__u64 key = (__u64)rq;
	struct start s = {};
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	s.ts = bpf_ktime_get_ns();
	s.tgid = bpf_get_current_pid_tgid() >> 32;
	s.netns = BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
	bpf_get_current_comm(s.comm, sizeof(s.comm));
	bpf_map_update_elem(&myelin_block_start, &key, &s, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(myelin_block_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq;
	struct start *s = bpf_map_lookup_elem(&myelin_block_start, &key);
	if (!s)
		return 0;
	__u64 lat = bpf_ktime_get_ns() - s->ts;
	struct myelin_block_key k = {.tgid = s->tgid};
	k.dev = BPF_CORE_READ(rq, part, bd_dev);
	struct myelin_block_stats fresh = {.netns = s->netns};
	__builtin_memcpy(fresh.comm, s->comm, sizeof(fresh.comm));
	struct myelin_block_stats *st = map__lookup_or_init(&myelin_block_stats, &k, &fresh);
	bpf_map_delete_elem(&myelin_block_start, &key);
	if (!st)
		return 0;
	__u32 op = BPF_CORE_READ(rq, cmd_flags) & 0xff;  /* REQ_OP_MASK: 0 read, 1 write */
	__sync_fetch_and_add(&st->ios, 1);
	__sync_fetch_and_add(&st->bytes, nr_bytes);
	if (op == 0)
		__sync_fetch_and_add(&st->reads, 1);
	else if (op == 1)
		__sync_fetch_and_add(&st->writes, 1);
	__sync_fetch_and_add(&st->latency_sum_ns, lat);
	__u64 us = lat / 1000;
	__u32 b = 0;
	for (int i = 0; i < MYELIN_BLOCK_LAT_BUCKETS - 1; i++) {
		if (us < (1ull << i))
			break;
		b = i + 1;
	}
	if (b < MYELIN_BLOCK_LAT_BUCKETS)
		__sync_fetch_and_add(&st->latency_hist[b], 1);
	return 0;
}
