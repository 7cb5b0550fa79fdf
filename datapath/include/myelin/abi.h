/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one ABI between Myelin's BPF programs and its C++ agent: every map
 * key and value, every event struct, every enum both sides read, and the
 * names maps are pinned under. Included by BPF C (after vmlinux.h) and by
 * C++ (with <linux/types.h>). Fixed-width types, explicit padding, and a
 * size assertion on each struct so a layout change fails the build on both
 * sides; tests/datapath/abi_btf_test.cpp also checks offsets against the
 * BTF of the built object.
 *
 * Addresses are 16 bytes plus a family tag everywhere, so IPv6 needs no ABI
 * change: an IPv4 address lives in w[0] (network byte order), w[1..3] = 0.
 */
#ifndef MYELIN_ABI_H
#define MYELIN_ABI_H

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

enum myelin_family {
	MYELIN_FAMILY_NONE = 0,
	MYELIN_FAMILY_IPV4 = 4,
	MYELIN_FAMILY_IPV6 = 6,
};

struct myelin_addr {
	__u32 w[4];
};
MYELIN_ASSERT_SIZE(myelin_addr, 16);

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
	__u8 pad[2];
};
MYELIN_ASSERT_SIZE(myelin_ct_key, 40);

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
	/* Services (not yet used, 0): the backend this connection was sent to,
	 * so it stays there when the backends change, and the frontend its
	 * replies are translated back to (reverse NAT). */
	__u32 backend_id;
	__u16 rev_nat_index;
	__u8 state;             /* enum myelin_ct_state */
	__u8 tcp_seen;          /* MYELIN_CT_SEEN_* */
	__u8 pad[4];
};
MYELIN_ASSERT_SIZE(myelin_ct_entry, 72);

/* ---- ipcache: address or CIDR -> security identity (LPM) ---- */
struct myelin_ipcache_key {
	__u32 prefixlen;        /* LPM: bits of what follows; 32 + address bits */
	__u8 family;
	__u8 pad[3];
	struct myelin_addr addr;
};
MYELIN_ASSERT_SIZE(myelin_ipcache_key, 24);

struct myelin_ipcache_val {
	__u32 identity;
	/* The CIDR identity this prefix has for NetworkPolicy ipBlock, which
	 * selects every address in its CIDR, pods and nodes included: the entry's
	 * own identity for a policy CIDR, the longest policy CIDR holding it for
	 * a node address (whose identity is host), 0 for none. */
	__u32 ipblock_identity;
};
MYELIN_ASSERT_SIZE(myelin_ipcache_val, 8);

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
	__u32 identity;         /* remote identity, 0 = any */
	__be16 dport;           /* destination port, matched by prefix */
	__u16 pad2;
};
MYELIN_ASSERT_SIZE(myelin_policy_key, 20);

#define MYELIN_POLICY_F_AUDIT 0x1

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

/* ---- Hubble-compatible enums (values are Hubble's flow.proto numbers) ---- */
enum myelin_verdict {
	MYELIN_VERDICT_UNKNOWN = 0,
	MYELIN_VERDICT_FORWARDED = 1,
	MYELIN_VERDICT_DROPPED = 2,
	MYELIN_VERDICT_ERROR = 3,
	MYELIN_VERDICT_AUDIT = 4,
};

enum myelin_direction {
	MYELIN_DIR_UNKNOWN = 0,
	MYELIN_DIR_INGRESS = 1,     /* towards the endpoint (to-container) */
	MYELIN_DIR_EGRESS = 2,      /* from the endpoint (from-container) */
};

/* Drop reasons. One exit path in BPF, `return drop(ctx, reason, dir)`,
 * counts {reason, dir} and emits a drop event; the numbers are Hubble's
 * DropReason values so drop_reason_desc is the enum name. Keep in sync
 * with api/flow.proto (tests/unit/abi_enum_test.cpp checks). */
