#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The control plane at scale, by simulation against a real etcd (Debian's
# etcd-server, started here in a network namespace of this run, data on
# tmpfs): cluster_scale_sim's simulated agents write what real ones write
# (etcd.hpp's key layout) for NODES nodes and PODS pods, then
#   - etcd keys and bytes per pod (the sim's count; etcd's dbSize and RSS),
#   - the time for a new pod's identity and address to reach every node
#     (WATCHERS watch streams, one per simulated node),
#   - a real myelind's memory per remote pod: its VmRSS against the empty
#     cluster and against the loaded one (--kvstore etcd), when this build's
#     agent syncs from etcd (else the row says why not),
#   - identity allocation under contention: ALLOCATORS simulated nodes
#     allocating the same SETS label sets at once (exactly SETS ids), with
#     the simulator's lightweight allocator and with the agents' own
#     (kvstore::EtcdIdentities: a client, session and watcher per node).
# Cilium's figures for the same shape (scalability report, step 7: 1,000
# nodes, 50,000 pods): agent memory +10.5 KiB per pod in the cluster.
# Not part of the test suite (tests never assert on time); bench_smoke runs
# it at tiny scale. The identity count is checked: a wrong count exits 2.
#   tests/bench/cluster_scale_bench.sh [NODES] [PODS] [WATCHERS] [PROBES] [ALLOCATORS] [SETS]
#   (as root; defaults 1000 50000 1000 20 100 1000; BENCH_ONLY_AGENT=1: the
#   load and the real agent only, no propagation or contention phases)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib/cluster.sh"
[ "$(id -u)" -eq 0 ] || { echo "cluster_scale_bench: run as root" >&2; exit 1; }
NODES=${1:-1000} PODS=${2:-50000} WATCHERS=${3:-1000} PROBES=${4:-20} ALLOCATORS=${5:-100} SETS=${6:-1000}
SIM="$MLN_BIN/cluster_scale_sim"
[ -x "$SIM" ] || { echo "cluster_scale_bench: $SIM is not built (it needs api/etcd in the tree)" >&2; exit 1; }
command -v etcd >/dev/null && command -v etcdctl >/dev/null || { echo "cluster_scale_bench: etcd and etcdctl missing (etcd-server etcd-client)" >&2; exit 1; }

mln_init
# etcd in a namespace of its own: 127.0.0.1 for the simulator (which runs in
# it), 10.231.0.1 on a veth for a real myelind in its node namespace.
ETCD_NS="mln-$MLN_ID-etcd" ETCD_IP=10.231.0.1
ETCD_DIR=$(mktemp -d "/dev/shm/mln-bench-$MLN_ID-etcd.XXXXXX")  # tmpfs: fsync costs nothing, the figures are etcd's, not the disk's
mln_at_exit '[ -n "${ETCD_PID:-}" ] && kill "$ETCD_PID" 2>/dev/null; [ -n "${ETCD_PID:-}" ] && wait "$ETCD_PID" 2>/dev/null; rm -rf "$ETCD_DIR"'
ip netns add "$ETCD_NS"
ip -n "$ETCD_NS" link set lo up
in_etcd() { nsenter --net="/var/run/netns/$ETCD_NS" -- "$@"; }
ip netns add "$MLN_NODE"
ip -n "$ETCD_NS" link add eth0 type veth peer name eth0 netns "$MLN_NODE"
ip -n "$ETCD_NS" addr add "$ETCD_IP/30" dev eth0
ip -n "$ETCD_NS" link set eth0 up
ip -n "$MLN_NODE" link set lo up
ip -n "$MLN_NODE" addr add 10.231.0.2/30 dev eth0
ip -n "$MLN_NODE" link set eth0 up
# nsenter execs etcd: $! is etcd itself (through a shell function it would be a subshell).
nsenter --net="/var/run/netns/$ETCD_NS" -- etcd --name bench --data-dir "$ETCD_DIR/data" \
  --listen-client-urls "http://127.0.0.1:2379,http://$ETCD_IP:2379" --advertise-client-urls "http://$ETCD_IP:2379" \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster bench=http://127.0.0.1:2380 --quota-backend-bytes 8589934592 --log-level error \
  >"$MLN_TMP/etcd.log" 2>&1 &
