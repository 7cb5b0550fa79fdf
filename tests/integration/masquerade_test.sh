#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Masquerade (issue 12): pods reach a "world" outside the cluster that has
# no route to the pod CIDR (mln_world_up, its pod route taken away) because
# host.bpf.c's to_netdev SNATs their flows to the node's address on the
# node's device, and from_netdev translates the replies back. Checked:
#   - the agent found its node address (the default route's device) and
#     to_netdev is on mln-wan's egress;
#   - TCP, UDP and ICMP echo from two pods reach the world, which sees the
#     node's address (its servers echo the peer they saw);
#   - flows: a new translation traced at TO_NETWORK; GRE dropped
#     UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE;
#   - a connection held open: both of its entries in myelin_snat, its port
#     in the range and the one the world sees; closed, conntrack's GC takes
#     them away;
#   - kill -9 of the agent under an open connection: it carries on while
#     the agent is gone and after the new one started;
#   - a connection the world opens to a pod's own address (a route back
#     added for it) keeps the pod's address: its replies are not SNATed;
#   - --masquerade false: the same pod cannot reach the world (its SYNs
#     leave with the pod's address, nobody routes the answer); positive
#     control: the world still reaches the node itself;
#   - masquerade on again after a restart: the pod reaches the world again.
source "$(dirname "$0")/common.sh"
command -v socat >/dev/null && command -v python3 >/dev/null || { echo "FAIL: socat or python3 missing"; exit 1; }

mln_init
CIDR=10.216.0.0/24
MLN_NODE_NAME=masq-node
MLN_AGENT_ARGS=(--metrics-addr "" --ct-gc-interval 1)
mln_world_up "$CIDR"
mln_world ip route del "$CIDR"  # the world knows no pod addresses
mln_node_up "$CIDR"
W=$MLN_WORLD_IP N=$MLN_NODE_IP

grep -q "pod traffic leaving the cluster is SNATed to $N" "$MLN_AGENT_LOG" &&
  t_ok "the agent masquerades to $N (mln-wan's address, the default route's device)" ||
  t_bad "the agent masquerades to $N" "$(grep -E 'masquerade|nodeport' "$MLN_AGENT_LOG")"
mln_node tc filter show dev mln-wan egress | mln_has to_netdev && t_ok "to_netdev is on mln-wan's tc egress" ||
  t_bad "to_netdev is on mln-wan's tc egress" "$(mln_node tc filter show dev mln-wan egress)"

mln_pod_add a; mln_pod_add b
A=${MLN_POD_IP[a]} B=${MLN_POD_IP[b]}
echo "pods: a=$A b=$B; world $W, node $N"

# The world's servers answer with the address they see the client at.
# Started with nsenter itself, not the mln_world function: $! must be the
# server (a function in the background is a subshell, and killing it would
# leave the server running).
WNS="nsenter --net=/var/run/netns/$MLN_WORLD"
$WNS socat TCP-LISTEN:8080,bind=$W,fork,reuseaddr SYSTEM:"echo world \$SOCAT_PEERADDR" &
MLN_PIDS+=("$!")
UDP_SERVER='import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 8081))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(("world " + a[0] + "\n").encode(), a)'
$WNS python3 -c "$UDP_SERVER" "$W" &
MLN_PIDS+=("$!")
mln_retry 100 0.05 sh -c "nsenter --net=/var/run/netns/$MLN_WORLD ss -Hltn 'sport = :8080' | grep -q ." || mln_die "the world does not listen on TCP"
mln_retry 100 0.05 sh -c "nsenter --net=/var/run/netns/$MLN_WORLD ss -Hlun 'sport = :8081' | grep -q ." || mln_die "the world does not listen on UDP"
# Pod b serves too (for the world's own connection below).
mln_pod_bg b socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:"echo b \$SOCAT_PEERADDR"
mln_wait_listen b 8080 tcp

tcp_from() { mln_pod "$1" timeout 5 socat -T3 - "TCP:$W:8080,connect-timeout=3" </dev/null 2>/dev/null; }
udp_from() { printf 'x\n' | mln_pod "$1" timeout 5 socat -T2 - "UDP:$W:8081" 2>/dev/null | head -n1; }

