/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Services (kube-proxy replacement): the load-balancing maps shared by the
 * per-packet path (lxc.bpf.c, host.bpf.c), the socket path (sock_lb.bpf.c)
 * and the agent (daemon/services), and the socket-translation event.
 *
 *   frontend (address, port, protocol, scope)  --myelin_lb_svc slot 0-->  the service
 *            slot 1..count                      --myelin_lb_svc--------->  backend id
 *   backend id                                  --myelin_lb_be---------->  address, port, state
 *   rev_nat_index                               --myelin_lb_revnat------>  the frontend, for replies
 *
 * A frontend's slots 1..count list only the backends that take new
 * connections (ready ones; serving+terminating ones when none is ready).
 * A backend that takes no new connections but whose established ones
 * continue (terminating, not serving) stays in myelin_lb_be with
 * MYELIN_LB_BE_F_ACTIVE clear; a removed backend is deleted from it, and a
 * connection whose backend is gone picks a new one. count 0: no backends,
 * the connection is refused (TCP RST / ICMP port unreachable on the packet
 * path, ECONNREFUSED on the socket path), never silently dropped.
 */
#ifndef MYELIN_ABI_LB_H
#define MYELIN_ABI_LB_H

#include "myelin/abi/common.h"

#define MYELIN_MAP_LB_SVC        "myelin_lb_svc"
#define MYELIN_MAP_LB_BACKEND    "myelin_lb_be"
#define MYELIN_MAP_LB_REVNAT     "myelin_lb_revnat"
#define MYELIN_MAP_LB_AFFINITY   "myelin_lb_aff"
#define MYELIN_MAP_LB_MAGLEV     "myelin_lb_maglev"
#define MYELIN_MAP_LB_SOCK_REVNAT "myelin_lb_sknat"
#define MYELIN_MAP_LB_CONFIG     "myelin_lb_cfg"

/* Slots (frontends x (1 + backends)), backends, frontends. */
#define MYELIN_LB_SVC_MAX        262144
#define MYELIN_LB_BACKENDS_MAX   131072
#define MYELIN_LB_REVNAT_MAX     65536
#define MYELIN_LB_AFFINITY_MAX   65536
#define MYELIN_LB_MAGLEV_MAX     8192     /* frontends with a Maglev table */
#define MYELIN_LB_SOCK_REVNAT_MAX 262144

/* Which clients a frontend entry serves. A frontend whose traffic policy
 * differs for traffic from outside the cluster and from inside it
 * (externalTrafficPolicy Local on a NodePort) has two entries: EXTERNAL with
 * only this node's backends, INTERNAL with all, and MYELIN_LB_F_TWO_SCOPES
 * on the EXTERNAL one. Every other frontend has its EXTERNAL entry only. */
enum myelin_lb_scope {
	MYELIN_LB_SCOPE_EXTERNAL = 0,
	MYELIN_LB_SCOPE_INTERNAL = 1,
};

struct myelin_lb_svc_key {
	struct myelin_addr addr;  /* frontend address (ClusterIP, node address, external IP) */
	__be16 dport;             /* frontend port */
	__u8 proto;               /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP */
	__u8 scope;               /* enum myelin_lb_scope */
	__u16 slot;               /* 0: the frontend itself; 1..count: its backends */
	__u8 family;              /* enum myelin_family */
	__u8 pad;
};
MYELIN_ASSERT_SIZE(myelin_lb_svc_key, 24);

/* flags of slot 0 */
#define MYELIN_LB_F_CLUSTER_IP    0x0001
#define MYELIN_LB_F_NODE_PORT     0x0002
#define MYELIN_LB_F_EXTERNAL_IP   0x0004
#define MYELIN_LB_F_LOAD_BALANCER 0x0008
#define MYELIN_LB_F_AFFINITY      0x0010  /* sessionAffinity ClientIP (affinity_timeout) */
#define MYELIN_LB_F_TWO_SCOPES    0x0020  /* see enum myelin_lb_scope */
#define MYELIN_LB_F_MAGLEV        0x0040  /* traffic from outside picks by Maglev (myelin_lb_maglev) */
#define MYELIN_LB_F_LOCAL_ONLY    0x0080  /* internalTrafficPolicy Local: only this node's backends */

struct myelin_lb_svc_val {
	__u32 backend_id;         /* slot > 0: the backend; slot 0: 0 */
	__u16 count;              /* slot 0: number of backend slots */
	__u16 rev_nat_index;      /* the frontend's id, the same in all its slots (never 0) */
	__u32 flags;              /* slot 0: MYELIN_LB_F_* */
	__u32 affinity_timeout;   /* slot 0: seconds (sessionAffinityConfig), with MYELIN_LB_F_AFFINITY */
};
MYELIN_ASSERT_SIZE(myelin_lb_svc_val, 16);

/* Backend state */
#define MYELIN_LB_BE_F_ACTIVE     0x01    /* takes new connections */
#define MYELIN_LB_BE_F_TERMINATING 0x02   /* EndpointSlice terminating (for display, and the fallback) */
#define MYELIN_LB_BE_F_LOCAL      0x04    /* an endpoint of this node */

/* Key: __u32 backend id (never 0). */
struct myelin_lb_backend {
	struct myelin_addr addr;
	__be16 port;
	__u8 proto;
	__u8 flags;               /* MYELIN_LB_BE_F_* */
	__u8 family;
	__u8 pad[3];
};
MYELIN_ASSERT_SIZE(myelin_lb_backend, 24);

/* Key: __u32 rev_nat_index. What a backend's reply is translated back to. */
struct myelin_lb_revnat {
	struct myelin_addr addr;
	__be16 port;
	__u8 family;
	__u8 pad;
};
MYELIN_ASSERT_SIZE(myelin_lb_revnat, 20);

