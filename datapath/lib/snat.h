/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Masquerade: a pod's traffic that leaves the cluster gets the node's
 * address (myelin_node node_ip) as its source on the way out of a node
 * device (host.bpf.c to_netdev), and its replies get the pod back on the
 * way in (from_netdev), before the node's stack routes them to the pod.
 * The translations live in myelin_snat (abi/nat.h), both directions.
 *
 *   leaves the cluster   not CLUSTER in the ipcache (pods, pod CIDRs, node
 *                        addresses), not in --native-routing-cidr, not the
 *                        node's own address, not a pod of this node; only
 *                        from a pod of this node, and only a flow the pod
 *                        opened: the replies of a connection someone outside
 *                        opened to the pod (conntrack has its tuple the other
 *                        way) keep the pod's address
 *   TCP, UDP, ICMP echo  the source port (echo id) is kept when it is in
 *                        snat_port_min..max and free for that peer, else the
 *                        next free one from a random start, at most
 *                        MYELIN_SNAT_TRIES tries: none free -> DROP
 *                        NO_MAPPING_FOR_NAT_MASQUERADE
 *   anything else        DROP UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE (ICMP
 *                        errors leave as they are)
 *   on the way back      replies, and ICMP errors about a translated datagram
 *                        (the quoted datagram too: path MTU discovery works)
 *   the node's own flows from node_ip: a port of theirs within the range is
 *                        recorded (F_HOST), so no pod flow is given it
 *
 * Like Cilium's bpf/lib/nat.h, the port a flow gets is claimed by inserting
 * its INGRESS entry with BPF_NOEXIST: the insert is the lock, two CPUs never
 * hand out one port. The entry points are global functions (verified once,
 * their own stack: see lb_nat.h for the 6.1 verifier and map keys).
 */
#pragma once

#include "rewrite.h"
#include "snat_maps.h"

#define SNAT_TRANSLATED 1 /* snat_egress / snat_ingress: the packet was rewritten */
#define SNAT_NODE_PORT 2  /* snat_ingress: rewritten, and a NodePort reply (p->ct_rev_nat: its frontend) */

/* Masquerade is on and this node has an address to masquerade to. */
static __always_inline const struct myelin_node_config *snat_config(void)
{
	const struct myelin_node_config *c = node_config();

	if (!c || !(c->flags & MYELIN_NODE_F_MASQUERADE) || !c->node_ip)
		return 0;
	return c;
}

static __always_inline bool snat_in_cidr(__be32 addr, __be32 net, __u8 prefix)
{
	if (!prefix)
		return false;
	if (prefix >= 32)
		return addr == net;
	__u32 mask = ~((1u << (32 - prefix)) - 1);
	return (bpf_ntohl(addr) & mask) == (bpf_ntohl(net) & mask);
}

/* Whether a pod's packet to daddr leaves the cluster (see above). */
static __always_inline bool snat_leaves_cluster(const struct myelin_node_config *c, __be32 daddr)
{
	struct myelin_ipcache_val *v;

	if (daddr == c->node_ip || snat_in_cidr(daddr, c->native_cidr, c->native_prefix) || ep_lookup_v4(daddr))
		return false;
	v = ipcache_lookup_v4(daddr);
	return !v || !((v->flags & MYELIN_IPCACHE_F_CLUSTER) || v->identity == MYELIN_IDENTITY_HOST ||
		       v->identity == MYELIN_IDENTITY_REMOTE_NODE);
}

/* The key of a flow's entry, as the packet is on the wire in that direction.
 * ICMP echo: the id is the pod side's port, the peer's is 0. */
static __always_inline void snat_key(struct myelin_snat_key *k, __u8 dir, __u8 proto, __be32 saddr, __be32 daddr,
				     __be16 sport, __be16 dport)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->saddr.w[0] = saddr;
	k->daddr.w[0] = daddr;
	k->sport = sport;
	k->dport = dport;
	k->proto = proto;
	k->family = MYELIN_FAMILY_IPV4;
	k->dir = dir;
}

/* A fragment after the first: it has no L4 header to rewrite. */
static __always_inline bool snat_later_fragment(struct __sk_buff *skb)
{
	__be16 frag = 0;

	if (bpf_skb_load_bytes(skb, ETH_HLEN_ + 6, &frag, sizeof(frag)) < 0)
		return false;
	return bpf_ntohs(frag) & IP_OFFSET_;
}

