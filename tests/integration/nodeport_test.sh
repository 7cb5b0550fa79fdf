#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NodePort, externalIPs and LoadBalancer-facing frontends from outside the
# cluster (issue 11), given as Services in the agent's manifests directory:
# the agent's ServiceManager translates them and its LbWriter installs them;
# nothing here writes a map. A "world" namespace is the node's default route
# (mln_world_up), so the agent detects the node's device and attaches
# datapath/host.bpf.c to it. Backends a, b (namespace np) answer with their
# name and the address they see the client at. Checked from the world:
#   - NodePort, externalTrafficPolicy Cluster (a selector Service): both
#     backends answer, the client's address is kept; the same over UDP (a
#     second port of the Service), and a backend's ICMP port unreachable
#     reaches the client translated (ECONNREFUSED at once);
#   - NodePort, externalTrafficPolicy Local (an EndpointSlice that puts b on
#     another node): only this node's backend, client address kept; with no
#     local backend the connection is not served and the drop is
#     SERVICE_BACKEND_NOT_FOUND;
#   - Maglev (--lb-algorithm maglev): each connection takes the backend the
#     installed table gives its 5-tuple's hash;
#   - an externalIP and a LoadBalancer ingress IP assigned to the node are
#     served (the externalIP assigned after the agent started); one not assigned to it
#     (owned by a "real" host behind the node) is not installed and reaches
#     that host, from the world and from a pod (CVE-2020-8554);
#   - the backend's ingress policy applies on its own port: c, in a
#     namespace whose policy admits only its own pods, is not reached;
#   - conntrack: a SERVICE entry with the backend and a CONNECTION entry
#     with rev_nat_index and CT_F_NODE_PORT; a nodePort outside
#     --node-port-range is not installed, not served, and said why;
#   - NodePorts keep answering while the agent is down; a restart replaces
#     the program in place and keeps the writer's entries, and one with
#     other --devices detaches from the device it no longer lists.
source "$(dirname "$0")/common.sh"
command -v socat >/dev/null && command -v python3 >/dev/null || { echo "FAIL: socat or python3 missing"; exit 1; }

mln_init
CIDR=10.214.0.0/24
MANIFESTS="$MLN_TMP/manifests"
mkdir -p "$MANIFESTS"
cat >"$MANIFESTS/00-np.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: np}
---
apiVersion: v1
kind: Namespace
metadata: {name: np-locked}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: own-namespace-only, namespace: np-locked}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {}}]
EOF
for p in np/a np/b np-locked/c; do
  printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {app: %s, role: backend}\n' "${p#*/}" "${p%/*}" "${p#*/}"
done >>"$MANIFESTS/00-np.yaml"
# An externalIP of the node (E1, assigned to its device after the agent
# started) and one that is not (E2: a "real" host behind the node, which the
# world reaches through the node).
E1=192.0.2.10 E2=198.51.100.20
# The Services. "local" and "nolocal" have no selector: their EndpointSlices
# (written once the pods have addresses) put b on another node.
cat >"$MANIFESTS/10-services.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: cluster, namespace: np}
spec:
  type: NodePort
  clusterIP: 10.96.214.1
  selector: {role: backend}
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}
  - {name: echo, port: 8081, protocol: UDP, targetPort: 8081, nodePort: 30090}
---
apiVersion: v1
kind: Service
metadata: {name: local, namespace: np}
spec:
  type: NodePort
  clusterIP: 10.96.214.2
  externalTrafficPolicy: Local
  ports: [{port: 80, targetPort: 8080, nodePort: 30081}]
---
apiVersion: v1
kind: Service
metadata: {name: nolocal, namespace: np}
spec:
  type: NodePort
  clusterIP: 10.96.214.3
  externalTrafficPolicy: Local
  ports: [{port: 80, targetPort: 8080, nodePort: 30082}]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: np}
spec:
  clusterIP: 10.96.214.4
  externalIPs: [$E1, $E2]
  selector: {role: backend}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: locked, namespace: np-locked}
spec:
  type: NodePort
  clusterIP: 10.96.214.5
  selector: {app: c}
  ports: [{port: 80, targetPort: 8080, nodePort: 30083}]
---
apiVersion: v1
kind: Service
metadata: {name: outside, namespace: np}
spec:
  type: NodePort
  clusterIP: 10.96.214.6
  selector: {app: a}
  ports: [{port: 80, targetPort: 8080, nodePort: 30100}]
