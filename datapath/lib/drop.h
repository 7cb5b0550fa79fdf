/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The one exit for every dropped packet: count {reason, direction}, emit a
 * drop event whose reason is Hubble's drop_reason_desc, and drop. `dir` is
 * the packet's direction relative to the endpoint (from-container = EGRESS). */
#pragma once

static __always_inline int drop(struct pkt *p, __u8 reason, __u8 dir)
{
	metrics_count(reason, dir, p->len);
	if (!p->dir)
		p->dir = dir;
	emit_event(p, MYELIN_EVENT_DROP, reason, MYELIN_VERDICT_DROPPED, reason);
	return TC_ACT_SHOT;
}

static __always_inline int forward(struct pkt *p, __u8 dir, int verdict)
{
	metrics_count(MYELIN_DROP_NONE, dir, p->len);
	return verdict;
}
