#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pods on three nodes talk across the underlay (MN_MODE=tunnel: VXLAN;
# MN_MODE=native: routes via the node addresses), with the cluster state in
# etcd: ICMP, TCP and UDP between every pair of nodes; the same identity
# numbers on every node; flows naming the other node's pod; a new pod
# reachable from the other nodes within a bound (measured); the MTU cases
# (route MTU, a DF packet of exactly the route MTU crossing, 1500 bytes from
# outside not fragmented, the PMTU error reaching the sender); masquerade of
# pod traffic to the world.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib/multinode.sh"
MN_MODE=${MN_MODE:-tunnel}
echo "routing mode: $MN_MODE"

mn_three_pods_up
echo "pods: a=$A (n1) b=$B (n2) c=$C (n3)"

echo "-- the cluster"
mn_wait_cluster 30 && t_ok "every node lists the three nodes" ||
  t_bad "every node lists the three nodes" "$(mn_myelin n1 node list -o json 2>&1 | head -c 600)"
for n in n1 n2 n3; do
  mn_myelin "$n" node list -o json >"$MLN_TMP/nodes-$n.json" 2>&1 || true
done
t_jq "n1 sees n2 with its address and pod CIDR" \
  ".nodes[]? | select(.name == \"n2\") | (tostring | contains(\"${MN_NODE_IP[n2]}\")) and (tostring | contains(\"${MN_NODE_CIDR[n2]}\"))" "$MLN_TMP/nodes-n1.json"

echo "-- ICMP, TCP and UDP between nodes"
reach() { mln_pod "$1" ping -q -c 1 -W 1 "$2" >/dev/null 2>&1; }
declare -A T0=()
for pair in "a $B" "b $C" "c $A"; do
  read -r p ip <<<"$pair"
  mln_retry 60 0.5 reach "$p" "$ip" || true   # the first packet may race the cluster's first sync
done
for pair in "a $B n1 n2" "b $A n2 n1" "b $C n2 n3" "c $B n3 n2" "c $A n3 n1" "a $C n1 n3"; do
  read -r p ip from to <<<"$pair"
  t_check "ICMP $from -> $to ($p -> $ip)" mln_pod "$p" ping -q -c 3 -i 0.2 -W 2 "$ip"
done
for p in a b c; do
  mln_pod_bg "$p" timeout 120 socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo tcp-from-$(hostname)-ok' >/dev/null 2>&1
  mln_pod_bg "$p" timeout 120 "$MLN_BIN/udp_echo" 9090 >/dev/null 2>&1
done
for p in a b c; do mln_wait_listen "$p" 8080 tcp; mln_wait_listen "$p" 9090 udp; done
for pair in "a $B n1 n2" "b $C n2 n3" "c $A n3 n1"; do
  read -r p ip from to <<<"$pair"
  out=$(mln_pod "$p" timeout 5 socat -T3 - "TCP:$ip:8080" </dev/null 2>&1) || true
  [[ $out == tcp-from-*-ok ]] && t_ok "TCP $from -> $to" || t_bad "TCP $from -> $to" "got: $out"
  out=$(echo ping | mln_pod "$p" timeout 5 socat -T2 - "UDP:$ip:9090" 2>&1) || true
  [ "$out" = pong ] && t_ok "UDP $from -> $to" || t_bad "UDP $from -> $to" "got: $out"
done
# A larger TCP transfer (1 MiB) crosses intact: segments of the full MSS.
head -c 1048576 /dev/urandom >"$MLN_TMP/blob"
mln_pod_bg b timeout 60 socat -u TCP-LISTEN:8081,reuseaddr "OPEN:$MLN_TMP/blob.recv,creat,trunc"
mln_wait_listen b 8081 tcp
mln_pod a timeout 30 socat -u "OPEN:$MLN_TMP/blob" "TCP:$B:8081" || true
same_blob() { cmp -s "$MLN_TMP/blob" "$MLN_TMP/blob.recv"; }
mln_retry 50 0.1 same_blob && t_ok "1 MiB over TCP n1 -> n2 arrives intact" || t_bad "1 MiB over TCP n1 -> n2"