---
apiVersion: v1
kind: Service
metadata: {name: maglev, namespace: np}
spec:
  type: NodePort
  clusterIP: 10.96.214.7
  selector: {role: backend}
  ports: [{port: 80, targetPort: 8080, nodePort: 30085}]
---
apiVersion: v1
kind: Service
metadata: {name: closed, namespace: np}
spec:
  type: NodePort
  clusterIP: 10.96.214.8
  selector: {app: a}
  ports: [{port: 53, protocol: UDP, targetPort: 8089, nodePort: 30091}]
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: np}
spec:
  type: LoadBalancer
  clusterIP: 10.96.214.9
  selector: {role: backend}
  ports: [{port: 8443, targetPort: 8080, nodePort: 30086}]
status:
  loadBalancer:
    ingress: [{ip: $E1}, {ip: $E2}]
EOF
# c carries role: backend too, but the selector Services live in np: only a and b.
MLN_NODE_NAME=np-node
MAGLEV_M=251
MLN_AGENT_ARGS=(--manifests "$MANIFESTS" --metrics-addr "" --node-port-range 30000-30099
  --lb-algorithm maglev --lb-maglev-table-size "$MAGLEV_M")
mln_world_up "$CIDR"
mln_node_up "$CIDR"
W=$MLN_WORLD_IP N=$MLN_NODE_IP
grep -q "serving NodePorts 30000-30099, externalIPs and LoadBalancer IPs on mln-wan ($N)" "$MLN_AGENT_LOG" &&
  t_ok "the agent detected mln-wan (the default route's device) and attached to it" ||
  t_bad "the agent detected mln-wan and attached to it" "$(grep nodeport "$MLN_AGENT_LOG")"
# E1 is assigned to the node while the agent runs: its frontends must follow.
mln_node ip addr add "$E1/32" dev mln-wan
mln_world ip route add "$E1/32" via "$N"
mln_retry 50 0.1 grep -q "device addresses changed: .* on mln-wan ($N, $E1)" "$MLN_AGENT_LOG" &&
  t_ok "the agent saw $E1 assigned to mln-wan after its start" ||
  t_bad "the agent saw $E1 assigned to mln-wan after its start" "$(grep nodeport "$MLN_AGENT_LOG")"
mln_node tc filter show dev mln-wan ingress | grep -q from_netdev && t_ok "from_netdev is on mln-wan's tc ingress" ||
  t_bad "from_netdev is on mln-wan's tc ingress"

mln_pod_add a np; mln_pod_add b np; mln_pod_add c np-locked
A=${MLN_POD_IP[a]} B=${MLN_POD_IP[b]} C=${MLN_POD_IP[c]}
echo "pods: a=$A b=$B c=$C; world $W, node $N"
for p in a b c; do
  mln_pod_bg "$p" socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:"echo $p \$SOCAT_PEERADDR"
done
# UDP: one socket answering each datagram (socat's UDP-RECVFROM,fork leaves
# some datagrams unanswered even pod to pod under load).
UDP_SERVER='import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 8081))
while True:
    d, a = s.recvfrom(2048)
    s.sendto((sys.argv[1] + " " + a[0] + "\n").encode(), a)'
for p in a b; do mln_pod_bg "$p" python3 -c "$UDP_SERVER" "$p"; done
for p in a b c; do mln_wait_listen "$p" 8080 tcp; done
for p in a b; do mln_wait_listen "$p" 8081 udp; done

# E2's real host, behind the node.
REAL="mln-$MLN_ID-real"
ip netns add "$REAL"
ip link add mln-real netns "$MLN_NODE" type veth peer name eth0 netns "$REAL"
mln_node ip addr add 198.18.0.1/30 dev mln-real
mln_node ip link set mln-real up
mln_node ip route add "$E2/32" via 198.18.0.2
nsenter --net="/var/run/netns/$REAL" sh -c "ip link set lo up && ip addr add $E2/32 dev lo && ip addr add 198.18.0.2/30 dev eth0 &&
  ip link set eth0 up && ip route add default via 198.18.0.1"
