#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Cross-node pod-to-pod TCP latency (sockperf ping-pong) and throughput
# (iperf3), measured in one run with alternating rounds so machine noise hits
# every setup alike:
#   floor        node namespace to node namespace over the underlay (two veths
#                on a bridge in a namespace of its own): what no CNI can beat
#   kernel VXLAN two pods joined the way flannel's vxlan backend joins them:
#                a cni0 bridge per node, a VXLAN device flannel.1 (VNI 1, UDP
#                8472, nolearning, MTU 1450, pods' MTU 1450) and per remote
#                node exactly one route (its pod CIDR via its VTEP address,
#                onlink), one permanent ARP entry and one permanent FDB entry:
#                the peer a user would otherwise pick
#   Myelin tunnel / Myelin native  two myelinds (--routing-mode), pods through
#                the real CNI plugin, when this build's agent has the flag and
#                scripts/lib/multinode.sh is there (else the row says why not)
# Ratios are speed ratios (higher is better): throughput X/Y, latency Y/X.
# Goals (issue 12): tunnel >= 0.95x kernel VXLAN, native >= 0.95x floor.
# Not part of the test suite (tests never assert on time); bench_smoke runs it
# with one short round only to keep it working.
#   tests/bench/cross_node_bench.sh [ROUNDS]   (as root; default 3; BENCH_SECS: seconds per measurement, default 4)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib/cluster.sh"
[ "$(id -u)" -eq 0 ] || { echo "cross_node_bench: run as root" >&2; exit 1; }
ROUNDS=${1:-3} SECS=${BENCH_SECS:-4}
for t in sockperf iperf3 jq bc; do command -v "$t" >/dev/null || { echo "cross_node_bench: $t missing" >&2; exit 1; }; done

# The underlay: scripts/lib/multinode.sh's (br0 in mln-$ID-ul) when the tree
# has it, so Myelin's nodes and the baselines share one bridge; else our own.
MN_LIB="$here/../../scripts/lib/multinode.sh"
if [ -f "$MN_LIB" ]; then
  source "$MN_LIB"
  mn_init
  ul_attach() { mn_attach "$@"; }
  UL_GW=$MN_WORLD_IP
else
  mln_init
  ip netns add "mln-$MLN_ID-ul"
  ip -n "mln-$MLN_ID-ul" link set lo up
  ip -n "mln-$MLN_ID-ul" link add br0 type bridge
  ip -n "mln-$MLN_ID-ul" link set br0 up
  ul_attach() {  # NETNS PORT ADDRESS: a veth from br0 into NETNS as ul0 (MTU 1500)
    [ -e "/var/run/netns/$1" ] || ip netns add "$1"
    ip -n "mln-$MLN_ID-ul" link add "$2" type veth peer name ul0 netns "$1"
    ip -n "mln-$MLN_ID-ul" link set "$2" master br0 up
    ip -n "$1" link set lo up
    ip -n "$1" addr add "$3/24" dev ul0
    ip -n "$1" link set ul0 up
  }
  UL_GW=""
fi
# ul_node NS IP: a node namespace on the underlay, forwarding on.
UL_N=0
ul_node() {
  UL_N=$((UL_N + 1))
  ul_attach "$1" "vb$UL_N" "$2"
  ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1
}

# ---- floor and kernel VXLAN (flannel's vxlan backend, by hand) ----------------
KA="mln-$MLN_ID-kva" KB="mln-$MLN_ID-kvb"
ul_node "$KA" 10.99.0.201
ul_node "$KB" 10.99.0.202
# flannel_node NS INDEX NODE_IP: cni0 10.245.INDEX.1/24 (MTU 1450), flannel.1 10.245.INDEX.0/32.
flannel_node() {
  local ns=$1 i=$2 nip=$3
  ip -n "$ns" link add flannel.1 type vxlan id 1 local "$nip" dev ul0 dstport 8472 nolearning
  ip -n "$ns" link set flannel.1 mtu 1450
  ip -n "$ns" addr add "10.245.$i.0/32" dev flannel.1
  ip -n "$ns" link set flannel.1 up
  ip -n "$ns" link add cni0 type bridge
  ip -n "$ns" link set cni0 mtu 1450
  ip -n "$ns" addr add "10.245.$i.1/24" dev cni0
  ip -n "$ns" link set cni0 up
}
# flannel_peer NS REMOTE_NS REMOTE_INDEX REMOTE_NODE_IP: one route, one ARP, one FDB entry.
flannel_peer() {
  local ns=$1 rns=$2 ri=$3 rip=$4 mac
  mac=$(ip -n "$rns" -j link show flannel.1 | jq -r '.[0].address')
  ip -n "$ns" route add "10.245.$ri.0/24" via "10.245.$ri.0" dev flannel.1 onlink
  ip -n "$ns" neigh add "10.245.$ri.0" lladdr "$mac" dev flannel.1 nud permanent
  bridge -n "$ns" fdb append "$mac" dev flannel.1 dst "$rip" self permanent
}
# flannel_pod NODE_NS POD_NS IP GW: a veth (MTU 1450, as flannel's CNI config sets it) on cni0.
flannel_pod() {
  local node=$1 pod=$2 ip=$3 gw=$4 host
  host="veth${pod##*-}"
  ip netns add "$pod"
  ip -n "$node" link add "$host" mtu 1450 type veth peer name eth0 netns "$pod" mtu 1450
  ip -n "$node" link set "$host" master cni0 up
  ip -n "$pod" link set lo up
  ip -n "$pod" addr add "$ip/24" dev eth0
  ip -n "$pod" link set eth0 up
  ip -n "$pod" route add default via "$gw"
}
flannel_node "$KA" 0 10.99.0.201
flannel_node "$KB" 1 10.99.0.202
flannel_peer "$KA" "$KB" 1 10.99.0.202
flannel_peer "$KB" "$KA" 0 10.99.0.201
flannel_pod "$KA" "mln-$MLN_ID-kvclient" 10.245.0.2 10.245.0.1
flannel_pod "$KB" "mln-$MLN_ID-kvserver" 10.245.1.2 10.245.1.1

