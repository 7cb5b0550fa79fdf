/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The node's devices (--devices): from_netdev (tc ingress) serves NodePort,
 * externalIP and LoadBalancer frontends to clients outside the cluster,
 * translates the replies of masqueraded pod flows back to their pod, and
 * hands everything else to the node's stack untouched; to_netdev (tc
 * egress) masquerades pods' traffic leaving the cluster. It shares every map
 * with the pod datapath (lxc.bpf.c): the loader reuses the pod datapath's
 * map fds, so both see one conntrack and one set of Services. */
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
#include "lib/nodeport.h"
#include "lib/snat.h"
#include "lib/lb_nat.h"
#include "lib/native.h"
#include "lib/overlay.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* np_serve: the destination is no frontend served here. */
#define NP_PASS (-1)

static __always_inline void np_trace(const struct pkt *p, int ct)
{
	if (ct == CT_NEW)
		trace(p, MYELIN_TRACE_CT_NEW);
	else if (ct == CT_CHANGED)
		trace(p, MYELIN_TRACE_CT_STATE);
}

/* The SERVICE entry of the client -> frontend tuple: the backend an
 * established connection keeps. */
static __always_inline void np_service_key(struct myelin_ct_key *k, const struct pkt *p)
{
	ct_key_make(k, p->proto, p->saddr, p->daddr, p->sport, p->dport, 0, false);
	k->kind = MYELIN_CT_KIND_SERVICE;
}

/* An IPv4 packet's headers into p; nonzero: not IPv4, or malformed. A
 * subprogram, like np_serve below, so that its locals are not in
 * from_netdev's stack frame: the 6.1 verifier rounds each frame up to 32
 * bytes and takes at most 512 for a caller and its callee together. */
static __noinline int netdev_parse(struct __sk_buff *skb, struct pkt *p)
{
	if (parse_eth(skb, p) || p->eth_proto != ETH_P_IP_)
		return 1;
	return parse_ipv4(skb, p) ? 1 : 0;
}

/* np_serve: the backend is another node's pod; the packet is DNATed, and
 * from_netdev hands it to np_remote (its own frame: snat_egress's). */
#define NP_REMOTE (-1000)

/* Whether a NodePort may send a client to this backend on another node
 * (externalTrafficPolicy Cluster): the ipcache says it is another node's,
 * and the node masquerades (the client is SNATed to node_ip, so the reply
 * comes back through this node). */
static __always_inline bool np_remote_backend(__be32 addr)
{
	struct myelin_ipcache_val *v;

	if (!snat_config())
		return false;
	v = ipcache_lookup_v4(addr);
	return v && (v->flags & MYELIN_IPCACHE_F_REMOTE) && v->identity != MYELIN_IDENTITY_REMOTE_NODE;
}

/* from_netdev's NodePort part: a subprogram of its own (static: verified
 * with its caller's types), so from_netdev's stack frame stays small enough
 * to call the masquerade's global functions (caller + callee <= 512 bytes). */