mln_world ip route add "$E2/32" via "$N"
nsenter --net="/var/run/netns/$REAL" socat TCP-LISTEN:80,bind=$E2,fork,reuseaddr SYSTEM:"echo real-host \$SOCAT_PEERADDR" &
MLN_PIDS+=("$!")
mln_retry 100 0.05 sh -c "nsenter --net=/var/run/netns/$REAL ss -Hltn 'sport = :80' | grep -q ." || mln_die "the real host does not listen"

# ---- The EndpointSlices, then the writer's maps as `myelin bpf lb list` shows them ----
cat >"$MLN_TMP/20-slices.yaml" <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: local-1, namespace: np, labels: {kubernetes.io/service-name: local}}
addressType: IPv4
endpoints:
- {addresses: [$A], nodeName: np-node}
- {addresses: [$B], nodeName: elsewhere}
ports: [{port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: nolocal-1, namespace: np, labels: {kubernetes.io/service-name: nolocal}}
addressType: IPv4
endpoints:
- {addresses: [$B], nodeName: elsewhere}
ports: [{port: 8080}]
EOF
mv "$MLN_TMP/20-slices.yaml" "$MANIFESTS/"  # whole, at once: the directory is watched
lb() { mln_myelin bpf lb list -o json; }
# fe_backends ADDR PORT PROTO SCOPE: the frontend's slots' backends, sorted ("-" when none, "missing" when absent)
fe_backends() {
  jq -r --arg a "$1" --argjson p "$2" --arg pr "$3" --arg sc "$4" '[.frontends[] | select(.address == $a and .port == $p and
    .protocol == $pr and .scope == $sc)] | if length == 0 then "missing" else (.[0].slots // [] | map(.backend) | sort | join(",") | if . == "" then "-" else . end) end'
}
fe_rev() {  # ADDR PORT PROTO: the external frontend's rev_nat_index
  jq -r --arg a "$1" --argjson p "$2" --arg pr "$3" '.frontends[] | select(.address == $a and .port == $p and .protocol == $pr and .scope == "external") | .rev_nat_index'
}
expected="30080:$A:8080,$B:8080 30090:$A:8081,$B:8081 30081:$A:8080 30082:- 30083:$C:8080 30085:$A:8080,$B:8080 30091:$A:8089 30100:missing"
installed() {
  local j out="" e
  j=$(lb) || return 1
  for e in 30080:TCP 30090:UDP 30081:TCP 30082:TCP 30083:TCP 30085:TCP 30091:UDP 30100:TCP; do
    out+="${out:+ }${e%:*}:$(fe_backends "$N" "${e%:*}" "${e#*:}" external <<<"$j")"
  done
  [ "$out" = "$expected" ]
}
if mln_retry 100 0.1 installed; then
  t_ok "the writer installed the NodePorts from the manifests (eTP Local: only a outside, none for nolocal; none for 30100, outside the range)"
else
  t_bad "the writer installed the NodePorts from the manifests" "$(lb | jq -c '[.frontends[] | {address, port, protocol, scope, slots}]')"
fi
lb >"$MLN_TMP/lb.json"
[ "$(fe_backends "$N" 30081 TCP internal <"$MLN_TMP/lb.json")" = "$A:8080,$B:8080" ] &&
  [ "$(fe_backends "$N" 30082 TCP internal <"$MLN_TMP/lb.json")" = "$B:8080" ] &&
  t_ok "eTP Local's NodePorts keep every backend for clients inside the cluster" ||
  t_bad "eTP Local's NodePorts keep every backend for clients inside the cluster" "$(jq -c '[.frontends[] | select(.port == 30081 or .port == 30082)]' "$MLN_TMP/lb.json")"
[ "$(fe_backends "$E1" 80 TCP external <"$MLN_TMP/lb.json")" = "$A:8080,$B:8080" ] &&
  [ "$(fe_backends "$E2" 80 TCP external <"$MLN_TMP/lb.json")" = missing ] &&
  t_ok "the externalIP on the node ($E1) is installed, the one that is not ($E2) is not" ||
  t_bad "the externalIP on the node is installed, the other not" "$(jq -c '[.frontends[] | select(.port == 80)]' "$MLN_TMP/lb.json")"
[ "$(fe_backends "$E1" 8443 TCP external <"$MLN_TMP/lb.json")" = "$A:8080,$B:8080" ] &&
  [ "$(fe_backends "$E2" 8443 TCP external <"$MLN_TMP/lb.json")" = missing ] &&
  jq -e --arg a "$E1" '.frontends[] | select(.address == $a and .port == 8443) | .flags | index("LoadBalancer")' "$MLN_TMP/lb.json" >/dev/null &&
  t_ok "the LoadBalancer ingress IP on the node ($E1:8443) is installed as one, the other ($E2) is not" ||
  t_bad "the LoadBalancer ingress IP on the node is installed, the other not" "$(jq -c '[.frontends[] | select(.port == 8443)]' "$MLN_TMP/lb.json")"
mln_myelin service get np/ext -o json 2>/dev/null | grep -q "$E2 is not an address of this node" &&
  t_ok "service get np/ext says why $E2 is not served" || t_bad "service get np/ext says why $E2 is not served" "$(mln_myelin service get np/ext -o json)"
[ "$(jq -r '.algorithm, .maglev_table_size' "$MLN_TMP/lb.json" | tr '\n' ' ')" = "maglev $MAGLEV_M " ] &&
  t_ok "the writer runs Maglev with tables of $MAGLEV_M" || t_bad "the writer runs Maglev with tables of $MAGLEV_M" "$(jq -c 'del(.frontends, .backends)' "$MLN_TMP/lb.json")"
REV_CLUSTER=$(fe_rev "$N" 30080 TCP <"$MLN_TMP/lb.json")
REV_CLOSED=$(fe_rev "$N" 30091 UDP <"$MLN_TMP/lb.json")
REV_MAGLEV=$(fe_rev "$N" 30085 TCP <"$MLN_TMP/lb.json")
BE_A=$(jq -r --arg a "$A" '.backends[] | select(.address == $a and .port == 8080 and .protocol == "TCP") | .id' "$MLN_TMP/lb.json")
echo "rev_nat_index: 30080 $REV_CLUSTER, 30091 $REV_CLOSED, 30085 $REV_MAGLEV; backend a:8080 $BE_A"
P=$MLN_BPFFS

# ---- From the world ----
# ask_in ADDR PORT RUNNER...: one TCP request from where RUNNER runs it (2 s to connect, 3 s for the answer)
ask_in() { local a=$1 p=$2; shift 2; "$@" timeout 5 socat -T3 - "TCP:$a:$p,connect-timeout=2" </dev/null 2>/dev/null; }
ask() { ask_in "$1" "$2" mln_world; }
# answers ADDR PORT N [ASK]: N answers through ASK (default ask: from the world), one per line ("a 203.0.113.1")
answers() { local i; for i in $(seq 1 "$3"); do "${4:-ask}" "$1" "$2" || echo "no-answer"; done; }

echo "-- NodePort, externalTrafficPolicy Cluster"
answers "$N" 30080 16 >"$MLN_TMP/cluster.txt"
grep -q "^a $W$" "$MLN_TMP/cluster.txt" && grep -q "^b $W$" "$MLN_TMP/cluster.txt" &&
  t_ok "16 connections to $N:30080 reach both a and b ($(sort "$MLN_TMP/cluster.txt" | uniq -c | tr -s ' ' | tr '\n' ';'))" ||
  t_bad "16 connections to $N:30080 reach both a and b" "$(sort "$MLN_TMP/cluster.txt" | uniq -c)"
grep -qv "^[ab] $W$" "$MLN_TMP/cluster.txt" && t_bad "every answer came from a backend that saw the client's address $W" \
  "$(grep -v "^[ab] $W$" "$MLN_TMP/cluster.txt" | sort | uniq -c)" || t_ok "every answer saw the client's own address $W"

echo "-- NodePort, externalTrafficPolicy Local"
answers "$N" 30081 10 >"$MLN_TMP/local.txt"
[ "$(sort -u "$MLN_TMP/local.txt")" = "a $W" ] && t_ok "10 connections to $N:30081 all reach the local backend a, client address kept" ||
  t_bad "10 connections to $N:30081 all reach a" "$(sort "$MLN_TMP/local.txt" | uniq -c)"
ask "$N" 30082 >/dev/null && t_bad "eTP Local without a local backend is not served" || t_ok "eTP Local without a local backend is not served"

echo "-- NodePort over UDP"
for i in $(seq 1 10); do
  r=$(echo ping | mln_world timeout 5 socat -T2 - "UDP:$N:30090" 2>/dev/null) || true
  echo "${r:-no-answer}"
done >"$MLN_TMP/udp.txt"
grep -q "^a $W$" "$MLN_TMP/udp.txt" && grep -q "^b $W$" "$MLN_TMP/udp.txt" && [ "$(grep -c "^[ab] $W$" "$MLN_TMP/udp.txt")" -eq 10 ] &&
  t_ok "10 datagrams to $N:30090/udp answered by a and b from the frontend, client address kept ($(sort "$MLN_TMP/udp.txt" | uniq -c | tr -s ' ' | tr '\n' ';'))" ||
  t_bad "10 datagrams to $N:30090/udp answered by a and b" "$(sort "$MLN_TMP/udp.txt" | uniq -c)"

# The backend's ICMP port unreachable is translated back too: the world's
# connected UDP socket gets ECONNREFUSED at once, not a timeout.
start=$(date +%s%N)
err=$(echo ping | mln_world timeout 5 socat -T3 - "UDP:$N:30091" 2>&1 >/dev/null) || true
ms=$((($(date +%s%N) - start) / 1000000))
grep -q "Connection refused" <<<"$err" && [ "$ms" -lt 2500 ] &&
  t_ok "UDP to a NodePort whose backend port is closed: ECONNREFUSED in ${ms} ms (the ICMP error translated back)" ||
  t_bad "UDP to a NodePort whose backend port is closed: ECONNREFUSED" "after ${ms} ms: $err"
# ...from the backend, not from the node's own stack (no listener on 30091 either).
bpftool map dump pinned "$MLN_BPFFS/myelin_ct" -j | jq -e --argjson p $((((8089 & 255) << 8) | (8089 >> 8))) --argjson r "$REV_CLOSED" \
  'map(select(.formatted.key.proto == 17 and .formatted.key.dport == $p and .formatted.value.rev_nat_index == $r)) | length > 0' >/dev/null &&
  t_ok "that datagram went to the backend (CONNECTION entry to a:8089, rev_nat_index $REV_CLOSED)" ||
  t_bad "that datagram went to the backend (CONNECTION entry to a:8089, rev_nat_index $REV_CLOSED)"

echo "-- Maglev"
# The table the writer installed for 30085, read back from the pinned maps,
# and lib/lb.h's flow hash: each connection, from a source port of its own,
# must land on the backend the table gives its 5-tuple.
# (maps without BTF: keys and values are little-endian hex bytes)
lehex='import json, sys
print(json.dumps([int("".join(reversed([b[2:] for b in e[sys.argv[1]]])), 16) for e in json.load(sys.stdin)]))'
bpftool map dump pinned "$P/myelin_lb_maglev" -j >"$MLN_TMP/maglev_outer.json" || true
MG_ID=$(paste <(python3 -c "$lehex" key <"$MLN_TMP/maglev_outer.json" | jq '.[]') <(python3 -c "$lehex" value <"$MLN_TMP/maglev_outer.json" | jq '.[]') |
  awk -v r="$REV_MAGLEV" '$1 == r { print $2 }') || true
bpftool map dump id "${MG_ID:-0}" -j 2>/dev/null | python3 -c "$lehex" value >"$MLN_TMP/maglev_table.json" 2>/dev/null || true
maglev_expect() {  # SPORT: the pod the table gives world:SPORT -> N:30085/tcp
  python3 - "$1" "$W" "$N" 30085 "$MLN_TMP/maglev_table.json" "$MLN_TMP/lb.json" "$A" <<'EOF'
import json, socket, struct, sys
sport, w, n, dport, table, lbj, a = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
le = lambda ip: struct.unpack("<I", socket.inet_aton(ip))[0]   # a __be32 read as a u32 here
sw = lambda p: ((p & 255) << 8) | (p >> 8)                     # a __be16 read as a u16
M = 0xFFFFFFFF
h = 0x9E3779B9 ^ 6
h = ((h ^ le(w)) * 0x85EBCA6B) & M
h = ((h ^ le(n)) * 0xC2B2AE35) & M
h = ((h ^ ((sw(sport) << 16) | sw(dport))) * 0x27D4EB2F) & M
h ^= h >> 15
t = json.load(open(table))
bid = t[h % len(t)]
be = {b["id"]: b["address"] for b in json.load(open(lbj))["backends"]}
print("a" if be.get(bid) == a else "b")
EOF
}
if [ "$(jq length "$MLN_TMP/maglev_table.json" 2>/dev/null)" = "$MAGLEV_M" ]; then
  t_ok "30085's Maglev table is installed ($MAGLEV_M slots, rev_nat_index $REV_MAGLEV)"
else
  t_bad "30085's Maglev table is installed ($MAGLEV_M slots)" "map id '$MG_ID': $(head -c 300 "$MLN_TMP/maglev_table.json" 2>&1)"
fi
miss=0 seen=""
for sport in $(seq 40001 40012); do
  want=$(maglev_expect "$sport")
  got=$(mln_world timeout 5 socat -T3 - "TCP:$N:30085,connect-timeout=2,sourceport=$sport" </dev/null 2>/dev/null) || got=no-answer
  [ "$got" = "$want $W" ] || { miss=$((miss + 1)); echo "  source port $sport: table says $want, got '$got'"; }
  seen+="$want"
done
[ "$miss" -eq 0 ] && t_ok "12 connections to a Maglev NodePort each took the table's backend for its flow hash (table: $(grep -o a <<<"$seen" | wc -l) a, $(grep -o b <<<"$seen" | wc -l) b)" ||
  t_bad "12 connections to a Maglev NodePort each took the table's backend" "$miss of 12 did not"

echo "-- externalIPs"
answers "$E1" 80 6 >"$MLN_TMP/e1.txt"
grep -Eq "^[ab] $W$" "$MLN_TMP/e1.txt" && ! grep -q no-answer "$MLN_TMP/e1.txt" &&
  t_ok "the node's externalIP $E1:80 is served by the backends (6 of 6)" || t_bad "$E1:80 is served" "$(cat "$MLN_TMP/e1.txt")"
answers "$E1" 8443 6 >"$MLN_TMP/lbip.txt"
[ "$(grep -Ec "^[ab] $W$" "$MLN_TMP/lbip.txt")" = 6 ] && t_ok "the LoadBalancer IP $E1:8443 is served by the backends (6 of 6)" ||
  t_bad "$E1:8443 is served" "$(cat "$MLN_TMP/lbip.txt")"
[ "$(ask "$E2" 80)" = "real-host $W" ] && t_ok "an externalIP not on the node ($E2) reaches the real host from the world" ||
  t_bad "$E2 reaches the real host from the world" "$(ask "$E2" 80)"
[ "$(ask_in "$E2" 80 mln_pod a)" = "real-host $A" ] &&
  t_ok "an externalIP not on the node ($E2) reaches the real host from a pod" || t_bad "$E2 reaches the real host from a pod"

# From inside the cluster too: a pod's packets to a NodePort on a node address
# and to the node's externalIP are translated on its veth (lxc.bpf.c).
pod_ask() { ask_in "$1" "$2" mln_pod a; }
answers "$N" 30080 6 pod_ask >"$MLN_TMP/pod_np.txt"
[ "$(grep -Ec "^[ab] ($A|169.254.42.1)$" "$MLN_TMP/pod_np.txt")" = 6 ] && t_ok "pod a reaches the NodePort $N:30080 (6 of 6 answered by a backend)" ||
  t_bad "pod a reaches the NodePort $N:30080" "$(sort "$MLN_TMP/pod_np.txt" | uniq -c)"
answers "$E1" 80 6 pod_ask >"$MLN_TMP/pod_e1.txt"
[ "$(grep -Ec "^[ab] ($A|169.254.42.1)$" "$MLN_TMP/pod_e1.txt")" = 6 ] && t_ok "pod a reaches the node's externalIP $E1:80 (6 of 6 answered by a backend)" ||
  t_bad "pod a reaches the node's externalIP $E1:80" "$(sort "$MLN_TMP/pod_e1.txt" | uniq -c)"
answers "$N" 30081 12 pod_ask >"$MLN_TMP/pod_local.txt"
grep -Eq "^b $A$" "$MLN_TMP/pod_local.txt" && ! grep -q no-answer "$MLN_TMP/pod_local.txt" &&
  t_ok "from pod a, eTP Local's NodePort $N:30081 also reaches b (inside the cluster every backend serves)" ||
  t_bad "from pod a, eTP Local's NodePort $N:30081 also reaches b" "$(sort "$MLN_TMP/pod_local.txt" | uniq -c)"
# ...and inside the socket-LB cgroup, where connect() is translated at the socket.
pod_lb_ask() { ask_in "$1" "$2" mln_pod_lb a; }
answers "$N" 30080 6 pod_lb_ask >"$MLN_TMP/podlb_np.txt"
answers "$E1" 80 6 pod_lb_ask >>"$MLN_TMP/podlb_np.txt"
[ "$(grep -Ec "^[ab] ($A|169.254.42.1)$" "$MLN_TMP/podlb_np.txt")" = 12 ] &&
  t_ok "inside the socket-LB cgroup, pod a reaches $N:30080 and $E1:80 (12 of 12)" ||
  t_bad "inside the socket-LB cgroup, pod a reaches $N:30080 and $E1:80" "$(sort "$MLN_TMP/podlb_np.txt" | uniq -c)"

echo "-- policy of the backend, range"
ask "$N" 30083 >/dev/null && t_bad "c's ingress policy (own namespace only) keeps the world out through a NodePort" ||
  t_ok "c's ingress policy (own namespace only) keeps the world out through a NodePort"
ask "$N" 30100 >/dev/null && t_bad "a nodePort outside --node-port-range (30100) is not served" ||
  t_ok "a nodePort outside --node-port-range (30100) is not served"
mln_myelin service get np/outside -o json | grep -q "nodePort 30100 .* is outside --node-port-range 30000-30099: not served" &&
  t_ok "service get np/outside says its nodePort is outside --node-port-range" ||
  t_bad "service get np/outside says its nodePort is outside --node-port-range" "$(mln_myelin service get np/outside -o json | jq -c .warnings)"

echo "-- conntrack"
bpftool map dump pinned "$P/myelin_ct" -j >"$MLN_TMP/ct.json"
hexaddr() { local IFS=.; set -- $1; echo $(($1 | $2 << 8 | $3 << 16 | $4 << 24)); }  # a __be32 as bpftool prints it
AN=$(hexaddr "$A") WN=$(hexaddr "$W") NN=$(hexaddr "$N")
jq -e --argjson a "$AN" --argjson w "$WN" --argjson r "$REV_CLUSTER" 'map(select(.formatted.key.kind == 0 and .formatted.key.saddr.w[0] == $w and .formatted.key.daddr.w[0] == $a
  and .formatted.value.rev_nat_index == $r and (.formatted.value.flags % 8 >= 4))) | length > 0' "$MLN_TMP/ct.json" >/dev/null &&
  t_ok "a CONNECTION entry world -> a carries 30080's rev_nat_index $REV_CLUSTER and CT_F_NODE_PORT" ||
  t_bad "a CONNECTION entry world -> a carries rev_nat_index $REV_CLUSTER and CT_F_NODE_PORT" "$(jq -c '.[0]' "$MLN_TMP/ct.json")"
