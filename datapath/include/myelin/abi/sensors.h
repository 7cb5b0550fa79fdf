/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The runtime sensors' ABI (sockets.bpf.c, gpu.bpf.c, block.bpf.c and the
 * agent's monitors): TCP connect/accept/close events, per-process CUDA
 * call counters, per-process block I/O counters. Names and helpers for
 * C++: sensors.hpp. How the ABI headers are kept right: common.h.
 */
#ifndef MYELIN_ABI_SENSORS_H
#define MYELIN_ABI_SENSORS_H

#include "myelin/abi/common.h"

/* ---- Per-process TCP sensor (sockets.bpf.c) ----
 * connect (at its return, ports assigned), accept (the new fd at return)
 * and close (the process starts closing its end: close(), shutdown() or its
 * exit) of TCP sockets, where the process that did it is the current task. */
enum myelin_sock_event_type {
	MYELIN_SOCK_CONNECT = 1,
	MYELIN_SOCK_ACCEPT = 2,
	MYELIN_SOCK_CLOSE = 3,
};

struct myelin_sock_event {
	__u8 type;              /* enum myelin_sock_event_type */
	__u8 pad[3];
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 netns;
	__s32 ret;              /* connect: what the syscall returned (0, -EINPROGRESS, -ECONNREFUSED, ...) */
	__u64 ktime_ns;
	__u64 cookie;           /* the socket's kernel address: pairs a connection's events */
	struct myelin_sock_tuple sock;
};
MYELIN_ASSERT_SIZE(myelin_sock_event, 80);

/* ---- GPU (CUDA runtime and driver uprobes, gpu.bpf.c) ---- */
enum myelin_gpu_fn {
	MYELIN_GPU_CUDA_MALLOC = 0,        /* cudaMalloc(void **, size_t) */
	MYELIN_GPU_CUDA_FREE = 1,          /* cudaFree(void *) */
	MYELIN_GPU_CUDA_MEMCPY = 2,        /* cudaMemcpy(dst, src, size_t, kind) */
	MYELIN_GPU_CUDA_MEMCPY_ASYNC = 3,  /* cudaMemcpyAsync(dst, src, size_t, kind, stream) */
	MYELIN_GPU_CUDA_LAUNCH_KERNEL = 4, /* cudaLaunchKernel(func, grid, block, args, shmem, stream) */
	MYELIN_GPU_CU_LAUNCH_KERNEL = 5,   /* cuLaunchKernel(f, ...) */
	MYELIN_GPU_CU_MEM_ALLOC = 6,       /* cuMemAlloc_v2(CUdeviceptr *, size_t) */
	MYELIN_GPU_CU_MEMCPY_HTOD = 7,     /* cuMemcpyHtoD_v2(dst, src, size_t) */
	MYELIN_GPU_CU_MEMCPY_DTOH = 8,     /* cuMemcpyDtoH_v2(dst, src, size_t) */
	MYELIN_GPU_FN_MAX = 9,
};

/* Per process (tgid), kept after it exits until the LRU map needs room. */
struct myelin_gpu_stats {
	__u64 calls[MYELIN_GPU_FN_MAX + 1];
	__u64 bytes_allocated;
	__u64 bytes_copied;
	__u64 kernel_launches;
	__u64 first_ns;
	__u64 last_ns;
	__u32 netns;
	__u32 pad;
	char comm[16];
};
MYELIN_ASSERT_SIZE(myelin_gpu_stats, 144);

/* ---- Storage (block I/O, block.bpf.c) ---- */
#define MYELIN_BLOCK_LAT_BUCKETS 32   /* bucket i: latency < 2^i microseconds */

struct myelin_block_key {
	__u32 dev;              /* the kernel's dev_t: major << 20 | minor */
	__u32 tgid;             /* the process that issued the request */
};
MYELIN_ASSERT_SIZE(myelin_block_key, 8);

struct myelin_block_stats {
	__u64 ios;
	__u64 bytes;
	__u64 reads;
	__u64 writes;
	__u64 latency_sum_ns;
	__u64 latency_hist[MYELIN_BLOCK_LAT_BUCKETS];
	__u32 netns;
	__u32 pad;
	char comm[16];
};
MYELIN_ASSERT_SIZE(myelin_block_stats, 320);

/* Every struct and enum of this header (the layout test: common.h). */
#define MYELIN_ABI_SENSORS_STRUCTS(X) \
	X(myelin_sock_event) \
	X(myelin_gpu_stats) \
	X(myelin_block_key) \
	X(myelin_block_stats)

#define MYELIN_ABI_SENSORS_ENUMS(X) \
	X(myelin_sock_event_type) \
	X(myelin_gpu_fn)

#endif /* MYELIN_ABI_SENSORS_H */
