/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-packet Service load balancing on the pod's veth (lxc.bpf.c; the
 * reverse translation is shared with host.bpf.c's NodePort replies):
 *
 *   client -> frontend      lb_translate: the SERVICE entry (client ->
 *                           frontend, kind SERVICE) keeps the connection's
 *                           backend; else lb_select (lb.h) picks one. The
 *                           packet's view (struct pkt) becomes client ->
 *                           backend, so conntrack and policy see the backend
 *                           (its identity and port); lb_commit records the
 *                           SERVICE entry once policy allowed, lb_rewrite
 *                           writes the packet (DNAT, checksums).
 *   pod -> its own Service  hairpin: the source becomes the service-loopback
 *                           address too, so the reply comes back here.
 *   backend -> client       lb_rev_nat: a reply of a CONNECTION entry with a
 *                           rev_nat_index gets the frontend as its source.
 *   no backend              lb_reject: a TCP RST or an ICMP port unreachable
 *                           from the frontend, and a SERVICE_BACKEND_NOT_FOUND
 *                           drop event: never a silent timeout.
 */
#pragma once

#include "lb.h"

#define LB_IP_CSUM_OFF (ETH_HLEN_ + 10)
#define LB_IP_SRC_OFF (ETH_HLEN_ + 12)
#define LB_IP_DST_OFF (ETH_HLEN_ + 16)
#define LB_NO_BACKEND 1 /* lb_translate: the frontend has no backend */
/* The entry points below are global functions: the verifier checks each
 * once, on its own (arguments: the skb, and pointers to the caller's
 * struct pkt / lb_xlate, which may not be NULL), instead of once per path
 * through the program that calls it; and each has its own stack frame.
 * Their pointer arguments are plain memory to the verifier, which before
 * Linux 6.2 (Debian 12's 6.1) takes no such memory as a map helper's key or
 * value: keys and values given to map helpers here live on the function's
 * own stack (or in a map value), never behind p or x. */

/* What lb_translate decided for a packet to a frontend. */
struct lb_xlate {
	__be32 orig_saddr;
	__be32 orig_daddr;
	__be16 orig_dport;
	__u16 rev_nat_index;
	__u32 backend_id;
	__u8 active;                    /* the packet is translated */
	__u8 hairpin;
	__u8 svc_new;                   /* no SERVICE entry, or its backend changed */
	__u8 pad;
};

static __always_inline __be32 lb_hairpin_addr(void)
{
	struct myelin_lb_config *cfg = lb_config();

	if (cfg && cfg->hairpin_ipv4)
		return cfg->hairpin_ipv4;
	return bpf_htonl(0xa9fe2a01); /* 169.254.42.1, MYELIN_LB_HAIRPIN_IPV4 */
}

static __always_inline void lb_svc_ct_key(struct myelin_ct_key *k, __u8 proto, __be32 client, __be32 frontend,
					  __be16 sport, __be16 fport)
{
	ct_key_make(k, proto, client, frontend, sport, fport, 0, false);
	k->kind = MYELIN_CT_KIND_SERVICE;
}

/* The packet answers a tracked connection (its reversed tuple has an entry). */
static __always_inline bool lb_is_reply(const struct pkt *p)
{
	struct myelin_ct_key k;

	ct_fill_key(&k, p, true);
	return bpf_map_lookup_elem(&myelin_ct, &k) != 0;
}

/* The destination's endpoint again, after translation changed it. */
static __always_inline void lb_resolve_dst(struct pkt *p, const struct myelin_ep_info *src,
					   struct myelin_ep_info **dst)
{
	*dst = ep_lookup_v4(p->daddr);
	p->dst_ep = *dst ? (*dst)->ep_id : 0;
	p->dst_identity = *dst ? (*dst)->identity : ipcache_identity_v4(p->daddr);
	p->policy_rev = (src ? src->policy_rev : 0) + (*dst ? (*dst)->policy_rev : 0);
}

