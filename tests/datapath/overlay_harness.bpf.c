// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test only: datapath/overlay.bpf.c's programs as they are, plus two entries
 * that first give the packet the tunnel metadata a VXLAN device would
 * (BPF_PROG_TEST_RUN cannot): the sending node `tun_remote` (network order)
 * and the VNI `tun_vni`, set by the test before each run.
 *   keyed_from_overlay: metadata -> from_overlay's body
 *   keyed_to_overlay:   metadata -> to_overlay's body (a pod's packet that
 *                       from_container encapsulated already)
 */
#include "overlay.bpf.c"

__u32 tun_remote;
__u32 tun_vni;

static __always_inline int set_key(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};

	/* A received packet's metadata names the sender as its source, which
	 * bpf_skb_get_tunnel_key reads back as remote_ipv4: set it as both. */
	key.remote_ipv4 = bpf_ntohl(tun_remote);
	key.local_ipv4 = bpf_ntohl(tun_remote);
	key.tunnel_id = tun_vni;
	return bpf_skb_set_tunnel_key(skb, &key, sizeof(key), 0);
}

SEC("tc")
int keyed_from_overlay(struct __sk_buff *skb)
{
	if (set_key(skb) < 0)
		return 99;
	return from_overlay_run(skb);
}

SEC("tc")
int keyed_to_overlay(struct __sk_buff *skb)
{
	if (set_key(skb) < 0)
		return 99;
	return to_overlay_run(skb);
}
