/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The Services maps (abi/lb.h), pinned by name beside the pod datapath's, so
 * lxc.bpf.c, host.bpf.c and sock_lb.bpf.c share one copy and they outlive
 * the agent: Services keep answering while it is down or restarting.
 *
 * Written only by the agent (except affinity and the socket reverse-NAT,
 * which the datapath fills); none of them can make a packet reach a backend
 * its frontend does not list. */
#pragma once

#include "myelin/abi/lb.h"

/* Full: the agent's insert fails; the frontend is reported (service list,
 * myelin_lb_map_errors_total) and not installed, or keeps its last complete
 * version: a frontend is never installed with some of its slots missing. A
 * slot the datapath does not find drops SERVICE_BACKEND_NOT_FOUND. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MYELIN_LB_SVC_MAX);
	__type(key, struct myelin_lb_svc_key);
	__type(value, struct myelin_lb_svc_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_lb_svc SEC(".maps");

/* Full: as above, the frontends that need the backend are not installed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MYELIN_LB_BACKENDS_MAX);
	__type(key, __u32);
	__type(value, struct myelin_lb_backend);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_lb_be SEC(".maps");

/* Full: as above. A reply whose rev_nat_index has no entry is dropped
 * SERVICE_BACKEND_NOT_FOUND, never passed untranslated. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MYELIN_LB_REVNAT_MAX);
	__type(key, __u32);
	__type(value, struct myelin_lb_revnat);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_lb_revnat SEC(".maps");

/* Full: LRU, the least recently used client loses its affinity and picks
 * again, as if it had timed out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MYELIN_LB_AFFINITY_MAX);
	__type(key, struct myelin_lb_affinity_key);
	__type(value, struct myelin_lb_affinity_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_lb_aff SEC(".maps");

/* Full: LRU, the oldest socket's reverse translation is evicted: its replies
 * show the backend's address instead of the frontend's (counted). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MYELIN_LB_SOCK_REVNAT_MAX);
	__type(key, struct myelin_lb_sock_key);
	__type(value, struct myelin_lb_sock_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_lb_sknat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct myelin_lb_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_lb_cfg SEC(".maps");

/* One frontend's Maglev table: config.maglev_m backend ids. Inner maps of
 * other sizes are accepted (BPF_F_INNER_MAP). */
struct myelin_lb_maglev_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(map_flags, BPF_F_INNER_MAP);
};

/* Full: the frontend falls back to random selection (counted). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, MYELIN_LB_MAGLEV_MAX);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct myelin_lb_maglev_inner);
} myelin_lb_maglev SEC(".maps");