static __noinline int np_serve(struct __sk_buff *skb, struct pkt *p)
{
	struct myelin_lb_svc_key key;
	struct myelin_lb_svc_val *svc;
	struct myelin_lb_backend *be;
	struct myelin_ep_info *src, *dst;
	struct myelin_ct_key skey;
	struct myelin_ct_entry *se, *ce;
	__u32 backend_id = 0;
	int err, ct;

	svc = np_frontend(skb, &key, p);
	if (!svc)
		return NP_PASS;
	p->dir = MYELIN_DIR_INGRESS;
	p->obs_point = MYELIN_OBS_TO_ENDPOINT;
	p->src_identity = ipcache_identity_v4(p->saddr);
	{
		struct ipv4_hdr ip;
		if (bpf_skb_load_bytes(skb, ETH_HLEN_, &ip, sizeof(ip)) < 0)
			return drop(p, MYELIN_DROP_INVALID_PACKET_DROPPED, MYELIN_DIR_INGRESS);
		if (bpf_ntohs(ip.frag_off) & (IP_MF_ | IP_OFFSET_))
			return drop(p, MYELIN_DROP_IP_FRAGMENTATION_NOT_SUPPORTED, MYELIN_DIR_INGRESS);
	}

	__be32 front_addr = p->daddr;
	__be16 front_port = p->dport;
	np_service_key(&skey, p);
	se = bpf_map_lookup_elem(&myelin_ct, &skey);
	be = se ? lb_backend(se->backend_id) : 0;
	if (be) {
		backend_id = se->backend_id;
	} else {
		/* New, or its backend was removed: pick (again). */
		backend_id = lb_select(&key, svc, p->saddr, false, true,
				       lb_flow_hash(p->saddr, p->daddr, p->sport, p->dport, p->proto));
		be = lb_backend(backend_id);
		if (!be)
			return drop(p, MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND, MYELIN_DIR_INGRESS);
	}

	p->daddr = be->addr.w[0];
	p->dport = be->port;
	ep_resolve(p, &src, &dst);
	bool remote = !dst;
	if (remote && !np_remote_backend(p->daddr))
		return drop(p, MYELIN_DROP_NO_MATCHING_LOCAL_CONTAINER_FOUND, MYELIN_DIR_INGRESS);

	ct = ct_process(p);
	if (ct == CT_UNRELATED)
		return drop(p, MYELIN_DROP_CT_CANNOT_CREATE_ENTRY_FROM_PACKET, MYELIN_DIR_INGRESS);
	p->dst_service = svc->rev_nat_index;
	/* What ct_commit records in a new CONNECTION entry. */
	p->ct_new_rev_nat = svc->rev_nat_index;
	p->ct_new_flags = MYELIN_CT_F_NODE_PORT;
	if (ct_needs_policy(ct)) {
		/* A remote backend's node checks its ingress policy (the client
		 * is this node to it then). */
		err = dst ? policy_check(p, dst, MYELIN_DIR_INGRESS, p->src_identity) : 0;
		if (err) {
			ct_denied(p, ct);
			return drop(p, err, MYELIN_DIR_INGRESS);
		}
		ct = ct_commit(p, ct);
		if (ct == CT_FAILED)
			return drop(p, MYELIN_DROP_CT_MAP_INSERTION_FAILED, MYELIN_DIR_INGRESS);
	}

	/* The CONNECTION entry: what from_container translates the replies back
	 * to (also one that existed before, a flow picked up mid-stream). */
	struct myelin_ct_key ckey;
	ct_fill_key(&ckey, p, false);
	ce = bpf_map_lookup_elem(&myelin_ct, &ckey);
	if (ce && (ce->rev_nat_index != svc->rev_nat_index || !(ce->flags & MYELIN_CT_F_NODE_PORT))) {
		ce->rev_nat_index = svc->rev_nat_index;
		ce->flags |= MYELIN_CT_F_NODE_PORT;
	}
	/* The SERVICE entry: the backend the connection stays on. */
	__u64 now = bpf_ktime_get_ns();
	se = bpf_map_lookup_elem(&myelin_ct, &skey);
	if (se) {
		se->last_seen_ns = now;
		se->state = p->ct_state;
		if (se->backend_id != backend_id)
			se->backend_id = backend_id;
	} else {
		struct myelin_ct_entry n;
		ct_entry_first(&n, p, now);
		n.src_ep = 0;  /* a client outside the node */
		n.backend_id = backend_id;
		n.rev_nat_index = svc->rev_nat_index;
		n.state = p->ct_state;
		n.flags = MYELIN_CT_F_NODE_PORT;
		if (bpf_map_update_elem(&myelin_ct, &skey, &n, BPF_ANY) != 0) {
			STATS_INC(ct_insert_failed);
			return drop(p, MYELIN_DROP_CT_MAP_INSERTION_FAILED, MYELIN_DIR_INGRESS);
		}
	}

	if (np_rewrite_v4(skb, p->l4_off, p->proto, false, front_addr, p->daddr, front_port, p->dport) < 0)
		return drop(p, MYELIN_DROP_ERROR_WRITING_TO_PACKET, MYELIN_DIR_INGRESS);
	np_trace(p, ct);
	if (remote || !dst)
		return NP_REMOTE;
	int verdict = deliver_local(skb, dst);
	if (verdict < 0)
		return drop(p, MYELIN_DROP_ERROR_WRITING_TO_PACKET, MYELIN_DIR_INGRESS);
	return forward(p, MYELIN_DIR_INGRESS, verdict);
}