echo "-- identities, the same numbers on every node"
for n in n1 n2 n3; do
  mn_myelin "$n" identity list -o json | jq -S '[.identities[] | select(.kind == "pod") | {id, labels: (.labels | sort)}] | sort_by(.id)' \
    >"$MLN_TMP/ids-$n.json" 2>/dev/null || echo '[]' >"$MLN_TMP/ids-$n.json"
done
npods=$(jq 'length' "$MLN_TMP/ids-n1.json")
[ "$npods" -ge 1 ] && cmp -s "$MLN_TMP/ids-n1.json" "$MLN_TMP/ids-n2.json" && cmp -s "$MLN_TMP/ids-n1.json" "$MLN_TMP/ids-n3.json" &&
  t_ok "identity list: the same $npods pod identities with the same numbers on n1, n2 and n3" ||
  t_bad "identity numbers equal on all nodes" "$(for n in n1 n2 n3; do echo "$n: $(jq -c 'map(.id)' "$MLN_TMP/ids-$n.json")"; done | tr '\n' ' ')"
ida=$(mn_myelin n1 endpoint list -o json | jq -r '.endpoints[] | select(.pod_name == "a") | .identity')
jq -e --argjson id "${ida:-0}" 'map(select(.id == $id)) | length == 1' "$MLN_TMP/ids-n3.json" >/dev/null &&
  t_ok "n3 knows a's identity $ida" || t_bad "n3 knows a's identity" "a is $ida on n1"

echo "-- flows name the other node's pod"
mln_pod a ping -q -c 2 -i 0.2 -W 2 "$B" >/dev/null || true
mn_myelin n1 observe --all -o json --to-ip "$B" >"$MLN_TMP/flows-n1.json" 2>/dev/null || true
mn_myelin n2 observe --all -o json --from-ip "$A" >"$MLN_TMP/flows-n2.json" 2>/dev/null || true
t_jq "n1's flow to b names pod ns-x/b with its identity" \
  '.flow.destination.pod_name == "b" and .flow.destination.namespace == "ns-x" and (.flow.destination.identity // 0) >= 256' "$MLN_TMP/flows-n1.json"
t_jq "n2's flow from a names pod ns-x/a and where it was seen" \
  '.flow.source.pod_name == "a" and .flow.source.namespace == "ns-x" and .flow.node_name == "n2"' "$MLN_TMP/flows-n2.json"
if [ "$MN_MODE" = tunnel ]; then
  t_jq "n1: TO_OVERLAY with the tunnel to n2" \
    ".flow.trace_observation_point == \"TO_OVERLAY\" and (.flow.tunnel.IP.destination // \"\") == \"${MN_NODE_IP[n2]}\"" "$MLN_TMP/flows-n1.json"
  t_jq "n2: FROM_OVERLAY with the tunnel from n1, the VNI a's identity" \
    ".flow.trace_observation_point == \"FROM_OVERLAY\" and (.flow.tunnel.IP.source // \"\") == \"${MN_NODE_IP[n1]}\" and (.flow.tunnel.vni // 0) == ${ida:-0}" "$MLN_TMP/flows-n2.json"
else
  jq -e -s 'map(select(.flow.trace_observation_point == "TO_OVERLAY" or .flow.trace_observation_point == "FROM_OVERLAY")) | length == 0' \
    "$MLN_TMP/flows-n1.json" >/dev/null && t_ok "native: no overlay observation point" || t_bad "native: no overlay observation point"
fi

echo "-- a new pod on n3 reaches every node (time measured)"
mn_pod_add n3 d ns-x
D=${MLN_POD_IP[d]}
t0=$(date +%s%N)
for n in n1 n2; do
  p=$([ "$n" = n1 ] && echo a || echo b)
  if mln_retry 200 0.02 reach "$p" "$D"; then
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$ms" -le 1000 ] && t_ok "new pod d (n3) reachable from $n after ${ms} ms (goal: 1 s)" || t_bad "new pod d reachable from $n within 1 s" "${ms} ms"
  else
    t_bad "new pod d reachable from $n" "not within 4 s"
  fi