jq -e --argjson n "$NN" --argjson w "$WN" --argjson b "$BE_A" 'map(select(.formatted.key.kind == 1 and .formatted.key.saddr.w[0] == $w and .formatted.key.daddr.w[0] == $n
  and .formatted.value.backend_id == $b and (.formatted.value.flags % 8 >= 4))) | length > 0' "$MLN_TMP/ct.json" >/dev/null &&
  t_ok "a SERVICE entry world -> $N holds a's backend id $BE_A and CT_F_NODE_PORT" ||
  t_bad "a SERVICE entry world -> $N holds a's backend id $BE_A and CT_F_NODE_PORT"

echo "-- drops"
mln_myelin status -o json >"$MLN_TMP/status.json"
t_jq "SERVICE_BACKEND_NOT_FOUND counted (eTP Local, no local backend)" \
  '.drops // [] | map(select(.reason == "SERVICE_BACKEND_NOT_FOUND" and (.packets|tonumber) >= 1)) | length > 0' "$MLN_TMP/status.json"
t_jq "POLICY_DENIED counted (c's policy)" \
  '.drops // [] | map(select(.reason == "POLICY_DENIED" and (.packets|tonumber) >= 1)) | length > 0' "$MLN_TMP/status.json"

echo "-- the agent stops: programs stay, NodePorts keep answering"
mln_agent_kill TERM
[ "$(ask "$N" 30081)" = "a $W" ] && t_ok "with the agent stopped, $N:30081 still answers" || t_bad "with the agent stopped, $N:30081 still answers"
mln_agent_start
mln_node tc filter show dev mln-wan ingress | grep -q from_netdev && [ "$(ask "$N" 30081)" = "a $W" ] &&
  t_ok "after a restart the program is replaced in place and answers" || t_bad "after a restart the program answers"
