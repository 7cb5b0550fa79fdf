#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CNI ADD and DEL latency of myelin-cni against a live agent, beside the
# reference `bridge` plugin with host-local IPAM (containernetworking-plugins,
# what a user would otherwise pick), measured in one run: PODS pods one at a
# time, then PARALLEL at once (as a kubelet starting many pods does). Every
# pod is a real network namespace and gets a real veth pair; both plugins are
# run the same way (nsenter into their node namespace, CNI_* in the
# environment, config on stdin), so the wrapper costs both alike. Phases
# alternate between the plugins so machine noise hits both. Prints p50/p99
# and Myelin/bridge ratios. Not part of the test suite (tests never assert on
# time); the smoke test (bench_smoke) runs it at tiny scale.
#   tests/bench/cni_bench.sh [PODS] [PARALLEL]   (as root; default 200 20)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib/cluster.sh"
[ "$(id -u)" -eq 0 ] || { echo "cni_bench: run as root" >&2; exit 1; }
PODS=${1:-200} PARALLEL=${2:-20}
[ "$PODS" -ge 2 ] && [ "$PODS" -le 4000 ] || { echo "cni_bench: PODS from 2 to 4000" >&2; exit 1; }
[ "$PARALLEL" -ge 1 ] || { echo "cni_bench: PARALLEL >= 1" >&2; exit 1; }
BRIDGE_PLUGIN=/usr/lib/cni/bridge
[ -x "$BRIDGE_PLUGIN" ] || { echo "cni_bench: $BRIDGE_PLUGIN missing (apt-get install containernetworking-plugins)" >&2; exit 1; }

MLN_ID=${MLN_ID:-bench-$$}
mln_init
MLN_NODE_NAME=cni-node
mln_log "cni_bench: $PODS pods, sequential and $PARALLEL in parallel (load: $(cut -d' ' -f1-3 /proc/loadavg))"
mln_node_up 10.222.0.0/20

BR_NODE="mln-$MLN_ID-brnode"
ip netns add "$BR_NODE"
ip -n "$BR_NODE" link set lo up
BR_CONF=$(printf '{"cniVersion":"1.0.0","name":"br","type":"bridge","bridge":"mlnbr0","isGateway":true,"ipam":{"type":"host-local","subnet":"10.223.0.0/20","dataDir":"%s/hostlocal"}}' "$MLN_TMP")
for ((i = 0; i < PODS; i++)); do printf 'netns add mln-%s-m%d\nnetns add mln-%s-b%d\n' "$MLN_ID" "$i" "$MLN_ID" "$i"; done | ip -batch -