/*
 * A packet from a pod to a frontend: chooses the backend and changes the
 * packet's view (daddr, dport; saddr for hairpin) to the translated tuple.
 * Returns 0 (not a frontend, or translated: x->active), LB_NO_BACKEND, or a
 * drop reason. The packet itself is written by lb_rewrite.
 */
__noinline int lb_translate(struct pkt *p, struct lb_xlate *x)
{
	struct myelin_lb_svc_key key; /* a map key: on this frame's stack */
	struct myelin_lb_svc_val *svc;
	struct myelin_lb_backend *be = 0;
	struct myelin_ct_key sk;
	struct myelin_ct_entry *se;
	__u32 id = 0;

	if (!p || !x)
		return 0;
	if (p->icmp_error || (p->proto != IPPROTO_TCP_ && p->proto != IPPROTO_UDP_ && p->proto != IPPROTO_SCTP_))
		return 0;
	if (!lb_enabled())
		return 0;
	svc = lb_lookup_service(&key, p->daddr, p->dport, p->proto, true);
	if (!svc)
		return 0;
	/* An externalIP or LoadBalancer IP is taken for the Service's pods only
	 * when it is this node's (the ipcache's host identity): one that
	 * belongs elsewhere reaches its owner (CVE-2020-8554), whatever the
	 * maps say. */
	if ((svc->flags & (MYELIN_LB_F_EXTERNAL_IP | MYELIN_LB_F_LOAD_BALANCER)) &&
	    ipcache_identity_v4(p->daddr) != MYELIN_IDENTITY_HOST)
		return 0;
	/* A node address's port is a NodePort frontend and may also be the
	 * port of a client on the node this pod answers. */
	if ((svc->flags & MYELIN_LB_F_NODE_PORT) && lb_is_reply(p))
		return 0;
	x->rev_nat_index = svc->rev_nat_index;
	p->dst_service = svc->rev_nat_index;

	lb_svc_ct_key(&sk, p->proto, p->saddr, p->daddr, p->sport, p->dport);
	se = bpf_map_lookup_elem(&myelin_ct, &sk);
	if (se) {
		/* An established connection stays on its backend while the
		 * backend exists, even one that takes no new connections
		 * (terminating); a new TCP connection on a reused tuple is new. */
		id = se->backend_id;
		be = lb_backend(id);
		bool syn = p->proto == IPPROTO_TCP_ &&
			   (p->tcp_flags & (MYELIN_TCP_SYN | MYELIN_TCP_ACK)) == MYELIN_TCP_SYN;
		if (be && syn && !lb_backend_active(be))
			be = 0;
	}
	if (!be) {
		if (!svc->count)
			return LB_NO_BACKEND;
		id = lb_select(&key, svc, p->saddr, false, false, 0);
		be = lb_backend(id);
		if (!be || be->family != MYELIN_FAMILY_IPV4)
			return MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND; /* a slot or backend missing */
		x->svc_new = 1;
	}
	/* SCTP's checksum (CRC32c) covers the ports: not rewritten here. */
	if (p->proto == IPPROTO_SCTP_ && be->port != p->dport)
		return MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND;

	x->backend_id = id;
	x->orig_saddr = p->saddr;
	x->orig_daddr = p->daddr;
	x->orig_dport = p->dport;
	x->active = 1;
	p->daddr = be->addr.w[0];
	p->dport = be->port;
	if (p->daddr == p->saddr) {
		/* The pod reached itself: with its own address as the source
		 * the reply would stay inside it, never translated back. */
		x->hairpin = 1;
		p->saddr = lb_hairpin_addr();
		p->ct_new_flags |= MYELIN_CT_F_HAIRPIN;
	}
	p->ct_new_rev_nat = x->rev_nat_index;
	return 0;
}