done

echo "-- MTU"
if [ "$MN_MODE" = tunnel ]; then RMTU=1450; else RMTU=1500; fi
devmtu=$(mln_pod a cat /sys/class/net/eth0/mtu)
[ "$devmtu" = 1500 ] && t_ok "pod device MTU is the underlay's (1500)" || t_bad "pod device MTU" "$devmtu"
routes=$(mln_pod a ip -4 route show)
if [ "$MN_MODE" = tunnel ]; then
  grep -q "mtu $RMTU" <<<"$routes" && ! grep -q "mtu 1500" <<<"$routes" && t_ok "pod routes carry MTU $RMTU (underlay - 50)" ||
    t_bad "pod routes carry MTU $RMTU" "$routes"
else
  ! grep -q "mtu 14" <<<"$routes" && t_ok "native: pod routes carry the full MTU" || t_bad "native: pod route MTU" "$routes"
fi
t_check "a DF ping of exactly the route MTU ($RMTU) crosses n1 -> n2" mln_pod a ping -q -c 2 -W 2 -M do -s $((RMTU - 28)) "$B"
big=$(mln_pod a ping -c 1 -W 2 -M do -s $((RMTU - 27)) "$B" 2>&1) && t_bad "one byte over the route MTU is refused at the sender" "$big" ||
  { grep -qi "too long\|mtu" <<<"$big" && t_ok "one byte over the route MTU: the sender is told (${big//$'\n'/ })" || t_bad "PMTU error at the sender" "$big"; }
# From outside: the world routes the pod pool to n1 (a router in front of it).
mn_world ip route add "$MN_POD_POOL" via "${MN_NODE_IP[n1]}"
t_check "1500 bytes (DF) from outside reach a pod on n1 unfragmented" mn_world ping -q -c 2 -W 2 -M do -s 1472 "$A"
if [ "$MN_MODE" = tunnel ]; then
  # Via n1 to a pod on n2: 1500 + 50 does not fit the underlay: n1 says so.
  out=$(mn_world ping -c 3 -i 0.3 -W 1 -M do -s 1472 "$B" 2>&1) || true
  grep -qi "mtu = $RMTU\|mtu=$RMTU" <<<"$out" && t_ok "1500 bytes (DF) from outside for a pod on n2: the PMTU error (mtu $RMTU) reaches the sender" ||
    t_bad "PMTU error from the tunnel reaches the sender" "$(tr '\n' ' ' <<<"$out")"
  t_check "and $RMTU bytes from outside cross to n2" mn_world ping -q -c 2 -W 2 -M do -s $((RMTU - 28)) "$B"
else
  t_check "native: 1500 bytes (DF) from outside cross to a pod on n2" mn_world ping -q -c 2 -W 2 -M do -s 1472 "$B"
fi
mn_world ip route del "$MN_POD_POOL" via "${MN_NODE_IP[n1]}"

echo "-- masquerade: pods reach the world as their node"
mn_bg "/var/run/netns/mln-$MLN_ID-world" timeout 60 socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' >/dev/null 2>&1
world_listens() { mn_world ss -H -ltn "sport = :80" | mln_has .; }
mln_retry 100 0.05 world_listens || mln_die "nothing listens in the world"
t_check "positive control: n1 itself reaches the world" mn_node n1 timeout 3 nc -z -w 2 "$MN_WORLD_IP" 80
for pair in "a n1" "b n2"; do
  read -r p n <<<"$pair"
  seen=$(mln_pod "$p" timeout 5 socat -T3 - "TCP:$MN_WORLD_IP:80" </dev/null 2>&1) || true
  [ "$seen" = "${MN_NODE_IP[$n]}" ] && t_ok "pod $p reaches the world as its node $n (${MN_NODE_IP[$n]})" ||
    t_bad "pod $p masqueraded to its node" "the world saw: '$seen'"
done
t_check "masqueraded ICMP: a pings the world" mln_pod a ping -q -c 2 -W 2 "$MN_WORLD_IP"

t_summary