/* A NodePort client's packet, DNATed to a backend on another node
 * (np_serve): its source becomes node_ip:port (snat_egress, the INGRESS
 * entry remembering the frontend), so the backend answers this node; then
 * to the backend's node: the VXLAN device (to_overlay keys it to that node,
 * VNI remote-node) or, native, the FIB's route to its pod CIDR. */
static __noinline int np_remote(struct __sk_buff *skb, struct pkt *p)
{
	const struct myelin_node_config *nc = snat_config();
	__u32 port_min, port_max, ifindex = 0;
	int err;

	if (!nc)
		return drop(p, MYELIN_DROP_NO_MATCHING_LOCAL_CONTAINER_FOUND, MYELIN_DIR_INGRESS);
	port_min = nc->snat_port_min;
	port_max = nc->snat_port_max;
	if (!port_max) {
		port_min = MYELIN_SNAT_PORT_MIN_DEFAULT;
		port_max = MYELIN_SNAT_PORT_MAX_DEFAULT;
	}
	__be32 node_ip = nc->node_ip;
	err = snat_egress(skb, p, node_ip, port_min, port_max);
	if (err != SNAT_TRANSLATED)
		return drop(p, err, MYELIN_DIR_INGRESS);
	p->obs_point = MYELIN_OBS_TO_NETWORK;
	if (overlay_enabled(&ifindex))
		return forward(p, MYELIN_DIR_INGRESS, bpf_redirect(ifindex, 0));
	p->saddr = node_ip; /* the FIB's view of the packet as it leaves */
	err = np_out(skb, p);
	if (err < -1)
		return drop(p, -2 - err, MYELIN_DIR_INGRESS);
	return forward(p, MYELIN_DIR_INGRESS, err);
}

/* The reply of a NodePort flow np_remote sent to another node, its
 * destination the client again (snat_ingress): its source becomes the
 * frontend (p->ct_rev_nat), and it leaves by the node's routes (np_out: the
 * stack would call a packet from a node address martian). */
static __noinline int np_reply(struct __sk_buff *skb, struct pkt *p)
{
	struct myelin_lb_revnat *rn;
	__u32 idx = p->ct_rev_nat;

	p->dir = MYELIN_DIR_EGRESS;
	p->obs_point = MYELIN_OBS_TO_NETWORK;
	rn = bpf_map_lookup_elem(&myelin_lb_revnat, &idx);
	if (!rn || rn->family != MYELIN_FAMILY_IPV4)
		return drop(p, MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND, MYELIN_DIR_EGRESS);
	if (np_rewrite_v4(skb, p->l4_off, p->proto, true, p->saddr, rn->addr.w[0], p->sport, rn->port) < 0)
		return drop(p, MYELIN_DROP_ERROR_WRITING_TO_PACKET, MYELIN_DIR_EGRESS);
	p->saddr = rn->addr.w[0];
	p->sport = rn->port;
	p->src_service = idx;
	int verdict = np_out(skb, p);
	if (verdict < -1)
		return drop(p, -2 - verdict, MYELIN_DIR_EGRESS);
	return verdict;
}

/*
 * Native mode: another node's packet for a pod of this node goes straight into
 * it, as to_container would let it in from the stack:
 *   routing not NATIVE, destination no pod of this node, source not another
 *   node's pod (ipcache), TTL 1                        -> the stack (untouched)
 *   TTL - 1; conntrack; a reply of a translated connection: source back to
 *   the frontend (rev-NAT)
 *   no entry carries it -> ingress policy of the pod (DROP POLICY_*), tracked
 *   -> into the pod (TO_ENDPOINT)
 * Its replies leave by from_container's native_forward (no VIA_STACK flag:
 * the stack translated nothing). A subprogram, like np_serve.
 */
