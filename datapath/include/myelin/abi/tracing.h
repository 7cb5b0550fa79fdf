/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TracingPolicy's ABI (tracepoint/uprobe/kprobe.bpf.c, lsm.bpf.c, the matchBinaries
 * state of process.bpf.c, and the agent's tracing compiler and manager):
 * the compiled config of a hook, its selectors and their operator and
 * action codes, the events, and the LSM rules. Names and helpers for C++:
 * tracing.hpp. How the ABI headers are kept right: common.h.
 */
#ifndef MYELIN_ABI_TRACING_H
#define MYELIN_ABI_TRACING_H

#include "myelin/abi/common.h"

/* ---- TracingPolicy hooks (tracepoint.bpf.c, uprobe.bpf.c, kprobe.bpf.c; engine: lib/selectors.h) ----
 * One program instance per (policy, hook): a tracepoint, a uprobe, or a
 * kprobe attached as fentry (fmod_ret where a selector overrides the
 * return). The agent compiles the policy's args and selectors into one
 * config value; the program captures the args, evaluates the selectors in
 * the kernel and posts and/or acts only on a match. */
/* 5 args per hook: Tetragon's (EventConfigMaxArgs). Tetragon's 5 selectors
 * and 5 matchArgs per selector do not fit one program here: 5 x 4 or 4 x 5
 * passes the 1M-instruction verifier limit on 6.18 (uprobe.bpf.c), so 4 x 4
 * until the engine is split (tail calls, or a value map per condition). */
#define MYELIN_HOOK_MAX_ARGS      5
#define MYELIN_HOOK_MAX_SELECTORS 4
#define MYELIN_HOOK_MAX_CONDS     4
#define MYELIN_HOOK_MAX_BINARIES  4
#define MYELIN_HOOK_STR_MAX       128
#define MYELIN_BINARY_PATH_MAX  256

/* matchBinaries: what the process probes keep per process (tgid) at exec
 * and fork, for the tracing programs: the id of its binary if a selector
 * names it (In/NotIn), and one bit per binary path prefix it starts with
 * (Prefix/NotPrefix). The prefixes are an LPM trie over the path's bytes:
 * one lookup at exec finds the longest configured prefix of the path, whose
 * value the agent made the bits of it and of every shorter prefix of it. */
#define MYELIN_BINARY_PREFIXES 32

/* The binaries selectors name (In/NotIn), path -> id (a __u32), written by
 * the agent into process.bpf.c's myelin_binaries. */
struct myelin_binary_key {
	char path[MYELIN_BINARY_PATH_MAX];
};
MYELIN_ASSERT_SIZE(myelin_binary_key, 256);

struct myelin_binary_prefix_key {
	__u32 prefixlen;            /* bits: 8 x the prefix's length */
	char path[MYELIN_HOOK_STR_MAX];
};
MYELIN_ASSERT_SIZE(myelin_binary_prefix_key, 132);

struct myelin_exec_binary {
	__u32 id;                   /* 0: no selector names its binary */
	__u32 prefixes;             /* bit i: its binary starts with prefix i */
};
MYELIN_ASSERT_SIZE(myelin_exec_binary, 8);

enum myelin_hook_arg_type {
	MYELIN_HOOK_ARG_NONE = 0,
	MYELIN_HOOK_ARG_INT = 1,      /* signed integer field (int, long, pid_t, ...) */
	MYELIN_HOOK_ARG_UINT = 2,     /* unsigned integer field (size_t, u32, u64, ...) */
	MYELIN_HOOK_ARG_STRING = 3,   /* pointer to a user-space string (a path argument) */
	MYELIN_HOOK_ARG_FD = 4,       /* a file descriptor: the open file's path is captured as the string */
	MYELIN_HOOK_ARG_FILE = 5,     /* struct file * (kprobes): its path */
	MYELIN_HOOK_ARG_PATH = 6,     /* struct path * (kprobes): the path */
	MYELIN_HOOK_ARG_SOCK = 7,     /* struct sock * (kprobes): a myelin_sock_tuple in strs[i], the pointer in ints[i] */
	MYELIN_HOOK_ARG_BUF = 8,      /* char_buf: up to MYELIN_HOOK_STR_MAX - 1 bytes in strs[i], its full length in ints[i] */
	/* Network and credential objects (kprobes on kernel functions): 32-47.
	 * The pointer in ints[i] (socket: its sock's), what was read of it in strs[i]. */
	MYELIN_HOOK_ARG_NOP = 32,        /* declared, not read, not shown (Tetragon's nop) */
	MYELIN_HOOK_ARG_SKB = 33,        /* struct sk_buff *: a myelin_hook_skb (the packet's tuple first) */
	MYELIN_HOOK_ARG_SOCKET = 34,     /* struct socket *: its sock as a myelin_hook_sock */
	MYELIN_HOOK_ARG_SOCKADDR = 35,   /* struct sockaddr *: a myelin_sock_tuple of family, saddr (the address), sport (the port) */
	MYELIN_HOOK_ARG_NET_DEV = 36,    /* struct net_device *: its name, as a string */
	MYELIN_HOOK_ARG_CRED = 37,       /* struct cred *: a myelin_hook_cred */
	MYELIN_HOOK_ARG_USER_NS = 38,    /* struct user_namespace *: a myelin_hook_user_ns */
	MYELIN_HOOK_ARG_CAPS = 39,       /* kernel_cap_t *: the 64-bit mask it points at, in ints[i] */
};

