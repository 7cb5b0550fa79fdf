/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Tunnel mode (VXLAN, collect-metadata device): the way out for a packet to
 * another node's pod (overlay_encap, from_container and to_overlay) and the
 * checks on the way in (overlay_sender, from_overlay). The ipcache is the one
 * table of where an address lives: a pod's /32 or a node's pod CIDR carries
 * the node (tunnel_endpoint) the packet is encapsulated to. The VNI carries
 * the sender's 24-bit source identity.
 *
 * The entry points are global functions: verified once, with their own stack
 * frames; map keys and the tunnel key live on that stack (Linux 6.1 takes no
 * pointer argument as a map key, see lb_nat.h). */
#pragma once

#define OVERLAY_VNI_MASK 0xffffffu
/* The size of struct bpf_tunnel_key before local_ipv4 (Linux 6.0): every
 * kernel we run on takes it, and we need nothing after it. */
#define OVERLAY_KEY_SIZE __builtin_offsetof(struct bpf_tunnel_key, local_ipv4)
/* overlay_encap: the packet has its tunnel key (0: not for the tunnel). */
#define OVERLAY_KEYED 1

/* The node's own settings (the agent writes them; zero = a single node). */
static __always_inline bool overlay_enabled(__u32 *ifindex)
{
	const struct myelin_node_config *c = node_config();

	if (!c || c->routing_mode != MYELIN_ROUTING_TUNNEL || !c->tunnel_ifindex)
		return false;
	*ifindex = c->tunnel_ifindex;
	return true;
}

/*
 * A packet to an address of another node:
 *   routing is not TUNNEL, or the destination is not another node's  -> 0
 *                             (the caller hands it to the node's stack)
 *   another node's address without a tunnel endpoint -> -NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT
 *   tunnel key {peer = tunnel_endpoint, VNI = vni}  (fails -> -ERROR_WRITING_TO_PACKET)
 *                             -> OVERLAY_KEYED; the caller redirects it to the
 *                             VXLAN device (overlay_redirect), or is that
 *                             device's egress (to_overlay)
 * p->tunnel_peer says where it goes. Returns 0, OVERLAY_KEYED or -reason.
 */
__noinline int overlay_encap(struct __sk_buff *skb, struct pkt *p, __u32 vni)
{
	struct myelin_ipcache_key k = {};
	struct bpf_tunnel_key key = {};
	struct myelin_ipcache_val *v;
	__u32 ifindex = 0;

	if (!skb || !p || !overlay_enabled(&ifindex))
		return 0;
	k.prefixlen = 32 + 32;
	k.family = MYELIN_FAMILY_IPV4;
	k.addr.w[0] = p->daddr;
	v = bpf_map_lookup_elem(&myelin_ipcache, &k);
	if (!v || !(v->flags & MYELIN_IPCACHE_F_REMOTE))
		return 0;
	/* A node's own address is reached over the underlay: only its pods
	 * (and its pod CIDR) sit behind the tunnel. */
	if (!v->tunnel_endpoint)
		return v->identity == MYELIN_IDENTITY_REMOTE_NODE ? 0 : -MYELIN_DROP_NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT;
	key.remote_ipv4 = bpf_ntohl(v->tunnel_endpoint);
	key.tunnel_id = vni & OVERLAY_VNI_MASK;
	key.tunnel_ttl = 64;
	if (bpf_skb_set_tunnel_key(skb, &key, OVERLAY_KEY_SIZE, BPF_F_ZERO_CSUM_TX) < 0)
		return -MYELIN_DROP_ERROR_WRITING_TO_PACKET;
	p->tunnel_peer = v->tunnel_endpoint;
	p->obs_point = MYELIN_OBS_TO_OVERLAY;
	return OVERLAY_KEYED;
}

/* To the VXLAN device's egress, which encapsulates by the key. */
static __always_inline int overlay_redirect(void)
{
	__u32 ifindex = 0;

	if (!overlay_enabled(&ifindex))
		return TC_ACT_SHOT;
	return bpf_redirect(ifindex, 0);
}

/*
 * A packet out of the tunnel: who sent it and as whom.
 *   no tunnel metadata          -> -ERROR_RETRIEVING_TUNNEL_KEY
 *   the outer source is not a node of the cluster (ipcache: remote-node,
 *   REMOTE)                     -> -UNKNOWN_SENDER (nobody else may claim
 *                                  identities by sending to UDP 8472)
 *   VNI 0 (any) or host         -> -INVALID_IDENTITY (a remote node cannot
 *                                  speak as this node)
 * p->tunnel_peer = the outer source, p->src_identity = the VNI; 0 on success.
 */
__noinline int overlay_sender(struct __sk_buff *skb, struct pkt *p)
{
	struct myelin_ipcache_key k = {};
	struct bpf_tunnel_key key = {};
	struct myelin_ipcache_val *v;
	__u32 vni;

	if (!skb || !p)
		return -MYELIN_DROP_ERROR_RETRIEVING_TUNNEL_KEY;
	if (bpf_skb_get_tunnel_key(skb, &key, OVERLAY_KEY_SIZE, 0) < 0)
		return -MYELIN_DROP_ERROR_RETRIEVING_TUNNEL_KEY;
	p->tunnel_peer = bpf_htonl(key.remote_ipv4);
	k.prefixlen = 32 + 32;
	k.family = MYELIN_FAMILY_IPV4;
	k.addr.w[0] = p->tunnel_peer;
	v = bpf_map_lookup_elem(&myelin_ipcache, &k);
	if (!v || v->identity != MYELIN_IDENTITY_REMOTE_NODE || !(v->flags & MYELIN_IPCACHE_F_REMOTE))
		return -MYELIN_DROP_UNKNOWN_SENDER;
	vni = key.tunnel_id & OVERLAY_VNI_MASK;
	if (vni == MYELIN_IDENTITY_ANY || vni == MYELIN_IDENTITY_HOST)
		return -MYELIN_DROP_INVALID_IDENTITY;
	p->src_identity = vni;
	return 0;
}
