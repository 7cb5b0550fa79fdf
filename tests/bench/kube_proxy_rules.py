#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kube-proxy-shaped rules for N Services of B backends, the baselines of
tests/bench/service_bench.sh, in the shapes upstream kube-proxy writes
(kubernetes pkg/proxy/iptables/proxier.go, pkg/proxy/nftables/proxier.go,
pkg/proxy/ipvs/proxier.go), so the kernel walks what it walks in a cluster:

  iptables   iptables-restore input: nat PREROUTING/OUTPUT -> KUBE-SERVICES
             (one rule per Service port, linear) -> KUBE-SVC-<hash> (masquerade
             mark for sources outside the cluster CIDR, then one
             `-m statistic --mode random --probability 1/(n-i)` rule per
             endpoint) -> KUBE-SEP-<hash> (hairpin mark, DNAT); the filter
             table's KUBE-FORWARD/KUBE-SERVICES hooks.
  nft        nft -f input: table ip kube-proxy, `services` chain with
             `ip daddr . meta l4proto . th dport vmap @service-ips`, one
             service-<hash>-ns/name/tcp/port chain per Service port with
             `numgen random mod B vmap { i : goto endpoint-... }`, one
             endpoint chain per endpoint (`dnat to`).
  myelin     bpftool batch input writing the same Services into Myelin's
             pinned LB maps (abi/lb.h), for the benchmark's Myelin side.
  manifests  the same Services as Service + EndpointSlice YAML, for Myelin's
             agent (--manifests): the path a user's Services take.
  ipvs       ipvsadm-restore input: one virtual server per ClusterIP:port
             (-s rr), B real servers each in masquerade mode (-m), as the IPVS
             proxier programs them (it also binds the ClusterIPs to the dummy
             kube-ipvs0: the benchmark does that).

  --add      only what kube-proxy writes to add Service N (index N, one past
             the N already installed): iptables: the minimized restore
             (`--noflush`; KUBE-SERVICES rewritten in full, the new chains);
             nft: one transaction (new chains + one map element); ipvs: the
             new virtual and real servers.

