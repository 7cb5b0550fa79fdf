#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A cluster's life (MN_MODE=tunnel|native, etcd): kill -9 of an agent, on the
# sending and on the receiving node, under a cross-node UDP stream and a TCP
# connection loses no packet and breaks nothing; a node removed (its lease
# expires) leaves no ipcache entry, route or neighbour behind on the others,
# also when one of them was down while it happened; a node added is reached;
# a node that rejoins with a new address is re-learned (nothing points at the
# old one);
# etcd stopped: the datapath keeps working and status says degraded; etcd
# back: the state converges (a pod made meanwhile is learned).
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib/multinode.sh"
MN_MODE=${MN_MODE:-tunnel}
# Longer than an agent's restart on a loaded machine (measured: 3 s quiet, up
# to 12 s at load 12): a restart that outlasts the lease is a node that left,
# and the others rightly drop its packets (UNKNOWN_SENDER) until it is back.
MN_LEASE_TTL=${MN_LEASE_TTL:-20}
SEQ="$(cd "$(dirname "$0")" && pwd)/seq_stream.py"
echo "routing mode: $MN_MODE, lease TTL ${MN_LEASE_TTL}s"

mn_three_pods_up
reach() { mln_pod "$1" ping -q -c 1 -W 1 "$2" >/dev/null 2>&1; }
all_reach() { reach a "$B" && reach b "$C" && reach c "$A"; }
mln_retry 60 0.5 all_reach && t_ok "pods on n1, n2 and n3 reach each other" || t_bad "the cluster converged"

# no_trace_of NODE GONE-NODE GONE-CIDR GONE-IP: nothing of a removed node on NODE.
no_trace_of() {
  local n=$1 gone=$2 cidr=$3 ip=$4 left
  left=$(mn_ipcache "$n" | grep -E "tunnel=$ip |^$ip/32 |^${cidr%%.0/*}\." || true)
  [ -z "$left" ] || { echo "ipcache: $left"; return 1; }
  left=$(mn_node "$n" ip -4 route show | grep -F "${cidr%/*}" || true)
  [ -z "$left" ] || { echo "route: $left"; return 1; }
  left=$(mn_node "$n" ip neigh show "$ip" | grep PERMANENT || true)
  [ -z "$left" ] || { echo "neighbour: $left"; return 1; }
  mn_myelin "$n" node list -o json | jq -e --arg g "$gone" '[.nodes[]? | select(.name == $g)] | length == 0' >/dev/null ||
    { echo "node list still has $gone"; return 1; }
}
# the_trace_of NODE OTHER CIDR: the positive control: what no_trace_of looks for is there for a live node.
has_trace_of() {
  local n=$1 other=$2 cidr=$3 ip=$4
  mn_ipcache "$n" | mln_has -E "tunnel=$ip " || return 1
  [ "$MN_MODE" = tunnel ] || mn_node "$n" ip -4 route show | mln_has -F "${cidr%/*}" || return 1
  mn_myelin "$n" node list -o json | jq -e --arg o "$other" '[.nodes[]? | select(.name == $o)] | length == 1' >/dev/null
}

# drops_seen: every node's drop counters and last recorded drops (for a failure's message).
drops_seen() {
  local n
  for n in "${MN_NODES[@]}"; do
    echo "   $n drops: $(mn_myelin "$n" status -o json 2>/dev/null | jq -c '.drops // []')"
    mn_myelin "$n" observe --verdict DROPPED --last 5 2>/dev/null | sed "s/^/   $n: /"
  done
}

