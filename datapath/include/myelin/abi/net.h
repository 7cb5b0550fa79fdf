/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pod datapath's ABI (lxc.bpf.c and the agent): the pinned maps and
 * their keys and values (endpoints, conntrack, ipcache, policy, fragments,
 * counters), reserved identities, the flow event and the Hubble enums it
 * carries, drop reasons. Names and helpers for C++: net.hpp. How the ABI
 * headers are kept right: common.h.
 */
#ifndef MYELIN_ABI_NET_H
#define MYELIN_ABI_NET_H

#include "myelin/abi/common.h"

/* ---- Pinned map names (under <bpffs-root>/, LIBBPF_PIN_BY_NAME) ---- */
#define MYELIN_MAP_ENDPOINTS "myelin_ep"
#define MYELIN_MAP_CT        "myelin_ct"
#define MYELIN_MAP_FRAG      "myelin_frag"
#define MYELIN_MAP_METRICS   "myelin_metrics"
#define MYELIN_MAP_STATS     "myelin_stats"
#define MYELIN_MAP_EVENTS    "myelin_events"
#define MYELIN_MAP_IPCACHE   "myelin_ipcache"
#define MYELIN_MAP_POL_ALLOW "myelin_pol_allow"
#define MYELIN_MAP_POL_DENY  "myelin_pol_deny"

/* Beside them, myelin_layout: kernel map id -> the layout (version) the map
 * was created with, so that an upgrade migrates a map of an older layout and
 * a downgrade refuses one of a newer layout (datapath/loader pinned_maps).
 * Keyed by id, not name: a map keeps its version whatever it is pinned as.
 * A pinned map without an entry is of layout 1. This map itself never
 * changes: every release must be able to read it. */
#define MYELIN_MAP_LAYOUT    "myelin_layout"
struct myelin_layout_val {
	__u32 version;
	char map[28];           /* the pin name it was made for (for dumps) */
};
MYELIN_ASSERT_SIZE(myelin_layout_val, 32);

#define MYELIN_ENDPOINTS_MAX 65536
#define MYELIN_CT_MAX        262144
#define MYELIN_FRAG_MAX      8192
#define MYELIN_METRICS_MAX   1024
#define MYELIN_EVENTS_BYTES  (4u << 20)
#define MYELIN_IPCACHE_MAX   262144
#define MYELIN_POLICY_MAX    262144

/* ---- Endpoints: pod IP -> where and who it is ---- */
struct myelin_ep_key {
	struct myelin_addr addr;
	__u8 family;            /* enum myelin_family */
	__u8 pad[3];
};
MYELIN_ASSERT_SIZE(myelin_ep_key, 20);

#define MYELIN_EP_F_READY 0x1
/* Some policy selects this endpoint in that direction: what no rule allows is dropped. */
#define MYELIN_EP_F_INGRESS_ENFORCED 0x2
#define MYELIN_EP_F_EGRESS_ENFORCED  0x4
/* Policy verdicts are reported (AUDIT) but never drop. */
#define MYELIN_EP_F_AUDIT            0x8
/* The agent could not install this endpoint's policy (e.g. a full map):
 * every new connection is dropped until it can, never allowed. */
#define MYELIN_EP_F_POLICY_FAILED    0x10

struct myelin_ep_info {
	__u32 ifindex;          /* host-side veth, in the node's namespace */
	__u32 ep_id;            /* endpoint id (Hubble's Endpoint.ID) */
	__u32 identity;         /* security identity */
	__u32 flags;            /* MYELIN_EP_F_* */
	__u8 mac[6];            /* the pod's interface MAC */
	__u8 node_mac[6];       /* the host-side veth MAC: the pod's gateway */
	__u32 policy_rev;       /* bumped by the agent whenever this endpoint's policy changes */
};
MYELIN_ASSERT_SIZE(myelin_ep_info, 32);

/* ---- Conntrack ---- */
/* Key is the tuple as first seen (the originating direction). A reply is
 * found by looking up the reversed tuple. An ICMP query keeps its id in
 * sport and the type of the reply that answers it in dport (echo 0,
 * timestamp 14, information 16, address mask 18), both ways; no other ICMP
 * type has an entry (errors relate to the entry of the datagram they quote). */
