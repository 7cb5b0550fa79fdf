/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Native routing without the node's stack (BPF host routing): a pod's packet
 * for another node's pod leaves by the underlay device the FIB names
 * (native_forward, from_container), and another node's packet for a pod of
 * this node goes straight into it (host.bpf.c from_netdev). Both forward as
 * the stack would: the FIB's route and neighbour, TTL decremented, and
 * everything the helper cannot decide (no route, TTL expiring, too big,
 * forwarding off) left to the stack, which answers with its ICMP errors.
 * Policy and conntrack are the callers' as before. */
#pragma once

#define NATIVE_AF_INET 2

static __always_inline bool native_enabled(void)
{
	const struct myelin_node_config *c = node_config();

	return c && c->routing_mode == MYELIN_ROUTING_NATIVE;
}

/* Whether the ipcache places addr on another node of the cluster: one of its
 * pods or its pod CIDR (its node address itself is not one: no tunnel_endpoint). */
static __always_inline bool native_remote_pod(const struct myelin_ipcache_val *v)
{
	return v && (v->flags & MYELIN_IPCACHE_F_REMOTE) && v->tunnel_endpoint;
}

/* The IPv4 TTL decremented, as ip_forward does (checksum updated).
 * 0: done; 1: it would expire (the stack sends time exceeded); <0: error. */
static __always_inline int native_ttl_dec(struct __sk_buff *skb)
{
	__u8 ttl;

	if (bpf_skb_load_bytes(skb, ETH_HLEN_ + 8, &ttl, 1) < 0)
		return -1;
	if (ttl <= 1)
		return 1;
	__u8 next = ttl - 1;
	/* TTL is the first byte of the 16-bit word it shares with the protocol. */
	if (bpf_l3_csum_replace(skb, ETH_HLEN_ + 10, bpf_htons((__u16)ttl << 8), bpf_htons((__u16)next << 8), 2) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, ETH_HLEN_ + 8, &next, 1, 0) < 0 ? -1 : 0;
}

/*
 * A pod's packet whose destination is not on this node:
 *   routing is not NATIVE, or not another node's pod / pod CIDR -> 0 (the stack)
 *   FIB lookup from the pod's veth: not forwarded with a known neighbour
 *   (no route, local, forwarding off, bigger than the device, no neighbour
 *   entry yet), or TTL 1                              -> 0 (the stack decides)
 *   TTL - 1, the FIB's MACs                           -> redirect to its device
 *                                                        (its tc egress still runs)
 * Returns 0, the redirect verdict, or -reason. p->obs_point = TO_NETWORK when
 * redirected. A global function: the FIB parameters on its own stack.
 */
__noinline int native_forward(struct __sk_buff *skb, struct pkt *p)
{
	struct myelin_ipcache_key k = {};
	struct bpf_fib_lookup fib = {};
	__u8 macs[12];

	if (!skb || !p || !native_enabled())
		return 0;
	k.prefixlen = 32 + 32;
	k.family = MYELIN_FAMILY_IPV4;
	k.addr.w[0] = p->daddr;
	if (!native_remote_pod(bpf_map_lookup_elem(&myelin_ipcache, &k)))
		return 0;
	fib.family = NATIVE_AF_INET;
	fib.l4_protocol = p->proto;
	fib.sport = p->sport;
	fib.dport = p->dport;
	fib.ipv4_src = p->saddr;
	fib.ipv4_dst = p->daddr;
	fib.ifindex = skb->ifindex;
	if (bpf_fib_lookup(skb, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return 0;
	int ttl = native_ttl_dec(skb);
	if (ttl > 0)
		return 0;
	__builtin_memcpy(macs, fib.dmac, 6);
	__builtin_memcpy(macs + 6, fib.smac, 6);
	if (ttl < 0 || bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0) < 0)
		return -MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	p->obs_point = MYELIN_OBS_TO_NETWORK;
	return bpf_redirect(fib.ifindex, 0);
}