enum myelin_hook_op {
	MYELIN_HOOK_OP_EQ = 1,
	MYELIN_HOOK_OP_NE = 2,
	MYELIN_HOOK_OP_GT = 3,
	MYELIN_HOOK_OP_LT = 4,
	MYELIN_HOOK_OP_MASK = 5,      /* any bit of value set */
	MYELIN_HOOK_OP_PREFIX = 6,    /* strings */
	MYELIN_HOOK_OP_POSTFIX = 7,   /* strings */
	/* sock args: value is the port / protocol / family; str holds an address and str_len its prefix length */
	MYELIN_HOOK_OP_SPORT = 8, MYELIN_HOOK_OP_NOT_SPORT, MYELIN_HOOK_OP_DPORT, MYELIN_HOOK_OP_NOT_DPORT,
	MYELIN_HOOK_OP_SADDR, MYELIN_HOOK_OP_NOT_SADDR, MYELIN_HOOK_OP_DADDR, MYELIN_HOOK_OP_NOT_DADDR,
	MYELIN_HOOK_OP_PROTOCOL, MYELIN_HOOK_OP_FAMILY,
	/* integers: value in (not in) a set, kept in the cond: str_len values (at most MYELIN_HOOK_SET_VALUES) as __u64s in str */
	MYELIN_HOOK_OP_IN_MAP, MYELIN_HOOK_OP_NOT_IN_MAP,
	/* sock-like args (sock, socket, skb; sockaddr: SPort ones): 40-47 */
	MYELIN_HOOK_OP_STATE = 40,          /* the sock's TCP state (value) */
	MYELIN_HOOK_OP_SPORT_PRIV = 41,     /* a privileged port: below 1024 */
	MYELIN_HOOK_OP_NOT_SPORT_PRIV = 42,
	MYELIN_HOOK_OP_DPORT_PRIV = 43,
	MYELIN_HOOK_OP_NOT_DPORT_PRIV = 44,
};
#define MYELIN_HOOK_SET_VALUES 16

/* The operator of a set selector: matchBinaries, matchPIDs,
 * matchCapabilities (any of `caps`: In, none: NotIn), matchNamespaces. */
enum myelin_hook_set_op {
	MYELIN_HOOK_SET_ANY = 0,          /* no such selector: it matches */
	MYELIN_HOOK_SET_IN = 1,
	MYELIN_HOOK_SET_NOT_IN = 2,
	MYELIN_HOOK_SET_PREFIX = 3,       /* matchBinaries: binaries[0] is then a prefix bit mask */
	MYELIN_HOOK_SET_NOT_PREFIX = 4,
};

/* What a matching selector does (TracingPolicy matchActions; lsmhooks use
 * Post, NoPost, Sigkill and Override). */
