/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Masquerade (SNAT of pod traffic leaving the cluster to the node address,
 * datapath/lib/snat.h, on the node's devices): the pinned map of its
 * translations. Included by BPF C and C++ like every ABI header (common.h).
 *
 * One map holds both directions of a translated flow, as the tuple looks on
 * the wire at the node's device:
 *   EGRESS   pod:port -> peer:pport      to {node_ip, nat_port}
 *   INGRESS  peer:pport -> node_ip:nat_port   to {pod, port}
 * The INGRESS entry is the claim on nat_port for that peer: it is inserted
 * first, BPF_NOEXIST, so two flows never get one port (port allocation).
 * ICMP echo: the port is the echo id, the peer's port 0 both ways. The
 * node's own flows from node_ip get an INGRESS entry too (F_HOST, nothing
 * translated), so a pod's flow is never given a port the node uses.
 */
#ifndef MYELIN_ABI_NAT_H
#define MYELIN_ABI_NAT_H

#include "myelin/abi/common.h"

#define MYELIN_MAP_SNAT "myelin_snat"
#define MYELIN_SNAT_MAX 131072

/* Masquerade source ports when the agent set none (Cilium's NAT range,
 * above the node's own ephemeral range 32768-60999). */
#define MYELIN_SNAT_PORT_MIN_DEFAULT 61000
#define MYELIN_SNAT_PORT_MAX_DEFAULT 65535

enum myelin_snat_dir {
	MYELIN_SNAT_EGRESS = 1,     /* pod -> peer, leaving the node */
	MYELIN_SNAT_INGRESS = 2,    /* peer -> node_ip, coming back */
};

struct myelin_snat_key {
	struct myelin_addr saddr;
	struct myelin_addr daddr;
	__be16 sport;           /* ICMP echo: the id */
	__be16 dport;           /* ICMP echo: 0 */
	__u8 proto;             /* IPPROTO_TCP, _UDP, _ICMP */
	__u8 family;            /* enum myelin_family */
	__u8 dir;               /* enum myelin_snat_dir */
	__u8 pad;
};
MYELIN_ASSERT_SIZE(myelin_snat_key, 40);

/* The node's own flow (INGRESS only): its port is taken, nothing is
 * translated back. */
#define MYELIN_SNAT_F_HOST 0x1
/* A NodePort client's flow to a backend on another node (INGRESS only):
 * the reply also gets its source back to the frontend of rev_nat_index. */
#define MYELIN_SNAT_F_NODE_PORT 0x2

struct myelin_snat_entry {
	struct myelin_addr to_addr;  /* EGRESS: node_ip; INGRESS: the pod */
	__be16 to_port;              /* EGRESS: the allocated port; INGRESS: the pod's */
	__u8 flags;                  /* MYELIN_SNAT_F_* */
	__u8 pad;
	__u16 rev_nat_index;         /* F_NODE_PORT: the frontend (myelin_lb_revnat); else 0 */
	__u8 pad2[2];
	__u64 created_ns;            /* bpf_ktime_get_ns() */
	__u64 last_seen_ns;
};
MYELIN_ASSERT_SIZE(myelin_snat_entry, 40);

/* How many ports a new flow tries before it is dropped
 * NO_MAPPING_FOR_NAT_MASQUERADE (a bounded loop: one insert each). A range
 * of at most this many ports is searched whole. */
#define MYELIN_SNAT_TRIES 32

#define MYELIN_ABI_NAT_STRUCTS(X) \
	X(myelin_snat_key) \
	X(myelin_snat_entry)

#define MYELIN_ABI_NAT_ENUMS(X) \
	X(myelin_snat_dir)

#endif /* MYELIN_ABI_NAT_H */