stream_through_kill() {  # $1 = the node whose agent is killed, $2 = sender pod, $3 = receiver pod, $4 = port
  local victim=$1 from=$2 to=$3 port=$4 sent got tsent tgot
  rm -f "$MLN_TMP/udp-recv.out" "$MLN_TMP/tcp-recv.out"
  mln_pod_bg "$to" timeout 120 python3 "$SEQ" udp-recv "$port" 5 >"$MLN_TMP/udp-recv.out"
  local urecv=$MLN_LAST_PID
  mln_pod_bg "$to" timeout 120 python3 "$SEQ" tcp-recv "$((port + 1))" >"$MLN_TMP/tcp-recv.out"
  local trecv=$MLN_LAST_PID
  mln_wait_listen "$to" "$port" udp
  mln_wait_listen "$to" "$((port + 1))" tcp
  # ~12 s of 200 datagrams/s and a TCP record every 10 ms; the agent dies at ~3 s and is back once ready.
  mln_pod_bg "$from" python3 "$SEQ" udp-send "${MLN_POD_IP[$to]}" "$port" 12 0.005 >"$MLN_TMP/udp-send.out"
  local usend=$MLN_LAST_PID
  mln_pod_bg "$from" python3 "$SEQ" tcp-send "${MLN_POD_IP[$to]}" "$((port + 1))" 12 0.01 >"$MLN_TMP/tcp-send.out" 2>&1
  local tsend=$MLN_LAST_PID
  sleep 3
  mn_agent_kill "$victim" KILL
  echo "   killed $victim's agent (-9) at $(date +%T.%N | cut -c1-12)"
  local t_kill t_back
  t_kill=$(date +%s)
  sleep 1
  mn_agent_start "$victim"
  t_back=$(date +%s)
  echo "   $victim's agent ready again at $(date +%T.%N | cut -c1-12)"
  wait "$usend" "$tsend" 2>/dev/null || true
  wait "$urecv" "$trecv" 2>/dev/null || true
  read -r _ sent _ errors <"$MLN_TMP/udp-send.out" || true
  read -r _ got _ _ _ missing <"$MLN_TMP/udp-recv.out" || true
  [ -n "$sent" ] && [ "${sent:-0}" -gt 1000 ] && [ "$got" = "$sent" ] && [ "$errors" = 0 ] &&
    t_ok "kill -9 of $victim's agent: $got of $sent UDP datagrams $from -> $to arrived" ||
    t_bad "kill -9 of $victim's agent: no lost datagram" "the agent was back after $((t_back - t_kill)) s (lease TTL ${MN_LEASE_TTL}s); sent ${sent:-?} (errors ${errors:-?}), received ${got:-?}, missing ${missing:-?} (one a 5 ms); $to's UDP: $(mln_pod "$to" awk '/^Udp:/' /proc/net/snmp | tr '\n' ' ')
$(drops_seen)"
  tsent=$(cat "$MLN_TMP/tcp-send.out" 2>/dev/null) tgot=$(cat "$MLN_TMP/tcp-recv.out" 2>/dev/null)
  [[ $tsent == "sent "* && $tsent != *error* ]] && [ "$tgot" = "received ${tsent#sent } gaps 0" ] &&
    t_ok "kill -9 of $victim's agent: the TCP connection $from -> $to carried all ${tsent#sent } records" ||
    t_bad "kill -9 of $victim's agent: the TCP connection survives" "sender: $tsent; receiver: $tgot"
}

echo "-- kill -9 of an agent under a cross-node stream"
stream_through_kill n1 a b 7000
stream_through_kill n2 a b 7100
mn_wait_cluster 30 && t_ok "after the restarts every node lists the three nodes" || t_bad "the cluster after the restarts"
t_check "a reaches b after both restarts" mln_pod a ping -q -c 2 -W 2 "$B"

echo "-- a node removed (its lease expires), also while another agent is down"
cidr3=${MN_NODE_CIDR[n3]} ip3=${MN_NODE_IP[n3]}
has_trace_of n1 n3 "$cidr3" "$ip3" && t_ok "positive control: n1 has n3's entries" || t_bad "positive control: n1 has n3's entries"
mn_agent_kill n2 KILL   # down while n3 goes
mn_node_del n3 KILL     # kill -9: nothing revokes n3's lease, it must expire
t_gone=$(date +%s)
gone_on_n1() { no_trace_of n1 n3 "$cidr3" "$ip3" >/dev/null; }
if mln_retry $(( (MN_LEASE_TTL + 10) * 5 )) 0.2 gone_on_n1; then
  t_ok "n3 gone from n1 (ipcache, routes, neighbours, node list) after $(( $(date +%s) - t_gone )) s (lease TTL ${MN_LEASE_TTL}s)"
else
  t_bad "n3 gone from n1 within the lease TTL + 10 s" "$(no_trace_of n1 n3 "$cidr3" "$ip3")"
fi
mn_agent_start n2
gone_on_n2() { no_trace_of n2 n3 "$cidr3" "$ip3" >/dev/null; }
mln_retry 100 0.2 gone_on_n2 && t_ok "n2, down while n3 went, has no trace of n3 after its restart" ||
  t_bad "n2 pruned n3 after its restart" "$(no_trace_of n2 n3 "$cidr3" "$ip3")"
reach a "$B" && t_ok "a still reaches b" || t_bad "a still reaches b"