enum myelin_hook_action {
	MYELIN_HOOK_ACT_POST = 1,
	MYELIN_HOOK_ACT_NOPOST = 2,
	MYELIN_HOOK_ACT_SIGKILL = 3,  /* posts too */
	MYELIN_HOOK_ACT_SIGNAL = 4,   /* posts too; the signal in `action_arg` */
	MYELIN_HOOK_ACT_OVERRIDE = 5, /* fmod_ret: the function is not run, returns `action_arg` (a negative errno);
	                             * LSM: the hook returns the rule's `error`, the operation fails */
	/* Socket tracking (40-41): what an event's return_action names; a
	 * selector keeps it apart from its action (sock_action). */
	MYELIN_HOOK_ACT_TRACKSOCK = 40,   /* the sock's owner is the process that hit the hook */
	MYELIN_HOOK_ACT_UNTRACKSOCK = 41,
};

struct myelin_hook_arg {
	__u16 offset;               /* in the tracepoint record; for a call, the argument's position */
	__u8 size;                  /* 1, 2, 4 or 8 */
	__u8 type;                  /* enum myelin_hook_arg_type */
	__u16 size_offset;          /* char_buf: where its length is (same meaning as offset) */
	__u8 size_size;             /* char_buf: that length's size (1, 2, 4 or 8) */
	__u8 pad;
};
MYELIN_ASSERT_SIZE(myelin_hook_arg, 8);

struct myelin_hook_cond {
	__u8 arg;                   /* index into args[] */
	__u8 op;                    /* enum myelin_hook_op */
	__u8 str_len;               /* PREFIX / EQ on strings: bytes of str to compare */
	__u8 pad[5];
	__u64 value;                /* integers */
	char str[MYELIN_HOOK_STR_MAX];
};
MYELIN_ASSERT_SIZE(myelin_hook_cond, 144);

#define MYELIN_HOOK_MAX_PIDS      4
#define MYELIN_HOOK_MAX_NS        2
#define MYELIN_HOOK_NS_VALUES     4
#define MYELIN_HOOK_PID_FOLLOW_FORKS 1   /* the listed processes' descendants too (ancestors walked) */
#define MYELIN_HOOK_PID_NAMESPACED   2   /* pids as seen in the process's own pid namespace */
#define MYELIN_HOOK_ANCESTORS        8   /* how far followForks looks up */
#define MYELIN_HOOK_ACTF_SIGKILL     1   /* matchActions Sigkill beside Override: the process is killed too */
#define MYELIN_HOOK_ACTF_NOPOST      2   /* matchActions NoPost beside another action: no event */

enum myelin_hook_cap_set {
	MYELIN_HOOK_CAP_EFFECTIVE = 0,
	MYELIN_HOOK_CAP_INHERITABLE = 1,
	MYELIN_HOOK_CAP_PERMITTED = 2,
};

/* Namespaces a selector can match (Tetragon's names). */
enum myelin_hook_ns_type {
	MYELIN_NS_UTS = 1, MYELIN_NS_IPC, MYELIN_NS_MNT, MYELIN_NS_PID, MYELIN_NS_PID_FOR_CHILDREN,
	MYELIN_NS_NET, MYELIN_NS_TIME, MYELIN_NS_TIME_FOR_CHILDREN, MYELIN_NS_CGROUP, MYELIN_NS_USER,
};

struct myelin_hook_ns_match {
	__u8 ns;                    /* enum myelin_hook_ns_type */
	__u8 op;                    /* enum myelin_hook_set_op: In, NotIn */
	__u8 nvalues;
	__u8 pad;
	__u32 values[MYELIN_HOOK_NS_VALUES];  /* namespace inode numbers (host_ns: pid 1's) */
};
MYELIN_ASSERT_SIZE(myelin_hook_ns_match, 20);

struct myelin_hook_selector {
	__u8 nconds;
	__u8 binary_op;             /* enum myelin_hook_set_op */
	__u8 nbinaries;
	__u8 action;                /* enum myelin_hook_action */
	__s32 action_arg;           /* Signal: the signal; Override: the errno returned (negative) */
	__u32 binaries[MYELIN_HOOK_MAX_BINARIES];   /* ids from myelin_binaries */
	struct myelin_hook_cond conds[MYELIN_HOOK_MAX_CONDS];
	/* matchPIDs: tgids (or pids in the process's own pid namespace) */
	__u8 pid_op;                /* enum myelin_hook_set_op: any, In, NotIn */
	__u8 npids;
	__u8 pid_flags;             /* MYELIN_HOOK_PID_* */
	/* matchCapabilities: the process has any (In) / none (NotIn) of `caps` */
	__u8 cap_op;                /* enum myelin_hook_set_op: any, In, NotIn */
	__u8 cap_set;               /* enum myelin_hook_cap_set */
	__u8 nns;                   /* matchNamespaces entries */
	__u8 sock_action;           /* 0, or TrackSock / UntrackSock (enum myelin_hook_action) the sock arg `sock_arg` */
	__u8 sock_arg;              /* index into args[] of a sock / socket arg */
	__u8 action_flags;          /* MYELIN_HOOK_ACTF_*: what more the selector's actions do */
	__u8 pad2[3];
	__u32 pids[MYELIN_HOOK_MAX_PIDS];
	__u64 caps;
	struct myelin_hook_ns_match ns[MYELIN_HOOK_MAX_NS];
};
MYELIN_ASSERT_SIZE(myelin_hook_selector, 680);

