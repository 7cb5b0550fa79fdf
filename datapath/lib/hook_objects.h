/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The network and credential objects a TracingPolicy kprobe's args point
 * at, read with CO-RE into what the event keeps of them (abi/tracing.h):
 * a sock or socket as a myelin_hook_sock, a packet (sk_buff) as a
 * myelin_hook_skb from its IP and TCP/UDP headers, a sockaddr as a tuple
 * (family, the address as saddr, the port as sport), a net_device's name,
 * a cred, a user namespace, a kernel_cap_t's mask. hook_args.h calls
 * args__object for each such arg (and a sock return value). BPF only: the
 * C++ tests define args__object over plain structs.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "myelin/abi/tracing.h"
#include "sock.h"

/* A sock's tuple (any family: the tuple's addresses and ports only for inet), mark and priority. */
static __always_inline void objects__sock(struct sock *sk, struct myelin_hook_sock *out)
{
	if (!sock_tuple(sk, &out->tuple) && sk) {
		out->tuple.family = (__u8)BPF_CORE_READ(sk, __sk_common.skc_family);
		out->tuple.type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
		out->tuple.protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	}
	out->mark = sk ? BPF_CORE_READ(sk, sk_mark) : 0;
	out->priority = sk ? BPF_CORE_READ(sk, sk_priority) : 0;
}

/* The transport protocol after an IPv6 header at ip6 (a few extension headers skipped) and its offset from head. */
static __always_inline __u8 objects__ip6_transport(unsigned char *head, __u32 off, __u32 *l4)
{
	__u8 next = 0;
	bpf_probe_read_kernel(&next, 1, head + off + __builtin_offsetof(struct ipv6hdr, nexthdr));
	off += sizeof(struct ipv6hdr);
	for (int k = 0; k < 4; k++) {
		/* hop-by-hop, routing, fragment, destination options: skipped; anything else is the transport */
		if (next != 0 && next != 43 && next != 44 && next != 60)
			break;
		__u8 h[2] = {};
		bpf_probe_read_kernel(h, 2, head + off);
		off += next == 44 ? 8 : ((__u32)h[1] + 1) * 8;
		next = h[0];
	}
	*l4 = off;
	return next;
}

/* A packet: its IP (4 or 6) and TCP/UDP headers as a tuple, and its hash, length, priority, mark. */
static __always_inline void objects__skb(struct sk_buff *skb, struct myelin_hook_skb *out)
{
	__builtin_memset(&out->tuple, 0, sizeof(out->tuple));
	out->hash = BPF_CORE_READ(skb, hash);
	out->len = BPF_CORE_READ(skb, len);
	out->priority = BPF_CORE_READ(skb, priority);
	out->mark = BPF_CORE_READ(skb, mark);
	out->secpath_len = 0;
	out->secpath_olen = 0;
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u32 l3 = BPF_CORE_READ(skb, network_header);
	__u8 b0 = 0;
	if (!head || bpf_probe_read_kernel(&b0, 1, head + l3) != 0)
		return;
	__u32 l4 = 0;
	__u8 proto = 0;
	if (b0 >> 4 == 4) {
		out->tuple.family = MYELIN_AF_INET;
		bpf_probe_read_kernel(&proto, 1, head + l3 + __builtin_offsetof(struct iphdr, protocol));
		bpf_probe_read_kernel(out->tuple.saddr, 4, head + l3 + __builtin_offsetof(struct iphdr, saddr));
		bpf_probe_read_kernel(out->tuple.daddr, 4, head + l3 + __builtin_offsetof(struct iphdr, daddr));
		l4 = l3 + (b0 & 0xf) * 4;
	} else if (b0 >> 4 == 6) {
		out->tuple.family = MYELIN_AF_INET6;
		bpf_probe_read_kernel(out->tuple.saddr, 16, head + l3 + __builtin_offsetof(struct ipv6hdr, saddr));
		bpf_probe_read_kernel(out->tuple.daddr, 16, head + l3 + __builtin_offsetof(struct ipv6hdr, daddr));
		proto = objects__ip6_transport(head, l3, &l4);
	} else {
		return;  /* not IP */
	}
	out->tuple.protocol = proto;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		__be16 ports[2] = {};  /* source, destination: the first 4 bytes of both headers */
		bpf_probe_read_kernel(ports, 4, head + l4);
		out->tuple.sport = bpf_ntohs(ports[0]);
		out->tuple.dport = bpf_ntohs(ports[1]);
	}
}

/* A sockaddr (an inet one: family, address, port; another family: the family only) as a tuple's source. */
static __always_inline void objects__sockaddr(struct sockaddr *sa, struct myelin_sock_tuple *t)
{
	__builtin_memset(t, 0, sizeof(*t));
	__u16 family = 0;
	if (bpf_probe_read_kernel(&family, 2, &sa->sa_family) != 0)
		return;
	t->family = (__u8)family;
	__be16 port = 0;
	if (family == MYELIN_AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;
		bpf_probe_read_kernel(&port, 2, &in->sin_port);
		bpf_probe_read_kernel(t->saddr, 4, &in->sin_addr);
	} else if (family == MYELIN_AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
		bpf_probe_read_kernel(&port, 2, &in6->sin6_port);
		bpf_probe_read_kernel(t->saddr, 16, &in6->sin6_addr);
	}
	t->sport = bpf_ntohs(port);
}

