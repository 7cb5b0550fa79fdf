/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Service lookup and backend selection, the same for the per-packet path
 * (lxc.bpf.c, host.bpf.c) and the socket path (sock_lb.bpf.c): frontend ->
 * slot 0 -> (affinity | Maglev | random) -> backend. No packet access here;
 * each path translates in its own way. Maps: lb_maps.h; ABI: abi/lb.h. */
#pragma once

#include "lb_maps.h"

static __always_inline struct myelin_lb_config *lb_config(void)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&myelin_lb_cfg, &k);
}

/* Services are served at all (the agent turned them on). */
static __always_inline bool lb_enabled(void)
{
	struct myelin_lb_config *cfg = lb_config();
	return cfg && (cfg->flags & MYELIN_LB_CFG_F_ENABLED);
}

static __always_inline void lb_key_make(struct myelin_lb_svc_key *key, __be32 addr, __be16 port, __u8 proto,
					__u8 scope)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->addr.w[0] = addr;
	key->dport = port;
	key->proto = proto;
	key->scope = scope;
	key->family = MYELIN_FAMILY_IPV4;
}

/* The frontend (slot 0) serving a client to addr:port/proto, or NULL: for a
 * frontend of two scopes, its INTERNAL entry when the client is inside the
 * cluster (a pod, this node). `key` is left as the entry found's. */
static __always_inline struct myelin_lb_svc_val *lb_lookup_service(struct myelin_lb_svc_key *key, __be32 addr,
								   __be16 port, __u8 proto, bool from_inside)
{
	struct myelin_lb_svc_val *svc;

	lb_key_make(key, addr, port, proto, MYELIN_LB_SCOPE_EXTERNAL);
	svc = bpf_map_lookup_elem(&myelin_lb_svc, key);
	if (svc && (svc->flags & MYELIN_LB_F_TWO_SCOPES) && from_inside) {
		key->scope = MYELIN_LB_SCOPE_INTERNAL;
		svc = bpf_map_lookup_elem(&myelin_lb_svc, key);
	}
	return svc;
}

static __always_inline struct myelin_lb_backend *lb_backend(__u32 id)
{
	return id ? bpf_map_lookup_elem(&myelin_lb_be, &id) : NULL;
}

/* A backend a connection may (still) use: it exists. Whether it takes new
 * connections is MYELIN_LB_BE_F_ACTIVE. */
static __always_inline bool lb_backend_active(const struct myelin_lb_backend *be)
{
	return be && (be->flags & MYELIN_LB_BE_F_ACTIVE);
}

/* The backend id in slot 1..count of the frontend `key` is the slot 0 of. */
static __always_inline __u32 lb_slot_backend(const struct myelin_lb_svc_key *key, __u16 slot)
{
	struct myelin_lb_svc_key k = *key;
	struct myelin_lb_svc_val *v;

	k.slot = slot;
	v = bpf_map_lookup_elem(&myelin_lb_svc, &k);
	return v ? v->backend_id : 0;
}

static __always_inline void lb_affinity_key(struct myelin_lb_affinity_key *k, const struct myelin_lb_svc_val *svc,
					    __u64 client, bool netns)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->client = client;
	k->rev_nat_index = svc->rev_nat_index;
	k->netns = netns;
}

/* The client's backend under sessionAffinity, 0 if none: expired, or its
 * backend no longer takes new connections (then the entry goes at once). */
static __always_inline __u32 lb_affinity_get(const struct myelin_lb_svc_val *svc, __u64 client, bool netns)
{
	struct myelin_lb_affinity_key k;
	struct myelin_lb_affinity_val *v;
	__u64 now = bpf_ktime_get_ns();

	lb_affinity_key(&k, svc, client, netns);
	v = bpf_map_lookup_elem(&myelin_lb_aff, &k);
	if (!v)
		return 0;
	if (now - v->last_used_ns > (__u64)svc->affinity_timeout * 1000000000ull ||
	    !lb_backend_active(lb_backend(v->backend_id))) {
		bpf_map_delete_elem(&myelin_lb_aff, &k);
		return 0;
	}
	v->last_used_ns = now;
	return v->backend_id;
}

static __always_inline void lb_affinity_set(const struct myelin_lb_svc_val *svc, __u64 client, bool netns,
					    __u32 backend_id)
{
	struct myelin_lb_affinity_key k;
	struct myelin_lb_affinity_val v = {.last_used_ns = bpf_ktime_get_ns(), .backend_id = backend_id};

	lb_affinity_key(&k, svc, client, netns);
	bpf_map_update_elem(&myelin_lb_aff, &k, &v, BPF_ANY);
}

/* The Maglev table's backend for a flow hash, 0 if the frontend has none. */
static __always_inline __u32 lb_maglev_backend(const struct myelin_lb_svc_val *svc, __u32 hash)
{
	struct myelin_lb_config *cfg = lb_config();
	__u32 rev = svc->rev_nat_index, idx;
	void *table;
	__u32 *id;

	if (!cfg || !cfg->maglev_m)
		return 0;
	table = bpf_map_lookup_elem(&myelin_lb_maglev, &rev);
	if (!table)
		return 0;
	idx = hash % cfg->maglev_m;
	id = bpf_map_lookup_elem(table, &idx);
	return id ? *id : 0;
}

/* A backend for a new connection to the frontend `key`/`svc`, 0 if it has
 * none: the client's affinity, else Maglev by `hash` (use_maglev: a client
 * from outside, on a MAGLEV frontend), else a random slot. Affinity is
 * recorded for the backend picked. */
static __always_inline __u32 lb_select(const struct myelin_lb_svc_key *key, const struct myelin_lb_svc_val *svc,
				       __u64 client, bool netns, bool use_maglev, __u32 hash)
{
	bool affinity = svc->flags & MYELIN_LB_F_AFFINITY;
	__u32 id = 0;

	if (!svc->count)
		return 0;
	if (affinity) {
		id = lb_affinity_get(svc, client, netns);
		if (id)
			return id;
	}
	if (use_maglev && (svc->flags & MYELIN_LB_F_MAGLEV))
		id = lb_maglev_backend(svc, hash);
	if (!id)
		id = lb_slot_backend(key, (__u16)(bpf_get_prandom_u32() % svc->count) + 1);
	if (id && affinity)
		lb_affinity_set(svc, client, netns, id);
	return id;
}

/* A flow's hash for Maglev: the same on every node for the same 5-tuple. */
static __always_inline __u32 lb_flow_hash(__be32 saddr, __be32 daddr, __be16 sport, __be16 dport, __u8 proto)
{
	__u32 h = 0x9e3779b9u ^ proto;

	h = (h ^ saddr) * 0x85ebca6bu;
	h = (h ^ daddr) * 0xc2b2ae35u;
	h = (h ^ (((__u32)sport << 16) | dport)) * 0x27d4eb2fu;
	h ^= h >> 15;
	return h;
}
