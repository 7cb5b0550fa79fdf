#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Smoke test of the benchmark scripts (ctest bench_smoke): each runs at tiny
# scale and must exit 0, print its table, and leave nothing behind: no
# process (each runs in a cgroup of its own, so a server forgotten inside a
# namespace shows up there), no network namespace and no pin root of its run
# id. It never looks at a figure: benchmarks are run by hand, this only keeps
# them from rotting (a renamed CLI field, a leaked server).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../integration/lib_assert.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (network namespaces, BPF)"; exit 0; }
CG_ROOT=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
[ -n "$CG_ROOT" ] || { echo "SKIP: no cgroup v2 mount to watch the benchmarks' processes in"; exit 0; }
export MLN_BIN=${MLN_BIN:-$here/../../build/bin}
OUT=$(mktemp -d "/tmp/myelin-bench-smoke-$$.XXXXXX")
CGS=()
rm_cgroup() {  # what is still in it is ended (by PID), then the cgroup goes (bounded waits)
  local p i
  [ -d "$1" ] || return 0
  # TERM first: an interrupted benchmark then runs its own cleanup (namespaces, pins).
  for p in $(cat "$1/cgroup.procs" 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
  for i in $(seq 1 600); do [ -z "$(cat "$1/cgroup.procs" 2>/dev/null)" ] && break; sleep 0.1; done
  for p in $(cat "$1/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  for i in $(seq 1 50); do rmdir "$1" 2>/dev/null && return 0; sleep 0.1; done
}
cleanup() {
  local rc=$? cg
  for cg in "${CGS[@]}"; do rm_cgroup "$cg"; done
  rm -rf "$OUT"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# What a run left: processes in its cgroup, namespaces and the pin root of its id.
left_procs() {  # left_procs CGROUP [TRIES] -> pids still in it, after a bounded wait (0.1 s a try) for exits
  local i
  for i in $(seq 1 "${2:-50}"); do
    [ -z "$(cat "$1/cgroup.procs")" ] && return 0
    sleep 0.1
  done
  cat "$1/cgroup.procs"
}
left_netns() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^mln-(node-)?$1(-|$)" || true; }
left_pins() { [ -e "/sys/fs/bpf/myelin/$1" ] && echo "/sys/fs/bpf/myelin/$1" || true; }
# Sets CG (not echoed: CGS must grow in this shell, not in a command substitution's).
new_cgroup() { CG="$CG_ROOT/mln-bench-smoke-$$-$1"; mkdir "$CG"; CGS+=("$CG"); }
in_cgroup() { local cg=$1; shift; bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"; }

# Positive controls: the checks see a process, a namespace and a pin root left behind.
new_cgroup control; cg=$CG
in_cgroup "$cg" bash -c 'sleep 30 >/dev/null 2>&1 & exit 0'
leak=$(left_procs "$cg" 1)
[ -n "$leak" ] && t_ok "the check sees a process left in a run's cgroup" || t_bad "the check sees a process left in a run's cgroup"
for p in $leak; do kill "$p" 2>/dev/null || true; done
ip netns add "mln-smoke-$$-control-x"
[ -n "$(left_netns "smoke-$$-control")" ] && t_ok "the check sees a namespace left behind" || t_bad "the check sees a namespace left behind"
ip netns del "mln-smoke-$$-control-x"
mkdir -p "/sys/fs/bpf/myelin/smoke-$$-control"
[ -n "$(left_pins "smoke-$$-control")" ] && t_ok "the check sees a pin root left behind" || t_bad "the check sees a pin root left behind"
rmdir "/sys/fs/bpf/myelin/smoke-$$-control"; rmdir /sys/fs/bpf/myelin 2>/dev/null || true

bench() {  # bench NAME "table line pattern" SCRIPT ARGS...
  # A short id: pod_net_bench names a bridge after it (15 characters at most).
  local name=$1 want=$2 id="s$$${1:0:1}" cg rc=0 t0=$SECONDS; shift 2
  new_cgroup "$name"; cg=$CG
  MLN_ID=$id BENCH_SETTLE=0 in_cgroup "$cg" "$@" >"$OUT/$name.out" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then t_ok "$name exits 0 ($((SECONDS - t0)) s)"; else t_bad "$name exits 0" "status $rc"; tail -n 30 "$OUT/$name.out" >&2; fi
  if grep -qE "$want" "$OUT/$name.out"; then t_ok "$name prints its table"; else t_bad "$name prints its table" "no line matches: $want"; tail -n 30 "$OUT/$name.out" >&2; fi
  local procs ns pins
  procs=$(left_procs "$cg")
  if [ -z "$procs" ]; then t_ok "$name leaves no process"; else
    t_bad "$name leaves no process" "$(for p in $procs; do ps -o pid=,args= -p "$p"; done | tr '\n' ';')"
  fi
  ns=$(left_netns "$id")
  [ -z "$ns" ] && t_ok "$name leaves no namespace" || t_bad "$name leaves no namespace" "$(echo "$ns" | tr '\n' ' ')"
  pins=$(left_pins "$id")
  [ -z "$pins" ] && t_ok "$name leaves no pins" || t_bad "$name leaves no pins" "$pins"
}

bench agent_scale "^agent RSS per pod, KiB .* +10\.5 " "$here/agent_scale_bench.sh" 4 4 0 1
grep -q "myelin/s$$a" "$OUT/agent_scale.out" && t_ok "agent_scale pinned under its run id (the pin check looks in the right place)" ||
  t_bad "agent_scale pinned under its run id"
grep -qE "through all 2 restarts: [0-9]+ sent" "$OUT/agent_scale.out" && t_ok "agent_scale pinged through its restarts" || t_bad "agent_scale pinged through its restarts"
bench cni "^ADD, 2 in parallel +[0-9.]+ " "$here/cni_bench.sh" 4 2
bench pod_net "^TCP throughput \(Gbit/s\) +[0-9.]+ +[0-9.]+ +[0-9.]+ " "$here/pod_net_bench.sh" 1
bench flow_churn "^agent decoder under policy churn +[0-9]+ " "$MLN_BIN/flow_churn_bench" 4 2 0.2 1
# Services: 1 and 10 Services of 2 backends, every mode, one short round.
bench service "^10 +nft +[0-9.]+ +[0-9.]+ +[0-9.]+ " env BENCH_BACKENDS=2 "$here/service_bench.sh" "1 10" 1 0.3
for want in "^10 +iptables +[0-9.]+ " "^10 +myelin +[^ ]+ +[^ ]+ +[0-9.]+ " "^(iptables|nft) +[0-9.]+ +[0-9.]+ " "^10 +[0-9]+ +[0-9]+$"; do
  grep -qE "$want" "$OUT/service.out" && t_ok "service_bench's table has a line like: $want" ||
    t_bad "service_bench's table has a line like: $want"
done
# Cross-node: one round of 1 s per setup (the Myelin rows appear when the tree has them).
bench xnode "^kernel VXLAN +[0-9.]+ +[0-9.]+ +[0-9.]+" env BENCH_SECS=1 "$here/cross_node_bench.sh" 1
grep -qE "^floor \(underlay\) +[0-9.]+ " "$OUT/xnode.out" && t_ok "cross_node_bench measured the floor" || t_bad "cross_node_bench measured the floor"
# The control plane against a real etcd: 10 nodes, 200 pods, 10 watchers, 3 probes, 5 allocators x 50 label sets.
if [ -x "$MLN_BIN/cluster_scale_sim" ]; then
  bench kv_scale "^identities in etcd \(identities/id/\) +50 +\(want 50\)" "$here/cluster_scale_bench.sh" 10 200 10 3 5 50
  grep -qE "^  to every node \(identity and address\) +[0-9.]+ " "$OUT/kv_scale.out" && t_ok "cluster_scale_bench timed propagation" ||
    t_bad "cluster_scale_bench timed propagation"
  CG_WANT=8
else
  echo "cluster_scale_bench not run: cluster_scale_sim is not built (no api/etcd in this tree)"
  CG_WANT=7
fi
made=$(ls -d "$CG_ROOT"/mln-bench-smoke-$$-* | wc -l)
for cg in "${CGS[@]}"; do rm_cgroup "$cg"; done
left=$(ls -d "$CG_ROOT"/mln-bench-smoke-$$-* 2>/dev/null || true)
[ "$made" -eq "$CG_WANT" ] && [ -z "$left" ] && t_ok "the smoke test removes the $CG_WANT cgroups it made" ||
  t_bad "the smoke test removes the $CG_WANT cgroups it made" "made $made, left: $left"
t_summary