ETCD_PID=$!
ectl() { in_etcd etcdctl --endpoints=http://127.0.0.1:2379 "$@"; }
mln_retry 100 0.1 ectl endpoint health >/dev/null 2>&1 || { cat "$MLN_TMP/etcd.log" >&2; mln_die "etcd did not come up"; }
db_size() { ectl endpoint status -w json | jq '.[0].Status.dbSize'; }
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
sim() { in_etcd "$SIM" "$@" --endpoint http://127.0.0.1:2379; }

mln_log "cluster_scale_bench: $NODES nodes, $PODS pods, $WATCHERS watchers, $PROBES probes, $ALLOCATORS allocators x $SETS label sets (load: $(cut -d' ' -f1-3 /proc/loadavg))"
DB0=$(db_size) ERSS0=$(rss_kib "$ETCD_PID")

# ---- a real myelind against the empty cluster first (its baseline) ------------
AGENT_WHY=""
help=$("$MLN_BIN/myelind" --help 2>&1 || true)
if [[ $help != *--kvstore* ]]; then AGENT_WHY="this myelind has no --kvstore"; fi
agent_up() {  # agent_up CLUSTER: myelind synced from etcd's CLUSTER, or AGENT_WHY set
  MLN_AGENT_ARGS=(--kvstore etcd --kvstore-endpoints "http://$ETCD_IP:2379" --cluster-name "$1" --node-ip 10.231.0.2
    --runtime-events=false --storage-events=false --gpu-libs=none --metrics-addr=)
  MLN_CIDR=10.230.0.0/24 MLN_NODE_NAME=bench-agent
  mln_agent_start
}
kv() { mln_myelin status -o json 2>/dev/null | jq -r "$1" 2>/dev/null || true; }  # a field of the agent's status
synced_with() {  # synced_with N: the kvstore status says synced, with at least N remote endpoints (in the ipcache too, when the node datapath reports)
  [ "$(kv '.kvstore.synced // false')" = true ] && [ "$(kv '.kvstore.remote_endpoints // 0')" -ge "$1" ] &&
    [ "$(kv "if .cluster then (.cluster.ipcache_entries // 0) else $1 end")" -ge "$1" ]
}
if [ -z "$AGENT_WHY" ]; then
  agent_up empty-cluster
  if [ "$(kv 'has("kvstore")')" != true ]; then
    AGENT_WHY="this myelind's status has no kvstore part (no etcd sync in this build)"
  elif ! mln_retry 300 0.1 synced_with 0; then
    AGENT_WHY="myelind did not sync the empty cluster from etcd in 30 s: $(kv '.kvstore.reason // .kvstore.last_error // ""')"
  else
    sleep 2
    ARSS0=$(rss_kib "$MLN_AGENT_PID")
  fi
  mln_agent_kill TERM
  rm -rf "$MLN_BPFFS" "$MLN_STATE"
fi

# ---- load, counts ---------------------------------------------------------------
mln_log "loading $NODES nodes and $PODS pods into etcd"
sim load --nodes "$NODES" --pods "$PODS" | tee "$MLN_TMP/load.out"
DB1=$(db_size) ERSS1=$(rss_kib "$ETCD_PID")

# ---- the real agent against the loaded cluster -----------------------------------
if [ -z "$AGENT_WHY" ]; then
  mln_log "a real myelind syncing $PODS remote endpoints"
  t0=$EPOCHREALTIME
  agent_up scale
  until synced_with "$PODS"; do
    kill -0 "$MLN_AGENT_PID" 2>/dev/null || mln_die "myelind exited while syncing"
    [ "$(echo "$EPOCHREALTIME - $t0 > 600" | bc)" = 0 ] || mln_die "myelind has $(kv '.kvstore.remote_endpoints // 0') of $PODS remote endpoints after 600 s"
    sleep 0.2
  done
  ASYNC=$(echo "$EPOCHREALTIME - $t0" | bc -l)
  sleep 2
  ARSS1=$(rss_kib "$MLN_AGENT_PID")
  IPC=0 IPC_N=0
  for f in "$MLN_BPFFS"/*ipcache*; do  # kernel memory, not in VmRSS; entries only when the node datapath writes them
    [ -e "$f" ] || continue
    IPC=$(bpftool -j map show pinned "$f" | jq '.bytes_memlock // 0')
    IPC_N=$(bpftool -j map dump pinned "$f" | jq length)
  done
  mln_agent_kill TERM
fi

# ---- propagation, contention ------------------------------------------------------
rc=0
if [ -z "${BENCH_ONLY_AGENT:-}" ]; then
mln_log "propagation: $WATCHERS watchers, $PROBES new pods"
sim probe --nodes "$NODES" --watchers "$WATCHERS" --probes "$PROBES" | tee "$MLN_TMP/probe.out"
ERSS2=$(rss_kib "$ETCD_PID")
mln_log "contention: $ALLOCATORS allocators, the same $SETS label sets"
sim contend --cluster contend --allocators "$ALLOCATORS" --sets "$SETS" | tee "$MLN_TMP/contend.out" || rc=$?
mln_log "contention through kvstore::EtcdIdentities: $ALLOCATORS allocators, the same $SETS label sets"
sim contend-real --cluster contend-real --allocators "$ALLOCATORS" --sets "$SETS" | tee "$MLN_TMP/contend-real.out" || rc=$?
fi
ERSS2=${ERSS2:-$(rss_kib "$ETCD_PID")}

echo
echo "etcd ($(etcd --version | head -n 1), data on tmpfs), $NODES nodes, $PODS pods"
printf '%-52s %12s %12s\n' "" "empty" "loaded"
printf '%-52s %12.1f %12.1f\n' "etcd dbSize, MiB" "$(echo "$DB0 / 1048576" | bc -l)" "$(echo "$DB1 / 1048576" | bc -l)"
printf '%-52s %12.1f %12.1f\n' "etcd VmRSS, MiB (after the probes: $(echo "$ERSS2 / 1024" | bc) MiB)" "$(echo "$ERSS0 / 1024" | bc -l)" "$(echo "$ERSS1 / 1024" | bc -l)"
printf '%-52s %12.2f\n' "etcd dbSize per pod, KiB" "$(echo "($DB1 - $DB0) / 1024 / $PODS" | bc -l)"
printf '%-52s %12.2f\n' "etcd RSS per pod, KiB" "$(echo "($ERSS1 - $ERSS0) / $PODS" | bc -l)"
echo
printf '%-52s %12s %12s %12s\n' "real myelind (--kvstore etcd)" "Myelin" "Cilium" "Myelin/Cilium"
if [ -z "$AGENT_WHY" ]; then
  per=$(echo "($ARSS1 - $ARSS0) / $PODS" | bc -l)
  printf '%-52s %12.1f\n' "VmRSS, 0 remote endpoints, MiB" "$(echo "$ARSS0 / 1024" | bc -l)"
  printf '%-52s %12.1f\n' "VmRSS, $PODS remote endpoints, MiB" "$(echo "$ARSS1 / 1024" | bc -l)"
  printf '%-52s %12.2f %12.1f %12.2f\n' "VmRSS per remote pod, KiB" "$per" 10.5 "$(echo "$per / 10.5" | bc -l)"
  printf '%-52s %12s\n' "ipcache entries (pinned map)" "$IPC_N"
  printf '%-52s %12.1f\n' "ipcache map memory (bytes_memlock), MiB" "$(echo "$IPC / 1048576" | bc -l)"
  printf '%-52s %12.2f\n' "start to $PODS remote endpoints synced, s" "$ASYNC"
else
  printf '%-52s %12s %12.1f   (not measured: %s)\n' "VmRSS per remote pod, KiB" - 10.5 "$AGENT_WHY"
fi
echo "(Cilium: https://docs.cilium.io/en/stable/operations/performance/scalability/report/, step 7: 1,000 nodes, 50,000 pods.)"
exit "$rc"
