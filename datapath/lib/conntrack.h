/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking. An entry is keyed by the tuple of the packet that
 * opened the connection; a packet of the other direction finds it through
 * the reversed tuple and is a reply. ct_process only looks up: a packet
 * that no entry carries meets policy, and ct_commit records it once policy
 * allowed it, so a denied packet leaves nothing behind and no other CPU can
 * ride on an entry policy has not allowed yet. The datapath only moves
 * states and refreshes last_seen; the agent expires entries (datapath/loader
 * ct_gc).
 *
 *   TCP   A SYN opens. A segment without SYN and without an entry (evicted,
 *         lost in a restart) meets policy like a SYN and is picked up
 *         mid-stream: ESTABLISHED, or FIN_WAIT for a FIN (which expires
 *         soon). A stray RST meets policy but is never tracked: there is
 *         nothing open for it to close.
 *   ICMP  Queries (echo 8, timestamp 13, information 15, address mask 17)
 *         open a flow keyed by their id (sport) and the type of the reply
 *         that answers them (dport: 0, 14, 16, 18); only that reply type
 *         with that id, from the peer, is a reply. A reply without a
 *         tracked query and every other type meet policy on each packet and
 *         are never tracked. Errors (3, 4, 5, 11, 12) are RELATED to the
 *         connection of the datagram they quote, or dropped.
 *   other UDP and SCTP by ports, other protocols by addresses: the first
 *         packet opens, the first one back makes it ESTABLISHED.
 */
#pragma once

enum ct_result {
	CT_ESTABLISHED = 0,     /* existing entry, no state change */
	CT_NEW = 1,             /* no entry (or a SYN reopening one): policy, then ct_commit */
	CT_CHANGED = 2,         /* existing entry, TCP state changed */
	CT_UNTRACKED = 3,       /* meets policy like a new flow, forwarded without an entry */
	CT_FAILED = 4,          /* could not create the entry */
	CT_REVALIDATE = 5,      /* existing connection, but an endpoint's policy changed since
	                         * it was allowed: check policy again (revocation) */
	CT_RELATED = 6,         /* an ICMP error about a tracked connection */
	CT_UNRELATED = 7,       /* an ICMP error about nothing tracked: dropped */
};

static __always_inline bool icmp_is_query(__u8 type)
{
	return type == ICMP_ECHO_ || type == ICMP_TIMESTAMP_ || type == ICMP_INFO_REQUEST_ || type == ICMP_ADDRESS_;
}

static __always_inline bool icmp_is_answer(__u8 type)
{
	return type == ICMP_ECHOREPLY_ || type == ICMP_TIMESTAMPREPLY_ || type == ICMP_INFO_REPLY_ ||
	       type == ICMP_ADDRESSREPLY_;
}

/* The reply type of an ICMP exchange: the same for the query and its reply,
 * so both find one entry, and different for each kind of exchange. */
static __always_inline __u8 icmp_reply_type(__u8 type)
{
	switch (type) {
	case ICMP_ECHO_:
		return ICMP_ECHOREPLY_;
	case ICMP_TIMESTAMP_:
		return ICMP_TIMESTAMPREPLY_;
	case ICMP_INFO_REQUEST_:
		return ICMP_INFO_REPLY_;
	case ICMP_ADDRESS_:
		return ICMP_ADDRESSREPLY_;
	}
	return type;
}

static __always_inline void ct_key_make(struct myelin_ct_key *k, __u8 proto, __be32 saddr, __be32 daddr,
					__be16 sport, __be16 dport, __u8 icmp_type, bool reverse)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->proto = proto;
	k->family = MYELIN_FAMILY_IPV4;
	k->saddr.w[0] = reverse ? daddr : saddr;
	k->daddr.w[0] = reverse ? saddr : daddr;
	if (proto == IPPROTO_ICMP_) {
		/* The id is the same both ways. */
		k->sport = sport;
		k->dport = bpf_htons(icmp_reply_type(icmp_type));
	} else {
		k->sport = reverse ? dport : sport;
		k->dport = reverse ? sport : dport;
	}
}

static __always_inline void ct_fill_key(struct myelin_ct_key *k, const struct pkt *p, bool reverse)
{
	ct_key_make(k, p->proto, p->saddr, p->daddr, p->sport, p->dport, p->icmp_type, reverse);
}

/* A new entry for p's connection, first seen now: one packet forward, its
 * endpoints and their policy revision (lb_nat.h and host.bpf.c make theirs
 * with it too). */