struct myelin_hook_config {
	__u32 policy_id;
	__u32 hook_id;
	__u8 nargs;
	__u8 nselectors;            /* 0: post every hit */
	__u8 scoped;                /* 1: only tasks whose netns is in myelin_hook_scope for this policy */
	__u8 path_arg;              /* 1 + the index of the one fd/file/path arg resolved to a path, 0 if none */
	__u8 flags;                 /* MYELIN_HOOK_CFG_* */
	__u8 ret_type;              /* return probes: enum myelin_hook_arg_type of the return value when it is an object (sock), else 0 */
	__u8 ret_slot;              /* ... where its tuple goes: strs[ret_slot] (an arg slot the hook does not use) */
	__u8 ret_action;            /* ... returnArgAction: 0, or TrackSock / UntrackSock the returned sock */
	struct myelin_hook_arg args[MYELIN_HOOK_MAX_ARGS];
	struct myelin_hook_selector selectors[MYELIN_HOOK_MAX_SELECTORS];
};
MYELIN_ASSERT_SIZE(myelin_hook_config, 2776);

#define MYELIN_HOOK_CFG_KERNEL_STRINGS 1  /* kprobes on kernel functions: string args point into the kernel */
#define MYELIN_HOOK_RET_ARG            0xff  /* myelin_hook_cond.arg: the return value (return probes, matchReturnArgs) */

/* What the network and credential args read (in myelin_hook_event.strs[i]). */
struct myelin_hook_sock {
	struct myelin_sock_tuple tuple;
	__u32 mark;
	__u32 priority;
};
MYELIN_ASSERT_SIZE(myelin_hook_sock, 48);

struct myelin_hook_skb {
	struct myelin_sock_tuple tuple;  /* from the packet's IP and TCP/UDP headers (state, type: 0) */
	__u32 hash;
	__u32 len;
	__u32 priority;
	__u32 mark;
	__u32 secpath_len;
	__u32 secpath_olen;
};
MYELIN_ASSERT_SIZE(myelin_hook_skb, 64);

struct myelin_hook_user_ns {
	__s32 level;                /* 0: the host's (initial) user namespace */
	__u32 uid;                  /* its owner */
	__u32 gid;
	__u32 inum;
};
MYELIN_ASSERT_SIZE(myelin_hook_user_ns, 16);

struct myelin_hook_cred {
	__u32 uid, gid, euid, egid, suid, sgid, fsuid, fsgid;
	__u32 securebits;
	__u32 pad;
	__u64 permitted;
	__u64 effective;
	__u64 inheritable;
	struct myelin_hook_user_ns user_ns;
};
MYELIN_ASSERT_SIZE(myelin_hook_cred, 80);

/* TrackSock: a sock (its address) -> the process it belongs to, read where
 * the sock is an arg to report that process (e.g. in softirq). */
struct myelin_hook_sock_owner {
	__u32 pid;
	__u32 tid;
};
MYELIN_ASSERT_SIZE(myelin_hook_sock_owner, 8);

/* TracingPolicyNamespaced and podSelector: the network namespaces of the
 * pods a policy applies to (the agent follows the endpoints). */
struct myelin_hook_scope_key {
	__u32 policy_id;
	__u32 netns;
};
MYELIN_ASSERT_SIZE(myelin_hook_scope_key, 8);