struct myelin_ct_key {
	struct myelin_addr saddr;
	struct myelin_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;             /* IPPROTO_* */
	__u8 family;
	__u8 kind;              /* enum myelin_ct_kind (0 in layout 1's entries: a connection) */
	__u8 pad;
};
MYELIN_ASSERT_SIZE(myelin_ct_key, 40);

/* A connection to a Service has two entries: a SERVICE one keyed by the
 * tuple as the client sent it (client -> frontend), holding the backend it
 * was given (backend_id), so its later packets go to the same backend; and
 * the CONNECTION entry of the translated tuple (client -> backend), holding
 * the frontend (rev_nat_index) its replies are translated back to. */
enum myelin_ct_kind {
	MYELIN_CT_KIND_CONNECTION = 0,
	MYELIN_CT_KIND_SERVICE = 1,
};

enum myelin_ct_state {
	MYELIN_CT_NONE = 0,
	MYELIN_CT_SYN_SENT = 1,     /* TCP: SYN seen from the originator */
	MYELIN_CT_SYN_RECV = 2,     /* TCP: SYN-ACK seen from the responder */
	MYELIN_CT_ESTABLISHED = 3,  /* TCP: handshake done; UDP/ICMP: reply seen */
	MYELIN_CT_FIN_WAIT = 4,     /* TCP: one side sent FIN */
	MYELIN_CT_CLOSING = 5,      /* TCP: both sides sent FIN */
	MYELIN_CT_CLOSED = 6,       /* TCP: RST seen, or FIN-ACK exchange done */
	MYELIN_CT_NEW = 7,          /* UDP/ICMP/other: only the first direction seen */
	MYELIN_CT_STATE_MAX = 8,
};

/* tcp_seen bits */
#define MYELIN_CT_SEEN_SYN      0x01
#define MYELIN_CT_SEEN_SYNACK   0x02
#define MYELIN_CT_SEEN_FIN_FWD  0x04
#define MYELIN_CT_SEEN_FIN_REV  0x08
#define MYELIN_CT_SEEN_RST      0x10

/* Layout 2 (layout 1: 64 bytes, policy_rev a __u16 after tcp_seen, no
 * Services fields; pinned_maps.cpp migrates it). */
struct myelin_ct_entry {
	__u64 created_ns;       /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 last_seen_ns;
	__u64 packets_fwd;
	__u64 bytes_fwd;
	__u64 packets_rev;
	__u64 bytes_rev;
	__u32 src_ep;           /* endpoint id of the originator, 0 if none */
	__u32 dst_ep;
	/* src + dst endpoints' policy_rev when policy last allowed it, as wide as
	 * they are (16 bits wrapped: an entry a multiple of 65,536 revisions
	 * behind skipped its revalidation). */
	__u32 policy_rev;
	/* Services (enum myelin_ct_kind): a SERVICE entry's backend, so the
	 * connection stays there when the backends change; a CONNECTION entry's
	 * frontend its replies are translated back to (reverse NAT), 0 = none. */
	__u32 backend_id;
	__u16 rev_nat_index;
	__u8 state;             /* enum myelin_ct_state */
	__u8 tcp_seen;          /* MYELIN_CT_SEEN_* */
	__u8 flags;             /* MYELIN_CT_F_* (0 in layout 1) */
	__u8 pad[3];
};
MYELIN_ASSERT_SIZE(myelin_ct_entry, 72);

/* The client reached itself through its Service: its source was translated
 * to the service-loopback address (abi/lb.h MYELIN_LB_HAIRPIN_IPV4). */
#define MYELIN_CT_F_HAIRPIN     0x01
/* Opened by a packet that came through the node's stack (to_container): its
 * replies go back through the stack, so whatever translated it there (kube-
 * proxy's DNAT, say) is undone, instead of straight to a local client. */
#define MYELIN_CT_F_VIA_STACK   0x02
/* Translated by a NodePort, externalIP or LoadBalancer frontend on a node
 * device (host.bpf.c). */
#define MYELIN_CT_F_NODE_PORT   0x04

/* ---- ipcache: address or CIDR -> security identity (LPM) ---- */
struct myelin_ipcache_key {
	__u32 prefixlen;        /* LPM: bits of what follows; 32 + address bits */
	__u8 family;
	__u8 pad[3];
	struct myelin_addr addr;
};
MYELIN_ASSERT_SIZE(myelin_ipcache_key, 24);