static __always_inline void ct_entry_first(struct myelin_ct_entry *n, const struct pkt *p, __u64 now)
{
	__builtin_memset(n, 0, sizeof(*n));
	n->created_ns = now;
	n->last_seen_ns = now;
	n->packets_fwd = 1;
	n->bytes_fwd = p->len;
	n->src_ep = p->src_ep;
	n->dst_ep = p->dst_ep;
	n->policy_rev = p->policy_rev;
}

static __always_inline __u8 tcp_next_state(__u8 state, __u8 *seen, __u8 flags, bool reply)
{
	bool syn = flags & MYELIN_TCP_SYN, ack = flags & MYELIN_TCP_ACK;

	if (flags & MYELIN_TCP_RST) {
		*seen |= MYELIN_CT_SEEN_RST;
		return MYELIN_CT_CLOSED;
	}
	if (flags & MYELIN_TCP_FIN) {
		*seen |= reply ? MYELIN_CT_SEEN_FIN_REV : MYELIN_CT_SEEN_FIN_FWD;
		if ((*seen & (MYELIN_CT_SEEN_FIN_FWD | MYELIN_CT_SEEN_FIN_REV)) ==
		    (MYELIN_CT_SEEN_FIN_FWD | MYELIN_CT_SEEN_FIN_REV))
			return MYELIN_CT_CLOSING;
		return MYELIN_CT_FIN_WAIT;
	}
	switch (state) {
	case MYELIN_CT_SYN_SENT:
		if (syn && ack && reply) {
			*seen |= MYELIN_CT_SEEN_SYNACK;
			return MYELIN_CT_SYN_RECV;
		}
		break;
	case MYELIN_CT_SYN_RECV:
		if (ack && !syn && !reply)
			return MYELIN_CT_ESTABLISHED;
		break;
	case MYELIN_CT_CLOSING:
		if (ack)
			return MYELIN_CT_CLOSED; /* the last ACK of the FIN exchange */
		break;
	}
	return state;
}

/* An ICMP error is RELATED when the datagram it quotes belongs to a tracked
 * connection, in either direction, and the error adds up: it goes back to
 * the quoted datagram's sender, and comes from where that datagram was going
 * (its destination, or a router on the way, which is never another pod of
 * this node). Like Linux conntrack (nf_conntrack_inet_error), stricter than
 * Cilium (which relates any error between the two addresses). */
static __always_inline int ct_related(struct pkt *p)
{
	struct myelin_ct_key key;
	struct myelin_ct_entry *e;

	if (p->inner.untrackable || p->inner.saddr != p->daddr)
		return CT_UNRELATED;
	if (p->src_ep && p->saddr != p->inner.daddr)
		return CT_UNRELATED;
	ct_key_make(&key, p->inner.proto, p->inner.saddr, p->inner.daddr, p->inner.sport, p->inner.dport,
		    p->inner.icmp_type, false);
	e = bpf_map_lookup_elem(&myelin_ct, &key);
	if (e) {
		p->is_reply = 1; /* about the opening side's packet: it travels as a reply */
		/* It is translated back like the connection's replies. */
		p->ct_rev_nat = e->rev_nat_index;
	} else {
		ct_key_make(&key, p->inner.proto, p->inner.saddr, p->inner.daddr, p->inner.sport, p->inner.dport,
			    p->inner.icmp_type, true);
		e = bpf_map_lookup_elem(&myelin_ct, &key);
		if (!e)
			return CT_UNRELATED;
	}
	p->ct_state = e->state;
	p->ct_flags = e->flags;
	p->trace_reason = MYELIN_TRACE_REASON_RELATED;
	return CT_RELATED;
}

/* Looks up the packet's entry and moves its state; fills p->is_reply and
 * p->ct_state. Creates nothing: see ct_commit. */
