/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow events on the ring buffer. A failed reservation is counted in
 * stats.events_lost (ringbuf.h), which the agent turns into lost-event
 * records; sent + lost = every event the datapath meant to report. */
#pragma once

#include "ringbuf.h"

static __always_inline void emit_event(const struct pkt *p, __u8 type, __u8 subtype, __u8 verdict, __u8 reason)
{
	struct myelin_flow_event *ev = ringbuf__reserve(&myelin_events, sizeof(*ev), &myelin_stats);

	if (!ev)
		return;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = bpf_ktime_get_ns();
	ev->type = type;
	ev->subtype = subtype;
	ev->verdict = verdict;
	ev->direction = p->dir;
	ev->drop_reason = reason;
	ev->obs_point = p->obs_point;
	ev->trace_reason = p->trace_reason;
	ev->tcp_flags = p->tcp_flags;
	ev->ct_state = p->ct_state;
	ev->is_reply = p->is_reply;
	ev->family = p->family;
	ev->proto = p->proto;
	ev->ifindex = p->ifindex;
	ev->src_ep = p->src_ep;
	ev->dst_ep = p->dst_ep;
	ev->src_identity = p->src_identity;
	ev->dst_identity = p->dst_identity;
	ev->len = p->len;
	ev->eth_proto = p->eth_proto;
	ev->sport = p->sport;
	ev->dport = p->dport;
	ev->icmp_type = p->icmp_type;
	ev->icmp_code = p->icmp_code;
	__builtin_memcpy(ev->eth_src, p->eth_src, 6);
	__builtin_memcpy(ev->eth_dst, p->eth_dst, 6);
	ev->egress_policy_id = p->egress_policy_id;
	ev->ingress_policy_id = p->ingress_policy_id;
	ev->saddr.w[0] = p->saddr;
	ev->daddr.w[0] = p->daddr;
	ev->dst_service = p->dst_service;
	ev->src_service = p->src_service;
	ev->tunnel_peer = p->tunnel_peer;
	ringbuf__submit(ev, &myelin_stats);
}

static __always_inline void trace(const struct pkt *p, __u8 cause)
{
	emit_event(p, MYELIN_EVENT_TRACE, cause, MYELIN_VERDICT_FORWARDED, 0);
}