struct myelin_ipcache_val {
	__u32 identity;         /* the address's security identity */
	/* The CIDR identity this prefix has for NetworkPolicy ipBlock, which
	 * selects every address in its CIDR, pods and nodes included: the entry's
	 * own identity for a policy CIDR, the longest policy CIDR holding it for
	 * a node address (whose identity is host), 0 for none. */
	__u32 ipblock_identity;
	/* The node that holds the address (a pod of another node, another
	 * node's pod CIDR): in tunnel mode the packet is encapsulated to it;
	 * 0 = this node, or not in the cluster. Layout 2. */
	__be32 tunnel_endpoint;
	__u32 flags;            /* MYELIN_IPCACHE_F_*; layout 2 */
};
MYELIN_ASSERT_SIZE(myelin_ipcache_val, 16);

/* Inside the cluster (a pod, a node's pod CIDR, a node address): never
 * masqueraded. */
#define MYELIN_IPCACHE_F_CLUSTER   0x1
/* Of another node (its pod, its pod CIDR, its address). */
#define MYELIN_IPCACHE_F_REMOTE    0x2
/* A whole pod CIDR of another node (not a pod's own /32): an address in it
 * that has no /32 of its own is a pod not known yet, identity world. */
#define MYELIN_IPCACHE_F_POD_CIDR  0x4

/* ---- This node, for every program (one entry, key 0) ----
 * Written by the agent at start, before programs are attached. */
#define MYELIN_MAP_NODE "myelin_node"
enum myelin_routing_mode {
	MYELIN_ROUTING_NONE = 0,    /* a single node: nothing is routed to other nodes */
	MYELIN_ROUTING_TUNNEL = 1,  /* VXLAN to the ipcache's tunnel_endpoint */
	MYELIN_ROUTING_NATIVE = 2,  /* the node's routes (pod CIDR via node address) */
};
/* Pod traffic leaving the cluster is SNATed to node_ip. */
#define MYELIN_NODE_F_MASQUERADE 0x1
struct myelin_node_config {
	__u32 routing_mode;     /* enum myelin_routing_mode */
	__be32 node_ip;         /* this node's underlay address */
	__u32 tunnel_ifindex;   /* the VXLAN device (tunnel mode), 0 = none */
	__u32 flags;            /* MYELIN_NODE_F_* */
	__be32 native_cidr;     /* --native-routing-cidr: not masqueraded */
	__u8 native_prefix;     /* its prefix length, 0 = none */
	__u8 pad[3];
	__u16 snat_port_min;    /* masquerade source ports (host order) */
	__u16 snat_port_max;
	__u32 pad2;
};
MYELIN_ASSERT_SIZE(myelin_node_config, 32);

/* VXLAN: the port Cilium and flannel use; the VNI carries the sender's
 * 24-bit source identity. */
#define MYELIN_VXLAN_PORT 8472
#define MYELIN_VXLAN_OVERHEAD 50  /* outer IPv4 20 + UDP 8 + VXLAN 8 + Ethernet 14 */

/* ---- Policy: two LPM maps (allow, deny) of the same key ----
 * A rule for (endpoint, direction, protocol, remote identity, port range)
 * becomes one entry per port prefix of the range. The datapath looks up both
 * maps with the identity and with 0 ("any identity"), with the protocol and
 * with 0 ("any protocol"); any deny match drops, else any allow match
 * passes, else an enforced direction drops (default deny). Eight LPM
 * lookups on a connection's first packet, whatever the number of rules. */
#define MYELIN_POLICY_PREFIX_FULL 112  /* every bit up to and including the port */
#define MYELIN_POLICY_PREFIX_NOPORT 96 /* port wildcard */

struct myelin_policy_key {
	__u32 prefixlen;
	__u32 ep_id;
	__u8 dir;               /* enum myelin_direction, of the endpoint */
	__u8 proto;             /* IPPROTO_*, 0 = any */
	__u16 pad;
	__u32 identity;         /* remote identity, MYELIN_IDENTITY_ANY = any */
	__be16 dport;           /* destination port, matched by prefix */
	__u16 pad2;
};
MYELIN_ASSERT_SIZE(myelin_policy_key, 20);