enum myelin_drop_reason {
	MYELIN_DROP_NONE = 0,
	MYELIN_DROP_INVALID_SOURCE_MAC = 130,
	MYELIN_DROP_INVALID_SOURCE_IP = 132,
	MYELIN_DROP_POLICY_DENIED = 133,
	MYELIN_DROP_INVALID_PACKET = 134,
	MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER = 135,
	MYELIN_DROP_CT_UNKNOWN_L4_PROTOCOL = 137,
	/* An ICMP error about no tracked connection (CT_CANNOT_CREATE_ENTRY_FROM_PACKET):
	 * errors never open a connection, they only relate to one. */
	MYELIN_DROP_CT_CANNOT_CREATE_ENTRY = 138,
	MYELIN_DROP_UNSUPPORTED_L3_PROTOCOL = 139,
	MYELIN_DROP_ERROR_WRITING_TO_PACKET = 141,
	MYELIN_DROP_UNKNOWN_L3_TARGET_ADDRESS = 150,
	MYELIN_DROP_NO_MATCHING_LOCAL_CONTAINER = 152,
	MYELIN_DROP_CT_MAP_INSERTION_FAILED = 155,
	MYELIN_DROP_NO_POLICY_CONFIG = 165,     /* NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION */
	MYELIN_DROP_FRAG_NOT_SUPPORTED = 157,
	MYELIN_DROP_FIRST_FRAGMENT_NOT_FOUND = 175,
	MYELIN_DROP_POLICY_DENY = 181,
};

/* Hubble's TraceObservationPoint values. */
enum myelin_obs_point {
	MYELIN_OBS_UNKNOWN = 0,
	MYELIN_OBS_TO_HOST = 2,
	MYELIN_OBS_TO_STACK = 3,
	MYELIN_OBS_FROM_ENDPOINT = 5,
	MYELIN_OBS_FROM_STACK = 8,
	MYELIN_OBS_TO_ENDPOINT = 101,
};

/* Hubble's TraceReason values. */
enum myelin_trace_reason {
	MYELIN_TRACE_REASON_UNKNOWN = 0,
	MYELIN_TRACE_REASON_NEW = 1,
	MYELIN_TRACE_REASON_ESTABLISHED = 2,
	MYELIN_TRACE_REASON_REPLY = 3,
	MYELIN_TRACE_REASON_RELATED = 4,
};

/* Cilium monitor message types (Hubble's event_type.type). */
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
};
MYELIN_ASSERT_SIZE(myelin_flow_event, 104);

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

/* ---- Runtime: process lifecycle (process.bpf.c) ---- */
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

/* Per-CPU counters of the process probes, one array slot. */
struct myelin_proc_stats {
	__u64 events_sent;
	__u64 events_lost;      /* ring buffer reservation failed */
};
MYELIN_ASSERT_SIZE(myelin_proc_stats, 16);

/* ---- Runtime: TracingPolicy hooks (tracepoint.bpf.c) ----
 * One program instance per (policy, hook): a tracepoint, a uprobe, or a
 * kprobe attached as fentry (fmod_ret where a selector overrides the
 * return). The agent compiles the policy's args and selectors into one
 * config value; the program captures the args, evaluates the selectors in
 * the kernel and posts and/or acts only on a match. */
#define MYELIN_TP_MAX_ARGS      4
#define MYELIN_TP_MAX_SELECTORS 4
#define MYELIN_TP_MAX_CONDS     4
#define MYELIN_TP_MAX_BINARIES  4
#define MYELIN_TP_STR_MAX       128
#define MYELIN_BINARY_PATH_MAX  256

/* matchBinaries: what the process probes keep per process (tgid) at exec
 * and fork, for the tracing programs: the id of its binary if a selector
 * names it (In/NotIn), and one bit per binary path prefix it starts with
 * (Prefix/NotPrefix). The prefixes are an LPM trie over the path's bytes:
 * one lookup at exec finds the longest configured prefix of the path, whose
 * value the agent made the bits of it and of every shorter prefix of it. */
#define MYELIN_BINARY_PREFIXES 32

struct myelin_binary_prefix_key {
	__u32 prefixlen;            /* bits: 8 x the prefix's length */
	char path[MYELIN_TP_STR_MAX];
};
MYELIN_ASSERT_SIZE(myelin_binary_prefix_key, 132);

