#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent at scale: memory and CPU with ENDPOINTS pods and POLICIES
# NetworkPolicies, and the time a kill -9 costs (to datapath re-adopted, to
# API ready), all from one run, against Cilium's published figures.
#   tests/bench/agent_scale_bench.sh [ENDPOINTS] [POLICIES] [STEADY_S] [ROUNDS]
#   (as root; defaults 1000 1000 30 5; BENCH_AGENT_ARGS replaces the measured
#   agent's flags, BENCH_SETTLE the 2 s pause before each sample)
#
# What it does, in order (one agent process until the restarts):
#  1. idle: one agent with the default flags (process/storage probes on), for
#     reference, then the measured agent, networking only (BENCH_AGENT_ARGS),
#     which is what Cilium's figures are for (cilium-agent has no process
#     probes). Its VmRSS/VmHWM (/proc/PID/status), CPU seconds (utime+stime,
#     /proc/PID/stat) and BPF map memory are sampled at every stage.
#  2. ENDPOINTS pods: a Namespace and Pod manifests (labels, named ports) in
#     the manifests directory, then for each pod a real network namespace and
#     the real myelin-cni ADD against the agent (veth pair, host route, tc
#     programs, endpoint map): exactly what the runtime does. No traffic but
#     one ping (step 5). Measured here: 1,000 take ~25 s on 2 cores, so real
#     namespaces are cheap enough and nothing is faked.
#  3. POLICIES NetworkPolicies, one per file (the shape of policy_bench.cpp:
#     50 namespaces, a pod selector, peers by pod and namespace labels, a
#     numbered port, a named port and a UDP range), moved into the manifests
#     directory at once; done when `myelin status` counts them all (its
#     answer waits for the regeneration that installed them).
#  4. steady state: STEADY_S seconds with nothing happening.
#  5. ROUNDS restarts: kill -9, start again; datapath re-adopted is the
#     agent's own log line "restored N endpoints" (maps adopted, the programs
#     of every veth replaced, never detached), API ready is the first
#     `myelin status` answering ready. A ping every 10 ms between two pods
#     runs through all of them. Then the same again with the policies
#     removed (the restart cost of the endpoints alone).
#
# Cilium's figures: https://docs.cilium.io/en/stable/operations/performance/scalability/report/
# (step 7: 50,000 pods on 1,000 nodes, ~50 per node; agent memory average
# 438 MiB, max 573 MiB; eBPF memory max 462.7 MiB; "each Cilium agent's
# memory increased by 10.5KiB per new pod in the cluster"). Their per-pod
# figure counts pods anywhere in the cluster (ipcache, identities), ours
# counts pods on this node, which cost more (endpoint state, programs,
# policy): the ratio is a bound, not a like-for-like.
# Not part of the test suite (tests never assert on figures); the smoke test
# (bench_smoke) runs it at tiny scale only to keep it working.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib/cluster.sh"
[ "$(id -u)" -eq 0 ] || { echo "agent_scale_bench: run as root" >&2; exit 1; }
ENDPOINTS=${1:-1000} POLICIES=${2:-1000} STEADY=${3:-30} ROUNDS=${4:-5}
[ "$ENDPOINTS" -ge 2 ] || { echo "agent_scale_bench: at least 2 endpoints (one ping pair)" >&2; exit 1; }
read -r -a NET_ONLY <<<"${BENCH_AGENT_ARGS:---runtime-events=false --storage-events=false --gpu-libs=none --metrics-addr=}"
NSS=50; [ "$ENDPOINTS" -lt "$NSS" ] && NSS=$ENDPOINTS
APPS=10
CLK=$(getconf CLK_TCK)
SETTLE=${BENCH_SETTLE:-2}  # seconds between a stage's work and its sample

