/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking. An entry is keyed by the tuple of the packet that
 * opened the connection; a packet of the other direction finds it through
 * the reversed tuple and is a reply. The datapath only moves states and
 * refreshes last_seen; the agent expires entries (datapath/loader ct_gc). */
#pragma once

enum ct_result {
	CT_ESTABLISHED = 0,     /* existing entry, no state change */
	CT_NEW = 1,             /* a new connection: entry created (or reset by a SYN) */
	CT_CHANGED = 2,         /* existing entry, TCP state changed */
	CT_UNTRACKED = 3,       /* forwarded without an entry */
	CT_FAILED = 4,          /* could not create the entry */
	CT_REVALIDATE = 5,      /* existing connection, but an endpoint's policy changed since
	                         * it was allowed: check policy again (revocation) */
};

static __always_inline void ct_fill_key(struct myelin_ct_key *k, const struct pkt *p, bool reverse)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->proto = p->proto;
	k->family = MYELIN_FAMILY_IPV4;
	if (!reverse) {
		k->saddr.w[0] = p->saddr;
		k->daddr.w[0] = p->daddr;
		k->sport = p->sport;
		k->dport = p->dport;
	} else {
		k->saddr.w[0] = p->daddr;
		k->daddr.w[0] = p->saddr;
		/* ICMP echo keeps the id in sport both ways. */
		k->sport = p->proto == IPPROTO_ICMP_ ? p->sport : p->dport;
		k->dport = p->proto == IPPROTO_ICMP_ ? p->dport : p->sport;
	}
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

/* Looks up or creates the packet's entry; fills p->is_reply and p->ct_state. */
static __always_inline int ct_process(struct pkt *p)
{
	struct myelin_ct_key key;
	struct myelin_ct_entry *e;
	__u64 now = bpf_ktime_get_ns();

	ct_fill_key(&key, p, false);
	e = bpf_map_lookup_elem(&myelin_ct, &key);
	if (!e) {
		ct_fill_key(&key, p, true);
		e = bpf_map_lookup_elem(&myelin_ct, &key);
		if (e)
			p->is_reply = 1;
	}

	if (!e) {
		struct myelin_ct_entry n = {};
		if (p->proto == IPPROTO_TCP_) {
			if (p->tcp_flags & MYELIN_TCP_RST)
				return CT_UNTRACKED;
			if ((p->tcp_flags & (MYELIN_TCP_SYN | MYELIN_TCP_ACK)) == MYELIN_TCP_SYN) {
				n.state = MYELIN_CT_SYN_SENT;
				n.tcp_seen = MYELIN_CT_SEEN_SYN;
			} else {
				n.state = MYELIN_CT_ESTABLISHED; /* picked up mid-stream */
			}
		} else if (p->proto == IPPROTO_ICMP_) {
			if (p->icmp_type != ICMP_ECHO_) {
				if (p->icmp_type == ICMP_DEST_UNREACH_ || p->icmp_type == ICMP_TIME_EXCEEDED_)
					p->trace_reason = MYELIN_TRACE_REASON_RELATED;
				return CT_UNTRACKED;
			}
			n.state = MYELIN_CT_NEW;
		} else {
			n.state = MYELIN_CT_NEW;
		}
		n.created_ns = now;
		n.last_seen_ns = now;
		n.packets_fwd = 1;
		n.bytes_fwd = p->len;
		n.src_ep = p->src_ep;
		n.dst_ep = p->dst_ep;
		n.policy_rev = (__u16)p->policy_rev;
		ct_fill_key(&key, p, false);
		if (bpf_map_update_elem(&myelin_ct, &key, &n, BPF_NOEXIST) != 0) {
			/* Lost a race with another CPU creating the same entry? */
			if (!bpf_map_lookup_elem(&myelin_ct, &key)) {
				STATS_INC(ct_insert_failed);
				return CT_FAILED;
			}
			p->ct_state = n.state;
			return CT_ESTABLISHED;
		}
		p->ct_state = n.state;
		p->trace_reason = MYELIN_TRACE_REASON_NEW;
		return CT_NEW;
	}

	e->last_seen_ns = now;
	/* A pure SYN from the opening side on an existing entry is a new
	 * connection attempt: the tuple was reused after a close (or a SYN was
	 * retransmitted, or a close was never seen). It goes through policy
	 * again like a first packet; otherwise a tuple that was allowed once
	 * would stay allowed after the policy changed. */
	if (p->proto == IPPROTO_TCP_ && !p->is_reply &&
	    (p->tcp_flags & (MYELIN_TCP_SYN | MYELIN_TCP_ACK | MYELIN_TCP_RST)) == MYELIN_TCP_SYN) {
		e->state = MYELIN_CT_SYN_SENT;
		e->tcp_seen = MYELIN_CT_SEEN_SYN;
		e->created_ns = now;
		e->packets_fwd = 1;
		e->bytes_fwd = p->len;
		e->packets_rev = 0;
		e->bytes_rev = 0;
		e->src_ep = p->src_ep;
		e->dst_ep = p->dst_ep;
		e->policy_rev = (__u16)p->policy_rev;
		p->ct_state = MYELIN_CT_SYN_SENT;
		p->trace_reason = MYELIN_TRACE_REASON_NEW;
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
	 * are: they follow the opening side). */
	if (!p->is_reply && e->policy_rev != (__u16)p->policy_rev) {
		e->policy_rev = (__u16)p->policy_rev;
		return CT_REVALIDATE;
	}
	if (next != old && p->proto == IPPROTO_TCP_)
		return CT_CHANGED;
	return CT_ESTABLISHED;
}