#define MYELIN_POLICY_F_AUDIT 0x1

/* Security identities with a fixed meaning (Cilium's reserved numbers);
 * the agent allocates the others, from 256 up. */
enum myelin_identity {
	MYELIN_IDENTITY_ANY = 0,            /* policy entries: any remote identity */
	MYELIN_IDENTITY_HOST = 1,           /* this node's own addresses */
	MYELIN_IDENTITY_WORLD = 2,          /* whatever is not an endpoint of this node */
	MYELIN_IDENTITY_UNMANAGED = 3,
	MYELIN_IDENTITY_HEALTH = 4,
	MYELIN_IDENTITY_INIT = 5,
	MYELIN_IDENTITY_REMOTE_NODE = 6,
	MYELIN_IDENTITY_KUBE_APISERVER = 7,
};

/* Remote identity of a policy entry that a pod or node matches by its
 * address: MYELIN_IDENTITY_IPBLOCK | the ipblock_identity of the address in
 * the ipcache. Only NetworkPolicy ipBlock rules have such entries (Cilium's
 * toCIDR/fromCIDR never select cluster endpoints), only allow entries, and
 * the datapath looks them up after the remote's own identity found no allow.
 * Allocated identities stay below this bit. */
#define MYELIN_IDENTITY_IPBLOCK 0x80000000u

struct myelin_policy_val {
	__u32 policy_id;        /* the rule that decided (the agent maps it to a policy name) */
	__u32 flags;            /* MYELIN_POLICY_F_* */
};
MYELIN_ASSERT_SIZE(myelin_policy_val, 8);

/* ---- IPv4 fragments: first fragment's ports, for the ones after it ----
 * ICMP: sport = the id, dport = the type (byte 0) and code (byte 1). */
struct myelin_frag_key {
	struct myelin_addr saddr;
	struct myelin_addr daddr;
	__u32 id;               /* IP identification (host order) */
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};
MYELIN_ASSERT_SIZE(myelin_frag_key, 40);

struct myelin_frag_ports {
	__be16 sport;
	__be16 dport;
};
MYELIN_ASSERT_SIZE(myelin_frag_ports, 4);

/* ---- Hubble-compatible enums ----
 * Values and names are flow.proto's (api/flow.proto, Hubble's): an
 * enumerator MYELIN_<PREFIX>_<NAME> is flow.proto's <NAME>, and 0 is its
 * unknown value. tests/unit/abi/abi_enum_test.cpp checks each enumerator
 * against the generated descriptor; names come from there (DropReason_Name,
 * ...), never from a copy. */
/* flow.proto's Verdict. */
enum myelin_verdict {
	MYELIN_VERDICT_UNKNOWN = 0,
	MYELIN_VERDICT_FORWARDED = 1,
	MYELIN_VERDICT_DROPPED = 2,
	MYELIN_VERDICT_ERROR = 3,
	MYELIN_VERDICT_AUDIT = 4,
};

/* flow.proto's TrafficDirection. */
enum myelin_direction {
	MYELIN_DIR_UNKNOWN = 0,
	MYELIN_DIR_INGRESS = 1,     /* towards the endpoint (to-container) */
	MYELIN_DIR_EGRESS = 2,      /* from the endpoint (from-container) */
};

/* Drop reasons (flow.proto's DropReason). One exit path in BPF,
 * `return drop(ctx, reason, dir)`, counts {reason, dir} and emits a drop
 * event; drop_reason_desc is the enum name. Stored in a __u8. */