# ---- Myelin (tunnel, native), when this build has them -----------------------
declare -A WHY_NOT=()
MODES=(floor kvxlan)
declare -A CLIENT=([floor]=$KA [kvxlan]="mln-$MLN_ID-kvclient") SERVER=([floor]=$KB [kvxlan]="mln-$MLN_ID-kvserver")
declare -A SIP=([floor]=10.99.0.202 [kvxlan]=10.245.1.2)
declare -A LABEL=([floor]="floor (underlay)" [kvxlan]="kernel VXLAN" [tunnel]="Myelin tunnel" [native]="Myelin native")
myelin_help=$("$MLN_BIN/myelind" --help 2>&1 || true)
# myelin_pair MODE: two nodes of a cluster of their own (--cluster-name), a pod on each.
myelin_pair() {
  local m=$1
  MN_MODE=$m MN_AGENT_ARGS=(--cluster-name "bench-$m" "${NET_ONLY[@]}")
  mn_node_add "${m:0:1}1"
  mn_node_add "${m:0:1}2"
  mn_pod_add "${m:0:1}1" "${m:0:1}client"
  mn_pod_add "${m:0:1}2" "${m:0:1}server"
  CLIENT[$m]=${MLN_POD_NETNS[${m:0:1}client]} SERVER[$m]=${MLN_POD_NETNS[${m:0:1}server]} SIP[$m]=${MLN_POD_IP[${m:0:1}server]}
  # The pods answer (the control plane has brought the address over, bounded),
  # or the mode is reported as not working and the baselines still run.
  if ! mln_retry 30 0.1 ip netns exec "${CLIENT[$m]}" ping -c1 -W1 "${SIP[$m]}" >/dev/null 2>&1; then
    WHY_NOT[$m]="the pod on ${m:0:1}1 cannot ping the pod on ${m:0:1}2 (${SIP[$m]}) within 30 s"; return 1
  fi
}
# The measured agents run networking only: no process probes competing for the 2 CPUs (flannel has none).
read -r -a NET_ONLY <<<"${BENCH_AGENT_ARGS:---runtime-events=false --storage-events=false --gpu-libs=none --metrics-addr=}"
if [[ $myelin_help != *--routing-mode* ]]; then
  WHY_NOT[tunnel]="this myelind has no --routing-mode"; WHY_NOT[native]=${WHY_NOT[tunnel]}
elif [ -z "$UL_GW" ]; then
  WHY_NOT[tunnel]="no scripts/lib/multinode.sh in this tree"; WHY_NOT[native]=${WHY_NOT[tunnel]}
else
  mn_etcd_up
  for m in tunnel native; do myelin_pair "$m" && MODES+=("$m"); done
fi

# ---- the measurements -----------------------------------------------------------
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
wait_listen() {  # ns port
  for _ in $(seq 1 100); do in_ns "$1" ss -H -ltn "sport = :$2" | grep -q . && return 0; sleep 0.05; done
  echo "cross_node_bench: server on port $2 did not start in $1" >&2; return 1
}
# Each path answers before it is measured (a setup that does not connect fails here, not as a zero).
for m in "${MODES[@]}"; do
  mln_retry 50 0.1 in_ns "${CLIENT[$m]}" ping -c1 -W1 "${SIP[$m]}" >/dev/null ||
    mln_die "${LABEL[$m]}: ${CLIENT[$m]} cannot ping ${SIP[$m]}"
