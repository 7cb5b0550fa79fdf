/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The masquerade's translations (abi/nat.h), pinned by name. Declared in
 * the pod datapath's object too, so the agent creates and pins it with the
 * others and host.bpf.c reuses its fd (host_datapath.cpp). */
#pragma once

#include "myelin/abi/nat.h"

/* Full: LRU, the least recently used translation is evicted. A flow whose
 * EGRESS entry went is given a port again on its next packet (a new one
 * when its old port was taken meanwhile: the peer sees a new flow); one
 * whose INGRESS entry went gets it back on its next packet out (snat.h).
 * Entries of flows conntrack no longer has are removed by the agent
 * (Datapath::ct_gc). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MYELIN_SNAT_MAX);
	__type(key, struct myelin_snat_key);
	__type(value, struct myelin_snat_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} myelin_snat SEC(".maps");