struct myelin_exec_binary {
	__u32 id;                   /* 0: no selector names its binary */
	__u32 prefixes;             /* bit i: its binary starts with prefix i */
};
MYELIN_ASSERT_SIZE(myelin_exec_binary, 8);

enum myelin_tp_arg_type {
	MYELIN_TP_ARG_NONE = 0,
	MYELIN_TP_ARG_INT = 1,      /* signed integer field (int, long, pid_t, ...) */
	MYELIN_TP_ARG_UINT = 2,     /* unsigned integer field (size_t, u32, u64, ...) */
	MYELIN_TP_ARG_STRING = 3,   /* pointer to a user-space string (a path argument) */
	MYELIN_TP_ARG_FD = 4,       /* a file descriptor: the open file's path is captured as the string */
	MYELIN_TP_ARG_FILE = 5,     /* struct file * (kprobes): its path */
	MYELIN_TP_ARG_PATH = 6,     /* struct path * (kprobes): the path */
	MYELIN_TP_ARG_SOCK = 7,     /* struct sock * (kprobes): a myelin_sock_tuple in strs[i], the pointer in ints[i] */
	MYELIN_TP_ARG_BUF = 8,      /* char_buf: up to MYELIN_TP_STR_MAX - 1 bytes in strs[i], its full length in ints[i] */
};

enum myelin_tp_op {
	MYELIN_TP_OP_EQ = 1,
	MYELIN_TP_OP_NE = 2,
	MYELIN_TP_OP_GT = 3,
	MYELIN_TP_OP_LT = 4,
	MYELIN_TP_OP_MASK = 5,      /* any bit of value set */
	MYELIN_TP_OP_PREFIX = 6,    /* strings */
	MYELIN_TP_OP_POSTFIX = 7,   /* strings */
	/* sock args: value is the port / protocol / family; str holds an address and str_len its prefix length */
	MYELIN_TP_OP_SPORT = 8, MYELIN_TP_OP_NOT_SPORT, MYELIN_TP_OP_DPORT, MYELIN_TP_OP_NOT_DPORT,
	MYELIN_TP_OP_SADDR, MYELIN_TP_OP_NOT_SADDR, MYELIN_TP_OP_DADDR, MYELIN_TP_OP_NOT_DADDR,
	MYELIN_TP_OP_PROTOCOL, MYELIN_TP_OP_FAMILY,
};

enum myelin_tp_action {
	MYELIN_TP_ACT_POST = 1,
	MYELIN_TP_ACT_NOPOST = 2,
	MYELIN_TP_ACT_SIGKILL = 3,  /* posts too */
	MYELIN_TP_ACT_SIGNAL = 4,   /* posts too; the signal in `action_arg` */
	MYELIN_TP_ACT_OVERRIDE = 5, /* fmod_ret only: the function is not run, returns `action_arg` (a negative errno) */
};

struct myelin_tp_arg {
	__u16 offset;               /* in the tracepoint record; for a call, the argument's position */
	__u8 size;                  /* 1, 2, 4 or 8 */
	__u8 type;                  /* enum myelin_tp_arg_type */
	__u16 size_offset;          /* char_buf: where its length is (same meaning as offset) */
	__u8 size_size;             /* char_buf: that length's size (1, 2, 4 or 8) */
	__u8 pad;
};
MYELIN_ASSERT_SIZE(myelin_tp_arg, 8);

struct myelin_tp_cond {
	__u8 arg;                   /* index into args[] */
	__u8 op;                    /* enum myelin_tp_op */
	__u8 str_len;               /* PREFIX / EQ on strings: bytes of str to compare */
	__u8 pad[5];
	__u64 value;                /* integers */
	char str[MYELIN_TP_STR_MAX];
};
MYELIN_ASSERT_SIZE(myelin_tp_cond, 144);

