/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing. Reads go through bpf_skb_load_bytes, so a header split
 * across fragments of a non-linear skb parses the same as a linear one, and
 * every read is bounds-checked by the helper. Each function returns 0 or the
 * drop reason that the caller passes to drop(). */
#pragma once

struct ipv4_hdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

/* The ICMP errors: Linux conntrack's set (icmp_is_err). Each quotes the IP
 * header and first 8 bytes of the datagram it is about (RFC 792). */
static __always_inline bool icmp_is_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH_ || type == ICMP_SOURCE_QUENCH_ || type == ICMP_REDIRECT_ ||
	       type == ICMP_TIME_EXCEEDED_ || type == ICMP_PARAMETERPROB_;
}

/* Queries (echo, timestamp, information, address mask) and their replies
 * carry an identifier where echo does. */
static __always_inline bool icmp_has_id(__u8 type)
{
	return type == ICMP_ECHOREPLY_ || type == ICMP_ECHO_ ||
	       (type >= ICMP_TIMESTAMP_ && type <= ICMP_ADDRESSREPLY_);
}

static __always_inline int parse_eth(struct __sk_buff *skb, struct pkt *p)
{
	struct {
		__u8 dst[6];
		__u8 src[6];
		__be16 proto;
	} eth;

	p->len = skb->len;
	p->ifindex = skb->ifindex;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return MYELIN_DROP_INVALID_PACKET_DROPPED;
	__builtin_memcpy(p->eth_dst, eth.dst, 6);
	__builtin_memcpy(p->eth_src, eth.src, 6);
	p->eth_proto = bpf_ntohs(eth.proto);
	return 0;
}

/* First fragment: remember its ports for the fragments after it. A later
 * fragment takes them from there; one whose first fragment was never seen
 * cannot be attributed to a connection. */
static __always_inline int frag_ports(struct pkt *p, const struct ipv4_hdr *ip, bool first)
{
	struct myelin_frag_key key = {};

	key.saddr.w[0] = ip->saddr;
	key.daddr.w[0] = ip->daddr;
	key.id = bpf_ntohs(ip->id);
	key.proto = ip->protocol;
	key.family = MYELIN_FAMILY_IPV4;
	if (first) {
		struct myelin_frag_ports ports = {.sport = p->sport, .dport = p->dport};
		if (p->proto == IPPROTO_ICMP_) {
			/* ICMP: the id and the type/code, which say what flow it is. */
			__u8 type_code[2] = {p->icmp_type, p->icmp_code};
			__builtin_memcpy(&ports.dport, type_code, 2);
		}
		bpf_map_update_elem(&myelin_frag, &key, &ports, BPF_ANY);
		STATS_INC(frag_tracked);
		return 0;
	}
	struct myelin_frag_ports *ports = bpf_map_lookup_elem(&myelin_frag, &key);
	if (!ports)
		return MYELIN_DROP_FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND;
	p->sport = ports->sport;
	if (p->proto == IPPROTO_ICMP_) {
		__u8 type_code[2];
		__builtin_memcpy(type_code, &ports->dport, 2);
		p->icmp_type = type_code[0];
		p->icmp_code = type_code[1];
	} else {
		p->dport = ports->dport;
	}
	return 0;
}

/* The datagram an ICMP error quotes: its IPv4 header (options skipped) and
 * the first 8 bytes after it, all within the error's own total length. */
static __always_inline int parse_icmp_quote(struct __sk_buff *skb, struct pkt *p, __u32 off, __u32 l4_end)
{
	struct ipv4_hdr ip;
	__u8 l4[8];

	if (off + sizeof(ip) > l4_end || bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0)
		return MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER;
	__u32 ihl = ip.ver_ihl & 0x0f;
	if ((ip.ver_ihl >> 4) != 4 || ihl < 5)
		return MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER;
	off += ihl * 4;
	if (off + sizeof(l4) > l4_end || bpf_skb_load_bytes(skb, off, l4, sizeof(l4)) < 0)
		return MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER;

	p->inner.saddr = ip.saddr;
	p->inner.daddr = ip.daddr;
	p->inner.proto = ip.protocol;
	/* A later fragment has no ports to find its connection by. */
	if (bpf_ntohs(ip.frag_off) & IP_OFFSET_) {
		p->inner.untrackable = 1;
		return 0;
	}
	if (ip.protocol == IPPROTO_TCP_ || ip.protocol == IPPROTO_UDP_ || ip.protocol == IPPROTO_SCTP_) {
		__builtin_memcpy(&p->inner.sport, &l4[0], 2);
		__builtin_memcpy(&p->inner.dport, &l4[2], 2);
	} else if (ip.protocol == IPPROTO_ICMP_) {
		p->inner.icmp_type = l4[0];
		if (icmp_is_error(l4[0]))
			p->inner.untrackable = 1; /* errors are never sent about errors */
		else if (icmp_has_id(l4[0]))
			__builtin_memcpy(&p->inner.sport, &l4[4], 2);
	}
	return 0;
}

