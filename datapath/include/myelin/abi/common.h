/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The ABI between Myelin's BPF programs and its C++ agent, split by domain:
 *   common.h   what more than one domain shares (this file)
 *   net.h      the pod datapath: maps, flow events, drop reasons, counters
 *   process.h  process lifecycle events
 *   tracing.h  TracingPolicy hooks: selectors, configs, events, LSM rules
 *   sensors.h  the TCP socket sensor, GPU and block I/O
 *   lb.h       Services: load-balancing maps, socket translation events
 * Each is included by BPF C (after vmlinux.h) and by C++ (with
 * <linux/types.h>); include only the domains you use. C++-only names and
 * helpers live in the companion .hpp of a domain.
 *
 * Fixed-width types, explicit padding, no bitfields, and a size assertion
 * on each struct so a layout change fails the build on both sides. Every
 * struct and enum is listed in its header's MYELIN_ABI_*_STRUCTS/_ENUMS;
 * tests/unit/abi/ compares each struct's size and member offsets in the
 * BTF of a BPF object that instantiates them all with the C++ side, and
 * the enums Hubble defines with flow.proto.
 *
 * Addresses are 16 bytes plus a family tag everywhere, so IPv6 needs no ABI
 * change: an IPv4 address lives in w[0] (network byte order), w[1..3] = 0.
 */
#ifndef MYELIN_ABI_COMMON_H
#define MYELIN_ABI_COMMON_H

#if defined(__bpf__)
/* vmlinux.h already provides __u8.. __u64, __be16, __be32. */
#else
#include <linux/types.h>
#endif

#ifdef __cplusplus
#define MYELIN_ASSERT_SIZE(type, size) \
	static_assert(sizeof(struct type) == (size), #type " changed size: the ABI moved")
#else
#define MYELIN_ASSERT_SIZE(type, size) \
	_Static_assert(sizeof(struct type) == (size), #type " changed size: the ABI moved")
#endif

enum myelin_family {
	MYELIN_FAMILY_NONE = 0,
	MYELIN_FAMILY_IPV4 = 4,
	MYELIN_FAMILY_IPV6 = 6,
};

struct myelin_addr {
	__u32 w[4];
};
MYELIN_ASSERT_SIZE(myelin_addr, 16);

/* An inet socket as the socket sensor (sensors.h) and `sock` args of
 * TracingPolicy kprobes (tracing.h) see it. */
struct myelin_sock_tuple {
	__u8 family;            /* AF_INET, AF_INET6 */
	__u8 protocol;          /* IPPROTO_TCP, IPPROTO_UDP, ... */
	__u8 state;             /* the kernel's TCP state (TCP_ESTABLISHED = 1, ...) */
	__u8 type;              /* SOCK_STREAM = 1, SOCK_DGRAM = 2, ... */
	__u16 sport;            /* host order */
	__u16 dport;
	__u8 saddr[16];         /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
};
MYELIN_ASSERT_SIZE(myelin_sock_tuple, 40);

/* Per-CPU counters of every runtime probe object (process, sockets,
 * TracingPolicy hooks, LSM), one array slot. */
struct myelin_proc_stats {
	__u64 events_sent;
	__u64 events_lost;      /* ring buffer reservation failed */
};
MYELIN_ASSERT_SIZE(myelin_proc_stats, 16);

/* Every struct and enum of this header (the layout test: common.h). */
#define MYELIN_ABI_COMMON_STRUCTS(X) \
	X(myelin_addr) \
	X(myelin_sock_tuple) \
	X(myelin_proc_stats)

#define MYELIN_ABI_COMMON_ENUMS(X) \
	X(myelin_family)

#endif /* MYELIN_ABI_COMMON_H */