done
# latency CLIENT_NS SERVER_NS IP -> "p50 p99" (usec, sockperf's one-way estimate = RTT/2)
latency() {
  # ip netns exec execs the server, so $! is the server itself; timeout bounds it if this script dies first.
  ip netns exec "$2" timeout 60 sockperf server -i "$3" -p 11111 --tcp >/dev/null 2>&1 & local spid=$!
  wait_listen "$2" 11111
  local out; out=$(in_ns "$1" sockperf ping-pong -i "$3" -p 11111 --tcp -t "$SECS" 2>&1 || true)
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  local p50 p99
  p50=$(grep -oE 'percentile 50.000 = +[0-9.]+' <<<"$out" | awk '{print $NF}')
  p99=$(grep -oE 'percentile 99.000 = +[0-9.]+' <<<"$out" | awk '{print $NF}')
  [ -n "$p50" ] && [ -n "$p99" ] || { echo "cross_node_bench: sockperf to $3 gave no percentiles: $out" >&2; return 1; }
  echo "$p50 $p99"
}
# throughput CLIENT_NS SERVER_NS IP -> Gbit/s
throughput() {
  ip netns exec "$2" timeout 60 iperf3 -s -1 -p 5299 >/dev/null 2>&1 & local ipid=$!
  wait_listen "$2" 5299
  in_ns "$1" iperf3 -c "$3" -p 5299 -t "$SECS" -J | jq '.end.sum_received.bits_per_second / 1e9'
  kill "$ipid" 2>/dev/null || true  # a client that failed leaves the one-shot server waiting
  wait "$ipid" 2>/dev/null || true
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A P50=() P99=() BW=()
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS ..." >&2
  for m in "${MODES[@]}"; do
    read -r a b < <(latency "${CLIENT[$m]}" "${SERVER[$m]}" "${SIP[$m]}")
    P50[$m]+="$a "; P99[$m]+="$b "
  done
  for m in "${MODES[@]}"; do BW[$m]+="$(throughput "${CLIENT[$m]}" "${SERVER[$m]}" "${SIP[$m]}") "; done
done
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
declare -A M50=() M99=() MBW=()
for m in "${MODES[@]}"; do M50[$m]=$(med "${P50[$m]}"); M99[$m]=$(med "${P99[$m]}"); MBW[$m]=$(med "${BW[$m]}"); done

echo
echo "Cross-node pod-to-pod TCP, $ROUNDS alternating rounds of ${SECS} s, medians ($(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-22s %12s %12s %14s\n' "" "p50 (usec)" "p99 (usec)" "Gbit/s"
for m in floor kvxlan tunnel native; do
  if [ -n "${M50[$m]:-}" ]; then
    printf '%-22s %12.2f %12.2f %14.2f\n' "${LABEL[$m]}" "${M50[$m]}" "${M99[$m]}" "${MBW[$m]}"
  else
    printf '%-22s %12s %12s %14s   (not measured: %s)\n' "${LABEL[$m]}" - - - "${WHY_NOT[$m]:-?}"
  fi
done
echo "Per round (the spread the medians come from):"
for m in "${MODES[@]}"; do
  printf '  %-20s p50 usec: %s  Gbit/s: %s\n' "${LABEL[$m]}" "$(printf '%.2f ' ${P50[$m]})" "$(printf '%.2f ' ${BW[$m]})"
done
echo
echo "Speed ratios (higher is better: throughput X/Y, latency Y/X)"
printf '%-36s %10s %10s %10s %8s\n' "" "p50" "p99" "Gbit/s" "goal"
ratio() {  # ratio X Y GOAL
  local x=$1 y=$2
  if [ -z "${M50[$x]:-}" ] || [ -z "${M50[$y]:-}" ]; then
    printf '%-36s %10s %10s %10s %8s\n' "${LABEL[$x]} / ${LABEL[$y]}" - - - "$3"; return
  fi
  printf '%-36s %10.2f %10.2f %10.2f %8s\n' "${LABEL[$x]} / ${LABEL[$y]}" \
    "$(echo "${M50[$y]} / ${M50[$x]}" | bc -l)" "$(echo "${M99[$y]} / ${M99[$x]}" | bc -l)" \
    "$(echo "${MBW[$x]} / ${MBW[$y]}" | bc -l)" "$3"
}
ratio kvxlan floor ""
ratio tunnel kvxlan ">=0.95"
ratio tunnel floor ""
ratio native floor ">=0.95"
echo "(latency: sockperf ping-pong, one-way estimate = RTT/2. Throughput: iperf3, one TCP stream."
echo " underlay: veths on a bridge in a namespace of its own, MTU 1500. kernel VXLAN: flannel.1 + cni0, MTU 1450."
echo " Myelin: two myelinds per mode, a cluster each in one etcd, pods through myelin-cni; agents networking only: ${NET_ONLY[*]})"