/* sessionAffinity ClientIP: the client's backend per frontend. The socket
 * path keys by the client's network-namespace cookie, the packet path by its
 * address. An entry whose backend is no longer active is ignored and
 * replaced at once. */
struct myelin_lb_affinity_key {
	__u64 client;             /* netns cookie, or the IPv4 address (network order) in the low 32 bits */
	__u32 rev_nat_index;
	__u8 netns;               /* 1: client is a netns cookie */
	__u8 pad[3];
};
MYELIN_ASSERT_SIZE(myelin_lb_affinity_key, 16);

struct myelin_lb_affinity_val {
	__u64 last_used_ns;       /* bpf_ktime_get_ns() */
	__u32 backend_id;
	__u32 pad;
};
MYELIN_ASSERT_SIZE(myelin_lb_affinity_val, 16);

/* Maglev: myelin_lb_maglev is a hash of maps, rev_nat_index -> an ARRAY of
 * config.maglev_m __u32 backend ids (BPF_F_INNER_MAP). Every node computes
 * the same table from the same backends and seed, so every node picks the
 * same backend for a flow from outside. */
#define MYELIN_LB_MAGLEV_DEFAULT_M 16381

/* The socket path's reverse translation of a connected or unconnected UDP
 * (and TCP, for getpeername) socket: what its peer, the backend, is shown as. */
struct myelin_lb_sock_key {
	__u64 cookie;             /* bpf_get_socket_cookie() */
	struct myelin_addr addr;  /* backend address */
	__be16 port;              /* backend port */
	__u8 family;
	__u8 pad[5];
};
MYELIN_ASSERT_SIZE(myelin_lb_sock_key, 32);

struct myelin_lb_sock_val {
	struct myelin_addr addr;  /* frontend address */
	__be16 port;              /* frontend port */
	__u16 rev_nat_index;
	__u32 backend_id;         /* destroyed (UDP) when this backend goes away */
};
MYELIN_ASSERT_SIZE(myelin_lb_sock_val, 24);

/* One slot (key 0): settings the agent writes at start. */
#define MYELIN_LB_CFG_F_ENABLED   0x1     /* Services are served (off: no translation at all) */
struct myelin_lb_config {
	__u32 flags;              /* MYELIN_LB_CFG_F_* */
	__u32 maglev_m;           /* size of each Maglev table, a prime */
	__u16 node_port_min;      /* host order, inclusive */
	__u16 node_port_max;
	__be32 hairpin_ipv4;      /* the service-loopback address (hairpin SNAT) */
};
MYELIN_ASSERT_SIZE(myelin_lb_config, 16);

/* The service-loopback address: the source a pod sees when it reached
 * itself through its own Service (Cilium's choice, link-local). */
#define MYELIN_LB_HAIRPIN_IPV4 "169.254.42.1"

/* flow.proto's SocketTranslationPoint. */
enum myelin_sock_xlate_point {
	MYELIN_SOCK_XLATE_POINT_UNKNOWN = 0,
	MYELIN_SOCK_XLATE_POINT_PRE_DIRECTION_FWD = 1,
	MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_FWD = 2,
	MYELIN_SOCK_XLATE_POINT_PRE_DIRECTION_REV = 3,
	MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_REV = 4,
};

/* Cilium's monitor type of a socket trace (MessageTypeTraceSock), beside
 * enum myelin_event_type (net.h). On sock_lb.bpf.c's own ring buffer
 * (myelin_sklb_events), not the flow events' one: its reader reads one
 * record layout, and a process's socket calls never take room from the
 * pods' packet events. */
#define MYELIN_EVENT_TRACE_SOCK 7

/* A socket-level translation (Hubble's Type SOCK flow, verdict TRANSLATED),
 * or a refusal: a frontend without backends (drop_reason
 * MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND, at PRE_DIRECTION_FWD, xlate_addr
 * = orig_addr: nothing was translated), a flow with verdict DROPPED.
 * Shares ts_ns and type's offsets with myelin_flow_event, so the reader
 * tells them apart by type. */
struct myelin_sock_xlate_event {
	__u64 ts_ns;
	__u8 type;                /* MYELIN_EVENT_TRACE_SOCK */
	__u8 xlate_point;         /* enum myelin_sock_xlate_point */
	__u8 proto;               /* IPPROTO_* */
	__u8 family;
	__u16 rev_nat_index;      /* the frontend, 0 if none */
	__u8 drop_reason;         /* 0: translated; else refused (enum myelin_drop_reason, net.h) */
	__u8 pad;
	__u64 cookie;             /* socket cookie */
	__u64 cgroup_id;
	__u64 netns_cookie;
	struct myelin_addr orig_addr;   /* what the program saw (the frontend on the way out) */
	struct myelin_addr xlate_addr;  /* what it became (the backend) */
	__be16 orig_port;
	__be16 xlate_port;
	__u32 pid;                /* tgid */
	__u32 netns_ino;          /* the process's network namespace (inode): which pod */
	__u32 pad2;
};
MYELIN_ASSERT_SIZE(myelin_sock_xlate_event, 88);

#define MYELIN_ABI_LB_STRUCTS(X) \
	X(myelin_lb_svc_key) \
	X(myelin_lb_svc_val) \
	X(myelin_lb_backend) \
	X(myelin_lb_revnat) \
	X(myelin_lb_affinity_key) \
	X(myelin_lb_affinity_val) \
	X(myelin_lb_sock_key) \
	X(myelin_lb_sock_val) \
	X(myelin_lb_config) \
	X(myelin_sock_xlate_event)

#define MYELIN_ABI_LB_ENUMS(X) \
	X(myelin_lb_scope) \
	X(myelin_sock_xlate_point)

#endif /* MYELIN_ABI_LB_H */