#define MYELIN_TP_MAX_PIDS      4
#define MYELIN_TP_MAX_NS        2
#define MYELIN_TP_NS_VALUES     4
#define MYELIN_TP_PID_FOLLOW_FORKS 1   /* the listed processes' descendants too (ancestors walked) */
#define MYELIN_TP_PID_NAMESPACED   2   /* pids as seen in the process's own pid namespace */
#define MYELIN_TP_ANCESTORS        8   /* how far followForks looks up */

enum myelin_tp_cap_set {
	MYELIN_TP_CAP_EFFECTIVE = 0,
	MYELIN_TP_CAP_INHERITABLE = 1,
	MYELIN_TP_CAP_PERMITTED = 2,
};

/* Namespaces a selector can match (Tetragon's names). */
enum myelin_tp_ns_type {
	MYELIN_NS_UTS = 1, MYELIN_NS_IPC, MYELIN_NS_MNT, MYELIN_NS_PID, MYELIN_NS_PID_FOR_CHILDREN,
	MYELIN_NS_NET, MYELIN_NS_TIME, MYELIN_NS_TIME_FOR_CHILDREN, MYELIN_NS_CGROUP, MYELIN_NS_USER,
};

struct myelin_tp_ns_match {
	__u8 ns;                    /* enum myelin_tp_ns_type */
	__u8 op;                    /* 1 In, 2 NotIn */
	__u8 nvalues;
	__u8 pad;
	__u32 values[MYELIN_TP_NS_VALUES];  /* namespace inode numbers (host_ns: pid 1's) */
};
MYELIN_ASSERT_SIZE(myelin_tp_ns_match, 20);

struct myelin_tp_selector {
	__u8 nconds;
	__u8 binary_op;             /* 0 any, 1 In, 2 NotIn, 3 Prefix, 4 NotPrefix (binaries[0] is then a prefix bit mask) */
	__u8 nbinaries;
	__u8 action;                /* enum myelin_tp_action */
	__s32 action_arg;           /* Signal: the signal; Override: the errno returned (negative) */
	__u32 binaries[MYELIN_TP_MAX_BINARIES];   /* ids from myelin_binaries */
	struct myelin_tp_cond conds[MYELIN_TP_MAX_CONDS];
	/* matchPIDs: tgids (or pids in the process's own pid namespace) */
	__u8 pid_op;                /* 0 any, 1 In, 2 NotIn */
	__u8 npids;
	__u8 pid_flags;             /* MYELIN_TP_PID_* */
	/* matchCapabilities: the process has any (In) / none (NotIn) of `caps` */
	__u8 cap_op;                /* 0 any, 1 In, 2 NotIn */
	__u8 cap_set;               /* enum myelin_tp_cap_set */
	__u8 nns;                   /* matchNamespaces entries */
	__u8 pad2[2];
	__u32 pids[MYELIN_TP_MAX_PIDS];
	__u64 caps;
	struct myelin_tp_ns_match ns[MYELIN_TP_MAX_NS];
};
MYELIN_ASSERT_SIZE(myelin_tp_selector, 672);

struct myelin_tp_config {
	__u32 policy_id;
	__u32 hook_id;
	__u8 nargs;
	__u8 nselectors;            /* 0: post every hit */
	__u8 scoped;                /* 1: only tasks whose netns is in myelin_tp_scope for this policy */
	__u8 path_arg;              /* 1 + the index of the one fd/file/path arg resolved to a path, 0 if none */
	__u8 flags;                 /* MYELIN_TP_CFG_* */
	__u8 pad[3];
	struct myelin_tp_arg args[MYELIN_TP_MAX_ARGS];
	struct myelin_tp_selector selectors[MYELIN_TP_MAX_SELECTORS];
};
MYELIN_ASSERT_SIZE(myelin_tp_config, 2736);

#define MYELIN_TP_CFG_KERNEL_STRINGS 1  /* kprobes on kernel functions: string args point into the kernel */
#define MYELIN_TP_RET_ARG            0xff  /* myelin_tp_cond.arg: the return value (return probes, matchReturnArgs) */

/* TracingPolicyNamespaced and podSelector: the network namespaces of the
 * pods a policy applies to (the agent follows the endpoints). */