/* After policy allowed the translated packet: the SERVICE entry is written
 * (a new connection, or a new backend) or refreshed, with the connection's
 * state so conntrack GC expires both together. 0 or a drop reason. */
__noinline int lb_commit(const struct pkt *p, const struct lb_xlate *x, int ct)
{
	struct myelin_ct_key sk;
	struct myelin_ct_entry *e;
	__u64 now = bpf_ktime_get_ns();

	if (!p || !x || !x->active || ct == CT_UNTRACKED)
		return 0;
	lb_svc_ct_key(&sk, p->proto, x->orig_saddr, x->orig_daddr, p->sport, x->orig_dport);
	if (!x->svc_new) {
		e = bpf_map_lookup_elem(&myelin_ct, &sk);
		if (e) {
			e->last_seen_ns = now;
			e->state = p->ct_state;
			__sync_fetch_and_add(&e->packets_fwd, 1);
			__sync_fetch_and_add(&e->bytes_fwd, p->len);
			return 0;
		}
	}
	struct myelin_ct_entry n;
	ct_entry_first(&n, p, now);
	n.backend_id = x->backend_id;
	n.rev_nat_index = x->rev_nat_index;
	n.state = p->ct_state;
	n.flags = x->hairpin ? MYELIN_CT_F_HAIRPIN : 0;
	if (bpf_map_update_elem(&myelin_ct, &sk, &n, BPF_ANY) != 0) {
		STATS_INC(ct_insert_failed);
		return MYELIN_DROP_CT_MAP_INSERTION_FAILED;
	}
	return 0;
}

/* The offset of the packet's L4 checksum, or 0 when it has none to update
 * (SCTP's CRC32c does not cover the addresses; a later fragment has no L4
 * header). */
static __always_inline __u32 lb_l4_csum_off(struct __sk_buff *skb, const struct pkt *p)
{
	__be16 frag = 0;

	if (bpf_skb_load_bytes(skb, ETH_HLEN_ + 6, &frag, sizeof(frag)) < 0 || (bpf_ntohs(frag) & IP_OFFSET_))
		return 0;
	if (p->proto == IPPROTO_TCP_)
		return p->l4_off + 16;
	if (p->proto == IPPROTO_UDP_)
		return p->l4_off + 6;
	return 0;
}

