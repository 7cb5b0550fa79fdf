/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* An inet socket's tuple, read with CO-RE (the TCP sensor and `sock` args). */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "myelin/abi/common.h"

#define MYELIN_AF_INET  2
#define MYELIN_AF_INET6 10

/* Fills t from sk; false (t zeroed) when sk is not an inet socket. */
static __always_inline bool sock_tuple(struct sock *sk, struct myelin_sock_tuple *t)
{
	__builtin_memset(t, 0, sizeof(*t));
	if (!sk)
		return false;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != MYELIN_AF_INET && family != MYELIN_AF_INET6)
		return false;
	t->family = family;
	t->protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	t->type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
	t->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	t->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == MYELIN_AF_INET) {
		bpf_core_read(t->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(t->daddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(t->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(t->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	return true;
}
