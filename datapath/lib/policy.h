/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Identity-based policy on a connection's first packet (replies and later
 * packets ride on conntrack). Deny wins over allow; an enforced direction
 * with no matching allow is a default-deny drop; audit reports and passes. */
#pragma once

enum policy_match {
	POLICY_NO_MATCH = 0,
	POLICY_ALLOW = 1,
	POLICY_DENY = 2,
};

/* One map, the four (identity | any) x (protocol | any) keys. */
static __always_inline struct myelin_policy_val *policy_find(void *map, __u32 ep_id, __u8 dir, __u8 proto,
							      __u32 identity, __be16 dport)
{
	struct myelin_policy_key k = {};
	struct myelin_policy_val *v;

	k.prefixlen = MYELIN_POLICY_PREFIX_FULL;
	k.ep_id = ep_id;
	k.dir = dir;
	k.dport = dport;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		k.identity = (i & 1) ? MYELIN_IDENTITY_ANY : identity;
		k.proto = (i & 2) ? 0 : proto;
		v = bpf_map_lookup_elem(map, &k);
		if (v)
			return v;
	}
	return 0;
}

/* NetworkPolicy ipBlock by address: the (proto | any) allow entries of the
 * remote address's CIDR identity, tagged MYELIN_IDENTITY_IPBLOCK. The
 * any-identity entries were already looked up with the remote's identity. */
static __always_inline struct myelin_policy_val *policy_find_ipblock(__u32 ep_id, __u8 dir, __u8 proto,
								      __u32 identity, __be32 addr, __be16 dport)
{
	struct myelin_policy_key k = {};
	struct myelin_policy_val *v;
	__u32 cidr = ipblock_identity_v4(addr);

	if (!cidr || cidr == identity)
		return 0;
	k.prefixlen = MYELIN_POLICY_PREFIX_FULL;
	k.ep_id = ep_id;
	k.dir = dir;
	k.dport = dport;
	k.identity = cidr | MYELIN_IDENTITY_IPBLOCK;
	k.proto = proto;
	v = bpf_map_lookup_elem(&myelin_pol_allow, &k);
	if (v)
		return v;
	k.proto = 0;
	return bpf_map_lookup_elem(&myelin_pol_allow, &k);
}

/* Deny rules match the remote's identity only (they keep Cilium's semantics:
 * CIDR rules never select cluster endpoints); allow rules match it, then the
 * ipBlock entries of the remote's address. */
static __always_inline int policy_match(__u32 ep_id, __u8 dir, __u8 proto, __u32 identity, __be32 addr,
					 __be16 dport, __u32 *policy_id, __u32 *flags)
{
	struct myelin_policy_val *v = policy_find(&myelin_pol_deny, ep_id, dir, proto, identity, dport);

	if (v) {
		*policy_id = v->policy_id;
		*flags = v->flags;
		return POLICY_DENY;
	}
	v = policy_find(&myelin_pol_allow, ep_id, dir, proto, identity, dport);
	if (!v)
		v = policy_find_ipblock(ep_id, dir, proto, identity, addr, dport);
	if (v) {
		*policy_id = v->policy_id;
		*flags = v->flags;
		return POLICY_ALLOW;
	}
	return POLICY_NO_MATCH;
}

/* Returns 0 to let the connection through, or the drop reason. `ep` is the
 * local endpoint the direction is seen from, `remote` the peer's identity
 * (the peer's address is the source for ingress, the destination for egress). */
static __always_inline int policy_check(struct pkt *p, const struct myelin_ep_info *ep, __u8 dir, __u32 remote)
{
	__u32 enforced = dir == MYELIN_DIR_INGRESS ? MYELIN_EP_F_INGRESS_ENFORCED : MYELIN_EP_F_EGRESS_ENFORCED;
	__u32 id = 0, flags = 0;
	int reason;

	if (ep->flags & MYELIN_EP_F_POLICY_FAILED)
		return MYELIN_DROP_NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION; /* fail closed, even in audit mode */
	__u32 *decided = dir == MYELIN_DIR_INGRESS ? &p->ingress_policy_id : &p->egress_policy_id;

	__be32 remote_addr = dir == MYELIN_DIR_INGRESS ? p->saddr : p->daddr;

	switch (policy_match(ep->ep_id, dir, p->proto, remote, remote_addr, p->dport, &id, &flags)) {
	case POLICY_ALLOW:
		*decided = id;
		return 0;
	case POLICY_DENY:
		reason = MYELIN_DROP_POLICY_DENY;
		break;
	default:
		if (!(ep->flags & enforced))
			return 0;
		reason = MYELIN_DROP_POLICY_DENIED;
	}
	*decided = id;
	if ((ep->flags & MYELIN_EP_F_AUDIT) || (flags & MYELIN_POLICY_F_AUDIT)) {
		__u8 saved = p->dir;
		p->dir = dir;
		emit_event(p, MYELIN_EVENT_POLICY_VERDICT, reason, MYELIN_VERDICT_AUDIT, reason);
		p->dir = saved;
		return 0;
	}
	return reason;
}

/* A denied first packet must not leave a connection behind. */
static __always_inline void ct_forget(const struct pkt *p)
{
	struct myelin_ct_key key;

	ct_fill_key(&key, p, false);
	bpf_map_delete_elem(&myelin_ct, &key);
}

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