struct myelin_hook_event {
	__u32 policy_id;
	__u32 hook_id;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 netns;
	__u8 action;                /* what was done: enum myelin_hook_action */
	__u8 selector;              /* which selector matched (0-based) */
	__u8 str_lens[MYELIN_HOOK_MAX_ARGS];  /* bytes in strs[i] (no NUL); a path that did not fit starts with "..." */
	__u8 pad[1];
	__s64 ret;                  /* Override: what the function returned instead of running; return probes: what it returned */
	__u64 ktime_ns;
	__u64 ints[MYELIN_HOOK_MAX_ARGS];
	char strs[MYELIN_HOOK_MAX_ARGS][MYELIN_HOOK_STR_MAX];
};
MYELIN_ASSERT_SIZE(myelin_hook_event, 728);

/* ---- TracingPolicy BPF-LSM hooks (lsm.bpf.c) ----
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
	__u8 action;            /* enum myelin_hook_action */
	__u8 prefix;            /* 1: the inode and everything under it; 0: the inode only */
	__u16 pad;
	__s32 error;            /* Override: the return value (a negative errno) */
};
MYELIN_ASSERT_SIZE(myelin_lsm_rule, 16);

struct myelin_lsm_event {
	__u32 policy_id;
	__u32 rule_id;
	__u32 hook;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 netns;
	__s32 ret;              /* what the hook returned (0: allowed) */
	__u8 action;            /* enum myelin_hook_action */
	__u8 depth;             /* 0: the protected inode itself; n: n levels below it */
	__u8 pad[6];
	__u64 ktime_ns;
	char name[MYELIN_LSM_NAME_MAX];   /* the object's own name (dentry) */
};
MYELIN_ASSERT_SIZE(myelin_lsm_event, 112);

/* ---- USDT probes (spec.usdts; uprobe.bpf.c's myelin_usdt) ----
 * A probe site of a .note.stapsdt note, attached as a uprobe at its
 * address; its arguments as the note's spec strings say where they are (a
 * constant, a register, or memory at a register plus an offset), decoded by
 * the agent into one myelin_usdt_arg per note argument. The uprobe object's
 * per-instance map myelin_usdt_specs holds them; a hook arg's offset names
 * the note argument. */
enum myelin_usdt_arg_kind {
	MYELIN_USDT_ARG_CONST = 1,   /* val_off is the value */
	MYELIN_USDT_ARG_REG = 2,     /* the register at reg_off in struct pt_regs */
	MYELIN_USDT_ARG_DEREF = 3,   /* user memory at that register + val_off */
};

#define MYELIN_USDT_MAX_ARGS 12

struct myelin_usdt_arg {
	__s64 val_off;
	__u16 reg_off;               /* offsetof(struct pt_regs, the register) */
	__u8 kind;                   /* enum myelin_usdt_arg_kind; 0: the note has no such argument */
	__u8 size;                   /* 1, 2, 4 or 8 bytes */
	__u8 is_signed;
	__u8 pad[3];
};
MYELIN_ASSERT_SIZE(myelin_usdt_arg, 16);

struct myelin_usdt_spec {
	struct myelin_usdt_arg args[MYELIN_USDT_MAX_ARGS];
};
MYELIN_ASSERT_SIZE(myelin_usdt_spec, 192);

/* Every struct and enum of this header (the layout test: common.h). */
#define MYELIN_ABI_TRACING_STRUCTS(X) \
	X(myelin_binary_key) \
	X(myelin_binary_prefix_key) \
	X(myelin_exec_binary) \
	X(myelin_hook_arg) \
	X(myelin_hook_cond) \
	X(myelin_hook_ns_match) \
	X(myelin_hook_selector) \
	X(myelin_hook_config) \
	X(myelin_hook_scope_key) \
	X(myelin_hook_event) \
	X(myelin_hook_sock) \
	X(myelin_hook_skb) \
	X(myelin_hook_user_ns) \
	X(myelin_hook_cred) \
	X(myelin_hook_sock_owner) \
	X(myelin_lsm_key) \
	X(myelin_lsm_rule) \
	X(myelin_lsm_event) \
	X(myelin_usdt_arg) \
	X(myelin_usdt_spec)

#define MYELIN_ABI_TRACING_ENUMS(X) \
	X(myelin_hook_arg_type) \
	X(myelin_hook_op) \
	X(myelin_hook_set_op) \
	X(myelin_hook_action) \
	X(myelin_hook_cap_set) \
	X(myelin_hook_ns_type) \
	X(myelin_lsm_hook) \
	X(myelin_usdt_arg_kind)

#endif /* MYELIN_ABI_TRACING_H */