struct myelin_tp_scope_key {
	__u32 policy_id;
	__u32 netns;
};
MYELIN_ASSERT_SIZE(myelin_tp_scope_key, 8);

struct myelin_tp_event {
	__u32 policy_id;
	__u32 hook_id;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 netns;
	__u8 action;                /* what was done: enum myelin_tp_action */
	__u8 selector;              /* which selector matched (0-based) */
	__u8 str_lens[MYELIN_TP_MAX_ARGS];  /* bytes in strs[i] (no NUL); a path that did not fit starts with "..." */
	__u8 pad[2];
	__s64 ret;                  /* Override: what the function returned instead of running; return probes: what it returned */
	__u64 ktime_ns;
	__u64 ints[MYELIN_TP_MAX_ARGS];
	char strs[MYELIN_TP_MAX_ARGS][MYELIN_TP_STR_MAX];
};
MYELIN_ASSERT_SIZE(myelin_tp_event, 592);

/* ---- Runtime: per-process TCP sensor (sockets.bpf.c) ----
 * connect (at its return, ports assigned), accept (the new fd at return)
 * and close (the process starts closing its end: close(), shutdown() or its
 * exit) of TCP sockets, where the process that did it is the current task. */
enum myelin_sock_event_type {
	MYELIN_SOCK_CONNECT = 1,
	MYELIN_SOCK_ACCEPT = 2,
	MYELIN_SOCK_CLOSE = 3,
};

/* An inet socket as the sensor and `sock` args of TracingPolicy kprobes see it. */
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


/* ---- Runtime: TracingPolicy BPF-LSM hooks (lsm.bpf.c) ----
 * A rule protects one inode (a file: Equal; a directory and everything
 * under it: Prefix) for one hook. The agent resolves the policy's paths to
 * (device, inode) when it loads the policy; the programs walk from the
 * object's dentry up its parents and look each inode up. */
enum myelin_lsm_hook {
	MYELIN_LSM_INODE_UNLINK = 1,
	MYELIN_LSM_INODE_RENAME = 2,
	MYELIN_LSM_PATH_UNLINK = 3,
	MYELIN_LSM_BPRM_CHECK = 4,
	MYELIN_LSM_FILE_OPEN = 5,
	MYELIN_LSM_PATH_RENAME = 6,
};

#define MYELIN_LSM_MAX_DEPTH 16
#define MYELIN_LSM_NAME_MAX  64

struct myelin_lsm_key {
	__u32 hook;             /* enum myelin_lsm_hook */
	__u32 pad;
	__u64 dev;              /* the kernel's dev_t of the inode's super block */
	__u64 ino;
};
MYELIN_ASSERT_SIZE(myelin_lsm_key, 24);

struct myelin_lsm_rule {
	__u32 policy_id;
	__u32 rule_id;          /* the agent's: which policy value this inode came from */
	__u8 action;            /* enum myelin_tp_action, or MYELIN_LSM_ACT_OVERRIDE */
	__u8 prefix;            /* 1: the inode and everything under it; 0: the inode only */
	__u16 pad;
	__s32 error;            /* Override: the return value (a negative errno) */
};
MYELIN_ASSERT_SIZE(myelin_lsm_rule, 16);

#define MYELIN_LSM_ACT_OVERRIDE 5   /* the hook returns rule.error: the operation fails */

struct myelin_lsm_event {
	__u32 policy_id;
	__u32 rule_id;
	__u32 hook;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 netns;
	__s32 ret;              /* what the hook returned (0: allowed) */
	__u8 action;
	__u8 depth;             /* 0: the protected inode itself; n: n levels below it */
	__u8 pad[6];
	__u64 ktime_ns;
	char name[MYELIN_LSM_NAME_MAX];   /* the object's own name (dentry) */
};
MYELIN_ASSERT_SIZE(myelin_lsm_event, 112);

/* ---- Runtime: GPU (CUDA runtime and driver uprobes, gpu.bpf.c) ---- */
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

/* ---- Runtime: storage (block I/O, block.bpf.c) ---- */
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

#endif /* MYELIN_ABI_H */