/* The TCP header as on the wire (lb_nat.h writes its RSTs with it too). */
struct tcp_hdr_ {
	__be16 sport;
	__be16 dport;
	__be32 seq;
	__be32 ack;
	__u8 doff_res;
	__u8 flags;
	__be16 window;
	__sum16 check;
	__be16 urg;
};

static __always_inline int parse_l4(struct __sk_buff *skb, struct pkt *p, __u32 l4_end)
{
	__u32 off = p->l4_off;

	if (p->proto == IPPROTO_TCP_) {
		struct tcp_hdr_ tcp;
		if (off + sizeof(tcp) > l4_end || bpf_skb_load_bytes(skb, off, &tcp, sizeof(tcp)) < 0)
			return MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER;
		if ((tcp.doff_res >> 4) < 5)
			return MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER;
		p->sport = tcp.sport;
		p->dport = tcp.dport;
		p->tcp_flags = tcp.flags;
	} else if (p->proto == IPPROTO_UDP_) {
		struct {
			__be16 sport;
			__be16 dport;
			__be16 len;
			__sum16 check;
		} udp;
		if (off + sizeof(udp) > l4_end || bpf_skb_load_bytes(skb, off, &udp, sizeof(udp)) < 0)
			return MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER;
		p->sport = udp.sport;
		p->dport = udp.dport;
	} else if (p->proto == IPPROTO_SCTP_) {
		/* The SCTP common header: policy matches its ports like UDP's;
		 * conntrack treats an association like a UDP flow. */
		struct {
			__be16 sport;
			__be16 dport;
			__be32 vtag;
			__le32 check;
		} sctp;
		if (off + sizeof(sctp) > l4_end || bpf_skb_load_bytes(skb, off, &sctp, sizeof(sctp)) < 0)
			return MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER;
		p->sport = sctp.sport;
		p->dport = sctp.dport;
	} else if (p->proto == IPPROTO_ICMP_) {
		struct {
			__u8 type;
			__u8 code;
			__sum16 check;
			__be16 id;
			__be16 seq;
		} icmp;
		if (off + sizeof(icmp) > l4_end || bpf_skb_load_bytes(skb, off, &icmp, sizeof(icmp)) < 0)
			return MYELIN_DROP_CT_TRUNCATED_OR_INVALID_HEADER;
		p->icmp_type = icmp.type;
		p->icmp_code = icmp.code;
		if (icmp_has_id(icmp.type))
			p->sport = icmp.id;
		if (icmp_is_error(icmp.type)) {
			p->icmp_error = 1;
			return parse_icmp_quote(skb, p, off + sizeof(icmp), l4_end);
		}
	}
	/* Other protocols are tracked by addresses only (ports 0). */
	return 0;
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct pkt *p)
{
	struct ipv4_hdr ip;

	if (bpf_skb_load_bytes(skb, ETH_HLEN_, &ip, sizeof(ip)) < 0)
		return MYELIN_DROP_INVALID_PACKET_DROPPED;
	__u32 ihl = ip.ver_ihl & 0x0f;
	if ((ip.ver_ihl >> 4) != 4 || ihl < 5)
		return MYELIN_DROP_INVALID_PACKET_DROPPED;
	__u32 hlen = ihl * 4;
	__u32 tot = bpf_ntohs(ip.tot_len);
	if (tot < hlen || ETH_HLEN_ + tot > p->len)
		return MYELIN_DROP_INVALID_PACKET_DROPPED;

	p->family = MYELIN_FAMILY_IPV4;
	p->saddr = ip.saddr;
	p->daddr = ip.daddr;
	p->proto = ip.protocol;
	p->l4_off = ETH_HLEN_ + hlen; /* IP options are skipped, not refused */

	__u16 frag = bpf_ntohs(ip.frag_off);
	if (frag & IP_OFFSET_)
		return frag_ports(p, &ip, false);
	int err = parse_l4(skb, p, ETH_HLEN_ + tot);
	if (err)
		return err;
	if (frag & IP_MF_) {
		/* An error is at most 576 bytes (RFC 1812 4.3.2.3): a fragmented
		 * one is not an error a host sent. */
		if (p->icmp_error)
			return MYELIN_DROP_IP_FRAGMENTATION_NOT_SUPPORTED;
		return frag_ports(p, &ip, true);
	}
	return 0;
}
