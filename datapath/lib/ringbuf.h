/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Records on a BPF ring buffer, each one accounted: one the ring took is
 * counted sent, one it had no room for is counted lost, in the object's
 * per-CPU one-slot counters map, whose value starts with {events_sent,
 * events_lost} (struct myelin_proc_stats; struct myelin_stats starts the
 * same way). The agent sums them and reports every loss; what happens to the
 * packet or the syscall never depends on it. */
#pragma once

struct ringbuf_counts {
	__u64 sent;
	__u64 lost;
};
_Static_assert(__builtin_offsetof(struct myelin_proc_stats, events_sent) == __builtin_offsetof(struct ringbuf_counts, sent) &&
		       __builtin_offsetof(struct myelin_proc_stats, events_lost) == __builtin_offsetof(struct ringbuf_counts, lost),
	       "ring buffer counters must start with {events_sent, events_lost}");
#ifdef MYELIN_ABI_NET_H /* the pod datapath's counters (abi/net.h) */
_Static_assert(__builtin_offsetof(struct myelin_stats, events_sent) == __builtin_offsetof(struct ringbuf_counts, sent) &&
		       __builtin_offsetof(struct myelin_stats, events_lost) == __builtin_offsetof(struct ringbuf_counts, lost),
	       "ring buffer counters must start with {events_sent, events_lost}");
#endif

static __always_inline void ringbuf__count(void *counters, bool sent)
{
	__u32 zero = 0;
	struct ringbuf_counts *c = bpf_map_lookup_elem(counters, &zero);

	if (!c)
		return;
	if (sent)
		c->sent++;
	else
		c->lost++;
}

/* Room for a record of `size` (a constant) on `ring`, or NULL with the loss
 * counted. The caller fills it and hands it to ringbuf__submit. */
static __always_inline void *ringbuf__reserve(void *ring, __u64 size, void *counters)
{
	void *rec = bpf_ringbuf_reserve(ring, size, 0);

	if (!rec)
		ringbuf__count(counters, false);
	return rec;
}

static __always_inline void ringbuf__submit(void *rec, void *counters)
{
	bpf_ringbuf_submit(rec, 0);
	ringbuf__count(counters, true);
}

/* A copy of a record built elsewhere (a per-CPU scratch buffer), counted. */
static __always_inline void ringbuf__output(void *ring, const void *rec, __u64 size, void *counters)
{
	ringbuf__count(counters, bpf_ringbuf_output(ring, (void *)rec, size, 0) == 0);
}