for p in a b; do
  got=$(mln_retry 20 0.2 tcp_from "$p") || got=""
  [ "$got" = "world $N" ] && t_ok "TCP from pod $p reaches the world, which sees the node ($N)" ||
    t_bad "TCP from pod $p reaches the world as $N" "got '$got'"
  got=""
  for i in 1 2 3 4 5; do got=$(udp_from "$p") && [ -n "$got" ] && break; done
  [ "$got" = "world $N" ] && t_ok "UDP from pod $p reaches the world as $N" || t_bad "UDP from pod $p reaches the world as $N" "got '$got'"
done
mln_pod a ping -c 3 -i 0.2 -W 2 "$W" >/dev/null && t_ok "ping from pod a to the world (echo id translated)" ||
  t_bad "ping from pod a to the world"

# Flows: the new translation's trace at TO_NETWORK (source: the pod), and
# a protocol masquerade cannot translate (GRE, by a raw socket) dropped
# UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE, named in the drop's flow.
mln_pod a python3 -c "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47); s.sendto(b'\0' * 16, ('$W', 0))" ||
  t_bad "pod a sent a GRE packet"
flows() { mln_myelin observe --all -o json --from-ip "$A" --to-ip "$W" >"$MLN_TMP/flows.json" 2>/dev/null &&
  jq -e 'select(.flow.drop_reason_desc == "UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE")' "$MLN_TMP/flows.json" >/dev/null; }
mln_retry 50 0.1 flows || true
t_jq "a new translation is traced at TO_NETWORK with the pod as its source" \
  '.flow.trace_observation_point == "TO_NETWORK" and .flow.IP.source == "'"$A"'" and .flow.verdict == "FORWARDED"' "$MLN_TMP/flows.json"
t_jq "GRE from pod a is dropped UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE on mln-wan" \
  '.flow.drop_reason_desc == "UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE" and .flow.verdict == "DROPPED" and .flow.interface.name == "mln-wan"' "$MLN_TMP/flows.json"

# The translations of a connection held open (myelin_snat, both directions),
# and conntrack-backed GC once it closed (--ct-gc-interval 1; a closed TCP
# connection leaves conntrack 10 s after its last packet).
$WNS socat TCP-LISTEN:8082,bind=$W,fork,reuseaddr EXEC:cat &
MLN_PIDS+=("$!")
mln_retry 100 0.05 sh -c "nsenter --net=/var/run/netns/$MLN_WORLD ss -Hltn 'sport = :8082' | grep -q ." || mln_die "the world does not listen on 8082"
mln_pod_bg a python3 -c "import socket, time; s = socket.create_connection(('$W', 8082)); time.sleep(120)"
HOLD=$MLN_LAST_PID
swap() { echo $(( (($1 & 255) << 8) | ($1 >> 8) )); }  # bpftool prints a __be16 as the number its bytes make here
held() {  # the held connection's translated port, once both of its entries are there
  local j port
  j=$(bpftool -j map dump pinned "$MLN_BPFFS/myelin_snat" 2>/dev/null) || return 1
  port=$(jq -r --argjson p "$(swap 8082)" '[.[] | select(.formatted.key.dir == 1 and .formatted.key.proto == 6 and .formatted.key.dport == $p)]
    | if length == 1 then .[0].formatted.value.to_port else empty end' <<<"$j") || return 1
  [ -n "$port" ] || return 1
  jq -e --argjson p "$(swap 8082)" --argjson n "$port" 'any(.[]; .formatted.key.dir == 2 and .formatted.key.proto == 6 and
    .formatted.key.sport == $p and .formatted.key.dport == $n)' <<<"$j" >/dev/null || return 1
  swap "$port"
}
port=""
for i in $(seq 1 100); do port=$(held) && break; sleep 0.1; done
seen=$(mln_world ss -Htn state established "sport = :8082" | awk '{print $4}' | head -n1)
[ -n "$port" ] && [ "$port" -ge 61000 ] && [ "$port" -le 65535 ] && [ "$seen" = "$N:$port" ] &&
  t_ok "myelin_snat holds the open connection both ways; the world sees it from $N:$port (in 61000-65535)" ||
  t_bad "myelin_snat holds the open connection both ways" "port '$port', the world sees '$seen'"