static __always_inline int ct_process(struct pkt *p)
{
	struct myelin_ct_key key;
	struct myelin_ct_entry *e = 0;
	bool icmp = p->proto == IPPROTO_ICMP_;

	if (p->icmp_error)
		return ct_related(p);
	p->trace_reason = MYELIN_TRACE_REASON_NEW;
	if (icmp && !icmp_is_query(p->icmp_type) && !icmp_is_answer(p->icmp_type))
		return CT_UNTRACKED;

	/* An ICMP query only continues its own flow; a reply only answers one. */
	if (!icmp || icmp_is_query(p->icmp_type)) {
		ct_fill_key(&key, p, false);
		e = bpf_map_lookup_elem(&myelin_ct, &key);
	}
	if (!e && (!icmp || icmp_is_answer(p->icmp_type))) {
		ct_fill_key(&key, p, true);
		e = bpf_map_lookup_elem(&myelin_ct, &key);
		if (e)
			p->is_reply = 1;
	}
	if (!e) {
		if (p->proto == IPPROTO_TCP_ && (p->tcp_flags & MYELIN_TCP_RST))
			return CT_UNTRACKED;
		if (icmp && icmp_is_answer(p->icmp_type))
			return CT_UNTRACKED;
		return CT_NEW;
	}

	__u64 now = bpf_ktime_get_ns();
	e->last_seen_ns = now;
	p->ct_rev_nat = e->rev_nat_index;
	p->ct_flags = e->flags;
	/* A pure SYN from the opening side on an existing entry is a new
	 * connection attempt: the tuple was reused after a close (or a SYN was
	 * retransmitted, or a close was never seen). It goes through policy
	 * again like a first packet, and ct_commit replaces the entry;
	 * otherwise a tuple that was allowed once would stay allowed after the
	 * policy changed. */
	if (p->proto == IPPROTO_TCP_ && !p->is_reply &&
	    (p->tcp_flags & (MYELIN_TCP_SYN | MYELIN_TCP_ACK | MYELIN_TCP_RST)) == MYELIN_TCP_SYN) {
		p->ct_reopen = 1;
		return CT_NEW;
	}
	if (p->is_reply) {
		__sync_fetch_and_add(&e->packets_rev, 1);
		__sync_fetch_and_add(&e->bytes_rev, p->len);
	} else {
		__sync_fetch_and_add(&e->packets_fwd, 1);
		__sync_fetch_and_add(&e->bytes_fwd, p->len);
	}
	p->trace_reason = p->is_reply ? MYELIN_TRACE_REASON_REPLY : MYELIN_TRACE_REASON_ESTABLISHED;

	__u8 old = e->state, next = old;
	if (p->proto == IPPROTO_TCP_) {
		__u8 seen = e->tcp_seen;
		next = tcp_next_state(old, &seen, p->tcp_flags, p->is_reply);
		e->tcp_seen = seen;
	} else if (p->is_reply && old == MYELIN_CT_NEW) {
		next = MYELIN_CT_ESTABLISHED;
	}
	e->state = next;
	p->ct_state = next;
	/* Policy is checked on a connection's first packet; when either
	 * endpoint's policy changed since, the next packet of the opening side
	 * is checked again, so a revoked allow stops the flow (replies never
	 * are: they follow the opening side). ct_commit records the new
	 * revision once policy allowed it again. */
	if (!p->is_reply && e->policy_rev != p->policy_rev)
		return CT_REVALIDATE;
	if (next != old && p->proto == IPPROTO_TCP_)
		return CT_CHANGED;
	return CT_ESTABLISHED;
}

/* After policy allowed the packet: records a new flow (CT_NEW) or the
 * revision a revalidated one was allowed under. Returns the result the
 * packet is traced with, or CT_FAILED. */
static __always_inline int ct_commit(struct pkt *p, int ct)
{
	struct myelin_ct_key key;

	ct_fill_key(&key, p, false);
	if (ct == CT_REVALIDATE) {
		struct myelin_ct_entry *e = bpf_map_lookup_elem(&myelin_ct, &key);
		if (e)
			e->policy_rev = p->policy_rev;
		return ct;
	}
	if (ct != CT_NEW)
		return ct;

	struct myelin_ct_entry n;
	__u64 now = bpf_ktime_get_ns();
	ct_entry_first(&n, p, now);
	if (p->proto == IPPROTO_TCP_) {
		if ((p->tcp_flags & (MYELIN_TCP_SYN | MYELIN_TCP_ACK)) == MYELIN_TCP_SYN) {
			n.state = MYELIN_CT_SYN_SENT;
			n.tcp_seen = MYELIN_CT_SEEN_SYN;
		} else if (p->tcp_flags & MYELIN_TCP_FIN) {
			n.state = MYELIN_CT_FIN_WAIT; /* picked up closing: expires soon */
			n.tcp_seen = MYELIN_CT_SEEN_FIN_FWD;
		} else {
			n.state = MYELIN_CT_ESTABLISHED; /* picked up mid-stream */
		}
	} else {
		n.state = MYELIN_CT_NEW;
	}
	n.rev_nat_index = p->ct_new_rev_nat;
	n.flags = p->ct_new_flags;
	p->ct_state = n.state;
	if (bpf_map_update_elem(&myelin_ct, &key, &n, p->ct_reopen ? BPF_ANY : BPF_NOEXIST) != 0) {
		/* Another CPU created it meanwhile, after the same policy check. */
		if (!p->ct_reopen && bpf_map_lookup_elem(&myelin_ct, &key))
			return CT_ESTABLISHED;
		STATS_INC(ct_insert_failed);
		return CT_FAILED;
	}
	return CT_NEW;
}
