/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Helpers over any map. */
#pragma once

/* The value at `key`, created from `init` when there is none yet. Another
 * CPU may create it first, between the lookup and the insert: the insert
 * then fails (BPF_NOEXIST) and the second lookup returns theirs, so no
 * update is lost. NULL only when the map had no room. For a per-CPU map,
 * the value returned is this CPU's. */
static __always_inline void *map__lookup_or_init(void *map, const void *key, const void *init)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}
