/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The VXLAN device of tunnel mode (myelin_vxlan, collect-metadata):
 * from_overlay (tc ingress: what other nodes sent, decapsulated) and
 * to_overlay (tc egress: the node's own packets routed to other nodes'
 * pods). Pods' packets to other nodes are encapsulated by from_container
 * (lxc.bpf.c) and pass to_overlay untouched. It shares every map with the
 * pod datapath (the loader reuses its fds): one conntrack, one ipcache. */
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
#include "lib/conntrack.h"
#include "lib/policy.h"
#include "lib/lb.h"
#include "lib/lb_nat.h"
#include "lib/overlay.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * from_overlay:
 *   no tunnel metadata              -> DROP ERROR_RETRIEVING_TUNNEL_KEY
 *   outer source not a cluster node -> DROP UNKNOWN_SENDER
 *   VNI 0 or host                   -> DROP INVALID_IDENTITY
 *   inner: parse Ethernet, IPv4 + L4 (not IPv4 -> DROP UNSUPPORTED_L3_PROTOCOL)
 *   source is a pod of this node    -> DROP INVALID_SOURCE_IP (spoofed)
 *   destination no pod of this node -> DROP NO_MATCHING_LOCAL_CONTAINER_FOUND
 *   conntrack; a reply of a translated connection: source back to the
 *   frontend (rev-NAT)
 *   no entry carries it             -> ingress policy of the pod by the VNI's
 *                                      identity (DROP POLICY_*), tracked
 *   trace FROM_OVERLAY (tunnel_peer = the sending node) -> into the pod
 */
static __always_inline int from_overlay_run(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct myelin_ep_info *src, *dst;
	__u32 identity;
	int err, ct;

	p.len = skb->len;
	p.ifindex = skb->ifindex;
	p.obs_point = MYELIN_OBS_FROM_OVERLAY;
	err = overlay_sender(skb, &p);
	if (err)
		return drop(&p, -err, MYELIN_DIR_INGRESS);
	identity = p.src_identity;
	err = parse_eth(skb, &p);
	if (err)
		return drop(&p, err, MYELIN_DIR_INGRESS);
	if (p.eth_proto != ETH_P_IP_)
		return drop(&p, MYELIN_DROP_UNSUPPORTED_L3_PROTOCOL, MYELIN_DIR_INGRESS);
	err = parse_ipv4(skb, &p);
	if (err)
		return drop(&p, err, MYELIN_DIR_INGRESS);

	ep_resolve(&p, &src, &dst);
	p.src_identity = identity; /* what the sending node says, not our ipcache */
	if (src)
		return drop(&p, MYELIN_DROP_INVALID_SOURCE_IP, MYELIN_DIR_INGRESS);
	if (!dst)
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
		ct = ct_commit(&p, ct);
		if (ct == CT_FAILED)
			return drop(&p, MYELIN_DROP_CT_MAP_INSERTION_FAILED, MYELIN_DIR_INGRESS);
	}
	trace_ct(&p, ct);
	int verdict = deliver_local(skb, dst);
	if (verdict < 0)
		return drop(&p, MYELIN_DROP_ERROR_WRITING_TO_PACKET, MYELIN_DIR_INGRESS);
	return forward(&p, MYELIN_DIR_INGRESS, verdict);
}

/* (The body is inline so that the datapath tests' harness can run it on a
 * packet it gave tunnel metadata: BPF_PROG_TEST_RUN cannot.) */
SEC("tc")
int from_overlay(struct __sk_buff *skb)
{
	return from_overlay_run(skb);
}

/*
 * to_overlay:
 *   tunnel metadata set already (a pod's packet from from_container) -> pass
 *   not IPv4                         -> pass (the device sends nothing
 *                                       without metadata)
 *   parse IPv4 (malformed -> DROP with the reason)
 *   the node's own packet to another node's pod or pod CIDR -> tunnel key
 *   {tunnel_endpoint, VNI = remote-node} -> the device encapsulates it
 *   no tunnel endpoint for it        -> DROP NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT
 */
static __always_inline int to_overlay_run(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};
	struct pkt p = {};
	int err;

	if (bpf_skb_get_tunnel_key(skb, &key, OVERLAY_KEY_SIZE, 0) == 0)
		return TC_ACT_OK;
	err = parse_eth(skb, &p);
	if (err || p.eth_proto != ETH_P_IP_)
		return TC_ACT_OK;
	err = parse_ipv4(skb, &p);
	if (err)
		return drop(&p, err, MYELIN_DIR_EGRESS);
	p.dir = MYELIN_DIR_EGRESS;
	p.src_identity = MYELIN_IDENTITY_HOST;
	p.dst_identity = ipcache_identity_v4(p.daddr);
	err = overlay_encap(skb, &p, MYELIN_IDENTITY_REMOTE_NODE);
	if (err < 0)
		return drop(&p, -err, MYELIN_DIR_EGRESS);
	if (err != OVERLAY_KEYED)
		return drop(&p, MYELIN_DROP_NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT, MYELIN_DIR_EGRESS);
	return forward(&p, MYELIN_DIR_EGRESS, TC_ACT_OK);
}

SEC("tc")
int to_overlay(struct __sk_buff *skb)
{
	return to_overlay_run(skb);
}
