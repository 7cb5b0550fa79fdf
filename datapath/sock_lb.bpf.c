/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket-level Service load balancing: cgroup sock_addr hooks on the
 * agent's --cgroup-root. A process inside that cgroup that connects or
 * sends to a frontend (ClusterIP:port) gets its backend at that moment, so
 * its packets leave already addressed to the backend: no per-packet NAT.
 * The socket remembers the frontend (myelin_lb_sknat, keyed by the socket's
 * cookie and the backend), so getpeername() and recvmsg() show the Service
 * address, as they would through kube-proxy.
 *
 *   connect4 / sendmsg4:  frontend? -> no backend: ECONNREFUSED, refusal event
 *                         -> lb_select (affinity by netns cookie | random)
 *                         -> rewrite the destination, remember it, event
 *   recvmsg4 / getpeername4: (cookie, peer) remembered? -> the frontend
 *   iter/udp:             a connected UDP socket whose backend is gone
 *                         (or is another one now) -> bpf_sock_destroy
 *
 * The maps are the pod datapath's (lib/lb_maps.h, reused by fd by the
 * loader); only the event ring and its counters are this object's own.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "myelin/abi/lb.h"
#include "myelin/abi/net.h"
#include "lib/lb.h"
#include "lib/ringbuf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SYS_REJECT  0
#define SYS_PROCEED 1
#define MYELIN_ECONNREFUSED 111
#define MYELIN_AF_INET 2
#define MYELIN_IPPROTO_TCP 6
#define MYELIN_IPPROTO_UDP 17

/* Weak: on a kernel before 6.5 it does not exist, and the agent loads this
 * object without the one program that calls it (sock_destroy_udp). */
extern int bpf_sock_destroy(struct sock_common *sk) __ksym __weak;

/* Socket translations and refusals (abi/lb.h myelin_sock_xlate_event),
 * read by the agent's socket-LB component into the flow store. Not pinned:
 * a new agent reads its own object's ring. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1u << 18);
} myelin_sklb_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_proc_stats);
} myelin_sklb_stats SEC(".maps");

/* Sockets the last iterator run destroyed (the agent resets and reads it). */
__u64 destroyed = 0;

static __always_inline void sock_event(struct bpf_sock_addr *ctx, __u8 point, __u8 proto, __u16 rev_nat_index,
				       __be32 orig_addr, __be16 orig_port, __be32 xlate_addr, __be16 xlate_port,
				       __u8 drop_reason)
{
	struct myelin_sock_xlate_event *e =
		ringbuf__reserve(&myelin_sklb_events, sizeof(*e), &myelin_sklb_stats);

	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->type = MYELIN_EVENT_TRACE_SOCK;
	e->xlate_point = point;
	e->proto = proto;
	e->family = MYELIN_FAMILY_IPV4;
	e->rev_nat_index = rev_nat_index;
	e->drop_reason = drop_reason;
	e->cookie = bpf_get_socket_cookie(ctx);
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->netns_cookie = bpf_get_netns_cookie(ctx);
	e->orig_addr.w[0] = orig_addr;
	e->xlate_addr.w[0] = xlate_addr;
	e->orig_port = orig_port;
	e->xlate_port = xlate_port;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->netns_ino = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), nsproxy, net_ns, ns.inum);
	ringbuf__submit(e, &myelin_sklb_stats);
}

static __always_inline void sock_key(struct myelin_lb_sock_key *k, __u64 cookie, __be32 addr, __be16 port)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->cookie = cookie;
	k->addr.w[0] = addr;
	k->port = port;
	k->family = MYELIN_FAMILY_IPV4;
}

/* A TCP or UDP socket to a frontend: translated to a backend, refused when
 * the frontend has none. Anything else proceeds untouched. */
static __always_inline int sock4_forward(struct bpf_sock_addr *ctx, bool udp_only)
{
	struct myelin_lb_svc_key key;
	struct myelin_lb_svc_val *svc;
	struct myelin_lb_backend *be;
	struct myelin_lb_sock_key sk;
	struct myelin_lb_sock_val sv;
	__u8 proto = ctx->protocol;
	__be32 daddr = ctx->user_ip4;
	__be16 dport = (__be16)ctx->user_port;
	__u32 id;

	if (ctx->family != MYELIN_AF_INET)
		return SYS_PROCEED;
	if (proto != MYELIN_IPPROTO_UDP && (udp_only || proto != MYELIN_IPPROTO_TCP))
		return SYS_PROCEED;
	if (!lb_enabled())
		return SYS_PROCEED;
	svc = lb_lookup_service(&key, daddr, dport, proto, true);
	if (!svc)
		return SYS_PROCEED;
	id = lb_select(&key, svc, bpf_get_netns_cookie(ctx), true, false, 0);
	be = lb_backend(id);
	if (!be) {
		/* No backend (or a slot the agent has not written yet): refused
		 * at once, as kube-proxy's REJECT does, never a timeout; the
		 * event says why (a SERVICE_BACKEND_NOT_FOUND drop flow, as the
		 * per-packet path's). Nothing was translated: before = after. */
		sock_event(ctx, MYELIN_SOCK_XLATE_POINT_PRE_DIRECTION_FWD, proto, svc->rev_nat_index, daddr, dport, daddr,
			   dport, MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND);
		bpf_set_retval(-MYELIN_ECONNREFUSED);
		return SYS_REJECT;
	}
	sock_key(&sk, bpf_get_socket_cookie(ctx), be->addr.w[0], be->port);
	__builtin_memset(&sv, 0, sizeof(sv));
	sv.addr.w[0] = daddr;
	sv.port = dport;
	sv.rev_nat_index = svc->rev_nat_index;
	sv.backend_id = id;
	/* Full: LRU evicts the oldest socket's entry (lb_maps.h). */
	bpf_map_update_elem(&myelin_lb_sknat, &sk, &sv, BPF_ANY);
	ctx->user_ip4 = be->addr.w[0];
	ctx->user_port = (__u32)be->port;
	sock_event(ctx, MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_FWD, proto, svc->rev_nat_index, daddr, dport,
		   be->addr.w[0], be->port, 0);
	return SYS_PROCEED;
}

