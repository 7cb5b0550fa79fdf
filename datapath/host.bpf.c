/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The node's devices (--devices): from_netdev (tc ingress) serves NodePort,
 * externalIP and LoadBalancer frontends to clients outside the cluster and
 * hands everything else to the node's stack untouched. It shares every map
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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

/*
 * from_netdev:
 *   not IPv4 TCP/UDP, malformed, Services off   -> the stack (untouched)
 *   destination is no frontend facing outside   -> the stack: NodePort within
 *                                                  the range, externalIP/LB IP
 *                                                  of this node (never another's)
 *   a fragment of one                           -> DROP IP_FRAGMENTATION_NOT_SUPPORTED
 *   SERVICE entry with a backend still there    -> that backend (established)
 *   else pick (affinity | Maglev by flow hash | random) from the EXTERNAL
 *   entry (eTP Local: this node's backends)     none -> DROP SERVICE_BACKEND_NOT_FOUND
 *   backend not an endpoint of this node        -> DROP NO_MATCHING_LOCAL_CONTAINER
 *                                                  (no SNAT to other nodes yet)
 *   conntrack of client -> backend; a new or revalidated flow meets the
 *   backend's ingress policy on the backend's port (DROP POLICY_*), then
 *   the CONNECTION entry gets rev_nat_index + CT_F_NODE_PORT and the SERVICE
 *   entry the backend
 *   DNAT to the backend (client address kept) -> redirect into its pod
 */
SEC("tc")
int from_netdev(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct myelin_lb_svc_key key;
	struct myelin_lb_svc_val *svc;
	struct myelin_lb_backend *be;
	struct myelin_ep_info *src, *dst;
	struct myelin_ct_key skey;
	struct myelin_ct_entry *se, *ce;
	__u32 backend_id = 0;
	int err, ct;

	if (parse_eth(skb, &p) || p.eth_proto != ETH_P_IP_)
		return TC_ACT_OK;
	if (parse_ipv4(skb, &p))
		return TC_ACT_OK; /* not ours to judge: the stack decides */
	if ((p.proto != IPPROTO_TCP_ && p.proto != IPPROTO_UDP_) || !lb_enabled())
		return TC_ACT_OK;
	svc = np_frontend(skb, &key, &p);
	if (!svc)
		return TC_ACT_OK;
	p.dir = MYELIN_DIR_INGRESS;
	p.obs_point = MYELIN_OBS_TO_ENDPOINT;
	p.src_identity = ipcache_identity_v4(p.saddr);
	{
		struct ipv4_hdr ip;
		if (bpf_skb_load_bytes(skb, ETH_HLEN_, &ip, sizeof(ip)) < 0)
			return drop(&p, MYELIN_DROP_INVALID_PACKET_DROPPED, MYELIN_DIR_INGRESS);
		if (bpf_ntohs(ip.frag_off) & (IP_MF_ | IP_OFFSET_))
			return drop(&p, MYELIN_DROP_IP_FRAGMENTATION_NOT_SUPPORTED, MYELIN_DIR_INGRESS);
	}

	__be32 front_addr = p.daddr;
	__be16 front_port = p.dport;
	np_service_key(&skey, &p);
	se = bpf_map_lookup_elem(&myelin_ct, &skey);
	be = se ? lb_backend(se->backend_id) : 0;
	if (be) {
		backend_id = se->backend_id;
	} else {
		/* New, or its backend was removed: pick (again). */
		backend_id = lb_select(&key, svc, p.saddr, false, true,
				       lb_flow_hash(p.saddr, p.daddr, p.sport, p.dport, p.proto));
		be = lb_backend(backend_id);
		if (!be)
			return drop(&p, MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND, MYELIN_DIR_INGRESS);
	}

	p.daddr = be->addr.w[0];
	p.dport = be->port;
	ep_resolve(&p, &src, &dst);
	if (!dst)
		return drop(&p, MYELIN_DROP_NO_MATCHING_LOCAL_CONTAINER_FOUND, MYELIN_DIR_INGRESS);

	ct = ct_process(&p);
	if (ct == CT_UNRELATED)
		return drop(&p, MYELIN_DROP_CT_CANNOT_CREATE_ENTRY_FROM_PACKET, MYELIN_DIR_INGRESS);
	p.dst_service = svc->rev_nat_index;
	/* What ct_commit records in a new CONNECTION entry. */
	p.ct_new_rev_nat = svc->rev_nat_index;
	p.ct_new_flags = MYELIN_CT_F_NODE_PORT;
	if (ct == CT_NEW || ct == CT_UNTRACKED || ct == CT_REVALIDATE) {
		err = policy_check(&p, dst, MYELIN_DIR_INGRESS, p.src_identity);
		if (err) {
			if (ct == CT_REVALIDATE || p.ct_reopen)
				ct_forget(&p);
			return drop(&p, err, MYELIN_DIR_INGRESS);
		}
		ct = ct_commit(&p, ct);
		if (ct == CT_FAILED)
			return drop(&p, MYELIN_DROP_CT_MAP_INSERTION_FAILED, MYELIN_DIR_INGRESS);
	}

	/* The CONNECTION entry: what from_container translates the replies back
	 * to (also one that existed before, a flow picked up mid-stream). */
	struct myelin_ct_key ckey;
	ct_fill_key(&ckey, &p, false);
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
		se->state = p.ct_state;
		if (se->backend_id != backend_id)
			se->backend_id = backend_id;
	} else {
		struct myelin_ct_entry n;
		ct_entry_first(&n, &p, now);
		n.src_ep = 0;  /* a client outside the node */
		n.backend_id = backend_id;
		n.rev_nat_index = svc->rev_nat_index;
		n.state = p.ct_state;
		n.flags = MYELIN_CT_F_NODE_PORT;
		if (bpf_map_update_elem(&myelin_ct, &skey, &n, BPF_ANY) != 0) {
			STATS_INC(ct_insert_failed);
			return drop(&p, MYELIN_DROP_CT_MAP_INSERTION_FAILED, MYELIN_DIR_INGRESS);
		}
	}

	if (np_rewrite_v4(skb, p.l4_off, p.proto, false, front_addr, p.daddr, front_port, p.dport) < 0)
		return drop(&p, MYELIN_DROP_ERROR_WRITING_TO_PACKET, MYELIN_DIR_INGRESS);
	np_trace(&p, ct);
	int verdict = deliver_local(skb, dst);
	if (verdict < 0)
		return drop(&p, MYELIN_DROP_ERROR_WRITING_TO_PACKET, MYELIN_DIR_INGRESS);
	return forward(&p, MYELIN_DIR_INGRESS, verdict);
}