/* A packet of the node's own (source node_ip) out of a device: its port,
 * taken for that peer, is recorded, so no pod flow is given it. Only a port
 * within the range can collide (the default range lies above the node's
 * ephemeral ports): the others cost one comparison, VXLAN's included. */
__noinline int snat_track_host(struct pkt *p, __u32 port_min, __u32 port_max)
{
	struct myelin_snat_key k;
	struct myelin_snat_entry v;

	if (!p)
		return 0;
	__u32 port = bpf_ntohs(p->sport);
	if (port < port_min || port > port_max)
		return 0;
	if (p->icmp_error || (p->proto == IPPROTO_ICMP_ && p->icmp_type != ICMP_ECHO_))
		return 0;
	if (p->proto != IPPROTO_TCP_ && p->proto != IPPROTO_UDP_ && p->proto != IPPROTO_ICMP_)
		return 0;
	snat_key(&k, MYELIN_SNAT_INGRESS, p->proto, p->daddr, p->saddr, p->proto == IPPROTO_ICMP_ ? 0 : p->dport,
		 p->sport);
	if (bpf_map_lookup_elem(&myelin_snat, &k))
		return 0;
	__builtin_memset(&v, 0, sizeof(v));
	v.to_addr.w[0] = p->saddr;
	v.to_port = p->sport;
	v.flags = MYELIN_SNAT_F_HOST;
	v.created_ns = bpf_ktime_get_ns();
	v.last_seen_ns = v.created_ns;
	bpf_map_update_elem(&myelin_snat, &k, &v, BPF_NOEXIST);
	return 0;
}

/*
 * A pod's packet leaving the cluster (the caller checked: snat_config,
 * a pod source, snat_leaves_cluster, not a reply): its flow's translation,
 * found or made, written into the packet. p's view keeps the pod's tuple
 * (for events); *nat_port is the port it got. Returns SNAT_TRANSLATED or
 * a drop reason. Also a NodePort client's packet to a backend on another
 * node (host.bpf.c np_remote): p->ct_new_rev_nat is then its frontend,
 * which the INGRESS entry keeps (F_NODE_PORT) for the replies; 0 otherwise.
 */