enum myelin_drop_reason {
	MYELIN_DROP_NONE = 0,
	MYELIN_DROP_INVALID_SOURCE_MAC = 130,
	MYELIN_DROP_INVALID_SOURCE_IP = 132,
	MYELIN_DROP_POLICY_DENIED = 133,
	MYELIN_DROP_INVALID_PACKET_DROPPED = 134,
	MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER = 135,
	MYELIN_DROP_CT_UNKNOWN_L4_PROTOCOL = 137,
	/* An ICMP error about no tracked connection: errors never open a
	 * connection, they only relate to one. */
	MYELIN_DROP_CT_CANNOT_CREATE_ENTRY_FROM_PACKET = 138,
	MYELIN_DROP_UNSUPPORTED_L3_PROTOCOL = 139,
	MYELIN_DROP_ERROR_WRITING_TO_PACKET = 141,
	MYELIN_DROP_UNKNOWN_L3_TARGET_ADDRESS = 150,
	MYELIN_DROP_NO_MATCHING_LOCAL_CONTAINER_FOUND = 152,
	MYELIN_DROP_CT_MAP_INSERTION_FAILED = 155,
	/* A Service frontend without a backend (the client is answered with a
	 * TCP RST / ICMP port unreachable), a frontend whose backend slot is
	 * missing, or a full Services map. */
	MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND = 158,
	MYELIN_DROP_ERROR_RETRIEVING_TUNNEL_KEY = 147,   /* from_overlay: no tunnel metadata */
	MYELIN_DROP_NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT = 160,
	MYELIN_DROP_NO_MAPPING_FOR_NAT_MASQUERADE = 167,  /* masquerade ports exhausted */
	MYELIN_DROP_UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE = 168,
	MYELIN_DROP_FIB_LOOKUP_FAILED = 169,
	MYELIN_DROP_INVALID_IDENTITY = 171,              /* a remote node claimed "host" */
	MYELIN_DROP_UNKNOWN_SENDER = 172,
	MYELIN_DROP_NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION = 165,
	MYELIN_DROP_IP_FRAGMENTATION_NOT_SUPPORTED = 157,
	MYELIN_DROP_FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND = 175,
	MYELIN_DROP_POLICY_DENY = 181,
};

/* flow.proto's TraceObservationPoint. */
enum myelin_obs_point {
	MYELIN_OBS_UNKNOWN = 0,
	MYELIN_OBS_TO_HOST = 2,
	MYELIN_OBS_TO_STACK = 3,
	MYELIN_OBS_TO_OVERLAY = 4,
	MYELIN_OBS_FROM_ENDPOINT = 5,
	MYELIN_OBS_FROM_STACK = 8,
	MYELIN_OBS_FROM_OVERLAY = 9,
	MYELIN_OBS_FROM_NETWORK = 10,
	MYELIN_OBS_TO_NETWORK = 11,
	MYELIN_OBS_TO_ENDPOINT = 101,
};

/* flow.proto's TraceReason. */
enum myelin_trace_reason {
	MYELIN_TRACE_REASON_UNKNOWN = 0,
	MYELIN_TRACE_REASON_NEW = 1,
	MYELIN_TRACE_REASON_ESTABLISHED = 2,
	MYELIN_TRACE_REASON_REPLY = 3,
	MYELIN_TRACE_REASON_RELATED = 4,
};

/* Cilium's monitor message types (Hubble's event_type.type, a number
 * flow.proto does not enumerate). */
enum myelin_event_type {
	MYELIN_EVENT_DROP = 1,
	MYELIN_EVENT_TRACE = 4,
	MYELIN_EVENT_POLICY_VERDICT = 5,
};

/* Why a trace event was emitted (the event's subtype). */
enum myelin_trace_cause {
	MYELIN_TRACE_CT_NEW = 1,        /* first packet of a connection */
	MYELIN_TRACE_CT_STATE = 2,      /* a TCP state change */
	MYELIN_TRACE_UNTRACKED = 3,     /* forwarded without an entry of its own: allowed stray RSTs and
	                                 * untracked ICMP (trace_reason NEW), ICMP errors (RELATED) */
};

/* TCP flag bits as on the wire (byte 13 of the TCP header). */
#define MYELIN_TCP_FIN 0x01
#define MYELIN_TCP_SYN 0x02
#define MYELIN_TCP_RST 0x04
#define MYELIN_TCP_PSH 0x08
#define MYELIN_TCP_ACK 0x10
#define MYELIN_TCP_URG 0x20
#define MYELIN_TCP_ECE 0x40
#define MYELIN_TCP_CWR 0x80

