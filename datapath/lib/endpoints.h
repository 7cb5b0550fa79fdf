/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Endpoint lookups and local delivery. */
#pragma once

static __always_inline struct myelin_ep_info *ep_lookup_v4(__be32 addr)
{
	struct myelin_ep_key key = {};

	key.addr.w[0] = addr;
	key.family = MYELIN_FAMILY_IPV4;
	return bpf_map_lookup_elem(&myelin_ep, &key);
}

static __always_inline struct myelin_ipcache_val *ipcache_lookup_v4(__be32 addr)
{
	struct myelin_ipcache_key key = {};

	key.prefixlen = 32 + 32;
	key.family = MYELIN_FAMILY_IPV4;
	key.addr.w[0] = addr;
	return bpf_map_lookup_elem(&myelin_ipcache, &key);
}

/* The identity of an address that is not an endpoint here: the longest
 * ipcache prefix that holds it (a CIDR, the host, ...), else world. */
static __always_inline __u32 ipcache_identity_v4(__be32 addr)
{
	struct myelin_ipcache_val *v = ipcache_lookup_v4(addr);

	return v ? v->identity : MYELIN_IDENTITY_WORLD;
}

/* The CIDR identity of any address (a pod's too) for ipBlock rules, 0: none. */
static __always_inline __u32 ipblock_identity_v4(__be32 addr)
{
	struct myelin_ipcache_val *v = ipcache_lookup_v4(addr);

	return v ? v->ipblock_identity : 0;
}

/* Fills the source/destination endpoint ids and identities of the packet. */
static __always_inline void ep_resolve(struct pkt *p, struct myelin_ep_info **src, struct myelin_ep_info **dst)
{
	*src = ep_lookup_v4(p->saddr);
	*dst = ep_lookup_v4(p->daddr);
	p->src_ep = *src ? (*src)->ep_id : 0;
	p->src_identity = *src ? (*src)->identity : ipcache_identity_v4(p->saddr);
	p->dst_ep = *dst ? (*dst)->ep_id : 0;
	p->dst_identity = *dst ? (*dst)->identity : ipcache_identity_v4(p->daddr);
	p->policy_rev = (*src ? (*src)->policy_rev : 0) + (*dst ? (*dst)->policy_rev : 0);
}

/* Hands the packet to a pod of this node: the pod's gateway MAC as source,
 * the pod's MAC as destination, then straight into the pod's namespace with
 * bpf_redirect_peer (the host-side veth's egress is skipped), or through the
 * host-side veth with bpf_redirect where the peer form is not available; the
 * mark tells to_container that the packet was already handled. */
static __always_inline int deliver_local(struct __sk_buff *skb, const struct myelin_ep_info *dst)
{
	__u8 macs[12];

	__builtin_memcpy(macs, dst->mac, 6);
	__builtin_memcpy(macs + 6, dst->node_mac, 6);
	if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0) < 0)
		return -1;
	if (cfg_redirect_peer) {
		STATS_INC(redirect_peer);
		return bpf_redirect_peer(dst->ifindex, 0);
	}
	/* Build the new mark in a register: clang would otherwise store only the
	 * upper half, and the verifier refuses narrow stores into the context. */
	__u32 mark = (skb->mark & ~MYELIN_MARK_MASK) | MYELIN_MARK_LOCAL;
	asm volatile("" : "+r"(mark));
	skb->mark = mark;
	STATS_INC(redirect);
	return bpf_redirect(dst->ifindex, 0);
}