# The writer took its own entries back: once every source has synced (and
# what it did not know is pruned), the same frontends with the same ids.
if mln_retry 100 0.1 sh -c "'$MLN_BIN/myelin' --socket '$MLN_SOCK' bpf lb list -o json | jq -e .synced >/dev/null" && mln_retry 50 0.1 installed; then
  lb >"$MLN_TMP/lb2.json"
  [ "$(fe_rev "$N" 30080 TCP <"$MLN_TMP/lb2.json"),$(fe_rev "$N" 30091 UDP <"$MLN_TMP/lb2.json")" = "$REV_CLUSTER,$REV_CLOSED" ] &&
    [ "$(jq -r --arg a "$A" '.backends[] | select(.address == $a and .port == 8080 and .protocol == "TCP") | .id' "$MLN_TMP/lb2.json")" = "$BE_A" ] &&
    t_ok "after the restart's sync the writer keeps the same frontends, rev_nat_index and backend ids" ||
    t_bad "after the restart's sync the writer keeps the same ids" "$(jq -c '[.frontends[] | {address, port, rev_nat_index}]' "$MLN_TMP/lb2.json")"
else
  t_bad "after the restart the writer synced and has the same frontends" "$(lb | jq -c '{synced, errors}')"
fi
[ "$(ask "$N" 30081)" = "a $W" ] && [ "$(ask "$E1" 80 | cut -d' ' -f2)" = "$W" ] &&
  t_ok "after the sync $N:30081 and $E1:80 still answer" || t_bad "after the sync $N:30081 and $E1:80 still answer"