/* ---- Flow events on the ring buffer ---- */
struct myelin_flow_event {
	__u64 ts_ns;            /* bpf_ktime_get_ns() */
	__u8 type;              /* enum myelin_event_type */
	__u8 subtype;           /* enum myelin_trace_cause, or the drop reason */
	__u8 verdict;           /* enum myelin_verdict */
	__u8 direction;         /* enum myelin_direction */
	__u8 drop_reason;       /* enum myelin_drop_reason (0 unless dropped) */
	__u8 obs_point;         /* enum myelin_obs_point */
	__u8 trace_reason;      /* enum myelin_trace_reason */
	__u8 tcp_flags;         /* MYELIN_TCP_* of this packet */
	__u8 ct_state;          /* enum myelin_ct_state after this packet */
	__u8 is_reply;
	__u8 family;            /* enum myelin_family; NONE if not IP */
	__u8 proto;             /* IPPROTO_* */
	__u32 ifindex;          /* where the packet was seen */
	__u32 src_ep;
	__u32 dst_ep;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 len;              /* packet length */
	__u16 eth_proto;        /* host order */
	__be16 sport;           /* ICMP: echo id */
	__be16 dport;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 eth_src[6];
	__u8 eth_dst[6];
	__u32 egress_policy_id; /* rule of the source's egress policy that decided, 0 = none */
	struct myelin_addr saddr;
	struct myelin_addr daddr;
	__u32 ingress_policy_id;/* rule of the destination's ingress policy that decided, 0 = none */
	/* Services: the frontend (rev_nat_index, abi/lb.h) this packet was
	 * translated to (its destination, on the way to a backend) or from (its
	 * source, a backend's reply translated back), 0 = none. */
	__u16 dst_service;
	__u16 src_service;
	/* The other end of the VXLAN tunnel the packet was sent into
	 * (TO_OVERLAY) or came out of (FROM_OVERLAY), 0 = not tunnelled. */
	__be32 tunnel_peer;
};
MYELIN_ASSERT_SIZE(myelin_flow_event, 112);

/* ---- Counters ---- */
/* Per-CPU {reason, dir} -> packets/bytes. reason 0 = forwarded. */
struct myelin_metrics_key {
	__u8 reason;            /* enum myelin_drop_reason, 0 for forward */
	__u8 dir;               /* enum myelin_direction */
	__u8 pad[2];
};
MYELIN_ASSERT_SIZE(myelin_metrics_key, 4);

struct myelin_metrics_val {
	__u64 packets;
	__u64 bytes;
};
MYELIN_ASSERT_SIZE(myelin_metrics_val, 16);

/* Per-CPU datapath health counters, one array slot. Named fields, no
 * magic offsets; summed over CPUs in user space. */
struct myelin_stats {
	__u64 events_sent;      /* events submitted to the ring buffer */
	__u64 events_lost;      /* ring buffer reservation failed */
	__u64 ct_insert_failed;
	__u64 arp_replies;
	__u64 metrics_update_failed;
	__u64 frag_tracked;
	__u64 redirect_peer;
	__u64 redirect;
	__u64 to_stack;
};
MYELIN_ASSERT_SIZE(myelin_stats, 72);

/* skb->mark bits: a packet from_container already redirected with plain
 * bpf_redirect (no peer form), so to_container lets it pass untouched. */
#define MYELIN_MARK_MASK  0xffff0000u
#define MYELIN_MARK_LOCAL 0x4d4c0000u

/* The pods' default gateway: link-local, answered by the host side. */
#define MYELIN_GATEWAY_IPV4 "169.254.1.1"

/* Every struct and enum of this header (the layout test: common.h). */
#define MYELIN_ABI_NET_STRUCTS(X) \
	X(myelin_layout_val) \
	X(myelin_ep_key) \
	X(myelin_ep_info) \
	X(myelin_ct_key) \
	X(myelin_ct_entry) \
	X(myelin_ipcache_key) \
	X(myelin_ipcache_val) \
	X(myelin_node_config) \
	X(myelin_policy_key) \
	X(myelin_policy_val) \
	X(myelin_frag_key) \
	X(myelin_frag_ports) \
	X(myelin_flow_event) \
	X(myelin_metrics_key) \
	X(myelin_metrics_val) \
	X(myelin_stats)

#define MYELIN_ABI_NET_ENUMS(X) \
	X(myelin_ct_kind) \
	X(myelin_ct_state) \
	X(myelin_identity) \
	X(myelin_verdict) \
	X(myelin_direction) \
	X(myelin_drop_reason) \
	X(myelin_obs_point) \
	X(myelin_trace_reason) \
	X(myelin_event_type) \
	X(myelin_trace_cause) \
	X(myelin_routing_mode)

#endif /* MYELIN_ABI_NET_H */
