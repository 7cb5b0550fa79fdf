// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * GPU visibility without touching the workload: uprobes on the CUDA runtime
 * (libcudart) and driver (libcuda) entry points count, per process, the
 * calls, the bytes allocated and copied and the kernel launches. Counting
 * happens in the kernel (a per-process LRU map); a launch-heavy program
 * costs one map update per call, no event. The agent attaches each program
 * to every library file it is given that exports the symbol.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "myelin/abi/sensors.h"
#include "lib/map_helpers.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);   /* tgid */
	__type(value, struct myelin_gpu_stats);
} myelin_gpu_stats SEC(".maps");

static __always_inline int account(__u32 fn, __u64 allocated, __u64 copied, bool launch)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 now = bpf_ktime_get_ns();
	struct myelin_gpu_stats zero = {};
	struct myelin_gpu_stats *s = map__lookup_or_init(&myelin_gpu_stats, &tgid, &zero);
	if (!s)
		return 0;
	if (!s->first_ns) {
		/* The process's first call: who it is (two of its threads may both
		 * write this, with the same answers). */
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		s->first_ns = now;
		s->netns = BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
		bpf_get_current_comm(s->comm, sizeof(s->comm));
	}
	if (fn < MYELIN_GPU_FN_MAX)
		__sync_fetch_and_add(&s->calls[fn], 1);
	if (allocated)
		__sync_fetch_and_add(&s->bytes_allocated, allocated);
	if (copied)
		__sync_fetch_and_add(&s->bytes_copied, copied);
	if (launch)
		__sync_fetch_and_add(&s->kernel_launches, 1);
	s->last_ns = now;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(myelin_cuda_malloc, void **ptr, __u64 size) { return account(MYELIN_GPU_CUDA_MALLOC, size, 0, false); }

SEC("uprobe")
int BPF_KPROBE(myelin_cuda_free, void *ptr) { return account(MYELIN_GPU_CUDA_FREE, 0, 0, false); }

SEC("uprobe")
int BPF_KPROBE(myelin_cuda_memcpy, void *dst, const void *src, __u64 count) { return account(MYELIN_GPU_CUDA_MEMCPY, 0, count, false); }

SEC("uprobe")
int BPF_KPROBE(myelin_cuda_memcpy_async, void *dst, const void *src, __u64 count)
{
	return account(MYELIN_GPU_CUDA_MEMCPY_ASYNC, 0, count, false);
}

SEC("uprobe")
int BPF_KPROBE(myelin_cuda_launch_kernel, const void *func) { return account(MYELIN_GPU_CUDA_LAUNCH_KERNEL, 0, 0, true); }

SEC("uprobe")
int BPF_KPROBE(myelin_cu_launch_kernel, void *f) { return account(MYELIN_GPU_CU_LAUNCH_KERNEL, 0, 0, true); }

SEC("uprobe")
int BPF_KPROBE(myelin_cu_mem_alloc, void *dptr, __u64 size) { return account(MYELIN_GPU_CU_MEM_ALLOC, size, 0, false); }

SEC("uprobe")
int BPF_KPROBE(myelin_cu_memcpy_htod, __u64 dst, const void *src, __u64 count) { return account(MYELIN_GPU_CU_MEMCPY_HTOD, 0, count, false); }

SEC("uprobe")
int BPF_KPROBE(myelin_cu_memcpy_dtoh, void *dst, __u64 src, __u64 count) { return account(MYELIN_GPU_CU_MEMCPY_DTOH, 0, count, false); }
