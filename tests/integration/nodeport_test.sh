#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NodePort, externalIPs and LoadBalancer-facing frontends from outside the
# cluster (issue 11): a "world" namespace is the node's default route
# (mln_world_up), so the agent detects the node's device and attaches
# datapath/host.bpf.c to it. Backends a, b (namespace np) answer with their
# name and the address they see the client at. Checked from the world:
#   - NodePort, externalTrafficPolicy Cluster: both backends answer, the
#     client's address is kept; the same over UDP, and a backend's ICMP port
#     unreachable reaches the client translated (ECONNREFUSED at once);
#   - NodePort, externalTrafficPolicy Local: only this node's backend (b is
#     written as another node's), client address kept; with no local
#     backend the connection is not served and the drop is
#     SERVICE_BACKEND_NOT_FOUND;
#   - Maglev (MYELIN_LB_F_MAGLEV): the table's backend, every time;
#   - an externalIP assigned to the node is served; one not assigned to it
#     (owned by a "real" host behind the node) reaches that host, from the
#     world and from a pod, even with a frontend for it in the maps
#     (CVE-2020-8554);
#   - the backend's ingress policy applies on its own port: c, in a
#     namespace whose policy admits only its own pods, is not reached;
#   - conntrack: a SERVICE entry with the backend and a CONNECTION entry
#     with rev_nat_index and CT_F_NODE_PORT; a port outside
#     --node-port-range is not served;
#   - NodePorts keep answering while the agent is down; a restart replaces
#     the program in place, and one with other --devices detaches from the
#     device it no longer lists.
# Until the Services model and LB writer feed them, the test writes the LB
# maps itself with bpftool, as the writer would (abi/lb.h).
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
  printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {app: %s}\n' "${p#*/}" "${p%/*}" "${p#*/}"
done >>"$MANIFESTS/00-np.yaml"
MLN_NODE_NAME=np-node
MLN_AGENT_ARGS=(--manifests "$MANIFESTS" --metrics-addr "" --node-port-range 30000-30099)
mln_world_up "$CIDR"
mln_node_up "$CIDR"
W=$MLN_WORLD_IP N=$MLN_NODE_IP
grep -q "serving NodePorts 30000-30099, externalIPs and LoadBalancer IPs on mln-wan ($N)" "$MLN_AGENT_LOG" &&
  t_ok "the agent detected mln-wan (the default route's device) and attached to it" ||
  t_bad "the agent detected mln-wan and attached to it" "$(grep nodeport "$MLN_AGENT_LOG")"
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

# An externalIP of the node (E1) and one that is not (E2): E2 belongs to a
# "real" host behind the node, which the world reaches through the node.
E1=192.0.2.10 E2=198.51.100.20
mln_node ip addr add "$E1/32" dev mln-wan
mln_world ip route add "$E1/32" via "$N"
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