static __always_inline void objects__user_ns(struct user_namespace *ns, struct myelin_hook_user_ns *out)
{
	out->level = ns ? BPF_CORE_READ(ns, level) : 0;
	out->uid = ns ? BPF_CORE_READ(ns, owner.val) : 0;
	out->gid = ns ? BPF_CORE_READ(ns, group.val) : 0;
	out->inum = ns ? BPF_CORE_READ(ns, ns.inum) : 0;
}

static __always_inline void objects__cred(const struct cred *c, struct myelin_hook_cred *out)
{
	out->uid = BPF_CORE_READ(c, uid.val);
	out->gid = BPF_CORE_READ(c, gid.val);
	out->euid = BPF_CORE_READ(c, euid.val);
	out->egid = BPF_CORE_READ(c, egid.val);
	out->suid = BPF_CORE_READ(c, suid.val);
	out->sgid = BPF_CORE_READ(c, sgid.val);
	out->fsuid = BPF_CORE_READ(c, fsuid.val);
	out->fsgid = BPF_CORE_READ(c, fsgid.val);
	out->securebits = BPF_CORE_READ(c, securebits);
	out->pad = 0;
	/* kernel_cap_t: two 32-bit words before 6.3, one 64-bit word since: 8 bytes either way */
	out->permitted = 0, out->effective = 0, out->inheritable = 0;
	bpf_core_read(&out->permitted, 8, &c->cap_permitted);
	bpf_core_read(&out->effective, 8, &c->cap_effective);
	bpf_core_read(&out->inheritable, 8, &c->cap_inheritable);
	objects__user_ns(BPF_CORE_READ(c, user_ns), &out->user_ns);
}

/* What args__object writes: an event's string slot. */
struct hook_object_buf {
	char bytes[MYELIN_HOOK_STR_MAX];
};

/* The object of arg type `type` at *v into out; its bytes there. *v becomes
 * what the event keeps as the arg's integer (a socket's sock; a
 * kernel_cap_t's mask). NULL pointers are read as nothing (zeros). A
 * global function: the verifier checks it once, not once per arg slot
 * of every hook (inlined, the readers exceed its complexity limit). */
__attribute__((noinline)) int hook_objects__read(int type, __u64 *v, struct hook_object_buf *buf)
{
	if (!v || !buf)
		return 0;
	char *out = buf->bytes;
	void *p = (void *)*v;
	switch (type) {
	case MYELIN_HOOK_ARG_SOCK:
		objects__sock((struct sock *)p, (struct myelin_hook_sock *)out);
		return sizeof(struct myelin_hook_sock);
	case MYELIN_HOOK_ARG_SOCKET: {
		struct sock *sk = p ? BPF_CORE_READ((struct socket *)p, sk) : 0;
		*v = (__u64)sk;
		objects__sock(sk, (struct myelin_hook_sock *)out);
		return sizeof(struct myelin_hook_sock);
	}
	case MYELIN_HOOK_ARG_SKB:
		if (!p)
			break;
		objects__skb((struct sk_buff *)p, (struct myelin_hook_skb *)out);
		return sizeof(struct myelin_hook_skb);
	case MYELIN_HOOK_ARG_SOCKADDR:
		if (!p)
			break;
		objects__sockaddr((struct sockaddr *)p, (struct myelin_sock_tuple *)out);
		return sizeof(struct myelin_sock_tuple);
	case MYELIN_HOOK_ARG_NET_DEV: {
		if (!p)
			break;
		long n = bpf_core_read_str(out, 16, &((struct net_device *)p)->name);
		return n > 0 ? (int)n - 1 : 0;
	}
	case MYELIN_HOOK_ARG_CRED:
		if (!p)
			break;
		objects__cred((const struct cred *)p, (struct myelin_hook_cred *)out);
		return sizeof(struct myelin_hook_cred);
	case MYELIN_HOOK_ARG_USER_NS:
		if (!p)
			break;
		objects__user_ns((struct user_namespace *)p, (struct myelin_hook_user_ns *)out);
		return sizeof(struct myelin_hook_user_ns);
	case MYELIN_HOOK_ARG_CAPS: {
		__u64 mask = 0;
		if (p)
			bpf_probe_read_kernel(&mask, 8, p);
		*v = mask;
		return 0;
	}
	}
	__builtin_memset(out, 0, sizeof(struct myelin_hook_skb));
	return 0;
}

static __always_inline __u32 args__object(__u8 type, __u64 *v, char *out)
{
	int n = hook_objects__read(type, v, (struct hook_object_buf *)out);
	return n > 0 && n < MYELIN_HOOK_STR_MAX ? (__u32)n : 0;
}