/* The peer as the process should see it: the frontend it asked for. */
static __always_inline int sock4_reverse(struct bpf_sock_addr *ctx, bool event)
{
	struct myelin_lb_sock_key sk;
	struct myelin_lb_sock_val *sv;
	__be32 addr = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;

	if (ctx->family != MYELIN_AF_INET)
		return SYS_PROCEED;
	sock_key(&sk, bpf_get_socket_cookie(ctx), addr, port);
	sv = bpf_map_lookup_elem(&myelin_lb_sknat, &sk);
	if (!sv)
		return SYS_PROCEED;
	ctx->user_ip4 = sv->addr.w[0];
	ctx->user_port = (__u32)sv->port;
	if (event)
		sock_event(ctx, MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_REV, ctx->protocol, sv->rev_nat_index, addr,
			   port, sv->addr.w[0], sv->port, 0);
	return SYS_PROCEED;
}

SEC("cgroup/connect4")
int sock4_connect(struct bpf_sock_addr *ctx)
{
	return sock4_forward(ctx, false);
}

/* Unconnected UDP: each datagram to a frontend picks (affinity keeps it). */
SEC("cgroup/sendmsg4")
int sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock4_forward(ctx, true);
}

SEC("cgroup/recvmsg4")
int sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	return sock4_reverse(ctx, true);
}

SEC("cgroup/getpeername4")
int sock4_getpeername(struct bpf_sock_addr *ctx)
{
	return sock4_reverse(ctx, false);
}

/* Frontends scanned this far for a backend; past it a socket is kept (never
 * destroyed on a guess). */
#define SOCK_DESTROY_MAX_SLOTS 1024

/* The backend (which exists) is still one of the socket's frontend's: it is
 * in its slots, or it takes no new connections at all (terminating: its
 * established ones continue). A backend another Service still holds, but
 * this frontend dropped, no longer serves it. */
static __always_inline bool backend_still_serves(const struct myelin_lb_sock_val *v, const struct myelin_lb_backend *be)
{
	struct myelin_lb_svc_key key;
	struct myelin_lb_svc_val *svc;
	__u32 i;

	if (!(be->flags & MYELIN_LB_BE_F_ACTIVE))
		return true;
	svc = lb_lookup_service(&key, v->addr.w[0], v->port, MYELIN_IPPROTO_UDP, true);
	if (!svc)
		return false; /* the frontend itself is gone */
	if (svc->count > SOCK_DESTROY_MAX_SLOTS)
		return true;
	for (i = 1; i <= SOCK_DESTROY_MAX_SLOTS; i++) {
		if (i > svc->count)
			break;
		if (lb_slot_backend(&key, (__u16)i) == v->backend_id)
			return true;
	}
	return false;
}

/* Connected UDP sockets stay pinned to their backend (the kernel caches the
 * route and the address): when the backend is gone, its id now names
 * another address, or the socket's frontend no longer lists it (another
 * Service still does), the socket is destroyed (its owner gets ECONNABORTED and
 * connects again, to a live backend). Run by the agent, in each network
 * namespace of the processes under the cgroup root, after the Services
 * writer removed backends. Only sockets this program translated are looked
 * at (they have an entry under their cookie). */
SEC("iter/udp")
int sock_destroy_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;
	struct sock_common *skc;
	struct myelin_lb_sock_key k;
	struct myelin_lb_sock_val *v;
	struct myelin_lb_backend *be;
	__be32 daddr;
	__be16 dport;

	if (!udp)
		return 0;
	skc = &udp->inet.sk.__sk_common;
	if (skc->skc_family != MYELIN_AF_INET)
		return 0;
	daddr = skc->skc_daddr;
	dport = skc->skc_dport;
	if (!daddr || !dport)
		return 0; /* not connected: each sendmsg picks again */
	sock_key(&k, bpf_get_socket_cookie(&udp->inet.sk), daddr, dport);
	v = bpf_map_lookup_elem(&myelin_lb_sknat, &k);
	if (!v)
		return 0;
	be = lb_backend(v->backend_id);
	if (be && be->addr.w[0] == daddr && be->port == dport && backend_still_serves(v, be))
		return 0;
	if (bpf_sock_destroy(skc) == 0)
		__sync_fetch_and_add(&destroyed, 1);
	bpf_map_delete_elem(&myelin_lb_sknat, &k);
	return 0;
}