static __noinline int netdev_deliver(struct __sk_buff *skb, struct pkt *p)
{
	struct myelin_ep_info *src, *dst;
	int err, ct;

	if (!native_enabled() || !native_remote_pod(ipcache_lookup_v4(p->saddr)))
		return TC_ACT_OK;
	ep_resolve(p, &src, &dst);
	if (!dst || src)
		return TC_ACT_OK;
	/* As ip_forward: first the TTL (expiring: the stack says so). */
	err = native_ttl_dec(skb);
	if (err < 0)
		return drop(p, MYELIN_DROP_ERROR_WRITING_TO_PACKET, MYELIN_DIR_INGRESS);
	if (err > 0)
		return TC_ACT_OK;
	p->obs_point = MYELIN_OBS_TO_ENDPOINT;
	ct = ct_process(p);
	if (ct == CT_UNRELATED)
		return drop(p, MYELIN_DROP_CT_CANNOT_CREATE_ENTRY_FROM_PACKET, MYELIN_DIR_INGRESS);
	p->dir = p->is_reply ? MYELIN_DIR_EGRESS : MYELIN_DIR_INGRESS;
	if (p->is_reply && p->ct_rev_nat) {
		err = ct == CT_RELATED ? lb_rev_nat_related(skb, p) : lb_rev_nat(skb, p);
		if (err)
			return drop(p, err, MYELIN_DIR_INGRESS);
	}
	if (ct == CT_NEW || ct == CT_UNTRACKED || ct == CT_REVALIDATE) {
		err = policy_check(p, dst, MYELIN_DIR_INGRESS, p->src_identity);
		if (err) {
			if (ct == CT_REVALIDATE || p->ct_reopen)
				ct_forget(p);
			return drop(p, err, MYELIN_DIR_INGRESS);
		}
		ct = ct_commit(p, ct);
		if (ct == CT_FAILED)
			return drop(p, MYELIN_DROP_CT_MAP_INSERTION_FAILED, MYELIN_DIR_INGRESS);
	}
	if (ct == CT_NEW)
		trace(p, MYELIN_TRACE_CT_NEW);
	else if (ct == CT_CHANGED)
		trace(p, MYELIN_TRACE_CT_STATE);
	else if (ct == CT_UNTRACKED || ct == CT_RELATED)
		trace(p, MYELIN_TRACE_UNTRACKED);
	int verdict = deliver_local(skb, dst);
	if (verdict < 0)
		return drop(p, MYELIN_DROP_ERROR_WRITING_TO_PACKET, MYELIN_DIR_INGRESS);
	return forward(p, MYELIN_DIR_INGRESS, verdict);
}

/*
 * from_netdev:
 *   not IPv4, malformed                         -> the stack (untouched)
 *   to node_ip, the reply of a masqueraded flow -> destination back to the
 *                                                  pod (snat.h), the stack
 *                                                  routes it to its veth
 *   not TCP/UDP, Services off                   -> the stack (untouched)
 *   destination is no frontend facing outside   -> the stack: NodePort within
 *                                                  the range, externalIP/LB IP
 *                                                  of this node (never another's)
 *   a fragment of one                           -> DROP IP_FRAGMENTATION_NOT_SUPPORTED
 *   SERVICE entry with a backend still there    -> that backend (established)
 *   else pick (affinity | Maglev by flow hash | random) from the EXTERNAL
 *   entry (eTP Local: this node's backends)     none -> DROP SERVICE_BACKEND_NOT_FOUND
 *   backend not an endpoint of this node: another node's pod (ipcache
 *   REMOTE) and masquerade on -> np_remote (below), else
 *                                                -> DROP NO_MATCHING_LOCAL_CONTAINER
 *   conntrack of client -> backend; a new or revalidated flow meets the
 *   backend's ingress policy on the backend's port (DROP POLICY_*), then
 *   the CONNECTION entry gets rev_nat_index + CT_F_NODE_PORT and the SERVICE
 *   entry the backend
 *   DNAT to the backend (client address kept) -> redirect into its pod
 *   remote backend: the same without policy (its node's), then SNAT to
 *   node_ip:port -> the tunnel, or the FIB's route to its node; the reply
 *   (to node_ip, F_NODE_PORT) -> client and frontend back -> out by the FIB
 *   not a frontend: native mode, for a pod of this node -> netdev_deliver
 */
