/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counters: {reason, direction} packets/bytes, and the named health
 * counters of struct myelin_stats. */
#pragma once

#include "map_helpers.h"

static __always_inline struct myelin_stats *stats_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&myelin_stats, &zero);
}

#define STATS_INC(field)                                   \
	do {                                               \
		struct myelin_stats *__s = stats_get();    \
		if (__s)                                   \
			__s->field++;                      \
	} while (0)

static __always_inline void metrics_count(__u8 reason, __u8 dir, __u32 bytes)
{
	struct myelin_metrics_key key = {.reason = reason, .dir = dir};
	struct myelin_metrics_val zero = {};
	struct myelin_metrics_val *val = map__lookup_or_init(&myelin_metrics, &key, &zero);

	if (!val) {
		STATS_INC(metrics_update_failed);
		return;
	}
	val->packets++; /* per-CPU value: no other CPU writes it */
	val->bytes += bytes;
}
