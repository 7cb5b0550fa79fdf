/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What every datapath header needs: the parsed view of one packet (struct
 * pkt), filled once by parse.h and read by conntrack, delivery and events. */
#pragma once

#ifndef TC_ACT_OK
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7
#endif
#define ETH_HLEN_ 14
#define ETH_P_IP_ 0x0800
#define ETH_P_ARP_ 0x0806
#define ETH_P_IPV6_ 0x86DD
#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_SCTP_ 132
#define IP_MF_ 0x2000
#define IP_OFFSET_ 0x1fff
#define ICMP_ECHOREPLY_ 0
#define ICMP_DEST_UNREACH_ 3
#define ICMP_SOURCE_QUENCH_ 4
#define ICMP_REDIRECT_ 5
#define ICMP_ECHO_ 8
#define ICMP_TIME_EXCEEDED_ 11
#define ICMP_PARAMETERPROB_ 12
#define ICMP_TIMESTAMP_ 13
#define ICMP_TIMESTAMPREPLY_ 14
#define ICMP_INFO_REQUEST_ 15
#define ICMP_INFO_REPLY_ 16
#define ICMP_ADDRESS_ 17
#define ICMP_ADDRESSREPLY_ 18

/* Load-time settings (set by the agent between open and load). */
const volatile __u8 cfg_redirect_peer = 1;

struct pkt {
	__u32 len;              /* skb->len */
	__u32 ifindex;
	__u16 eth_proto;        /* host order */
	__u8 eth_src[6];
	__u8 eth_dst[6];
	__u32 l4_off;
	__be32 saddr;
	__be32 daddr;
	__be16 sport;           /* ICMP queries and their replies: the id */
	__be16 dport;           /* ICMP: 0 (policy matches ICMP by protocol) */
	__u8 proto;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 icmp_error;        /* an ICMP error: `inner` is the datagram it quotes */
	__u8 ct_reopen;         /* a SYN on a known tuple: its entry is replaced once policy allows */
	/* The quoted datagram of an ICMP error: the connection it is about. */
	struct {
		__be32 saddr;
		__be32 daddr;
		__be16 sport;
		__be16 dport;
		__u8 proto;
		__u8 icmp_type;
		__u8 untrackable;   /* a later fragment or an error itself: relates to nothing */
	} inner;
	/* Filled along the way, reported in events. */
	__u8 dir;               /* traffic_direction of the connection (Hubble semantics) */
	__u8 is_reply;
	__u8 ct_state;
	__u8 trace_reason;
	__u8 obs_point;
	__u8 family;
	__u32 src_ep, dst_ep, src_identity, dst_identity;
	__u32 egress_policy_id; /* the rules that decided, for events */
	__u32 ingress_policy_id;
	__u32 policy_rev;       /* sum of the endpoints' policy_rev (see conntrack) */
	/* Services (lb_nat.h): the conntrack entry found, and what ct_commit
	 * records in a new one. */
	__u16 ct_rev_nat;       /* the entry's rev_nat_index: a reply is translated back */
	__u16 ct_new_rev_nat;
	__u8 ct_flags;          /* the entry's MYELIN_CT_F_* */
	__u8 ct_new_flags;
	__u16 dst_service;      /* the frontend translated to (flow event), 0 = none */
	__u16 src_service;      /* the frontend a reply was translated back to */
	__be32 tunnel_peer;     /* VXLAN: the node sent to / received from, 0 = none */
};