__noinline int snat_egress(struct __sk_buff *skb, struct pkt *p, __be32 node_ip, __u32 port_min, __u32 port_max)
{
	struct myelin_snat_key ek, ik;  /* map keys and values: on this frame's stack */
	struct myelin_snat_entry ev, iv;
	struct myelin_snat_entry *e;
	__be16 peer_port, nat_port = 0;
	__u64 now = bpf_ktime_get_ns();

	if (!p)
		return MYELIN_DROP_NO_MAPPING_FOR_NAT_MASQUERADE;
	if (p->proto != IPPROTO_TCP_ && p->proto != IPPROTO_UDP_ &&
	    !(p->proto == IPPROTO_ICMP_ && p->icmp_type == ICMP_ECHO_ && !p->icmp_error))
		return MYELIN_DROP_UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE;
	peer_port = p->proto == IPPROTO_ICMP_ ? 0 : p->dport;
	snat_key(&ek, MYELIN_SNAT_EGRESS, p->proto, p->saddr, p->daddr, p->sport, peer_port);
	__builtin_memset(&iv, 0, sizeof(iv));
	iv.to_addr.w[0] = p->saddr;
	iv.to_port = p->sport;
	iv.rev_nat_index = p->ct_new_rev_nat;
	iv.flags = p->ct_new_rev_nat ? MYELIN_SNAT_F_NODE_PORT : 0;
	iv.created_ns = now;
	iv.last_seen_ns = now;

	e = bpf_map_lookup_elem(&myelin_snat, &ek);
	if (e) {
		nat_port = e->to_port;
		e->last_seen_ns = now;
		/* Its INGRESS entry, or the replies would find nothing: evicted
		 * (LRU), it is made again; taken by another flow meanwhile, this
		 * flow gets a new port below. */
		snat_key(&ik, MYELIN_SNAT_INGRESS, p->proto, p->daddr, node_ip, peer_port, nat_port);
		struct myelin_snat_entry *i = bpf_map_lookup_elem(&myelin_snat, &ik);
		if (i) {
			if (i->to_addr.w[0] == p->saddr && i->to_port == p->sport && !(i->flags & MYELIN_SNAT_F_HOST) &&
			    i->rev_nat_index == iv.rev_nat_index)
				goto write;
		} else if (bpf_map_update_elem(&myelin_snat, &ik, &iv, BPF_NOEXIST) == 0) {
			goto write;
		}
		bpf_map_delete_elem(&myelin_snat, &ek);
	}

	/* A new flow: claim a port. */
	__u32 range = port_max >= port_min ? port_max - port_min + 1 : 0;
	__u32 orig = bpf_ntohs(p->sport), start;
	if (!range)
		return MYELIN_DROP_NO_MAPPING_FOR_NAT_MASQUERADE;
	if (orig >= port_min && orig <= port_max)
		start = orig - port_min; /* keep the pod's own port if it is free */
	else
		start = bpf_get_prandom_u32() % range;
	int found = 0;
	for (__u32 i = 0; i < MYELIN_SNAT_TRIES; i++) {
		if (i >= range)
			break;
		nat_port = bpf_htons((__u16)(port_min + (start + i) % range));
		snat_key(&ik, MYELIN_SNAT_INGRESS, p->proto, p->daddr, node_ip, peer_port, nat_port);
		if (bpf_map_update_elem(&myelin_snat, &ik, &iv, BPF_NOEXIST) == 0) {
			found = 1;
			break;
		}
	}
	if (!found)
		return MYELIN_DROP_NO_MAPPING_FOR_NAT_MASQUERADE;
	__builtin_memset(&ev, 0, sizeof(ev));
	ev.to_addr.w[0] = node_ip;
	ev.to_port = nat_port;
	ev.created_ns = now;
	ev.last_seen_ns = now;
	if (bpf_map_update_elem(&myelin_snat, &ek, &ev, BPF_NOEXIST) != 0) {
		/* Another CPU gave this flow a port first: that one, ours back. */
		bpf_map_delete_elem(&myelin_snat, &ik);
		e = bpf_map_lookup_elem(&myelin_snat, &ek);
		if (!e)
			return MYELIN_DROP_NO_MAPPING_FOR_NAT_MASQUERADE;
		nat_port = e->to_port;
	}
	p->trace_reason = MYELIN_TRACE_REASON_NEW;
write:
	if (ipv4_rewrite(skb, p->l4_off, p->proto, true, snat_later_fragment(skb), p->saddr, node_ip, p->sport, nat_port) < 0)
		return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	return SNAT_TRANSLATED;
}

/*
 * An ICMP error to node_ip about a datagram of a masqueraded flow (a router
 * out there: fragmentation needed, unreachable, time exceeded): it goes to
 * the pod, quoting the pod's datagram as the pod sent it (destination,
 * quoted source and port or echo id, the quoted header's checksum and the
 * ICMP checksum), so path MTU discovery and errors work through the NAT.
 * The quoted L4 checksum is left (it covers what no receiver has whole).
 */