Service i (0-based) is bench/svc-<i> port http 80/TCP on ClusterIP
10.96.0.0/16 + i + 1; its backends are 10.220.0.0/14 + i*B + j + 1 port 8080,
except the last Service's (the one the benchmark measures, last in
KUBE-SERVICES: the linear walk's worst case), which are --measured-base + j + 1
(addresses the benchmark's server namespace owns).
"""
import argparse
import base64
import hashlib
import ipaddress
import sys

CLUSTER_CIDR = "10.216.0.0/13"  # pods (clients and backends): not masqueraded
SVC_BASE = ipaddress.ip_address("10.96.0.0")
BE_BASE = ipaddress.ip_address("10.220.0.0")
PORT, TARGET_PORT, NS, PORT_NAME = 80, 8080, "bench", "http"


def cluster_ip(i):
    return str(SVC_BASE + i + 1)


def backends(i, n, b, measured_base):
    if i == n - 1:
        return [str(ipaddress.ip_address(measured_base) + j + 1) for j in range(b)]
    return [str(BE_BASE + i * b + j + 1) for j in range(b)]


def spn(i):  # kube-proxy's ServicePortName string
    return f"{NS}/svc-{i}:{PORT_NAME}"


def b32(s, n):  # kube-proxy: base32(sha256(...))[:n]
    return base64.b32encode(hashlib.sha256(s.encode()).digest()).decode()[:n]


# --- iptables ---------------------------------------------------------------
def ipt_svc_chain(i):
    return "KUBE-SVC-" + b32(spn(i) + "tcp", 16)


def ipt_sep_chain(i, ep):
    return "KUBE-SEP-" + b32(spn(i) + "tcp" + f"{ep}:{TARGET_PORT}", 16)


def ipt_services_rule(i):
    return (f'-A KUBE-SERVICES -m comment --comment "{spn(i)} cluster IP" -m tcp -p tcp '
            f'-d {cluster_ip(i)}/32 --dport {PORT} -j {ipt_svc_chain(i)}')


def ipt_service_chains(i, eps, out):
    svc = ipt_svc_chain(i)
    out.append(f":{svc} - [0:0]")
    for ep in eps:
        out.append(f":{ipt_sep_chain(i, ep)} - [0:0]")
    out.append(f'-A {svc} -m comment --comment "{spn(i)} cluster IP" -m tcp -p tcp -d {cluster_ip(i)}/32 '
               f'--dport {PORT} ! -s {CLUSTER_CIDR} -j KUBE-MARK-MASQ')
    for k, ep in enumerate(eps):
        left = len(eps) - k
        prob = "" if left == 1 else f"-m statistic --mode random --probability {1.0 / left:0.10f} "
        out.append(f'-A {svc} -m comment --comment "{spn(i)} -> {ep}:{TARGET_PORT}" {prob}-j {ipt_sep_chain(i, ep)}')
    for ep in eps:
        sep = ipt_sep_chain(i, ep)
        out.append(f'-A {sep} -m comment --comment {spn(i)} -s {ep}/32 -j KUBE-MARK-MASQ')
        out.append(f'-A {sep} -m comment --comment {spn(i)} -m tcp -p tcp -j DNAT --to-destination {ep}:{TARGET_PORT}')


NODEPORTS_LAST = ('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the '
                  'last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
NAT_TOP = [":KUBE-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]


def iptables_full(n, b, mb):
    out = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
           ":KUBE-SERVICES - [0:0]", ":KUBE-EXTERNAL-SERVICES - [0:0]", ":KUBE-FORWARD - [0:0]",
           ":KUBE-NODEPORTS - [0:0]", ":KUBE-PROXY-FIREWALL - [0:0]",
           '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
           '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
           '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally visible service portals" -j KUBE-EXTERNAL-SERVICES',
           '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
           '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
           '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
           '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally visible service portals" -j KUBE-EXTERNAL-SERVICES',
           '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
           '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
           '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
           '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
           '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
           "COMMIT",
           "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"]
    out += NAT_TOP
    out += ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
            '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
            '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
            '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
            '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
            '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
            '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000']
    for i in range(n):
        ipt_service_chains(i, backends(i, n, b, mb), out)
    for i in range(n):
        out.append(ipt_services_rule(i))
    out += [NODEPORTS_LAST, "COMMIT"]
    return out


def iptables_add(n, b, mb):
    # kube-proxy's minimized restore (--noflush): the top-level chains are
    # always rewritten in full (a `:CHAIN` line flushes it), the changed
    # Service's chains are new; the other Services' chains are not named.
    out = ["*nat"] + NAT_TOP
    out += ['-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
            '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
            '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
            '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000']
    ipt_service_chains(n, backends(n, n + 1, b, "10.223.0.0"), out)
    for i in range(n + 1):
        out.append(ipt_services_rule(i))
    out += [NODEPORTS_LAST, "COMMIT"]
    return out


# --- nftables ---------------------------------------------------------------
def nft_svc_chain(i):
    return f"service-{b32(spn(i) + 'tcp', 8)}-{NS}/svc-{i}/tcp/{PORT_NAME}"


def nft_ep_chain(i, ep):
    return f"endpoint-{b32(spn(i) + 'tcp' + ep, 8)}-{NS}/svc-{i}/tcp/{PORT_NAME}__{ep}/{TARGET_PORT}"


def nft_service(i, eps, out):
    svc = nft_svc_chain(i)
    for ep in eps:
        ch = nft_ep_chain(i, ep)
        out.append(f'add chain ip kube-proxy {ch}')
        out.append(f'add rule ip kube-proxy {ch} ip saddr {ep} jump mark-for-masquerade')
        out.append(f'add rule ip kube-proxy {ch} meta l4proto tcp dnat to {ep}:{TARGET_PORT}')
    out.append(f'add chain ip kube-proxy {svc}')
    out.append(f'add rule ip kube-proxy {svc} ip daddr {cluster_ip(i)} tcp dport {PORT} '
               f'ip saddr != {CLUSTER_CIDR} jump mark-for-masquerade')
    arms = ", ".join(f"{k} : goto {nft_ep_chain(i, ep)}" for k, ep in enumerate(eps))
    out.append(f'add rule ip kube-proxy {svc} numgen random mod {len(eps)} vmap {{ {arms} }}')
    out.append(f'add element ip kube-proxy cluster-ips {{ {cluster_ip(i)} }}')
    out.append(f'add element ip kube-proxy service-ips {{ {cluster_ip(i)} . tcp . {PORT} : goto {svc} }}')


def nft_full(n, b, mb):
    out = ['add table ip kube-proxy { comment "rules for kube-proxy" ; }',
           'add chain ip kube-proxy mark-for-masquerade',
           'add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000',
           'add chain ip kube-proxy masquerading',
           'add rule ip kube-proxy masquerading mark and 0x4000 == 0 return',
           'add rule ip kube-proxy masquerading mark set mark xor 0x4000',
           'add rule ip kube-proxy masquerading masquerade fully-random',
           'add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }',
           'add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }',
           'add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; '
           'comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }',
           'add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }',
           'add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; '
           'comment "vmap to drop or reject packets to services with no endpoints" ; }',
           'add chain ip kube-proxy services',
           'add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips',
           'add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports',
           'add chain ip kube-proxy service-endpoints-check',
           'add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services',
           'add chain ip kube-proxy cluster-ips-check',
           'add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
           'add chain ip kube-proxy filter-forward { type filter hook forward priority -110 ; }',
           'add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check',
           'add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check',
           'add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }',
           'add rule ip kube-proxy nat-prerouting jump services',
           'add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }',
           'add rule ip kube-proxy nat-output jump services',
           'add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }',
           'add rule ip kube-proxy nat-postrouting jump masquerading']
    for i in range(n):
        nft_service(i, backends(i, n, b, mb), out)
    return out


def nft_add(n, b, mb):
    out = []
    nft_service(n, backends(n, n + 1, b, "10.223.0.0"), out)
    return out


# --- IPVS -------------------------------------------------------------------
def ipvs_service(i, eps, out):
    out.append(f"-A -t {cluster_ip(i)}:{PORT} -s rr")
    for ep in eps:
        out.append(f"-a -t {cluster_ip(i)}:{PORT} -r {ep}:{TARGET_PORT} -m -w 1")


def ipvs_full(n, b, mb):
    out = []
    for i in range(n):
        ipvs_service(i, backends(i, n, b, mb), out)
    return out


def ipvs_add(n, b, mb):
    out = []
    ipvs_service(n, backends(n, n + 1, b, "10.223.0.0"), out)
    return out


# --- Myelin: the pinned LB maps (datapath/include/myelin/abi/lb.h) -----------
def myelin_batch(n, b, pin_dir, measured_ips, add):
    """bpftool batch lines writing Services as the LB writer lays them out:
    backends, rev-NAT, slots 1..count, then slot 0 (a frontend is never seen
    half written). Backend id i*B+j+1, rev_nat_index i+1."""
    import struct
    out = []

    def addr(ip):
        return ipaddress.ip_address(ip).packed + bytes(12)

    def upd(m, k, v):
        out.append(f"map update pinned {pin_dir}/{m} key hex {k.hex(' ')} value hex {v.hex(' ')}")

    if not add:  # config slot: Services on, the default Maglev M, NodePort range, hairpin address
        upd("myelin_lb_cfg", struct.pack("<I", 0),
            struct.pack("<IIHH", 1, 16381, 30000, 32767) + ipaddress.ip_address("169.254.42.1").packed)
    for i in ([n] if add else range(n)):
        if i == n - 1 and not add:
            eps = measured_ips[:b]
        else:
            eps = backends(i, i + 2, b, "10.223.0.0") if add else backends(i, n, b, "")
        vip, rev = addr(cluster_ip(i)), i + 1
        for j, ep in enumerate(eps):
            upd("myelin_lb_be", struct.pack("<I", i * b + j + 1),
                addr(ep) + struct.pack(">HBBB3x", TARGET_PORT, 6, 0x05 if ep in measured_ips else 0x01, 4))
        upd("myelin_lb_revnat", struct.pack("<I", rev), vip + struct.pack(">HBx", PORT, 4))
        for slot in list(range(1, len(eps) + 1)) + [0]:
            key = vip + struct.pack(">H", PORT) + struct.pack("<BBHBx", 6, 0, slot, 4)
            if slot:
                val = struct.pack("<IHHII", i * b + slot, 0, rev, 0, 0)
            else:
                val = struct.pack("<IHHII", 0, len(eps), rev, 0x0001, 0)  # MYELIN_LB_F_CLUSTER_IP
            upd("myelin_lb_svc", key, val)
    return out


def manifests(n, b, measured_ips, add, first=0, last=None):
    """Service + EndpointSlice YAML of the same Services (index first..last-1),
    for Myelin's agent (--manifests): what its translation and LB writer turn
    into the maps."""
    out = []
    for i in ([n] if add else range(first, n if last is None else min(last, n))):
        if i == n - 1 and not add:
            eps = measured_ips[:b]
        else:
            eps = backends(i, i + 2, b, "10.223.0.0") if add else backends(i, n, b, "")
        vip = cluster_ip(i)
        out += ["---", "apiVersion: v1", "kind: Service", f"metadata: {{name: svc-{i}, namespace: {NS}}}", "spec:",
                f"  clusterIP: {vip}", f"  clusterIPs: [{vip}]",
                f"  ports: [{{name: {PORT_NAME}, port: {PORT}, targetPort: {TARGET_PORT}, protocol: TCP}}]",
                "---", "apiVersion: discovery.k8s.io/v1", "kind: EndpointSlice", "metadata:",
                f"  name: svc-{i}-1", f"  namespace: {NS}", f"  labels: {{kubernetes.io/service-name: svc-{i}}}",
                "addressType: IPv4", f"ports: [{{name: {PORT_NAME}, port: {TARGET_PORT}, protocol: TCP}}]", "endpoints:"]
        out += [f"- {{addresses: [{ep}], conditions: {{ready: true, serving: true, terminating: false}}}}" for ep in eps]
    return out


MODES = {"iptables": (iptables_full, iptables_add), "nft": (nft_full, nft_add), "ipvs": (ipvs_full, ipvs_add)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=sorted(MODES) + ["myelin", "myelin-key", "manifests", "clusterips", "vip"])
    p.add_argument("services", type=int)
    p.add_argument("--backends", type=int, default=10)
    p.add_argument("--measured-base", default="10.218.255.0")
    p.add_argument("--pin-dir", help="myelin: the directory of the pinned myelin_lb_* maps")
    p.add_argument("--measured-ips", default="", help="myelin: the measured Service's backends, comma-separated")
    p.add_argument("--range", help="manifests: only Services FIRST:LAST (index, LAST excluded)")
    p.add_argument("--add", action="store_true", help="only the delta that adds Service index SERVICES")
    a = p.parse_args()
    if a.services < (0 if a.mode == "myelin-key" else 1) or a.backends < 1 or a.services * a.backends >= (1 << 18) - 1:
        sys.exit("kube_proxy_rules: services >= 1, backends >= 1, services*backends < 262143")
    if a.mode == "clusterips":  # for IPVS's dummy device: one ClusterIP a line
        lines = [cluster_ip(i) for i in range(a.services + (1 if a.add else 0))]
    elif a.mode == "myelin":
        ips = [x for x in a.measured_ips.split(",") if x]
        if not a.pin_dir or len(ips) < a.backends or a.services > 65534:
            sys.exit("kube_proxy_rules: myelin needs --pin-dir, --backends addresses in --measured-ips, <= 65534 Services")
        lines = myelin_batch(a.services, a.backends, a.pin_dir, ips, a.add)
    elif a.mode == "manifests":
        ips = [x for x in a.measured_ips.split(",") if x]
        if len(ips) < a.backends:
            sys.exit("kube_proxy_rules: manifests needs --backends addresses in --measured-ips")
        first, _, last = (a.range or "0:").partition(":")
        lines = manifests(a.services, a.backends, ips, a.add, int(first or 0), int(last) if last else None)
    elif a.mode == "myelin-key":  # myelin_lb_svc's slot 0 key of Service index SERVICES, hex bytes
        import struct
        key = (ipaddress.ip_address(cluster_ip(a.services)).packed + bytes(12) + struct.pack(">H", PORT) +
               struct.pack("<BBHBx", 6, 0, 0, 4))
        lines = [key.hex(" ")]
    elif a.mode == "vip":  # the measured Service's ClusterIP (the last one)
        lines = [cluster_ip(a.services - 1)]
    else:
        full, add = MODES[a.mode]
        lines = (add if a.add else full)(a.services, a.backends, a.measured_base)
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