# ---- The LB maps, as the writer would fill them (abi/lb.h) ----
P=$MLN_BPFFS
iphex() { local IFS=.; set -- $1; printf '%02x %02x %02x %02x 00 00 00 00 00 00 00 00 00 00 00 00' "$1" "$2" "$3" "$4"; }
be16() { printf '%02x %02x' $(($1 >> 8)) $(($1 & 255)); }
le16() { printf '%02x %02x' $(($1 & 255)) $(($1 >> 8)); }
le32() { printf '%02x %02x %02x %02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
upd() { bpftool map update pinned "$P/$1" key hex $2 value hex $3 || mln_die "bpftool: update $1 failed"; }
# lb_config: ENABLED, Maglev tables of 7, node ports 30000-30099
upd myelin_lb_cfg "$(le32 0)" "$(le32 1) $(le32 7) $(le16 30000) $(le16 30099) 00 00 00 00"
# backend ID ADDR PORT FLAGS (ACTIVE 1, LOCAL 4)
backend() { upd myelin_lb_be "$(le32 "$1")" "$(iphex "$2") $(be16 "$3") ${PROTO:-06} $(printf %02x "$4") 04 00 00 00"; }
# slot ADDR PORT SCOPE SLOT BACKEND_ID COUNT REV FLAGS (TCP; PROTO=11: UDP)
slot() { upd myelin_lb_svc "$(iphex "$1") $(be16 "$2") ${PROTO:-06} 0$3 $(le16 "$4") 04 00" "$(le32 "$5") $(le16 "$6") $(le16 "$7") $(le32 "$8") $(le32 0)"; }
revnat() { upd myelin_lb_revnat "$(le32 "$1")" "$(iphex "$2") $(be16 "$3") 04 00"; }
# frontend REV ADDR PORT FLAGS SCOPE BACKEND_ID...
frontend() {
  local rev=$1 addr=$2 port=$3 flags=$4 scope=$5 i=1 id; shift 5
  for id in "$@"; do slot "$addr" "$port" "$scope" "$i" "$id" 0 "$rev" 0; i=$((i + 1)); done
  slot "$addr" "$port" "$scope" 0 0 $# "$rev" "$flags"
  revnat "$rev" "$addr" "$port"
}
F_NODE_PORT=2 F_EXTERNAL_IP=4 F_TWO_SCOPES=32 F_MAGLEV=64
backend 1 "$A" 8080 5
backend 2 "$B" 8080 1   # written as another node's endpoint (LOCAL clear): eTP Local leaves it out
backend 3 "$C" 8080 5
frontend 1 "$N" 30080 $F_NODE_PORT 0 1 2                            # eTP Cluster
frontend 2 "$N" 30081 $((F_NODE_PORT | F_TWO_SCOPES)) 0 1           # eTP Local: outside clients get a only...
frontend 2 "$N" 30081 $F_NODE_PORT 1 1 2                            # ...inside ones both
frontend 3 "$N" 30082 $((F_NODE_PORT | F_TWO_SCOPES)) 0             # eTP Local, no local backend
frontend 3 "$N" 30082 $F_NODE_PORT 1 2
frontend 4 "$E1" 80 $F_EXTERNAL_IP 0 1 2                            # externalIP of this node
frontend 5 "$E2" 80 $F_EXTERNAL_IP 0 1 2                            # externalIP of someone else (a writer must not install it)
frontend 6 "$N" 30083 $F_NODE_PORT 0 3                              # c: its policy admits only its namespace
frontend 7 "$N" 30100 $F_NODE_PORT 0 1                              # outside --node-port-range
frontend 8 "$N" 30085 $((F_NODE_PORT | F_MAGLEV)) 0 1 2             # Maglev: the table says b
PROTO=11 backend 4 "$A" 8081 5
PROTO=11 backend 5 "$B" 8081 5
PROTO=11 frontend 9 "$N" 30090 $F_NODE_PORT 0 4 5                   # UDP
PROTO=11 backend 6 "$A" 8089 5
PROTO=11 frontend 10 "$N" 30091 $F_NODE_PORT 0 6                    # UDP, nothing listens on the backend's port
bpftool map create "$P/np_maglev8" type array key 4 value 4 entries 7 name np_maglev8 flags 4096 >/dev/null ||
  mln_die "bpftool: create the Maglev table"
for i in 0 1 2 3 4 5 6; do upd np_maglev8 "$(le32 $i)" "$(le32 2)"; done
bpftool map update pinned "$P/myelin_lb_maglev" key hex $(le32 8) value pinned "$P/np_maglev8" || mln_die "bpftool: install the Maglev table"

# ---- From the world ----
ask() { mln_world timeout 5 socat -T3 - "TCP:$1:$2,connect-timeout=2" </dev/null 2>/dev/null; }
# answers ADDR PORT N: N answers, one per line ("a 203.0.113.1")
answers() { local i; for i in $(seq 1 "$3"); do ask "$1" "$2" || echo "no-answer"; done; }

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
bpftool map dump pinned "$MLN_BPFFS/myelin_ct" -j | jq -e --argjson p $((((8089 & 255) << 8) | (8089 >> 8))) \
  'map(select(.formatted.key.proto == 17 and .formatted.key.dport == $p and .formatted.value.rev_nat_index == 10)) | length > 0' >/dev/null &&
  t_ok "that datagram went to the backend (CONNECTION entry to a:8089, rev_nat_index 10)" ||
  t_bad "that datagram went to the backend (CONNECTION entry to a:8089, rev_nat_index 10)"

echo "-- Maglev"
answers "$N" 30085 10 >"$MLN_TMP/maglev.txt"
[ "$(sort -u "$MLN_TMP/maglev.txt")" = "b $W" ] && t_ok "10 connections to a Maglev frontend all take the table's backend b" ||
  t_bad "10 connections to a Maglev frontend all take b" "$(sort "$MLN_TMP/maglev.txt" | uniq -c)"

echo "-- externalIPs"
answers "$E1" 80 6 >"$MLN_TMP/e1.txt"
grep -Eq "^[ab] $W$" "$MLN_TMP/e1.txt" && ! grep -q no-answer "$MLN_TMP/e1.txt" &&
  t_ok "the node's externalIP $E1:80 is served by the backends (6 of 6)" || t_bad "$E1:80 is served" "$(cat "$MLN_TMP/e1.txt")"
[ "$(ask "$E2" 80)" = "real-host $W" ] && t_ok "an externalIP not on the node ($E2) reaches the real host from the world" ||
  t_bad "$E2 reaches the real host from the world" "$(ask "$E2" 80)"
[ "$(mln_pod a timeout 5 socat -T3 - "TCP:$E2:80,connect-timeout=2" </dev/null 2>/dev/null)" = "real-host $A" ] &&
  t_ok "an externalIP not on the node ($E2) reaches the real host from a pod" || t_bad "$E2 reaches the real host from a pod"

echo "-- policy of the backend, range"
ask "$N" 30083 >/dev/null && t_bad "c's ingress policy (own namespace only) keeps the world out through a NodePort" ||
  t_ok "c's ingress policy (own namespace only) keeps the world out through a NodePort"
ask "$N" 30100 >/dev/null && t_bad "a NodePort outside --node-port-range is not served" || t_ok "a NodePort outside --node-port-range is not served"

echo "-- conntrack"
bpftool map dump pinned "$P/myelin_ct" -j >"$MLN_TMP/ct.json"
hexaddr() { printf '%d' "0x$(iphex "$1" | cut -d' ' -f1-4 | awk '{print $4$3$2$1}')"; }
AN=$(hexaddr "$A") WN=$(hexaddr "$W") NN=$(hexaddr "$N")
jq -e --argjson a "$AN" --argjson w "$WN" 'map(select(.formatted.key.kind == 0 and .formatted.key.saddr.w[0] == $w and .formatted.key.daddr.w[0] == $a
  and .formatted.value.rev_nat_index == 1 and (.formatted.value.flags % 8 >= 4))) | length > 0' "$MLN_TMP/ct.json" >/dev/null &&
  t_ok "a CONNECTION entry world -> a carries rev_nat_index 1 and CT_F_NODE_PORT" ||
  t_bad "a CONNECTION entry world -> a carries rev_nat_index 1 and CT_F_NODE_PORT" "$(jq -c '.[0]' "$MLN_TMP/ct.json")"
jq -e --argjson n "$NN" --argjson w "$WN" 'map(select(.formatted.key.kind == 1 and .formatted.key.saddr.w[0] == $w and .formatted.key.daddr.w[0] == $n
  and .formatted.value.backend_id == 1 and (.formatted.value.flags % 8 >= 4))) | length > 0' "$MLN_TMP/ct.json" >/dev/null &&
  t_ok "a SERVICE entry world -> $N holds backend 1 and CT_F_NODE_PORT" ||
  t_bad "a SERVICE entry world -> $N holds backend 1 and CT_F_NODE_PORT"

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

t_summary
