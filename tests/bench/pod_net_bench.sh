#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod-to-pod TCP latency (sockperf ping-pong) and throughput (iperf3) through
# Myelin, beside the same pair of namespaces joined by the reference `bridge`
# CNI plugin (containernetworking-plugins) and the physical floor (two
# namespaces joined by one bare veth pair: no bridge, no BPF), measured in one
# run, alternating rounds so machine noise hits all alike. Prints medians and
# Myelin/bridge and Myelin/floor ratios. Not part of the test suite (tests
# never assert on time).
#   tests/bench/pod_net_bench.sh [ROUNDS]      (as root; default 3 rounds)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib/cluster.sh"
[ "$(id -u)" -eq 0 ] || { echo "pod_net_bench: run as root" >&2; exit 1; }
ROUNDS=${1:-3}
BRIDGE_PLUGIN=/usr/lib/cni/bridge
[ -x "$BRIDGE_PLUGIN" ] || { echo "pod_net_bench: $BRIDGE_PLUGIN missing (apt-get install containernetworking-plugins)" >&2; exit 1; }

mln_init
MLN_NODE_NAME=bench-node
mln_node_up 10.214.0.0/24
mln_pod_add client
mln_pod_add server
MY_CLIENT=${MLN_POD_NETNS[client]} MY_SERVER=${MLN_POD_NETNS[server]} MY_IP=${MLN_POD_IP[server]}

# The reference: the bridge plugin with host-local IPAM, in its own node namespace.
BR_NODE="mln-$MLN_ID-brnode" BR_CLIENT="mln-$MLN_ID-brclient" BR_SERVER="mln-$MLN_ID-brserver"
ip netns add "$BR_NODE"; ip netns add "$BR_CLIENT"; ip netns add "$BR_SERVER"
for ns in "$BR_NODE" "$BR_CLIENT" "$BR_SERVER"; do ip netns exec "$ns" ip link set lo up; done
BR_CONF=$(printf '{"cniVersion":"1.0.0","name":"br","type":"bridge","bridge":"mlnbr%s","isGateway":true,"ipam":{"type":"host-local","subnet":"10.215.0.0/24","dataDir":"%s/hostlocal"}}' "$MLN_ID" "$MLN_TMP")
br_add() {
  nsenter --net="/var/run/netns/$BR_NODE" -- env CNI_COMMAND=ADD CNI_CONTAINERID="$1" CNI_NETNS="/var/run/netns/$1" \
    CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "$BRIDGE_PLUGIN" <<<"$BR_CONF"
}
br_add "$BR_CLIENT" >/dev/null
BR_IP=$(br_add "$BR_SERVER" | jq -r '.ips[0].address' | cut -d/ -f1)

# The floor: one veth pair straight between two namespaces.
FL_CLIENT="mln-$MLN_ID-flclient" FL_SERVER="mln-$MLN_ID-flserver" FL_IP=10.216.0.2
ip netns add "$FL_CLIENT"; ip netns add "$FL_SERVER"
ip -n "$FL_CLIENT" link add eth0 type veth peer name eth0 netns "$FL_SERVER"
ip -n "$FL_CLIENT" addr add 10.216.0.1/30 dev eth0
ip -n "$FL_SERVER" addr add "$FL_IP/30" dev eth0
for ns in "$FL_CLIENT" "$FL_SERVER"; do ip -n "$ns" link set lo up; ip -n "$ns" link set eth0 up; done

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
wait_listen() {  # ns port
  for _ in $(seq 1 100); do in_ns "$1" ss -H -ltn "sport = :$2" | grep -q . && return 0; sleep 0.05; done
  echo "pod_net_bench: server on port $2 did not start" >&2; return 1
}
# latency CLIENT_NS SERVER_NS IP -> "p50 p99" (usec, sockperf's one-way estimate = RTT/2)
latency() {
  # ip netns exec execs the server, so $! is the server itself (through a shell
  # function it would be a subshell, and killing that leaves the server running);
  # timeout bounds it if this script dies first.
  ip netns exec "$2" timeout 60 sockperf server -i "$3" -p 11111 --tcp >/dev/null 2>&1 & local spid=$!
  wait_listen "$2" 11111
  local out; out=$(in_ns "$1" sockperf ping-pong -i "$3" -p 11111 --tcp -t 3 2>&1 || true)
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  echo "$(grep -oE 'percentile 50.000 = +[0-9.]+' <<<"$out" | awk '{print $NF}') $(grep -oE 'percentile 99.000 = +[0-9.]+' <<<"$out" | awk '{print $NF}')"
}
# throughput CLIENT_NS SERVER_NS IP -> Gbit/s
throughput() {
  ip netns exec "$2" timeout 60 iperf3 -s -1 -p 5299 >/dev/null 2>&1 & local ipid=$!
  wait_listen "$2" 5299
  in_ns "$1" iperf3 -c "$3" -p 5299 -t 4 -J | jq '.end.sum_received.bits_per_second / 1e9'
  kill "$ipid" 2>/dev/null || true  # a client that failed leaves the one-shot server waiting
  wait "$ipid" 2>/dev/null || true
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -a my_p50 my_p99 my_bw br_p50 br_p99 br_bw fl_p50 fl_p99 fl_bw
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS ..." >&2
  read -r a b < <(latency "$MY_CLIENT" "$MY_SERVER" "$MY_IP"); my_p50+=("$a"); my_p99+=("$b")
  read -r a b < <(latency "$BR_CLIENT" "$BR_SERVER" "$BR_IP"); br_p50+=("$a"); br_p99+=("$b")
  read -r a b < <(latency "$FL_CLIENT" "$FL_SERVER" "$FL_IP"); fl_p50+=("$a"); fl_p99+=("$b")
  my_bw+=("$(throughput "$MY_CLIENT" "$MY_SERVER" "$MY_IP")")
  br_bw+=("$(throughput "$BR_CLIENT" "$BR_SERVER" "$BR_IP")")
  fl_bw+=("$(throughput "$FL_CLIENT" "$FL_SERVER" "$FL_IP")")
done

m50=$(printf '%s\n' "${my_p50[@]}" | median); m99=$(printf '%s\n' "${my_p99[@]}" | median); mbw=$(printf '%s\n' "${my_bw[@]}" | median)
b50=$(printf '%s\n' "${br_p50[@]}" | median); b99=$(printf '%s\n' "${br_p99[@]}" | median); bbw=$(printf '%s\n' "${br_bw[@]}" | median)
f50=$(printf '%s\n' "${fl_p50[@]}" | median); f99=$(printf '%s\n' "${fl_p99[@]}" | median); fbw=$(printf '%s\n' "${fl_bw[@]}" | median)
echo
echo "Pod-to-pod on one node, $ROUNDS alternating rounds, medians ($(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-28s %12s %12s %12s %14s %13s\n' "" "Myelin" "bridge CNI" "floor (veth)" "Myelin/bridge" "Myelin/floor"
row() { printf '%-28s %12.2f %12.2f %12.2f %14.2f %13.2f\n' "$1" "$2" "$3" "$4" "$(echo "$2 / $3" | bc -l)" "$(echo "$2 / $4" | bc -l)"; }
row "TCP latency p50 (usec)" "$m50" "$b50" "$f50"
row "TCP latency p99 (usec)" "$m99" "$b99" "$f99"
row "TCP throughput (Gbit/s)" "$mbw" "$bbw" "$fbw"
echo "(latency is sockperf's one-way estimate, RTT/2; lower is better. Throughput: iperf3, one stream, 4 s."
echo " floor: two namespaces joined by one bare veth pair, no bridge, no BPF: what no CNI can beat.)"
