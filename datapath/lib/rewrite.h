/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The address/port rewrite of an IPv4 packet with incremental checksums,
 * shared by the NodePort frontends (nodeport.h) and masquerade (snat.h). */
#pragma once

#define IPV4_CSUM_OFF (ETH_HLEN_ + 10)
#define IPV4_SRC_OFF (ETH_HLEN_ + 12)
#define IPV4_DST_OFF (ETH_HLEN_ + 16)

/* Rewrites the source (src) or destination address and port of an IPv4
 * TCP, UDP or ICMP echo packet with its checksums (a UDP checksum of 0
 * stays 0; ICMP's covers no addresses, only the id). A later fragment has
 * no L4 header: only its address. 0, or -1. */
static __always_inline int ipv4_rewrite(struct __sk_buff *skb, __u32 l4_off, __u8 proto, bool src, bool later_frag,
					__be32 old_addr, __be32 new_addr, __be16 old_port, __be16 new_port)
{
	__u32 csum_off, port_off = l4_off + (src ? 0 : 2);
	__u64 l4_flags = 0;

	if (proto == IPPROTO_TCP_) {
		csum_off = l4_off + 16;
	} else if (proto == IPPROTO_UDP_) {
		csum_off = l4_off + 6;
		l4_flags = BPF_F_MARK_MANGLED_0;
	} else {
		csum_off = l4_off + 2;
		port_off = l4_off + 4; /* the echo id, both ways */
	}
	if (old_addr != new_addr) {
		if (!later_frag && proto != IPPROTO_ICMP_ &&
		    bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr, l4_flags | BPF_F_PSEUDO_HDR | sizeof(new_addr)) < 0)
			return -1;
		if (bpf_l3_csum_replace(skb, IPV4_CSUM_OFF, old_addr, new_addr, sizeof(new_addr)) < 0 ||
		    bpf_skb_store_bytes(skb, src ? IPV4_SRC_OFF : IPV4_DST_OFF, &new_addr, sizeof(new_addr), 0) < 0)
			return -1;
	}
	if (!later_frag && old_port != new_port) {
		if (bpf_l4_csum_replace(skb, csum_off, old_port, new_port, l4_flags | sizeof(new_port)) < 0 ||
		    bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0) < 0)
			return -1;
	}
	return 0;
}