__noinline int snat_ingress_icmp_error(struct __sk_buff *skb, struct pkt *p)
{
	struct myelin_snat_key k;
	struct myelin_snat_entry *e;
	__u8 ver_ihl;

	if (!p || p->inner.untrackable || p->inner.saddr != p->daddr)
		return 0;
	__u8 proto = p->inner.proto;
	if (proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_ && !(proto == IPPROTO_ICMP_ && p->inner.icmp_type == ICMP_ECHO_))
		return 0;
	snat_key(&k, MYELIN_SNAT_INGRESS, proto, p->inner.daddr, p->inner.saddr, proto == IPPROTO_ICMP_ ? 0 : p->inner.dport,
		 p->inner.sport);
	e = bpf_map_lookup_elem(&myelin_snat, &k);
	/* A NodePort flow's errors would need the frontend put back in the
	 * quoted datagram too: not translated (the node's stack gets them). */
	if (!e || (e->flags & (MYELIN_SNAT_F_HOST | MYELIN_SNAT_F_NODE_PORT)))
		return 0;
	__be32 node = p->daddr, pod = e->to_addr.w[0];
	__be16 nat_port = p->inner.sport, pod_port = e->to_port;
	__u32 icmp_csum = p->l4_off + 2, inner = p->l4_off + 8;
	if (bpf_skb_load_bytes(skb, inner, &ver_ihl, 1) < 0)
		return MYELIN_DROP_INVALID_PACKET_DROPPED;
	__u32 inner_l4 = inner + (ver_ihl & 0x0f) * 4;
	__u32 port_off = proto == IPPROTO_ICMP_ ? inner_l4 + 4 : inner_l4;
	__sum16 old_sum, new_sum;

	/* The outer destination: only the IP header's checksum covers it. */
	if (bpf_l3_csum_replace(skb, IPV4_CSUM_OFF, node, pod, sizeof(pod)) < 0 ||
	    bpf_skb_store_bytes(skb, IPV4_DST_OFF, &pod, sizeof(pod), 0) < 0)
		return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	/* The quoted source, its header's checksum, its port: the ICMP checksum
	 * covers all three. */
	if (bpf_skb_load_bytes(skb, inner + 10, &old_sum, sizeof(old_sum)) < 0 ||
	    bpf_l3_csum_replace(skb, inner + 10, node, pod, sizeof(pod)) < 0 ||
	    bpf_skb_load_bytes(skb, inner + 10, &new_sum, sizeof(new_sum)) < 0 ||
	    bpf_skb_store_bytes(skb, inner + 12, &pod, sizeof(pod), 0) < 0 ||
	    bpf_l4_csum_replace(skb, icmp_csum, node, pod, sizeof(pod)) < 0 ||
	    bpf_l4_csum_replace(skb, icmp_csum, old_sum, new_sum, sizeof(new_sum)) < 0)
		return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	if (nat_port != pod_port &&
	    (bpf_skb_store_bytes(skb, port_off, &pod_port, sizeof(pod_port), 0) < 0 ||
	     bpf_l4_csum_replace(skb, icmp_csum, nat_port, pod_port, sizeof(pod_port)) < 0))
		return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	e->last_seen_ns = bpf_ktime_get_ns();
	p->daddr = pod;
	p->inner.saddr = pod;
	p->inner.sport = pod_port;
	return SNAT_TRANSLATED;
}

/*
 * A packet to node_ip from outside (from_netdev): the reply of a pod's
 * masqueraded flow gets the pod back as its destination (p's view too);
 * anything else (the node's own flows, NodePorts, no entry) is left as it
 * is. Returns SNAT_TRANSLATED, 0, or a drop reason.
 */
__noinline int snat_ingress(struct __sk_buff *skb, struct pkt *p)
{
	struct myelin_snat_key k;
	struct myelin_snat_entry *e;
	__be16 nat_port, peer_port;

	if (!p || p->icmp_error)
		return 0; /* snat_ingress_icmp_error's (called apart: each call adds its frame to the caller's) */
	if (p->proto == IPPROTO_ICMP_) {
		if (p->icmp_type != ICMP_ECHOREPLY_)
			return 0;
		peer_port = 0;
		nat_port = p->sport; /* the id */
	} else if (p->proto == IPPROTO_TCP_ || p->proto == IPPROTO_UDP_) {
		peer_port = p->sport;
		nat_port = p->dport;
	} else {
		return 0;
	}
	snat_key(&k, MYELIN_SNAT_INGRESS, p->proto, p->saddr, p->daddr, peer_port, nat_port);
	e = bpf_map_lookup_elem(&myelin_snat, &k);
	if (!e || (e->flags & MYELIN_SNAT_F_HOST))
		return 0;
	__be32 pod = e->to_addr.w[0];
	__be16 pod_port = e->to_port;
	e->last_seen_ns = bpf_ktime_get_ns();
	if (ipv4_rewrite(skb, p->l4_off, p->proto, false, snat_later_fragment(skb), p->daddr, pod, nat_port, pod_port) < 0)
		return MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	p->daddr = pod;
	if (p->proto == IPPROTO_ICMP_)
		p->sport = pod_port;
	else
		p->dport = pod_port;
	if (e->flags & MYELIN_SNAT_F_NODE_PORT) {
		p->ct_rev_nat = e->rev_nat_index;
		return SNAT_NODE_PORT;
	}
	return SNAT_TRANSLATED;
}