echo "-- a device taken out of --devices is left as it was found"
mln_agent_kill TERM
MLN_AGENT_ARGS+=(--devices mln-real)
mln_agent_start
if ! mln_node tc filter show dev mln-wan ingress | grep -q from_netdev && mln_node tc filter show dev mln-real ingress | grep -q from_netdev; then
  t_ok "restarted with --devices mln-real: attached there, and detached from mln-wan"
else
  t_bad "restarted with --devices mln-real: attached there, and detached from mln-wan" "$(grep nodeport "$MLN_AGENT_LOG" | tail -3)"
fi
ask "$N" 30081 >/dev/null && t_bad "mln-wan no longer serves NodePorts" || t_ok "mln-wan no longer serves NodePorts"
# ...while mln-real does, on its own address (the NodePorts follow the devices).
real_ask() { ask_in 198.18.0.1 30081 nsenter --net="/var/run/netns/$REAL"; }
mln_retry 50 0.1 sh -c "'$MLN_BIN/myelin' --socket '$MLN_SOCK' bpf lb list -o json | jq -e '.synced and ([.frontends[] | select(.address == \"198.18.0.1\" and .port == 30081)] | length > 0)' >/dev/null" || true
[ "$(real_ask)" = "a 198.18.0.2" ] && t_ok "the real host behind mln-real reaches 198.18.0.1:30081 (eTP Local: a)" ||
  t_bad "the real host behind mln-real reaches 198.18.0.1:30081" "got '$(real_ask)'; $(lb | jq -c '[.frontends[] | select(.port == 30081) | {address, scope, slots}]')"
# An address the device gets and loses while the agent runs: its NodePorts come and go.
np_on() { lb | jq -e --arg a "$1" '[.frontends[] | select(.address == $a and .port == 30081)] | length > 0' >/dev/null; }
mln_node ip addr add 198.18.0.9/32 dev mln-real
mln_retry 50 0.1 np_on 198.18.0.9 && t_ok "an address added to mln-real gets the NodePorts" || t_bad "an address added to mln-real gets the NodePorts"
mln_node ip addr del 198.18.0.9/32 dev mln-real
mln_retry 50 0.1 sh -c "! '$MLN_BIN/myelin' --socket '$MLN_SOCK' bpf lb list -o json | jq -e '[.frontends[] | select(.address == \"198.18.0.9\")] | length > 0' >/dev/null" &&
  np_on 198.18.0.1 && t_ok "...and loses them when it is removed (198.18.0.1's stay)" || t_bad "a removed address loses its NodePorts"

t_summary
