#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The policy reachability matrix across three nodes (MN_MODE=tunnel|native):
# namespaces x, y, z and pods a, b, c spread so that every namespace and
# every pod name has a member on each node; every scenario of the single-node
# matrix (policy_scenarios.sh), the same expectations, with every probe
# crossing nodes but the ones between pods of the same node. Then, under
# traffic: a label changed and a pod added, the verdicts following on every
# node within a second (measured), and the same identity numbers everywhere.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib/multinode.sh"
MN_MODE=${MN_MODE:-tunnel}
echo "routing mode: $MN_MODE"

mn_init
mln_need_bins reach_probe udp_echo
mn_etcd_up
MANIFESTS="$MLN_TMP/manifests"
mkdir -p "$MANIFESTS"
NSS=(x y z) PODS=(a b c) PORTS=(80 81) PROTOS=(tcp udp)
PROBES=$(( ${#NSS[@]} * ${#PODS[@]} * ${#NSS[@]} * ${#PODS[@]} * ${#PORTS[@]} * ${#PROTOS[@]} ))
pod_yaml() {  # ns name labels
  printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels: %s\nspec:\n  containers:\n  - name: srv\n    ports:\n    - {name: serve-80-tcp, containerPort: 80}\n    - {name: serve-81-tcp, containerPort: 81}\n    - {name: serve-80-udp, containerPort: 80, protocol: UDP}\n    - {name: serve-81-udp, containerPort: 81, protocol: UDP}\n---\n' "$2" "$1" "$3"
}
{
  for ns in "${NSS[@]}"; do
    printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {ns: %s}\n---\n' "$ns" "$ns"
    for pod in "${PODS[@]}"; do pod_yaml "$ns" "$pod" "{pod: $pod}"; done
  done
  pod_yaml x d "{pod: d}"   # added later, under traffic
} >"$MANIFESTS/00-cluster.yaml"
MN_AGENT_ARGS=(--manifests "$MANIFESTS")
NODES=(n1 n2 n3)
for n in "${NODES[@]}"; do mn_node_add "$n"; done
# x/a on n1, x/b on n2, x/c on n3; y shifted by one, z by two.
declare -A WHERE=()
i=0
for ns in "${NSS[@]}"; do j=0; for pod in "${PODS[@]}"; do
  n=${NODES[$(( (i + j) % 3 ))]}
  WHERE[$ns$pod]=$n
  mn_pod_add "$n" "$ns$pod" "$ns" "$pod"
  j=$((j + 1))
done; i=$((i + 1)); done
for ns in "${NSS[@]}"; do for pod in "${PODS[@]}"; do
  for port in "${PORTS[@]}"; do
    mln_pod_bg "$ns$pod" timeout 1500 socat "TCP-LISTEN:$port,fork,reuseaddr,backlog=256" SYSTEM:true >/dev/null 2>&1
    mln_pod_bg "$ns$pod" timeout 1500 "$MLN_BIN/udp_echo" "$port" >/dev/null 2>&1
  done
done; done
for ns in "${NSS[@]}"; do for pod in "${PODS[@]}"; do for port in "${PORTS[@]}"; do
  mln_wait_listen "$ns$pod" "$port" tcp; mln_wait_listen "$ns$pod" "$port" udp
done; done; done
echo "placement: $(for k in "${!WHERE[@]}"; do echo "$k@${WHERE[$k]}"; done | sort | tr '\n' ' ')"
mn_wait_cluster 30 || t_bad "every node lists the three nodes"

probe() {  # FROM-KEY IP PORT PROTO
  if [ "$4" = tcp ]; then mln_pod "$1" timeout 4 nc -z -w 1 "$2" "$3" 2>/dev/null
  else [ "$(echo ping | mln_pod "$1" timeout 4 socat -T1 - "UDP:$2:$3" 2>/dev/null)" = pong ]; fi
}
# The cluster converged: every pod reaches every pod of another node.
converged() {
  local f t
  for f in xa yb zc; do for t in xb xc ya yc zа; do :; done; done
  for f in "${!WHERE[@]}"; do for t in xa xb xc; do
    [ "${WHERE[$f]}" = "${WHERE[$t]}" ] && continue
    mln_pod "$f" timeout 2 nc -z -w 1 "${MLN_POD_IP[$t]}" 80 2>/dev/null || return 1
  done; done
}
mln_retry 60 0.5 converged && t_ok "every pod reaches the pods of other nodes" || t_bad "the cluster converged (cross-node reachability)"

revision() { mn_myelin "$1" status -o json | jq -r '.policy_revision // 0 | tonumber'; }
# apply YAML: the scenario's policy through the shared manifests directory;
# waits (bounded) until every node regenerated.
apply() {
  local n; declare -A before=()
  for n in "${NODES[@]}"; do before[$n]=$(revision "$n"); done
  printf '%s\n' "$1" >"$MANIFESTS/.scenario.tmp"
  mv "$MANIFESTS/.scenario.tmp" "$MANIFESTS/10-scenario.yaml"
  for n in "${NODES[@]}"; do
    _changed() { [ "$(revision "$n")" -gt "${before[$n]}" ]; }
    mln_retry 200 0.01 _changed || mln_die "node $n did not pick up the policy within 2 s"
  done
}
# Every (from, to, port, protocol) at once, through tests/tools/reach_probe
# (a thread per probe in the source pod's namespace, two tries of 1 s).
probe_all() {
  local p proto
  for fns in "${NSS[@]}"; do for fp in "${PODS[@]}"; do for tns in "${NSS[@]}"; do for tp in "${PODS[@]}"; do for p in "${PORTS[@]}"; do for proto in "${PROTOS[@]}"; do
    echo "/var/run/netns/${MLN_POD_NETNS[$fns$fp]} ${MLN_POD_IP[$tns$tp]} $p $proto $fns/$fp $tns/$tp $p $proto"
  done; done; done; done; done; done | "$MLN_BIN/reach_probe" --timeout-ms 1000 --tries 2 --threads 128
}
check() {
  local name=$1 fn=$2 bad=0 out grid="" want
  out=$(probe_all | sort)
  while read -r from to port proto got; do
    if [ "$from" = "$to" ]; then want=1; else want=$($fn "$from" "$to" "$port" "$proto"); fi
    if [ "$want" != "$got" ]; then
      bad=$((bad + 1))
      grid+="    $from(${WHERE[${from/\//}]}) -> $to(${WHERE[${to/\//}]}):$port/$proto expected $([ "$want" = 1 ] && echo allowed || echo denied), got $([ "$got" = 1 ] && echo allowed || echo denied)\n"
    fi
  done <<<"$out"
  if [ "$bad" -eq 0 ]; then t_ok "$name ($PROBES probes, three nodes)"; else t_bad "$name" "$bad of $PROBES probes differ:"; printf "%b" "$grid" | head -40 >&2; fi
}
ns_of() { echo "${1%%/*}"; }
pod_of() { echo "${1##*/}"; }
# The single-node test's world and CLI checks are its own; here: none between scenarios.
policy_scenario_hook() { :; }
SCEN_POD_SUPERNET=$MN_POD_POOL SCEN_POD_ALL=$MN_POD_POOL
source "$(dirname "$0")/policy_scenarios.sh"
t0=$(date +%s)
policy_scenarios
echo "   (the scenarios took $(( $(date +%s) - t0 )) s)"

echo "-- the same identity numbers on every node"
for n in "${NODES[@]}"; do
  mn_myelin "$n" identity list -o json | jq -S '[.identities[] | select(.kind == "pod") | {id, labels: (.labels | sort)}] | sort_by(.id)' \
    >"$MLN_TMP/ids-$n.json" 2>/dev/null || echo '[]' >"$MLN_TMP/ids-$n.json"
done
npods=$(jq 'length' "$MLN_TMP/ids-n1.json")
[ "$npods" -ge 9 ] && cmp -s "$MLN_TMP/ids-n1.json" "$MLN_TMP/ids-n2.json" && cmp -s "$MLN_TMP/ids-n1.json" "$MLN_TMP/ids-n3.json" &&
  t_ok "identity list: $npods pod identities, the same numbers on n1, n2 and n3" ||
  t_bad "identity numbers equal on all nodes" "$(for n in "${NODES[@]}"; do echo "$n: $(jq -c 'map(.id)' "$MLN_TMP/ids-$n.json")"; done | tr '\n' ' ')"

# watch FROM TO-KEY... : one background prober per target, each writing the
# time (ns) of its first successful connection to $MLN_TMP/first-<from>-<to>.
watch_reach() {
  local from=$1 t; shift
  for t in "$@"; do
    rm -f "$MLN_TMP/first-$from-$t"
    ( for _ in $(seq 1 400); do
        if mln_pod "$from" timeout 1 nc -z -w 1 "${MLN_POD_IP[$t]}" 80 2>/dev/null; then date +%s%N >"$MLN_TMP/first-$from-$t"; exit 0; fi
        sleep 0.02
      done ) &
    MLN_PIDS+=("$!")
  done
}
# report T0 WHAT FROM TO-KEY...: each first success measured from T0 (ns), at most 1 s.
report_reach() {
  local t0=$1 what=$2 from=$3 t ms; shift 3
  for t in "$@"; do
    _first() { [ -s "$MLN_TMP/first-$from-$t" ]; }
    if mln_retry 100 0.05 _first; then
      ms=$(( ($(cat "$MLN_TMP/first-$from-$t") - t0) / 1000000 ))
      [ "$ms" -le 1000 ] && t_ok "$what: $from -> $t (${WHERE[$t]}) allowed after $ms ms (goal: 1 s)" ||
        t_bad "$what: $from -> $t within 1 s" "$ms ms"
    else
      t_bad "$what: $from -> $t (${WHERE[$t]}) allowed" "not within 8 s"
    fi
  done
}

echo "-- a label changed under traffic: the verdict follows on every node"
apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: x-from-friends, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector: {matchLabels: {role: friend}}'
for t in xa xb xc; do
  probe ya "${MLN_POD_IP[$t]}" 80 tcp && t_bad "y/a (n2) denied to $t (${WHERE[$t]}) before its label change" ||
    t_ok "y/a (n2) denied to $t (${WHERE[$t]}) before its label change"
done
probe ya "${MLN_POD_IP[zb]}" 80 tcp && t_ok "positive control: y/a reaches z/b (${WHERE[zb]})" || t_bad "positive control: y/a reaches z/b"
watch_reach ya xa xb xc
sleep 0.3   # the probers run (and are denied) before the change
pod_yaml y a "{pod: a, role: friend}" >"$MANIFESTS/.relabel.tmp"
t0=$(date +%s%N)
mv "$MANIFESTS/.relabel.tmp" "$MANIFESTS/20-relabel.yaml"
report_reach "$t0" "relabelled y/a role=friend" ya xa xb xc

echo "-- a pod added under traffic: reachable as itself from every node"
apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: x-from-d, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: d}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: y-from-d, namespace: y}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: x}}
      podSelector: {matchLabels: {pod: d}}'
probe xb "${MLN_POD_IP[xa]}" 80 tcp && t_bad "x/b denied to x/a (only x/d may)" || t_ok "x/b denied to x/a (only x/d may)"
mn_pod_add n2 xd x d
t0=$(date +%s%N)   # the pod exists (CNI ADD returned): from here
WHERE[xd]=n2
watch_reach xd xa ya yb
report_reach "$t0" "new pod x/d on n2" xd xa ya yb

t_summary