MLN_ID=${MLN_ID:-bench-$$}
mln_init
MANIFESTS="$MLN_TMP/manifests" STAGE="$MLN_TMP/stage"
mkdir -p "$MANIFESTS" "$STAGE"
progress() { printf '  %s\n' "$*" >&2; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { echo "$(now) - $1" | bc -l; }  # elapsed T0 -> seconds since T0

# ---- what is sampled ---------------------------------------------------------
# BPF memory the agent holds: maps pinned in its bpffs root (bpftool), other
# maps and programs it holds by fd (memlock in /proc/PID/fdinfo). Kernel
# memory, not in VmRSS.
bpf_mem() {  # -> "PINNED_BYTES OTHER_MAP_BYTES PROG_BYTES"
  local f j pinned=0 ids=""
  for f in "$MLN_BPFFS"/*; do
    j=$(bpftool -j map show pinned "$f" 2>/dev/null) || continue
    pinned=$((pinned + $(jq -r '.bytes_memlock // 0' <<<"$j")))
    ids+="$(jq -r .id <<<"$j") "
  done
  # Every fdinfo starts with "pos:"; maps and programs are counted once by id.
  cat /proc/"$MLN_AGENT_PID"/fdinfo/* 2>/dev/null | awk -v pinned="$pinned" -v ids="$ids" '
    function flush() {
      if (mid != "" && !(mid in pin) && !(("m" mid) in seen)) { other += mem; seen["m" mid] = 1 }
      if (pid != "" && !(("p" pid) in seen)) { prog += mem; seen["p" pid] = 1 }
      mid = ""; pid = ""; mem = 0
    }
    BEGIN { n = split(ids, a, " "); for (i = 1; i <= n; i++) pin[a[i]] = 1 }
    /^pos:/ { flush() }
    /^map_id:/ { mid = $2 }
    /^prog_id:/ { pid = $2 }
    /^memlock:/ { mem = $2 }
    END { flush(); printf "%d %d %d\n", pinned, other, prog }'
}
declare -a ROWS=()
declare -A RSS=() HWM=() CPU=() PIN=() OTHER=() PROG=() AT=()
T_START=$(now)
sample() {  # sample KEY "label": a row of the memory table
  local key=$1 pid=$MLN_AGENT_PID
  RSS[$key]=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
  HWM[$key]=$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status")
  # utime and stime are fields 14 and 15; the name in parentheses may hold spaces.
  CPU[$key]=$(sed 's/.*) //' "/proc/$pid/stat" | awk -v t="$CLK" '{printf "%.2f", ($12 + $13) / t}')
  read -r "PIN[$key]" "OTHER[$key]" "PROG[$key]" < <(bpf_mem)
  AT[$key]=$(elapsed "$T_START")
  ROWS+=("$key|$2")
}
status() { mln_myelin status -o json; }

# ---- 1. idle ----------------------------------------------------------------
mln_log "agent_scale_bench: $ENDPOINTS endpoints, $POLICIES policies, ${STEADY}s steady, $ROUNDS restarts (load: $(cut -d' ' -f1-3 /proc/loadavg))"
MLN_NODE_NAME=scale-node
MLN_AGENT_ARGS=(--manifests "$MANIFESTS")
mln_node_up 10.220.0.0/21
sleep "$SETTLE"  # let start-up work (the /proc walk of the process probes) finish
sample default "idle, default flags (process + storage probes on)"
mln_agent_kill TERM
rm -rf "$MLN_BPFFS" "$MLN_STATE"
MLN_PIDS=()
MLN_AGENT_ARGS=(--manifests "$MANIFESTS" "${NET_ONLY[@]}")
mln_agent_start
sleep "$SETTLE"
sample idle "idle, 0 endpoints (networking only)"

# ---- 2. endpoints -------------------------------------------------------------
mln_log "registering $ENDPOINTS endpoints through myelin-cni ADD (real netns + veth each)"
pod_ns() { echo "ns-$(($1 % NSS))"; }
pod_app() { echo "app-$(($1 / NSS % APPS))"; }
for ((n = 0; n < NSS; n++)); do
  {
    printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-%d\n  labels: {team: t%d}\n---\n' "$n" "$((n % 5))"
    for ((e = n; e < ENDPOINTS; e += NSS)); do
      app=$(pod_app "$e")
      tier=backend; [ "${app#app-}" -lt 3 ] && tier=frontend
      printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p-%d\n  namespace: ns-%d\n  labels: {app: %s, tier: %s}\nspec:\n  containers:\n  - name: c\n    ports:\n    - {name: http, containerPort: 8080}\n    - {name: metrics, containerPort: 9090}\n---\n' \
        "$e" "$n" "$app" "$tier"
    done
  } >"$STAGE/ns-$n.yaml"
done
mv "$STAGE"/ns-*.yaml "$MANIFESTS/"
for ((e = 0; e < ENDPOINTS; e++)); do echo "netns add mln-$MLN_ID-p$e"; done | ip -batch -
for ((e = 0; e < ENDPOINTS; e++)); do ip -n "mln-$MLN_ID-p$e" link set lo up; done
declare -a ADD_MS=()
t0=$(now)
for ((e = 0; e < ENDPOINTS; e++)); do
  a=$(now)
  out=$(mln_cni ADD "cid-$MLN_ID-$e" "/var/run/netns/mln-$MLN_ID-p$e" CNI_ARGS="K8S_POD_NAMESPACE=$(pod_ns "$e");K8S_POD_NAME=p-$e") ||
    mln_die "CNI ADD of p-$e failed: $out"
  ADD_MS+=("$(echo "($(now) - $a) * 1000" | bc -l)")
  [ "$e" -eq 1 ] && P1_IP=$(jq -r '.ips[0].address' <<<"$out" | cut -d/ -f1)
  (((e + 1) % 100 == 0)) && progress "$((e + 1))/$ENDPOINTS endpoints, $(printf %.1f "$(elapsed "$t0")") s"
done
T_ENDPOINTS=$(elapsed "$t0")
got=$(status | jq '.endpoints // 0')
[ "$got" -eq "$ENDPOINTS" ] || mln_die "the agent has $got endpoints, not $ENDPOINTS"
sleep "$SETTLE"
sample endpoints "$ENDPOINTS endpoints (and their Pod manifests)"

# ---- 3. policies -------------------------------------------------------------
# Policy i: in namespace i % NSS, selects app-(i % APPS); ingress from
# app-((i+1) % APPS) of its namespace and from the frontend pods of team
# t(i % 5)'s namespaces, on a numbered port, the named port http and a UDP range.
policy_yaml() {
  local i=$1
  printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p-%d\n  namespace: ns-%d\nspec:\n  podSelector:\n    matchLabels: {app: app-%d}\n  policyTypes: [Ingress]\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels: {app: app-%d}\n    - namespaceSelector:\n        matchLabels: {team: t%d}\n      podSelector:\n        matchLabels: {tier: frontend}\n    ports:\n    - {protocol: TCP, port: %d}\n    - {protocol: TCP, port: http}\n    - {protocol: UDP, port: 5000, endPort: 5099}\n' \
    "$i" "$((i % NSS))" "$((i % APPS))" "$(((i + 1) % APPS))" "$((i % 5))" "$((80 + i % 20))"
}
if [ "$POLICIES" -gt 0 ]; then
  mln_log "writing $POLICIES NetworkPolicies to the manifests directory"
  for ((i = 0; i < POLICIES; i++)); do policy_yaml "$i" >"$STAGE/np-$i.yaml"; done
  t0=$(now)
  mv "$STAGE"/np-*.yaml "$MANIFESTS/"
  counted() { status 2>/dev/null | jq '.policies // 0' 2>/dev/null || echo 0; }
  until n=$(counted) && [ "${n:-0}" -ge "$POLICIES" ]; do
    [ "$(printf %.0f "$(elapsed "$t0")")" -lt 600 ] || mln_die "policies not all applied after 600 s"
    kill -0 "$MLN_AGENT_PID" 2>/dev/null || mln_die "myelind exited while applying policies"
    progress "${n:-0}/$POLICIES policies applied, $(printf %.1f "$(elapsed "$t0")") s"
    sleep 1
  done
  T_POLICIES=$(elapsed "$t0")
  ENTRIES=$(status | jq -r '.policy_entries // 0')
  errs=$(status | jq '.policy_errors // [] | length')
  [ "$errs" -eq 0 ] || mln_die "the agent refused manifests: $(status | jq -c .policy_errors)"
  sleep "$SETTLE"
  sample policies "$ENDPOINTS endpoints + $POLICIES policies"
fi

# ---- 4. steady state ----------------------------------------------------------
mln_log "steady state: ${STEADY}s"
last=${ROWS[-1]%%|*}
for ((s = 0; s < STEADY; s += 10)); do
  progress "steady $s/$STEADY s"
  sleep "$((STEADY - s < 10 ? STEADY - s : 10))"
done
sample steady "steady, ${STEADY} s later"
STEADY_CPU=0
[ "$STEADY" -gt 0 ] && STEADY_CPU=$(echo "(${CPU[steady]} - ${CPU[$last]}) / $STEADY * 100" | bc -l)

# ---- 5. restarts --------------------------------------------------------------
# The agent as mln_agent_start runs it, without its 100 ms ready poll: the
# times here want a finer clock.
agent_spawn() {
  mln_agent_cgroup_args "$MLN_BIN"  # socket LB on this run's cgroup, never the machine's root
  nsenter --net="/var/run/netns/$MLN_NODE" -- "$MLN_BIN/myelind" \
    --node-name "$MLN_NODE_NAME" --pod-cidr "$MLN_CIDR" \
    --api-socket "$MLN_SOCK" --bpffs-root "$MLN_BPFFS" --state-dir "$MLN_STATE" "${MLN_CG_ARGS[@]}" \
    "${MLN_AGENT_ARGS[@]}" >>"$MLN_AGENT_LOG" 2>&1 &
  MLN_AGENT_PID=$!
  MLN_PIDS=("$MLN_AGENT_PID")  # the killed ones are reaped: never signal a reused PID
}
log_time() {  # log_time OFFSET PATTERN -> epoch seconds of the first matching line after OFFSET
  local ts  # awk reads to the end: no SIGPIPE for tail under pipefail
  ts=$(tail -c +"$(($1 + 1))" "$MLN_AGENT_LOG" | awk -v pat="$2" '!found && $0 ~ pat { print $1; found = 1 }')
  [ -n "$ts" ] && date -d "$ts" +%s.%N
}
declare -A DP=() API=()
restarts() {  # restarts KEY: ROUNDS kill -9 + start, times appended to DP[KEY] API[KEY]
  local key=$1 r
  for ((r = 1; r <= ROUNDS; r++)); do
    local off t0 dp api old=$MLN_AGENT_PID
    off=$(stat -c %s "$MLN_AGENT_LOG")
    t0=$(now)
    kill -KILL "$old"
    wait "$old" 2>/dev/null || true
    agent_spawn
    until mln_myelin status -o json 2>/dev/null | jq -e '.ready == true' >/dev/null 2>&1; do
      kill -0 "$MLN_AGENT_PID" 2>/dev/null || mln_die "myelind exited during restart $r"
      [ "$(printf %.0f "$(elapsed "$t0")")" -lt 300 ] || mln_die "myelind not ready 300 s after restart $r"
      sleep 0.01
    done
    api=$(elapsed "$t0")
    dp=$(log_time "$off" 'myelind: restored [0-9]+ endpoints') || mln_die "no 'restored' line in the log of restart $r"
    DP[$key]+="$(echo "$dp - $t0" | bc -l) "
    API[$key]+="$api "
    local n; n=$(mln_myelin status -o json | jq '.endpoints // 0')
    [ "$n" -eq "$ENDPOINTS" ] || mln_die "restart $r: $n endpoints restored, not $ENDPOINTS"
    progress "restart $r/$ROUNDS ($key): datapath $(printf %.3f "$(echo "$dp - $t0" | bc -l)") s, API $(printf %.3f "$api") s"
  done
}
if [ "$ROUNDS" -gt 0 ]; then
  # p-1 is selected by no policy (namespace ns-1 only has policies for app-1): its ingress is open.
  ip netns exec "mln-$MLN_ID-p0" ping -i 0.01 -W 1 "$P1_IP" >"$MLN_TMP/ping.out" 2>&1 &
  PING_PID=$!
  MLN_PIDS_PING=$PING_PID
  mln_at_exit 'kill "$MLN_PIDS_PING" 2>/dev/null; wait "$MLN_PIDS_PING" 2>/dev/null'
  mln_retry 200 0.05 grep -q "icmp_seq=10 " "$MLN_TMP/ping.out" || mln_die "no ping from p-0 to p-1 ($P1_IP)"
  mln_log "restarts (kill -9) with $ENDPOINTS endpoints and $POLICIES policies"
  restarts with
  sleep "$SETTLE"
  sample restarted "after $ROUNDS restarts (a fresh process, same state)"
  if [ "$POLICIES" -gt 0 ]; then
    mln_log "removing the policies, restarts with $ENDPOINTS endpoints only"
    rm -f "$MANIFESTS"/np-*.yaml
    none_left() { [ "$(status | jq '.policies // 0')" -eq 0 ]; }
    mln_retry 600 0.1 none_left || mln_die "policies not removed after 60 s"
    restarts without
  fi
  kill -INT "$PING_PID"
  wait "$PING_PID" || true
  MLN_PIDS_PING=""
  PING_SENT=$(grep -oE '[0-9]+ packets transmitted' "$MLN_TMP/ping.out" | cut -d' ' -f1)
  PING_RECV=$(grep -oE '[0-9]+ received' "$MLN_TMP/ping.out" | cut -d' ' -f1)
fi

# ---- the tables ----------------------------------------------------------------
mib() { echo "$1 / 1024" | bc -l; }
echo
echo "Agent memory and CPU: $ENDPOINTS endpoints (real netns + veth, myelin-cni ADD), $POLICIES NetworkPolicies"
echo "($(uname -r), $(nproc) CPUs, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); measured agent flags: ${NET_ONLY[*]})"
printf '%-52s %9s %9s %9s %8s %11s %11s %9s\n' "stage" "VmRSS" "VmHWM" "CPU" "at" "BPF maps" "other maps" "programs"
printf '%-52s %9s %9s %9s %8s %11s %11s %9s\n' "" "MiB" "MiB" "s (cum)" "s" "pinned MiB" "MiB" "MiB"
for row in "${ROWS[@]}"; do
  k=${row%%|*}
  printf '%-52s %9.1f %9.1f %9.2f %8.1f %11.1f %11.1f %9.2f\n' "${row#*|}" "$(mib "${RSS[$k]}")" "$(mib "${HWM[$k]}")" "${CPU[$k]}" \
    "${AT[$k]}" "$(echo "${PIN[$k]} / 1048576" | bc -l)" "$(echo "${OTHER[$k]} / 1048576" | bc -l)" "$(echo "${PROG[$k]} / 1048576" | bc -l)"
done
full=endpoints; [ -n "${RSS[policies]:-}" ] && full=policies
per_pod=$(echo "(${RSS[endpoints]} - ${RSS[idle]}) / $ENDPOINTS" | bc -l)
per_pod_bpf=$(echo "(${PIN[endpoints]} - ${PIN[idle]}) / 1024 / $ENDPOINTS" | bc -l)
echo
printf '%-58s %12s %12s %10s\n' "" "Myelin" "Cilium" "Myelin/Cilium"
printf '%-58s %12.1f %12.1f %10.2f\n' "agent RSS per pod, KiB ((RSS@$ENDPOINTS - RSS@0) / $ENDPOINTS)" "$per_pod" 10.5 "$(echo "$per_pod / 10.5" | bc -l)"
printf '%-58s %12.1f %12.1f %10.2f\n' "agent RSS, MiB ($ENDPOINTS pods + $POLICIES policies; Cilium: avg at 50k)" \
  "$(mib "${RSS[$full]}")" 438 "$(echo "${RSS[$full]} / 1024 / 438" | bc -l)"
printf '%-58s %12.1f %12.1f %10.2f\n' "BPF map memory, MiB (pinned; Cilium: max at 50k pods)" \
  "$(echo "${PIN[$full]} / 1048576" | bc -l)" 462.7 "$(echo "${PIN[$full]} / 1048576 / 462.7" | bc -l)"
printf '%-58s %12.2f\n' "BPF map memory per pod, KiB (pinned, @$ENDPOINTS - @0)" "$per_pod_bpf"
printf '%-58s %12.2f\n' "agent CPU in steady state, % of one CPU (${STEADY} s)" "$STEADY_CPU"
sorted() { tr ' ' '\n' <<<"$1" | grep . | sort -g; }
pct() { sorted "$1" | awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p/100+0.999); if (i<1) i=1; print a[i]}'; }
first=$(printf '%s ' "${ADD_MS[@]:0:$((ENDPOINTS / 10 > 0 ? ENDPOINTS / 10 : 1))}")
lastn=$(printf '%s ' "${ADD_MS[@]: -$((ENDPOINTS / 10 > 0 ? ENDPOINTS / 10 : 1))}")
printf '%-58s %12.1f\n' "registering $ENDPOINTS endpoints, s (sequential CNI ADDs)" "$T_ENDPOINTS"
printf '%-58s %12.1f\n' "  agent CPU for them, s" "$(echo "${CPU[endpoints]} - ${CPU[idle]}" | bc -l)"
printf '%-58s %12.1f\n' "  CNI ADD p50 of the first 10%, ms" "$(pct "$first" 50)"
printf '%-58s %12.1f\n' "  CNI ADD p50 of the last 10%, ms" "$(pct "$lastn" 50)"
if [ "$POLICIES" -gt 0 ]; then
  printf '%-58s %12.1f\n' "applying $POLICIES policies, s (moved in -> all counted)" "$T_POLICIES"
  printf '%-58s %12.1f\n' "  agent CPU for them, s" "$(echo "${CPU[policies]} - ${CPU[endpoints]}" | bc -l)"
  printf '%-58s %12s\n' "  policy map entries installed" "$ENTRIES"
fi
echo "(Cilium: https://docs.cilium.io/en/stable/operations/performance/scalability/report/, step 7: 50k pods on"
echo " 1,000 nodes (~50 per node); its per-pod figure counts pods in the cluster, ours pods on this node.)"
if [ "$ROUNDS" -gt 0 ]; then
  echo
  echo "Restart: kill -9, start again, $ROUNDS rounds each, seconds from the kill"
  printf '%-52s %10s %10s\n' "" "median" "max"
  for key in with without; do
    [ -n "${DP[$key]:-}" ] || continue
    what="$ENDPOINTS endpoints + $POLICIES policies"; [ "$key" = without ] && what="$ENDPOINTS endpoints, no policy"
    printf '%-52s %10.3f %10.3f\n' "to datapath re-adopted ($what)" "$(pct "${DP[$key]}" 50)" "$(pct "${DP[$key]}" 100)"
    printf '%-52s %10.3f %10.3f\n' "to API ready ($what)" "$(pct "${API[$key]}" 50)" "$(pct "${API[$key]}" 100)"
  done
  echo "(datapath re-adopted: the new agent's log line 'restored N endpoints': maps adopted, every veth's programs replaced;"
  echo " they were never detached. API ready: the first 'myelin status' answering ready.)"
  printf 'ping p-0 -> p-1 every 10 ms through all %d restarts: %s sent, %s received, %s lost\n' \
    "$(( ROUNDS * (POLICIES > 0 ? 2 : 1) ))" "$PING_SENT" "$PING_RECV" "$((PING_SENT - PING_RECV))"
fi
echo
echo "Pinned maps at the end ($MLN_BPFFS):"
printf '  %-20s %-14s %12s %14s\n' "map" "type" "max_entries" "memlock bytes"
for f in "$MLN_BPFFS"/*; do
  bpftool -j map show pinned "$f" 2>/dev/null | jq -r '[.name, .type, .max_entries, .bytes_memlock] | @tsv'
done | while IFS=$'\t' read -r n t m b; do printf '  %-20s %-14s %12s %14s\n' "$n" "$t" "$m" "$b"; done