/* Rewrites one IPv4 address (at off) and the checksums that cover it. */
static __always_inline int lb_write_addr(struct __sk_buff *skb, const struct pkt *p, __u32 csum_off, __u32 off,
					 __be32 old, __be32 new)
{
	if (old == new)
		return 0;
	if (csum_off) {
		__u64 flags = BPF_F_PSEUDO_HDR | sizeof(new);
		if (p->proto == IPPROTO_UDP_)
			flags |= BPF_F_MARK_MANGLED_0; /* 0 is "no checksum" for UDP */
		if (bpf_l4_csum_replace(skb, csum_off, old, new, flags) < 0)
			return -1;
	}
	if (bpf_l3_csum_replace(skb, LB_IP_CSUM_OFF, old, new, sizeof(new)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, &new, sizeof(new), 0) < 0 ? -1 : 0;
}

/* Rewrites one port (at l4_off + port_off: 0 source, 2 destination). */
static __always_inline int lb_write_port(struct __sk_buff *skb, const struct pkt *p, __u32 csum_off,
					 __u32 port_off, __be16 old, __be16 new)
{
	if (old == new)
		return 0;
	if (!csum_off && p->proto != IPPROTO_SCTP_)
		return 0; /* a later fragment: its first one carried the ports */
	if (csum_off) {
		__u64 flags = sizeof(new);
		if (p->proto == IPPROTO_UDP_)
			flags |= BPF_F_MARK_MANGLED_0;
		if (bpf_l4_csum_replace(skb, csum_off, old, new, flags) < 0)
			return -1;
	}
	return bpf_skb_store_bytes(skb, p->l4_off + port_off, &new, sizeof(new), 0) < 0 ? -1 : 0;
}

/* Writes lb_translate's decision into the packet: destination (and source,
 * for hairpin). 0, or -1 when the packet could not be written. */
__noinline int lb_rewrite(struct __sk_buff *skb, const struct pkt *p, const struct lb_xlate *x)
{
	__u32 csum_off;

	if (!p || !x || !x->active)
		return 0;
	csum_off = lb_l4_csum_off(skb, p);
	if (lb_write_addr(skb, p, csum_off, LB_IP_DST_OFF, x->orig_daddr, p->daddr) < 0)
		return -1;
	if (x->hairpin && lb_write_addr(skb, p, csum_off, LB_IP_SRC_OFF, x->orig_saddr, p->saddr) < 0)
		return -1;
	return lb_write_port(skb, p, csum_off, 2, x->orig_dport, p->dport);
}

/*
 * A reply of a translated connection (p->ct_rev_nat, from its CONNECTION
 * entry): its source becomes the frontend again, and for hairpin its
 * destination the pod's own address. The connection's SERVICE entry is
 * refreshed, so a flow where only the backend talks keeps its backend.
 * Returns 0, or a drop reason: a frontend the agent removed is never
 * answered with the backend's address.
 */
__noinline int lb_rev_nat(struct __sk_buff *skb, struct pkt *p)
{
	struct myelin_lb_revnat *rn;
	struct myelin_ct_key sk;
	struct myelin_ct_entry *se;
	__be32 backend, front;
	__be16 fport;
	__u32 csum_off;

	if (!p || !p->ct_rev_nat || !p->is_reply)
		return 0;
	__u32 idx = p->ct_rev_nat;
	rn = bpf_map_lookup_elem(&myelin_lb_revnat, &idx);
	if (!rn || rn->family != MYELIN_FAMILY_IPV4)
		return MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND;
	backend = p->saddr;
	front = rn->addr.w[0];
	fport = rn->port;
	csum_off = lb_l4_csum_off(skb, p);
	if (lb_write_addr(skb, p, csum_off, LB_IP_SRC_OFF, p->saddr, front) < 0)
		return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	if ((p->ct_flags & MYELIN_CT_F_HAIRPIN) &&
	    lb_write_addr(skb, p, csum_off, LB_IP_DST_OFF, p->daddr, backend) < 0)
		return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	if (lb_write_port(skb, p, csum_off, 0, p->sport, fport) < 0)
		return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	p->saddr = front;
	p->sport = fport;
	if (p->ct_flags & MYELIN_CT_F_HAIRPIN)
		p->daddr = backend;
	p->src_service = idx;

	lb_svc_ct_key(&sk, p->proto, p->daddr, front, p->dport, fport);
	se = bpf_map_lookup_elem(&myelin_ct, &sk);
	if (se) {
		se->last_seen_ns = bpf_ktime_get_ns();
		se->state = p->ct_state;
	}
	return 0;
}

/* A 16-bit checksum after a 32-bit word it covers changed (RFC 1624). */
static __always_inline __sum16 lb_csum_replace4(__sum16 check, __be32 old, __be32 new)
{
	__u64 s = (__u16)~check;

	s += (__u16)~(old & 0xffff);
	s += (__u16)~(old >> 16);
	s += new & 0xffff;
	s += new >> 16;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__sum16)~s;
}

/*
 * An ICMP error about a translated connection's packet (RELATED, travelling
 * to the client): what it quotes becomes the datagram the client sent (to
 * the frontend), and it comes from the frontend when the backend sent it, so
 * the client's socket gets it (a UDP client's ECONNREFUSED, say). Hairpin:
 * the client is the pod's own address again. 0 or a drop reason.
 */
