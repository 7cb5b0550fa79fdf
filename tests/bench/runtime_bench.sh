#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Overhead of an active file-integrity policy on an open/write/close loop,
# against no policy and against the same filter written for bpftrace (and of
# the shipped write rule, whose fd the kernel resolves to a path), as
# ratios from one run (rounds alternate so machine noise hits all alike);
# and the events delivered per second, with the kernel-side loss counted.
#   tests/bench/runtime_bench.sh [ITERATIONS] [ROUNDS]   (as root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib/cluster.sh"
[ "$(id -u)" -eq 0 ] || { echo "runtime_bench: run as root" >&2; exit 1; }
N=${1:-100000} ROUNDS=${2:-3}
command -v bpftrace >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q bpftrace >/dev/null
LOOP="$MLN_BIN/fim_loop"
[ -x "$LOOP" ] || { echo "runtime_bench: $LOOP missing (build first)" >&2; exit 1; }

mln_init
W="/tmp/myelin-bench-$MLN_ID"
OTHER="/tmp/myelin-bench-other-$MLN_ID"
mkdir -p "$W" "$OTHER" "$MLN_TMP/manifests"
mln_at_exit 'rm -rf "$W" "$OTHER"'
MLN_AGENT_ARGS=(--manifests "$MLN_TMP/manifests" --metrics-addr "")
mln_node_up 10.240.0.0/24

policy() {  # policy NAME PREFIX: the shipped file-integrity open rule on PREFIX
  cat <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: $1}
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args: [{index: 6, type: string}, {index: 7, type: int}]
    selectors:
    - matchArgs:
      - {index: 6, operator: Prefix, values: ["$2/"]}
      - {index: 7, operator: Mask, values: ["0x243"]}
YAML
}
write_policy() {  # write_policy NAME PREFIX: the shipped file-integrity write rule on PREFIX
  cat <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: $1}
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_write
    args: [{index: 5, type: fd}, {index: 7, type: size_t}]
    selectors:
    - matchArgs: [{index: 5, operator: Prefix, values: ["$2/"]}]
YAML
}

use_policy() {  # use_policy NAME PREFIX [TEMPLATE] | use_policy none
  rm -f "$MLN_TMP/manifests/p.yaml"
  gone() { [ "$(mln_myelin tracingpolicy list -o json | jq '.policies | length')" = 0 ]; }
  mln_retry 100 0.05 gone
  [ "$1" = none ] && return 0
  "${3:-policy}" "$1" "$2" >"$MLN_TMP/manifests/p.yaml"
  on() { mln_myelin tracingpolicy list -o json | jq -e ".policies[] | select(.name == \"$1\" and .state == \"enabled\")" >/dev/null; }
  mln_retry 100 0.05 on "$1"
}
run_loop() { "$LOOP" "$W" "$N"; }

declare -A results
sent=0
for r in $(seq 1 "$ROUNDS"); do
  use_policy none
  results[base]+="$(run_loop) "
  use_policy "nomatch-$r" "$OTHER"
  results[nomatch]+="$(run_loop) "
  use_policy "match-$r" "$W"
  t0=$(date +%s.%N)
  results[match]+="$(run_loop) "
  t1=$(date +%s.%N)
  sent=$((sent + N))
  drained() { [ "$(mln_myelin tracingpolicy list -o json | jq -r ".policies[0].events // 0")" -ge "$N" ] || [ "$(mln_myelin status -o json | jq -r '.runtime_lost // 0')" -gt 0 ]; }
  mln_retry 200 0.05 drained || true
  t2=$(date +%s.%N)
  results[rate]+="$(echo "$N / ($t2 - $t0)" | bc -l | cut -d. -f1) "
  results[delivered]+="$(mln_myelin tracingpolicy list -o json | jq -r '.policies[0].events // 0') "
  use_policy "write-$r" "$W" write_policy
  results[write]+="$(run_loop) "
  mln_retry 200 0.05 drained || true
  use_policy none
  bpftrace -e "tracepoint:syscalls:sys_enter_openat /(args->flags & 0x243) && strncmp(str(args->filename), \"$W/\", $(( ${#W} + 1 ))) == 0/ { printf(\"%s %s\\n\", comm, str(args->filename)); }" \
    >"$MLN_TMP/bpftrace.out" 2>&1 &
  BT=$!
  MLN_PIDS+=("$BT")  # ended by the cleanup too if this run stops early
  attached() { grep -q "Attaching" "$MLN_TMP/bpftrace.out"; }
  mln_retry 600 0.05 attached || { echo "bpftrace did not attach: $(cat "$MLN_TMP/bpftrace.out")" >&2; exit 1; }
  results[bpftrace]+="$(run_loop) "
  kill -INT "$BT"; wait "$BT" 2>/dev/null || true
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=$(median "${results[base]}")
lost=$(mln_myelin status -o json | jq -r '.runtime_lost // 0')
printf '\nFile integrity overhead: %s x (open O_WRONLY|O_CREAT|O_TRUNC, write 64 B, close), median of %s rounds\n' "$N" "$ROUNDS"
printf '%-58s %12s %8s\n' "case" "ns/iter" "ratio"
for k in base nomatch match write bpftrace; do
  case $k in
    base) name="no policy (agent running, process probes on)";;
    nomatch) name="Myelin policy on another prefix (filtered in the kernel)";;
    match) name="Myelin policy matching every open (an event each)";;
    write) name="Myelin write rule matching every write (fd -> path)";;
    bpftrace) name="bpftrace, same filter, printing each match";;
  esac
  m=$(median "${results[$k]}")
  printf '%-58s %12s %7.2fx\n' "$name" "$m" "$(echo "$m / $base" | bc -l)"
done
printf '\nEvents delivered to the agent: median %s events/s; %s of %s matching opens delivered, %s counted lost in the kernel (unaccounted: %s)\n' \
  "$(median "${results[rate]}")" "$(tr ' ' '\n' <<<"${results[delivered]}" | grep . | paste -sd+ | bc)" "$sent" "$lost" \
  "$((sent - $(tr ' ' '\n' <<<"${results[delivered]}" | grep . | paste -sd+ | bc) - lost))"