# One plugin call: plugin CMD CID NETNS (myelin|bridge); output to stdout.
plugin() {
  local which=$1 cmd=$2 cid=$3 netns=$4
  if [ "$which" = myelin ]; then
    mln_cni "$cmd" "$cid" "$netns" CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=$cid"
  else
    nsenter --net="/var/run/netns/$BR_NODE" -- env CNI_COMMAND="$cmd" CNI_CONTAINERID="$cid" CNI_NETNS="$netns" \
      CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "$BRIDGE_PLUGIN" <<<"$BR_CONF"
  fi
}
# A worker: pods W, W+STEP, ... of one phase; one latency (ms) per line in OUT.
worker() {  # worker PLUGIN CMD MODE W STEP OUT
  local which=$1 cmd=$2 mode=$3 w=$4 step=$5 out=$6 i a res letter=m
  [ "$which" = bridge ] && letter=b
  for ((i = w; i < PODS; i += step)); do
    a=$EPOCHREALTIME
    res=$(plugin "$which" "$cmd" "$mode-$MLN_ID-$i" "/var/run/netns/mln-$MLN_ID-$letter$i") || {
      echo "$which $cmd of pod $i failed: $res" >"$out.err"
      return 1
    }
    echo "($EPOCHREALTIME - $a) * 1000" | bc -l >>"$out"
    if [ "$cmd" = ADD ]; then jq -e '.ips[0].address' <<<"$res" >/dev/null || { echo "$which ADD of pod $i: no address: $res" >"$out.err"; return 1; }; fi
  done
}
WORKERS=()
mln_at_exit 'for p in "${WORKERS[@]}"; do kill "$p" 2>/dev/null; done; for p in "${WORKERS[@]}"; do wait "$p" 2>/dev/null; done'
declare -A WALL=()
phase() {  # phase PLUGIN CMD MODE(seq|par): runs it, latencies in $MLN_TMP/PLUGIN-CMD-MODE
  local which=$1 cmd=$2 mode=$3 n=1 w t0 out="$MLN_TMP/$1-$2-$3" failed=0
  [ "$mode" = par ] && n=$PARALLEL
  : >"$out"
  t0=$EPOCHREALTIME
  WORKERS=()
  for ((w = 0; w < n; w++)); do
    worker "$which" "$cmd" "$mode" "$w" "$n" "$out.$w" &
    WORKERS+=("$!")
  done
  for w in "${WORKERS[@]}"; do wait "$w" || failed=1; done
  WORKERS=()
  WALL[$which-$cmd-$mode]=$(echo "$EPOCHREALTIME - $t0" | bc -l)
  if [ "$failed" -ne 0 ]; then cat "$out".*.err >&2 2>/dev/null; mln_die "$which $cmd ($mode) failed"; fi
  cat "$out".[0-9]* >"$out"
  printf '  %-6s %s %-3s: %d pods in %.1f s\n' "$which" "$cmd" "$mode" "$(wc -l <"$out")" "${WALL[$which-$cmd-$mode]}" >&2
}
# What the phases must leave: every pod registered after ADD, nothing after DEL.
check_myelin() {  # check_myelin ENDPOINTS
  local s; s=$(mln_myelin status -o json)
  [ "$(jq '.endpoints // 0' <<<"$s")" -eq "$1" ] || mln_die "agent has $(jq '.endpoints // 0' <<<"$s") endpoints, expected $1"
  [ "$(jq '.ipam_used // 0 | tonumber' <<<"$s")" -eq "$1" ] || mln_die "agent has $(jq .ipam_used <<<"$s") addresses in use, expected $1"
}
check_bridge() {  # check_bridge ADDRESSES
  local n; n=$(find "$MLN_TMP/hostlocal/br" -name '10.*' 2>/dev/null | wc -l)
  [ "$n" -eq "$1" ] || mln_die "host-local holds $n addresses, expected $1"
}
# Pods reach each other (the plumbing is real): the first two of each plugin.
ping_pair() {  # ping_pair m|b
  local ip; ip=$(ip -n "mln-$MLN_ID-${1}1" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
  ip netns exec "mln-$MLN_ID-${1}0" ping -c 1 -W 2 "$ip" >/dev/null || mln_die "pod ${1}0 does not reach ${1}1 ($ip)"
}

for mode in seq par; do
  mln_log "ADD ($mode)"
  phase myelin ADD "$mode"; check_myelin "$PODS"
  phase bridge ADD "$mode"; check_bridge "$PODS"
  [ "$mode" = seq ] && { ping_pair m; ping_pair b; }
  mln_log "DEL ($mode)"
  phase myelin DEL "$mode"; check_myelin 0
  phase bridge DEL "$mode"; check_bridge 0
done

pct() { sort -g "$1" | awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p/100+0.999); if (i<1) i=1; print a[i]}'; }
echo
echo "CNI latency, $PODS pods (real netns + veth each), ms; bridge = reference bridge plugin + host-local IPAM"
echo "($(uname -r), $(nproc) CPUs, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-22s %10s %10s %10s %10s %10s %10s %9s %9s\n' "" "Myelin" "Myelin" "Myelin" "bridge" "bridge" "bridge" "Myelin/" "Myelin/"
printf '%-22s %10s %10s %10s %10s %10s %10s %9s %9s\n' "" "p50" "p99" "max" "p50" "p99" "max" "bridge50" "bridge99"
for mode in seq par; do
  for cmd in ADD DEL; do
    m="$MLN_TMP/myelin-$cmd-$mode" b="$MLN_TMP/bridge-$cmd-$mode"
    label="$cmd, one at a time"; [ "$mode" = par ] && label="$cmd, $PARALLEL in parallel"
    printf '%-22s %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f %9.2f %9.2f\n' "$label" \
      "$(pct "$m" 50)" "$(pct "$m" 99)" "$(pct "$m" 100)" "$(pct "$b" 50)" "$(pct "$b" 99)" "$(pct "$b" 100)" \
      "$(echo "$(pct "$m" 50) / $(pct "$b" 50)" | bc -l)" "$(echo "$(pct "$m" 99) / $(pct "$b" 99)" | bc -l)"
  done
done
echo
printf '%-22s %14s %14s %9s\n' "all $PODS pods, s" "Myelin" "bridge" "ratio"
for mode in seq par; do
  for cmd in ADD DEL; do
    label="$cmd, one at a time"; [ "$mode" = par ] && label="$cmd, $PARALLEL in parallel"
    printf '%-22s %14.2f %14.2f %9.2f\n' "$label" "${WALL[myelin-$cmd-$mode]}" "${WALL[bridge-$cmd-$mode]}" \
      "$(echo "${WALL[myelin-$cmd-$mode]} / ${WALL[bridge-$cmd-$mode]}" | bc -l)"
  done
done
echo "(each latency includes starting the plugin through nsenter + env, the same for both; the agent runs with its default flags)"