__noinline int lb_rev_nat_related(struct __sk_buff *skb, struct pkt *p)
{
	struct myelin_lb_revnat *rn;
	struct ipv4_hdr in;

	if (!p || !p->ct_rev_nat || !p->is_reply || !p->icmp_error)
		return 0;
	__u32 idx = p->ct_rev_nat;
	rn = bpf_map_lookup_elem(&myelin_lb_revnat, &idx);
	if (!rn || rn->family != MYELIN_FAMILY_IPV4)
		return MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND;
	__be32 front = rn->addr.w[0], backend = p->inner.daddr, client = p->inner.saddr;
	__be16 fport = rn->port, bport = p->inner.dport;
	bool hairpin = p->ct_flags & MYELIN_CT_F_HAIRPIN;
	__u32 icmp_csum = p->l4_off + 2, in_off = p->l4_off + 8;

	if (bpf_skb_load_bytes(skb, in_off, &in, sizeof(in)) < 0)
		return MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER;
	__u32 in_l4 = in_off + (in.ver_ihl & 0x0f) * 4;

	/* The quoted datagram: destination (and hairpin source), its header
	 * checksum, its destination port; the ICMP checksum covers them all. */
	__sum16 check = lb_csum_replace4(in.check, backend, front);
	if (hairpin)
		check = lb_csum_replace4(check, client, backend);
	if (bpf_l4_csum_replace(skb, icmp_csum, backend, front, 4) < 0 ||
	    bpf_skb_store_bytes(skb, in_off + 16, &front, 4, 0) < 0)
		return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	if (hairpin && (bpf_l4_csum_replace(skb, icmp_csum, client, backend, 4) < 0 ||
			bpf_skb_store_bytes(skb, in_off + 12, &backend, 4, 0) < 0))
		return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	if (bpf_l4_csum_replace(skb, icmp_csum, in.check, check, 2) < 0 ||
	    bpf_skb_store_bytes(skb, in_off + 10, &check, 2, 0) < 0)
		return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	if (p->inner.proto != IPPROTO_ICMP_ && bport != fport &&
	    (bpf_l4_csum_replace(skb, icmp_csum, bport, fport, 2) < 0 ||
	     bpf_skb_store_bytes(skb, in_l4 + 2, &fport, 2, 0) < 0))
		return MYELIN_DROP_ERROR_WRITING_TO_PACKET;

	/* The error itself: from the frontend when the backend sent it (a
	 * router on the way keeps its address); to the pod for hairpin. */
	if (p->saddr == backend) {
		if (lb_write_addr(skb, p, 0, LB_IP_SRC_OFF, backend, front) < 0)
			return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
		p->saddr = front;
	}
	if (hairpin) {
		if (lb_write_addr(skb, p, 0, LB_IP_DST_OFF, p->daddr, backend) < 0)
			return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
		p->daddr = backend;
	}
	p->inner.daddr = front;
	p->inner.dport = fport;
	p->src_service = idx;
	return 0;
}

/* ---- No backend: the answer a kernel would give for a closed port ---- */


struct lb_eth {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};


struct lb_icmp {
	__u8 type;
	__u8 code;
	__sum16 check;
	__be32 unused;
};

/* Where an answer is built: too big for the stack beside the pod programs'
 * own frames. quote: what an ICMP error quotes (the IPv4 header with its
 * options + 8 bytes). */
struct lb_scratch {
	struct ipv4_hdr ip;
	struct tcp_hdr_ tcp;
	struct lb_eth eth;
	__u8 pad[2];
	__u8 b[68];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_scratch);
} lb_scratch SEC(".maps");

static __always_inline struct lb_scratch *lb_scratch_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&lb_scratch, &zero);
}

static __always_inline __sum16 lb_csum_fold(__u64 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__sum16)~s;
}

/* The one's complement sum of a 20-byte header (IPv4 without options, TCP). */
static __always_inline __u64 lb_csum20(const void *h)
{
	const __u16 *w = h;
	__u64 s = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		s += w[i];
	return s;
}

