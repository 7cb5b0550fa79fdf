/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* NodePort, externalIP and LoadBalancer frontends served on the node's
 * devices (host.bpf.c): which frontends a client from outside may reach,
 * the address/port rewrite with checksums, and the way back out for a local
 * backend's replies (from_container, lxc.bpf.c, after lb_nat.h's rev-NAT).
 * Lookup and backend selection are lib/lb.h's; maps: lb_maps.h, maps.h.
 *
 * Conntrack of a translated connection (abi/net.h):
 *   SERVICE    client -> frontend   backend_id, rev_nat_index, CT_F_NODE_PORT
 *   CONNECTION client -> backend    rev_nat_index, CT_F_NODE_PORT
 * The client's address is kept (no SNAT): the backend is on this node, its
 * replies come back through from_container, which translates them back from
 * the CONNECTION entry's rev_nat_index (lb_rev_nat) and sends them out
 * (np_out). */
#pragma once

#include "lb.h"
#include "rewrite.h"

#define NP_AF_INET 2

/* Rewrites the source (src) or destination address and port of an IPv4
 * TCP/UDP packet with its checksums. 0, or -1 if the packet could not be
 * written. */
static __always_inline int np_rewrite_v4(struct __sk_buff *skb, __u32 l4_off, __u8 proto, bool src, __be32 old_addr,
					 __be32 new_addr, __be16 old_port, __be16 new_port)
{
	if (proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_)
		return -1; /* SCTP's CRC32c cannot be updated incrementally */
	return ipv4_rewrite(skb, l4_off, proto, src, false, old_addr, new_addr, old_port, new_port);
}

/* Whether `addr` is an address of this node (the FIB's answer: local, not
 * forwarded). An externalIP or LoadBalancer IP is served only then: one
 * that is not assigned to this node belongs to someone else, and traffic
 * to it is never taken for the Service's pods (CVE-2020-8554). */
static __always_inline bool np_is_local_addr(struct __sk_buff *skb, __be32 addr)
{
	struct bpf_fib_lookup fib = {};

	/* Looked up as the packet's route from the device it came in by (a
	 * forwarding lookup: the node's devices forward, or pods would not work). */
	fib.family = NP_AF_INET;
	fib.ipv4_dst = addr;
	fib.ifindex = skb->ifindex;
	return bpf_fib_lookup(skb, &fib, sizeof(fib), 0) == BPF_FIB_LKUP_RET_NOT_FWDED;
}

/* The frontend a client outside the cluster reaches at the packet's
 * destination, or NULL. Outside clients get the frontend's EXTERNAL entry
 * (externalTrafficPolicy Local: only this node's backends). Only the
 * frontends that face outside are served here: NodePort (within
 * node_port_min..max when the agent set a range), and externalIPs and
 * LoadBalancer IPs that are this node's; ClusterIPs are not (Cilium's
 * default, bpf-lb-external-clusterip off). */
static __always_inline struct myelin_lb_svc_val *np_frontend(struct __sk_buff *skb, struct myelin_lb_svc_key *key,
							     const struct pkt *p)
{
	struct myelin_lb_svc_val *svc = lb_lookup_service(key, p->daddr, p->dport, p->proto, false);
	struct myelin_lb_config *cfg;

	if (!svc)
		return 0;
	if (svc->flags & MYELIN_LB_F_NODE_PORT) {
		cfg = lb_config();
		__u16 port = bpf_ntohs(p->dport);
		if (cfg && cfg->node_port_max && (port < cfg->node_port_min || port > cfg->node_port_max))
			return 0;
		return svc;
	}
	if (svc->flags & (MYELIN_LB_F_EXTERNAL_IP | MYELIN_LB_F_LOAD_BALANCER))
		return np_is_local_addr(skb, p->daddr) ? svc : 0;
	return 0;
}

/* A backend's reply of a connection host.bpf.c translated (CONNECTION
 * entry with CT_F_NODE_PORT), once lb_rev_nat (lb_nat.h) made its source the
 * frontend again (a node address), leaves by the node's routes: the FIB's
 * device and neighbour, as the stack would forward it, but without the
 * stack's source check, which would call a packet from a node address
 * arriving on a pod's veth martian. A route the helper cannot take (a
 * blackhole, a device it cannot resolve): the stack decides. Returns the tc
 * verdict, or -2 - reason to drop the packet with `reason`. */
static __always_inline int np_out(struct __sk_buff *skb, const struct pkt *p)
{
	struct bpf_fib_lookup fib = {};

	fib.family = NP_AF_INET;
	fib.l4_protocol = p->proto;
	fib.sport = p->sport;
	fib.dport = p->dport;
	fib.ipv4_src = p->saddr;
	fib.ipv4_dst = p->daddr;
	fib.ifindex = skb->ifindex;
	switch (bpf_fib_lookup(skb, &fib, sizeof(fib), 0)) {
	case BPF_FIB_LKUP_RET_SUCCESS: {
		__u8 macs[12];
		__builtin_memcpy(macs, fib.dmac, 6);
		__builtin_memcpy(macs + 6, fib.smac, 6);
		if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0) < 0)
			return -2 - MYELIN_DROP_ERROR_WRITING_TO_PACKET;
		return bpf_redirect(fib.ifindex, 0);
	}
	case BPF_FIB_LKUP_RET_NO_NEIGH: {
		struct bpf_redir_neigh nh = {.nh_family = NP_AF_INET, .ipv4_nh = fib.ipv4_dst};
		return bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
	}
	}
	return TC_ACT_OK;
}
