/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The pod's host-side veth: from_container (tc ingress, what the pod sends)
 * and to_container (tc egress, what the node's stack sends to the pod). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "myelin/abi/net.h"
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/metrics.h"
#include "lib/trace.h"
#include "lib/drop.h"
#include "lib/parse.h"
#include "lib/endpoints.h"
#include "lib/arp.h"
#include "lib/conntrack.h"
#include "lib/policy.h"
#include "lib/lb.h"
#include "lib/lb_nat.h"
#include "lib/nodeport.h"
#include "lib/overlay.h"
#include "lib/native.h"
#include "lib/snat_maps.h" /* created and pinned with the others: host.bpf.c masquerades with it */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Emits the trace event a conntrack result calls for. */
static __always_inline void trace_ct(const struct pkt *p, int ct)
{
	if (ct == CT_NEW)
		trace(p, MYELIN_TRACE_CT_NEW);
	else if (ct == CT_CHANGED)
		trace(p, MYELIN_TRACE_CT_STATE);
	else if (ct == CT_UNTRACKED || ct == CT_RELATED)
		trace(p, MYELIN_TRACE_UNTRACKED);
}

/* Whether the packet meets policy: it opens a flow, is not tracked at all,
 * or belongs to one whose endpoints' policy changed since it was allowed. */
static __always_inline bool ct_needs_policy(int ct)
{
	return ct == CT_NEW || ct == CT_UNTRACKED || ct == CT_REVALIDATE;
}

/* A denied packet of a connection that had an entry (revoked, or a SYN
 * reopening the tuple) ends it. */
static __always_inline void ct_denied(const struct pkt *p, int ct)
{
	if (ct == CT_REVALIDATE || p->ct_reopen)
		ct_forget(p);
}

/*
 * from_container:
 *   parse Ethernet            (short -> DROP INVALID_PACKET)
 *   ARP request               -> answer with the gateway MAC, back to the pod
 *   not IPv4                  -> DROP UNSUPPORTED_L3_PROTOCOL
 *   parse IPv4 + L4           (malformed -> DROP with the reason)
 *   source is not this pod    -> DROP INVALID_SOURCE_IP
 *   to a Service frontend     -> a backend (the SERVICE entry's, else lb_select):
 *                             what follows sees the backend (address, port,
 *                             identity); hairpin: the source becomes the
 *                             service-loopback address; no backend -> TCP RST /
 *                             ICMP port unreachable back to the pod + DROP event
 *                             SERVICE_BACKEND_NOT_FOUND; a missing slot -> DROP
 *   conntrack lookup          ICMP error about nothing tracked -> DROP
 *                             CT_CANNOT_CREATE_ENTRY; about a tracked
 *                             connection -> RELATED, no policy
 *   no entry carries it       (new connection, stray TCP segment, untracked
 *                             ICMP, revoked) -> egress policy of the source
 *                             pod, and ingress policy of a local destination
 *                             pod (DROP POLICY_DENY / POLICY_DENIED, or
 *                             AUDIT); allowed -> tracked from then on (a
 *                             translated one: CONNECTION entry with the
 *                             frontend, SERVICE entry with the backend), DNAT
 *   reply of a translated connection -> source back to the frontend (rev-NAT)
 *   reply of a connection that came through the node's stack -> the stack
 *                             (it undoes what it translated: kube-proxy's DNAT)
 *   destination is a local pod -> rewrite MACs, redirect into its namespace
 *   tunnel mode, another node's pod or pod CIDR (ipcache tunnel_endpoint)
 *                             -> tunnel key {that node, VNI = source identity},
 *                             redirect to the VXLAN device (TO_OVERLAY); none
 *                             for another node's address -> DROP
 *                             NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT
 *   native mode, another node's pod or pod CIDR, the FIB forwards it with a
 *                             known neighbour -> TTL - 1, the FIB's MACs,
 *                             redirect to its device (TO_NETWORK; native.h)
 *   otherwise                 -> the node's stack
 */
SEC("tc")
int from_container(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct lb_xlate x = {};
	struct myelin_ep_info *src, *dst;
	int err, ct;

	err = parse_eth(skb, &p);
	if (err)
		return drop(&p, err, MYELIN_DIR_EGRESS);
	if (p.eth_proto == ETH_P_ARP_) {
		int verdict = arp_respond(skb, &p);
		return verdict >= 0 ? verdict : TC_ACT_OK;
	}
	if (p.eth_proto != ETH_P_IP_)
		return drop(&p, MYELIN_DROP_UNSUPPORTED_L3_PROTOCOL, MYELIN_DIR_EGRESS);
	err = parse_ipv4(skb, &p);
	if (err)
		return drop(&p, err, MYELIN_DIR_EGRESS);

	ep_resolve(&p, &src, &dst);
	if (!src || src->ifindex != skb->ifindex)
		return drop(&p, MYELIN_DROP_INVALID_SOURCE_IP, MYELIN_DIR_EGRESS);

	err = lb_translate(&p, &x);
	if (err == LB_NO_BACKEND)
		return lb_reject(skb, &p);
	if (err)
		return drop(&p, err, MYELIN_DIR_EGRESS);
	if (x.active)
		lb_resolve_dst(&p, src, &dst);

	ct = ct_process(&p);
	if (ct == CT_UNRELATED)
		return drop(&p, MYELIN_DROP_CT_CANNOT_CREATE_ENTRY_FROM_PACKET, MYELIN_DIR_EGRESS);
	p.dir = p.is_reply ? MYELIN_DIR_INGRESS : MYELIN_DIR_EGRESS;
	if (p.is_reply && p.ct_rev_nat) {
		err = ct == CT_RELATED ? lb_rev_nat_related(skb, &p) : lb_rev_nat(skb, &p);
		if (err)
			return drop(&p, err, MYELIN_DIR_EGRESS);
		if (p.ct_flags & MYELIN_CT_F_HAIRPIN)
			lb_resolve_dst(&p, src, &dst);
	}

	/* A reply to a client outside of a connection host.bpf.c translated
	 * (NodePort, externalIP, LoadBalancer), translated back just above:
	 * out by the node's routes (the stack would call its source martian). */
	if (p.is_reply && (p.ct_flags & MYELIN_CT_F_NODE_PORT) && !dst) {
		int np = np_out(skb, &p);
		if (np <= -2)
			return drop(&p, -2 - np, MYELIN_DIR_EGRESS);
		p.obs_point = MYELIN_OBS_TO_STACK;
		trace_ct(&p, ct);
		STATS_INC(to_stack);
		return forward(&p, MYELIN_DIR_EGRESS, np);
	}

	if (ct_needs_policy(ct)) {
		err = policy_check(&p, src, MYELIN_DIR_EGRESS, p.dst_identity);
		if (err) {
			ct_denied(&p, ct);
			return drop(&p, err, MYELIN_DIR_EGRESS);
		}
		/* With redirect_peer the destination's veth hooks never see the
		 * packet: its ingress policy is enforced here. */
		if (dst) {
			err = policy_check(&p, dst, MYELIN_DIR_INGRESS, p.src_identity);
			if (err) {
				ct_denied(&p, ct);
				p.dir = MYELIN_DIR_INGRESS;
				return drop(&p, err, MYELIN_DIR_INGRESS);
			}
		}
		ct = ct_commit(&p, ct);
		if (ct == CT_FAILED)
			return drop(&p, MYELIN_DROP_CT_MAP_INSERTION_FAILED, MYELIN_DIR_EGRESS);
	}
	err = lb_commit(&p, &x, ct);
	if (err)
		return drop(&p, err, MYELIN_DIR_EGRESS);
	if (lb_rewrite(skb, &p, &x) < 0)
		return drop(&p, MYELIN_DROP_ERROR_WRITING_TO_PACKET, MYELIN_DIR_EGRESS);

	/* The stack translated this connection on its way in (to_container):
	 * only the stack can translate its replies back. */
	if (p.is_reply && (p.ct_flags & MYELIN_CT_F_VIA_STACK))
		dst = 0;
	if (dst) {
		p.obs_point = MYELIN_OBS_TO_ENDPOINT;
		trace_ct(&p, ct);
		int verdict = deliver_local(skb, dst);
		if (verdict < 0)
			return drop(&p, MYELIN_DROP_ERROR_WRITING_TO_PACKET, MYELIN_DIR_EGRESS);
		return forward(&p, MYELIN_DIR_EGRESS, verdict);
	}
	/* Tunnel mode: another node's pod (or pod CIDR) -> encapsulated to
	 * that node, the VNI saying who sent it. A reply the stack must
	 * translate back stays with the stack. */
	if (!(p.is_reply && (p.ct_flags & MYELIN_CT_F_VIA_STACK))) {
		int t = overlay_encap(skb, &p, p.src_identity);
		if (t < 0)
			return drop(&p, -t, MYELIN_DIR_EGRESS);
		if (t == OVERLAY_KEYED) {
			trace_ct(&p, ct);
			return forward(&p, MYELIN_DIR_EGRESS, overlay_redirect());
		}
		/* Native mode: out of the underlay device the FIB names, not
		 * through the stack (which would only route it there). */
		t = native_forward(skb, &p);
		if (t < 0)
			return drop(&p, -t, MYELIN_DIR_EGRESS);
		if (t > 0) {
			trace_ct(&p, ct);
			return forward(&p, MYELIN_DIR_EGRESS, t);
		}
	}
	p.obs_point = MYELIN_OBS_TO_STACK;
	trace_ct(&p, ct);
	STATS_INC(to_stack);
	return forward(&p, MYELIN_DIR_EGRESS, TC_ACT_OK);
}

/*
 * to_container:
 *   already handled by from_container (mark) -> pass
 *   ARP                        -> pass
 *   not IPv4                   -> DROP UNSUPPORTED_L3_PROTOCOL
 *   parse IPv4 + L4
 *   not addressed to this veth's pod -> DROP NO_MATCHING_LOCAL_CONTAINER
 *   conntrack                  -> trace event on new / state change; a reply of
 *                                 a translated connection: source back to the
 *                                 frontend (rev-NAT)
 *   ICMP error                 -> RELATED to a tracked connection, or DROP
 *                                 CT_CANNOT_CREATE_ENTRY
 *   no entry carries it        -> ingress policy of the pod, and egress policy
 *                                 of a source pod of this node -> pass
 *                                 (tracked from then on, VIA_STACK: its replies
 *                                 go back through the stack) or DROP
 */
SEC("tc")
int to_container(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct myelin_ep_info *src, *dst;
	int err, ct;

	if ((skb->mark & MYELIN_MARK_MASK) == MYELIN_MARK_LOCAL) {
		__u32 mark = skb->mark & ~MYELIN_MARK_MASK;
		asm volatile("" : "+r"(mark)); /* a full 32-bit store (see deliver_local) */
		skb->mark = mark;
		return TC_ACT_OK;
	}
	err = parse_eth(skb, &p);
	if (err)
		return drop(&p, err, MYELIN_DIR_INGRESS);
	if (p.eth_proto == ETH_P_ARP_)
		return TC_ACT_OK;
	if (p.eth_proto != ETH_P_IP_)
		return drop(&p, MYELIN_DROP_UNSUPPORTED_L3_PROTOCOL, MYELIN_DIR_INGRESS);
	err = parse_ipv4(skb, &p);
	if (err)
		return drop(&p, err, MYELIN_DIR_INGRESS);

	ep_resolve(&p, &src, &dst);
	/* This veth leads into one pod: a packet for any other address would
	 * enter it without meeting its policy. */
	if (!dst || dst->ifindex != skb->ifindex)
		return drop(&p, MYELIN_DROP_NO_MATCHING_LOCAL_CONTAINER_FOUND, MYELIN_DIR_INGRESS);
	ct = ct_process(&p);
	if (ct == CT_UNRELATED)
		return drop(&p, MYELIN_DROP_CT_CANNOT_CREATE_ENTRY_FROM_PACKET, MYELIN_DIR_INGRESS);
	p.dir = p.is_reply ? MYELIN_DIR_EGRESS : MYELIN_DIR_INGRESS;
	if (p.is_reply && p.ct_rev_nat) {
		err = ct == CT_RELATED ? lb_rev_nat_related(skb, &p) : lb_rev_nat(skb, &p);
		if (err)
			return drop(&p, err, MYELIN_DIR_INGRESS);
	}
	if (ct_needs_policy(ct)) {
		err = policy_check(&p, dst, MYELIN_DIR_INGRESS, p.src_identity);
		if (err) {
			ct_denied(&p, ct);
			return drop(&p, err, MYELIN_DIR_INGRESS);
		}
		/* A pod of this node whose packet came through the node's stack
		 * (an address translated there, say) meets its egress policy here
		 * too: no connection opens on one side's policy alone, and its
		 * replies would enter that pod as replies. */
		if (src) {
			err = policy_check(&p, src, MYELIN_DIR_EGRESS, p.dst_identity);
			if (err) {
				ct_denied(&p, ct);
				p.dir = MYELIN_DIR_EGRESS;
				return drop(&p, err, MYELIN_DIR_EGRESS);
			}
		}
		p.ct_new_flags = MYELIN_CT_F_VIA_STACK;
		ct = ct_commit(&p, ct);
		if (ct == CT_FAILED)
			return drop(&p, MYELIN_DROP_CT_MAP_INSERTION_FAILED, MYELIN_DIR_INGRESS);
	}
	p.obs_point = MYELIN_OBS_TO_ENDPOINT;
	trace_ct(&p, ct);
	return forward(&p, MYELIN_DIR_INGRESS, TC_ACT_OK);
}