static __always_inline void lb_ip_reply(struct ipv4_hdr *ip, __u8 proto, __u16 len, __be32 saddr, __be32 daddr,
					__u8 tos)
{
	__builtin_memset(ip, 0, sizeof(*ip));
	ip->ver_ihl = 0x45;
	ip->tos = tos;
	ip->tot_len = bpf_htons(len);
	ip->ttl = 64;
	ip->protocol = proto;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip->check = lb_csum_fold(lb_csum20(ip));
}

/* The packet becomes the frontend's TCP RST to the client (RFC 793: the
 * sequence number from the segment's ACK, else an ACK of all it carried). */
__noinline int lb_reject_tcp(struct __sk_buff *skb, const struct pkt *p)
{
	struct ipv4_hdr iph, *ip = &iph;
	struct lb_scratch *sc = lb_scratch_get();
	struct tcp_hdr_ t;
	struct {
		__be32 saddr;
		__be32 daddr;
		__u8 zero;
		__u8 proto;
		__be16 len;
	} ph;

	if (!p || !sc || bpf_skb_load_bytes(skb, ETH_HLEN_, ip, sizeof(*ip)) < 0)
		return -1;
	struct tcp_hdr_ *r = &sc->tcp;
	struct ipv4_hdr *rip = &sc->ip;
	struct lb_eth *eth = &sc->eth;
	__builtin_memset(r, 0, sizeof(*r));
	if (bpf_skb_load_bytes(skb, p->l4_off, &t, sizeof(t)) < 0 || (t.flags & MYELIN_TCP_RST))
		return -1;
	__u32 len = bpf_ntohs(ip->tot_len), hlen = (ip->ver_ihl & 0x0f) * 4, doff = (t.doff_res >> 4) * 4;
	if (len < hlen + doff)
		return -1;
	__u32 seg = len - hlen - doff + ((t.flags & MYELIN_TCP_SYN) ? 1 : 0) + ((t.flags & MYELIN_TCP_FIN) ? 1 : 0);

	r->sport = t.dport;
	r->dport = t.sport;
	r->doff_res = 5 << 4;
	if (t.flags & MYELIN_TCP_ACK) {
		r->seq = t.ack;
		r->flags = MYELIN_TCP_RST;
	} else {
		r->ack = bpf_htonl(bpf_ntohl(t.seq) + seg);
		r->flags = MYELIN_TCP_RST | MYELIN_TCP_ACK;
	}
	ph.saddr = ip->daddr;
	ph.daddr = ip->saddr;
	ph.zero = 0;
	ph.proto = IPPROTO_TCP_;
	ph.len = bpf_htons(sizeof(*r));
	const __u16 *pw = (const __u16 *)&ph;
	r->check = lb_csum_fold(lb_csum20(r) + pw[0] + pw[1] + pw[2] + pw[3] + pw[4] + pw[5]);
	lb_ip_reply(rip, IPPROTO_TCP_, sizeof(*rip) + sizeof(*r), ip->daddr, ip->saddr, 0);
	__builtin_memcpy(eth->dst, p->eth_src, 6);
	__builtin_memcpy(eth->src, p->eth_dst, 6);
	eth->proto = bpf_htons(ETH_P_IP_);

	if (bpf_skb_change_tail(skb, sizeof(*eth) + sizeof(*rip) + sizeof(*r), 0) < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, 0, eth, sizeof(*eth), 0) < 0 ||
	    bpf_skb_store_bytes(skb, sizeof(*eth), rip, sizeof(*rip), 0) < 0 ||
	    bpf_skb_store_bytes(skb, sizeof(*eth) + sizeof(*rip), r, sizeof(*r), 0) < 0)
		return -1;
	return 0;
}

/* The packet becomes the frontend's ICMP port unreachable to the client,
 * quoting the datagram's IP header and first 8 bytes (RFC 792). */