SEC("tc")
int from_netdev(struct __sk_buff *skb)
{
	struct pkt p = {};
	int err;

	if (netdev_parse(skb, &p))
		return TC_ACT_OK; /* not ours to judge: the stack decides */
	const struct myelin_node_config *nc = snat_config();
	if (nc && p.daddr == nc->node_ip) {
		err = p.icmp_error ? snat_ingress_icmp_error(skb, &p) : snat_ingress(skb, &p);
		if (err == SNAT_TRANSLATED)
			return TC_ACT_OK; /* to the pod's veth: to_container tracks and checks it */
		if (err == SNAT_NODE_PORT)
			return np_reply(skb, &p);
		if (err) {
			p.dir = MYELIN_DIR_INGRESS;
			p.obs_point = MYELIN_OBS_FROM_NETWORK;
			return drop(&p, err, MYELIN_DIR_INGRESS);
		}
	}
	if ((p.proto == IPPROTO_TCP_ || p.proto == IPPROTO_UDP_) && lb_enabled()) {
		err = np_serve(skb, &p);
		if (err == NP_REMOTE)
			return np_remote(skb, &p);
		if (err != NP_PASS)
			return err;
	}
	return netdev_deliver(skb, &p);
}

/*
 * to_netdev:
 *   masquerade off (or no node_ip), not IPv4, malformed -> out untouched
 *   from node_ip (the node's own flow)     -> its port recorded (if in the range), out untouched
 *   not from a pod of this node, to the cluster (ipcache CLUSTER, a node
 *   address), to --native-routing-cidr, an ICMP error, or the reply of a
 *   connection opened to the pod from outside (conntrack)  -> out untouched
 *   TCP, UDP, ICMP echo                    -> source node_ip:port of the flow's
 *                                             translation (found, or a port
 *                                             claimed: a CT_NEW trace at
 *                                             TO_NETWORK); no port free ->
 *                                             DROP NO_MAPPING_FOR_NAT_MASQUERADE
 *   any other protocol                     -> DROP UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE
 * Forwarded packets are not counted again: from_container counted them.
 */
SEC("tc")
int to_netdev(struct __sk_buff *skb)
{
	const struct myelin_node_config *nc = snat_config();
	struct pkt p = {};
	struct myelin_ep_info *src;
	struct myelin_ct_key k;
	int err;

	if (!nc || netdev_parse(skb, &p))
		return TC_ACT_OK;
	__be32 node_ip = nc->node_ip;
	__u32 port_min = nc->snat_port_min, port_max = nc->snat_port_max;
	if (!port_max) {
		port_min = MYELIN_SNAT_PORT_MIN_DEFAULT;
		port_max = MYELIN_SNAT_PORT_MAX_DEFAULT;
	}
	if (p.saddr == node_ip) {
		snat_track_host(&p, port_min, port_max);
		return TC_ACT_OK;
	}
	src = ep_lookup_v4(p.saddr);
	if (!src || p.icmp_error || !snat_leaves_cluster(nc, p.daddr))
		return TC_ACT_OK;
	ct_fill_key(&k, &p, true);
	if (bpf_map_lookup_elem(&myelin_ct, &k))
		return TC_ACT_OK; /* a reply: the peer reached the pod's own address */

	p.dir = MYELIN_DIR_EGRESS;
	p.obs_point = MYELIN_OBS_TO_NETWORK;
	p.src_ep = src->ep_id;
	p.src_identity = src->identity;
	p.dst_identity = ipcache_identity_v4(p.daddr);
	err = snat_egress(skb, &p, node_ip, port_min, port_max);
	if (err != SNAT_TRANSLATED)
		return drop(&p, err, MYELIN_DIR_EGRESS);
	if (p.trace_reason == MYELIN_TRACE_REASON_NEW)
		trace(&p, MYELIN_TRACE_CT_NEW);
	return TC_ACT_OK;
}