kill "$HOLD" 2>/dev/null || true
gone() {  # neither entry of the connection left (and the map was read)
  local j
  j=$(bpftool -j map dump pinned "$MLN_BPFFS/myelin_snat" 2>/dev/null) || return 1
  jq -e --argjson p "$(swap 8082)" '[.[] | select(.formatted.key.proto == 6 and
    ((.formatted.key.dir == 1 and .formatted.key.dport == $p) or (.formatted.key.dir == 2 and .formatted.key.sport == $p)))] | length == 0' <<<"$j" >/dev/null
}
t0=$(date +%s)
mln_retry 300 0.1 gone && t_ok "closed, its translation is collected with its conntrack entry ($(( $(date +%s) - t0 )) s)" ||
  t_bad "closed, its translation is collected" "$(bpftool -j map dump pinned "$MLN_BPFFS/myelin_snat" | head -c 1500)"

# kill -9 of the agent under an open connection: the programs and the
# pinned translations stay, so the connection carries on, before and after
# the new agent starts.
CLIENT='import os, socket, sys, time
s = socket.create_connection((sys.argv[1], 8082)); s.settimeout(20)
for word in ("one", "two", "three"):
    while word != "one" and not os.path.exists(sys.argv[2] + "." + word): time.sleep(0.05)
    s.sendall(word.encode() + b"\n"); print(s.recv(100).decode().strip(), flush=True)'
FLAG="$MLN_TMP/go"
mln_pod_bg a python3 -c "$CLIENT" "$W" "$FLAG" >"$MLN_TMP/client.out" 2>&1
CLIENT_PID=$MLN_LAST_PID
mln_retry 100 0.1 grep -qx one "$MLN_TMP/client.out" || t_bad "the client's first echo" "$(cat "$MLN_TMP/client.out")"
mln_agent_kill KILL
touch "$FLAG.two"
mln_retry 100 0.1 grep -qx two "$MLN_TMP/client.out" &&
  t_ok "an open masqueraded connection carries on while the agent is gone (kill -9)" ||
  t_bad "an open masqueraded connection carries on while the agent is gone" "$(cat "$MLN_TMP/client.out")"
mln_agent_start
touch "$FLAG.three"
mln_retry 100 0.1 grep -qx three "$MLN_TMP/client.out" &&
  t_ok "and after the new agent started (its translation adopted from the pinned map)" ||
  t_bad "and after the new agent started" "$(cat "$MLN_TMP/client.out")"
kill "$CLIENT_PID" 2>/dev/null || true

# A connection the world opens to pod b's own address: its replies keep b's address.
mln_world ip route add "$CIDR" via "$N" dev eth0
got=$(mln_world timeout 5 socat -T3 - "TCP:$B:8080,connect-timeout=3" </dev/null 2>/dev/null) || got=""
[ "$got" = "b $W" ] && t_ok "the world's own connection to pod b works (its replies are not masqueraded)" ||
  t_bad "the world's own connection to pod b works" "got '$got'"
mln_world ip route del "$CIDR"

# ---- --masquerade false ----
mln_agent_kill TERM
MLN_AGENT_ARGS=(--metrics-addr "" --masquerade false)
mln_agent_start
grep -q "off (--masquerade false)" "$MLN_AGENT_LOG" && t_ok "the agent says masquerade is off" ||
  t_bad "the agent says masquerade is off" "$(grep masquerade "$MLN_AGENT_LOG")"
mln_node timeout 5 socat -T3 - "TCP:$W:8080,connect-timeout=3" </dev/null >/dev/null 2>&1 &&
  t_ok "positive control: the node itself reaches the world" || t_bad "positive control: the node itself reaches the world"
got=$(tcp_from a) || got=""
[ -z "$got" ] && t_ok "--masquerade false: pod a cannot reach the world (no route back to $A)" ||
  t_bad "--masquerade false: pod a cannot reach the world" "got '$got'"

# ---- on again ----
mln_agent_kill TERM
MLN_AGENT_ARGS=(--metrics-addr "")
mln_agent_start
got=$(mln_retry 20 0.2 tcp_from a) || got=""
[ "$got" = "world $N" ] && t_ok "masquerade on again after a restart: pod a reaches the world as $N" ||
  t_bad "masquerade on again: pod a reaches the world" "got '$got'"

t_summary