__noinline int lb_reject_icmp(struct __sk_buff *skb, const struct pkt *p)
{
	struct ipv4_hdr iph, *ip = &iph;
	struct lb_eth eth;
	struct ipv4_hdr rip;
	struct lb_icmp ic = {.type = ICMP_DEST_UNREACH_, .code = 3 /* port unreachable */};
	struct lb_scratch *q = lb_scratch_get();
	if (!p || bpf_skb_load_bytes(skb, ETH_HLEN_, ip, sizeof(*ip)) < 0)
		return -1;
	__u32 qlen = (ip->ver_ihl & 0x0f) * 4 + 8;

	if (!q || qlen > sizeof(q->b) || ETH_HLEN_ + qlen > skb->len)
		return -1;
	if (bpf_skb_load_bytes(skb, ETH_HLEN_, q->b, qlen) < 0)
		return -1;
	__s64 qsum = bpf_csum_diff(0, 0, (__be32 *)q->b, qlen, 0);
	if (qsum < 0)
		return -1;
	const __u16 *w = (const __u16 *)&ic;
	ic.check = lb_csum_fold((__u64)(__u32)qsum + w[0] + w[1] + w[2] + w[3]);
	lb_ip_reply(&rip, IPPROTO_ICMP_, sizeof(rip) + sizeof(ic) + qlen, ip->daddr, ip->saddr,
		    0xc0 /* internetwork control, as Linux sends its errors */);
	__builtin_memcpy(eth.dst, p->eth_src, 6);
	__builtin_memcpy(eth.src, p->eth_dst, 6);
	eth.proto = bpf_htons(ETH_P_IP_);

	/* [eth][ip + l4 ...] -> [eth][ip][icmp][quoted ip + 8] */
	if (bpf_skb_change_tail(skb, ETH_HLEN_ + qlen, 0) < 0)
		return -1;
	if (bpf_skb_adjust_room(skb, sizeof(rip) + sizeof(ic), BPF_ADJ_ROOM_MAC, 0) < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0 ||
	    bpf_skb_store_bytes(skb, sizeof(eth), &rip, sizeof(rip), 0) < 0 ||
	    bpf_skb_store_bytes(skb, sizeof(eth) + sizeof(rip), &ic, sizeof(ic), 0) < 0)
		return -1;
	return 0;
}

/* A frontend without backends: counted and reported like a drop
 * (SERVICE_BACKEND_NOT_FOUND), and the client answered at once, as a closed
 * port would be (kube-proxy's REJECT). Returns the tc verdict. */
static __always_inline int lb_reject(struct __sk_buff *skb, struct pkt *p)
{
	__be16 frag = 0;
	int err;

	metrics_count(MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND, MYELIN_DIR_EGRESS, p->len);
	p->dir = MYELIN_DIR_EGRESS;
	emit_event(p, MYELIN_EVENT_DROP, MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND, MYELIN_VERDICT_DROPPED,
		   MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND);
	if (bpf_skb_load_bytes(skb, ETH_HLEN_ + 6, &frag, sizeof(frag)) < 0 || (bpf_ntohs(frag) & IP_OFFSET_))
		return TC_ACT_SHOT; /* answered on the first fragment */
	if (p->proto == IPPROTO_TCP_)
		err = lb_reject_tcp(skb, p);
	else
		err = lb_reject_icmp(skb, p);
	if (err < 0)
		return TC_ACT_SHOT;
	/* Out of the pod's own veth: its egress program (to_container) lets
	 * the answer pass as already handled; on its own it would find no
	 * connection for it (an ICMP error about nothing tracked, an RST
	 * meeting the pod's ingress policy) and drop it. */
	__u32 mark = (skb->mark & ~MYELIN_MARK_MASK) | MYELIN_MARK_LOCAL;
	asm volatile("" : "+r"(mark)); /* a full 32-bit store (see deliver_local) */
	skb->mark = mark;
	return bpf_redirect(skb->ifindex, 0);
}
