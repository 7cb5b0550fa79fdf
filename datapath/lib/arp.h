/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ARP responder on the host side of a pod's veth: every ARP request from the
 * pod is answered with the host-side veth's MAC (the pod's only neighbour is
 * its gateway), so no broadcast ARP leaves the pod's link. */
#pragma once

struct arp_eth_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__be32 spa;
	__u8 tha[6];
	__be32 tpa;
} __attribute__((packed));

/* Returns a tc verdict, or -1 when the packet is not an ARP request to answer. */
static __always_inline int arp_respond(struct __sk_buff *skb, struct pkt *p)
{
	struct arp_eth_ipv4 arp;

	if (bpf_skb_load_bytes(skb, ETH_HLEN_, &arp, sizeof(arp)) < 0)
		return -1;
	if (arp.htype != bpf_htons(1) || arp.ptype != bpf_htons(ETH_P_IP_) || arp.hlen != 6 || arp.plen != 4 ||
	    arp.op != bpf_htons(1))
		return -1;
	struct myelin_ep_info *ep = ep_lookup_v4(arp.spa);
	p->saddr = arp.spa;
	p->daddr = arp.tpa;
	if (!ep || ep->ifindex != skb->ifindex)
		return drop(p, MYELIN_DROP_INVALID_SOURCE_IP, MYELIN_DIR_EGRESS);

	struct {
		__u8 dst[6];
		__u8 src[6];
		__be16 proto;
		struct arp_eth_ipv4 arp;
	} __attribute__((packed)) reply;
	__builtin_memcpy(reply.dst, arp.sha, 6);
	__builtin_memcpy(reply.src, ep->node_mac, 6);
	reply.proto = bpf_htons(ETH_P_ARP_);
	reply.arp = arp;
	reply.arp.op = bpf_htons(2);
	__builtin_memcpy(reply.arp.sha, ep->node_mac, 6);
	reply.arp.spa = arp.tpa;
	__builtin_memcpy(reply.arp.tha, arp.sha, 6);
	reply.arp.tpa = arp.spa;
	if (bpf_skb_store_bytes(skb, 0, &reply, sizeof(reply), 0) < 0)
		return drop(p, MYELIN_DROP_ERROR_WRITING_TO_PACKET, MYELIN_DIR_EGRESS);
	STATS_INC(arp_replies);
	return bpf_redirect(skb->ifindex, 0);
}