echo "-- a node added"
mn_node_add n4
mn_pod_add n4 d ns-x
D=${MLN_POD_IP[d]}
mln_retry 100 0.1 reach a "$D" && t_ok "a (n1) reaches d on the new node n4" || t_bad "a reaches d on n4"
mln_retry 100 0.1 reach d "$B" && t_ok "d (n4) reaches b (n2)" || t_bad "d reaches b"

echo "-- a node rejoins with a new address"
old4=${MN_NODE_IP[n4]} new4=$MN_UL_PREFIX.44 cidr4=${MN_NODE_CIDR[n4]}
has_trace_of n1 n4 "$cidr4" "$old4" && t_ok "positive control: n1 tunnels to n4 at $old4" || t_bad "positive control: n1 has n4 at $old4"
mn_node_readdress n4 "$new4"
relearned() {  # $1 = node: n4 at its new address everywhere, nothing left at the old one
  has_trace_of "$1" n4 "$cidr4" "$new4" || return 1
  ! mn_ipcache "$1" | mln_has -E "tunnel=$old4 |^$old4/32 " || return 1
  [ "$MN_MODE" = tunnel ] || ! mn_node "$1" ip -4 route show | mln_has -F "via $old4" || return 1
  mn_myelin "$1" node list -o json | jq -e --arg a "$new4" '[.nodes[]? | select(.name == "n4") | .addresses[]? | tostring | select(contains($a))] | length >= 1' >/dev/null
}
for n in n1 n2; do
  mln_retry 100 0.1 relearned "$n" && t_ok "$n re-learned n4 at $new4 (ipcache, routes, node list; nothing at $old4)" ||
    t_bad "$n re-learned n4's new address" "$(mn_ipcache "$n" | grep -E "tunnel=($old4|$new4) " ; mn_myelin "$n" node list -o json | jq -c '.nodes[]? | select(.name == "n4")')"
done
mln_retry 100 0.1 reach a "$D" && t_ok "a (n1) reaches d on n4 at its new address" || t_bad "a reaches d after n4's new address"
mln_retry 100 0.1 reach d "$B" && t_ok "d (n4) reaches b (n2) from the new address" || t_bad "d reaches b after n4's new address"

echo "-- etcd stopped: the datapath keeps working, status says degraded"
mn_etcd_stop
degraded() { mn_myelin "$1" status -o json | jq -e 'tostring | test("degraded|unreachable|disconnected"; "i")' >/dev/null; }
mln_retry 150 0.1 degraded n1 && t_ok "n1's status says the store is unreachable" || t_bad "status degraded without etcd" "$(mn_myelin n1 status -o json | head -c 800)"
sleep "$MN_LEASE_TTL"   # longer than a lease: nothing may expire while the store is down
t_check "a (n1) -> b (n2) works without etcd" mln_pod a ping -q -c 3 -i 0.2 -W 2 "$B"
t_check "d (n4) -> a (n1) works without etcd" mln_pod d ping -q -c 3 -i 0.2 -W 2 "$A"
# An agent restarted while the store is down starts degraded and keeps its datapath.
mn_agent_kill n1 KILL
mn_agent_start n1
mln_retry 150 0.1 degraded n1 && t_ok "n1 restarted without etcd: ready, status degraded" || t_bad "n1's restart without etcd" "$(mn_myelin n1 status -o json | head -c 800)"
t_check "a (n1) -> b (n2) works after n1's restart without etcd" mln_pod a ping -q -c 3 -i 0.2 -W 2 "$B"
t_check "b (n2) -> a (n1) works after n1's restart without etcd" mln_pod b ping -q -c 3 -i 0.2 -W 2 "$A"
mn_pod_add n1 e ns-x   # made while the store is down: local only until it returns
E=${MLN_POD_IP[e]}
t_check "the pod made without etcd works on its node" mln_pod e ping -q -c 1 -W 2 "$A"
mn_etcd_start
t_back=$(date +%s)
mln_retry 300 0.1 reach b "$E" && t_ok "etcd back: the pod made meanwhile is reached from n2 after $(( $(date +%s) - t_back )) s" ||
  t_bad "etcd back: b reaches e"
healthy() { ! degraded "$1"; }
mln_retry 300 0.1 healthy n1 && t_ok "n1's status is no longer degraded" || t_bad "status recovers" "$(mn_myelin n1 status -o json | head -c 800)"
mn_wait_cluster 30 && t_ok "every node lists n1, n2 and n4" || t_bad "node lists after etcd's return"

t_summary
