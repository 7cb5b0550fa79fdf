#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Network policy end to end, on the model of the upstream Kubernetes
# network-policy e2e tests: namespaces x, y, z (labelled ns=<name>), pods a,
# b, c (labelled pod=<name>) in each, servers on 80 and 81 over TCP and UDP.
# For each
# scenario the policy is applied through the manifests directory, every
# (from pod, to pod, port) is probed with real connections, and the whole
# reachability matrix is compared with the expected one; mismatches print as
# a grid. Live edits must take effect within a second.
source "$(dirname "$0")/common.sh"

mln_init
mln_need_bins reach_probe udp_echo
MANIFESTS="$MLN_TMP/manifests"
mkdir -p "$MANIFESTS"
NSS=(x y z) PODS=(a b c) PORTS=(80 81) PROTOS=(tcp udp)
PROBES=$(( ${#NSS[@]} * ${#PODS[@]} * ${#NSS[@]} * ${#PODS[@]} * ${#PORTS[@]} * ${#PROTOS[@]} ))
{
  for ns in "${NSS[@]}"; do
    printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {ns: %s}\n---\n' "$ns" "$ns"
    for pod in "${PODS[@]}"; do
      printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {pod: %s}\nspec:\n  containers:\n  - name: srv\n    ports:\n    - {name: serve-80-tcp, containerPort: 80}\n    - {name: serve-81-tcp, containerPort: 81}\n    - {name: serve-80-udp, containerPort: 80, protocol: UDP}\n    - {name: serve-81-udp, containerPort: 81, protocol: UDP}\n---\n' "$pod" "$ns" "$pod"
    done
  done
} >"$MANIFESTS/00-cluster.yaml"
MLN_NODE_NAME=policy-node
MLN_AGENT_ARGS=(--manifests "$MANIFESTS")
mln_node_up 10.220.0.0/24
for ns in "${NSS[@]}"; do for pod in "${PODS[@]}"; do
  mln_pod_add "$ns$pod" "$ns" "$pod"
  # socat forks per connection with a deep backlog: concurrent probes never queue behind each other.
  for port in "${PORTS[@]}"; do
    mln_pod_bg "$ns$pod" timeout 900 socat "TCP-LISTEN:$port,fork,reuseaddr,backlog=256" SYSTEM:true >/dev/null 2>&1
    mln_pod_bg "$ns$pod" timeout 900 "$MLN_BIN/udp_echo" "$port" >/dev/null 2>&1   # one socket answers every peer
  done
done; done
for ns in "${NSS[@]}"; do for pod in "${PODS[@]}"; do for port in "${PORTS[@]}"; do
  mln_wait_listen "$ns$pod" "$port" tcp; mln_wait_listen "$ns$pod" "$port" udp
done; done; done
# "world": a namespace behind the node (192.168.77.0/24, addresses .10 and
# .20), routed through the node namespace, for ipBlock, CIDR and entity rules.
WORLD="mln-$MLN_ID-world"
ip netns add "$WORLD"
ip link add "mlw$MLN_ID" netns "$MLN_NODE" type veth peer name eth0 netns "$WORLD"
mln_node ip addr add 192.168.77.1/24 dev "mlw$MLN_ID"
mln_node ip link set "mlw$MLN_ID" up
mln_node sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$WORLD" sh -c 'ip link set lo up && ip link set eth0 up &&
  ip addr add 192.168.77.10/24 dev eth0 && ip addr add 192.168.77.20/24 dev eth0 &&
  ip route add 10.220.0.0/24 via 192.168.77.1'
for port in 80 81; do
  ip netns exec "$WORLD" timeout 900 socat "TCP-LISTEN:$port,fork,reuseaddr,backlog=64" SYSTEM:true >/dev/null 2>&1 &
  MLN_PIDS+=("$!")
done
# The node itself listens on its world-side address (the host identity), for ipBlock rules that cover nodes.
mln_node timeout 900 socat "TCP-LISTEN:80,bind=192.168.77.1,fork,reuseaddr,backlog=64" SYSTEM:true >/dev/null 2>&1 &
MLN_PIDS+=("$!")
world_listens() { ip netns exec "$WORLD" ss -H -ltn "sport = :81" | grep -q . && mln_node ss -H -ltn "sport = :80" | grep -q 192.168.77.1; }
mln_retry 100 0.05 world_listens || mln_die "nothing listens in the world namespace or on the node"
# world_probe FROM-ADDR POD-KEY PORT / pod_world FROM-POD ADDR PORT / host_probe POD-KEY PORT: 1 or 0, retried once.
world_probe() { for _ in 1 2; do ip netns exec "$WORLD" timeout 4 nc -z -w 1 -s "$1" "${MLN_POD_IP[$2]}" "$3" 2>/dev/null && { echo 1; return; }; done; echo 0; }
pod_world() { for _ in 1 2; do mln_pod "$1" timeout 4 nc -z -w 1 "$2" "$3" 2>/dev/null && { echo 1; return; }; done; echo 0; }
host_probe() { for _ in 1 2; do mln_node timeout 4 nc -z -w 1 "${MLN_POD_IP[$1]}" "$2" 2>/dev/null && { echo 1; return; }; done; echo 0; }
# expect_outside NAME WANT GOT: one probe across the node.
expect_outside() { [ "$2" = "$3" ] && t_ok "$1" || t_bad "$1" "expected $([ "$2" = 1 ] && echo allowed || echo denied), got $([ "$3" = 1 ] && echo allowed || echo denied)"; }
expect_outside "no policy: a pod reaches the world namespace" 1 "$(pod_world xa 192.168.77.10 80)"
expect_outside "no policy: the world reaches a pod" 1 "$(world_probe 192.168.77.10 xa 80)"

# probe FROM-KEY IP PORT PROTO: 1 when a connection (TCP) or an answered datagram (UDP) gets through.
probe() {
  if [ "$4" = tcp ]; then mln_pod "$1" timeout 4 nc -z -w 1 "$2" "$3" 2>/dev/null
  else [ "$(echo ping | mln_pod "$1" timeout 4 socat -T1 - "UDP:$2:$3" 2>/dev/null)" = pong ]; fi
}

revision() { mln_myelin status -o json | jq -r '.policy_revision // 0 | tonumber'; }
# apply FILE-CONTENT: writes the scenario's policy and waits (bounded) until the agent regenerated.
apply() {
  local before; before=$(revision)
  printf '%s\n' "$1" >"$MANIFESTS/.scenario.tmp"
  mv "$MANIFESTS/.scenario.tmp" "$MANIFESTS/10-scenario.yaml"   # atomic, as kubectl apply would be
  changed() { [ "$(revision)" -gt "$before" ]; }
  mln_retry 100 0.01 changed || mln_die "agent did not pick up the policy within a second"
}
# probe every (from, to, port, protocol) at once (tests/tools/reach_probe: one
# thread per probe inside the source pod's namespace); prints "from to port
# proto 0|1". A refused connection is tried once more: on a loaded 2-core
# machine a 1 s connect can time out, and a flaky "denied" would be a false
# failure.
probe_all() {
  local p proto
  for fns in "${NSS[@]}"; do for fp in "${PODS[@]}"; do for tns in "${NSS[@]}"; do for tp in "${PODS[@]}"; do for p in "${PORTS[@]}"; do for proto in "${PROTOS[@]}"; do
    echo "/var/run/netns/${MLN_POD_NETNS[$fns$fp]} ${MLN_POD_IP[$tns$tp]} $p $proto $fns/$fp $tns/$tp $p $proto"
  done; done; done; done; done; done | "$MLN_BIN/reach_probe" --timeout-ms 1000 --tries 2 --threads 128
}
# check NAME EXPECT-FUNCTION: compares the probed matrix with expect FROM TO PORT (prints 1 or 0).
check() {
  local name=$1 fn=$2 bad=0 out grid=""
  out=$(probe_all | sort)
  while read -r from to port proto got; do
    # A pod reaching itself never leaves its namespace: always allowed, as
    # the upstream tests' AllowLoopback says.
    if [ "$from" = "$to" ]; then want=1; else want=$($fn "$from" "$to" "$port" "$proto"); fi
    if [ "$want" != "$got" ]; then bad=$((bad + 1)); grid+="    $from -> $to:$port/$proto expected $([ "$want" = 1 ] && echo allowed || echo denied), got $([ "$got" = 1 ] && echo allowed || echo denied)\n"; fi
  done <<<"$out"
  if [ "$bad" -eq 0 ]; then t_ok "$name ($PROBES probes)"; else t_bad "$name" "$bad of $PROBES probes differ:"; printf "%b" "$grid" | head -40 >&2; fi
}
ns_of() { echo "${1%%/*}"; }
pod_of() { echo "${1##*/}"; }

# The single-node test's own checks between scenarios: the world behind the
# node, the CLI and the flows.
policy_scenario_hook() {
  case $1 in
    cli)
      echo "-- CLI: policy list/get/trace, identity list, endpoint get"
      mln_myelin policy list -o json | jq -e '.policies[] | select(.name == "b-deny-z" and .kind == "CiliumNetworkPolicy" and (.endpoints | length) == 1)' >/dev/null &&
        t_ok "policy list shows the policy and the endpoint it selects" || t_bad "policy list"
      mln_myelin policy get b-deny-z --namespace x | grep -q "Source:.*10-scenario.yaml:1" && t_ok "policy get names its source file:line" || t_bad "policy get"
      tr=$(mln_myelin policy trace --from z/a --to x/b --port 80/tcp)
      grep -q "Verdict: DENIED" <<<"$tr" && grep -q "ingress of x/b: denied by ingress deny" <<<"$tr" && t_ok "policy trace z/a -> x/b: denied, by the deny rule" || t_bad "trace deny" "$tr"
      tr=$(mln_myelin policy trace --from x/a --to x/b --port 81)
      grep -q "Verdict: ALLOWED" <<<"$tr" && grep -q "allowed by ingress allow any/any port from identity" <<<"$tr" && t_ok "policy trace x/a -> x/b: allowed, with the rule" || t_bad "trace allow" "$tr"
      mln_myelin policy trace --from x/a --to nowhere/q --port 80 >/dev/null 2>&1 && t_bad "trace of an unknown pod fails" || t_ok "trace of an unknown pod fails"
      mln_myelin identity list -o json | jq -e '[.identities[] | select(.kind == "pod" and (.labels | index("k8s:pod=a")) and (.labels | index("k8s:io.kubernetes.pod.namespace=z")))] | length == 1' >/dev/null &&
        t_ok "identity list: pod identities carry pod and namespace labels" || t_bad "identity list"
      XB=$(mln_myelin endpoint list -o json | jq -r '.endpoints[] | select(.pod_namespace == "x" and .pod_name == "b") | .id')
      mln_myelin endpoint get "$XB" | grep -q "ingress enforced" && t_ok "endpoint get shows its effective policy" || t_bad "endpoint get policy"
      ;;
    audit)
      mln_myelin observe --all -o json --verdict AUDIT >"$MLN_TMP/audit.json"
      t_jq "audit verdicts are reported for what would have been denied" '.flow.verdict == "AUDIT" and (.flow.IP.destination | startswith("10.220."))' "$MLN_TMP/audit.json"
      ;;
    ipblock-world)
      expect_outside "ipBlock egress: x/a reaches 192.168.77.10" 1 "$(pod_world xa 192.168.77.10 80)"
      expect_outside "ipBlock egress except: x/a does not reach 192.168.77.20" 0 "$(pod_world xa 192.168.77.20 80)"
      expect_outside "x/b's egress is not limited: it reaches 192.168.77.20" 1 "$(pod_world xb 192.168.77.20 81)"
      expect_outside "ipBlock ingress: 192.168.77.10 reaches x/b" 1 "$(world_probe 192.168.77.10 xb 80)"
      expect_outside "ipBlock ingress except: 192.168.77.20 does not reach x/b" 0 "$(world_probe 192.168.77.20 xb 80)"
      expect_outside "192.168.77.20 reaches x/c, which no policy selects (the except is what stops it at x/b)" 1 "$(world_probe 192.168.77.20 xc 80)"

      expect_outside "ipBlock egress covers nodes: x/a reaches the node at 192.168.77.1 (host identity)" 1 "$(pod_world xa 192.168.77.1 80)"
      ;;
    cidr-trace)
      tr=$(mln_myelin policy trace --from x/a --to y/b --port 80/tcp)
      grep -q "Verdict: ALLOWED" <<<"$tr" && grep -q "egress of x/a: allowed by .*a-egress-cidr: egress\\[0\\].to\\[0\\]: ipBlock $YB/32" <<<"$tr" &&
        t_ok "policy trace x/a -> y/b names the ipBlock rule" || t_bad "trace ipBlock" "$tr"
      tr=$(mln_myelin policy trace --from x/a --to y/c --port 80/tcp)
      grep -q "Verdict: DENIED" <<<"$tr" && t_ok "policy trace x/a -> y/c: denied (outside the block)" || t_bad "trace outside ipBlock" "$tr"
      mln_myelin observe --all -o json --verdict FORWARDED --from-pod x/a --to-ip "$YB" >"$MLN_TMP/ipblock.json"
      t_jq "the allowed flow names the ipBlock rule, the destination keeps its pod identity" \
        "(.flow.egress_allowed_by // [] | map(.rule) | index(\"egress[0].to[0]: ipBlock $YB/32\") != null) and .flow.destination.identity >= 256 and (.flow.destination.labels | index(\"k8s:pod=b\") != null)" "$MLN_TMP/ipblock.json"
      ;;
    egress-except-world)
      expect_outside "ipBlock egress with except: x/a no longer reaches the world outside the block" 0 "$(pod_world xa 192.168.77.10 80)"
      ;;
    ingress-except-world)
      expect_outside "ipBlock ingress: the world outside the block does not reach x/b" 0 "$(world_probe 192.168.77.10 xb 80)"
      ;;
    cnp-cidr-world)
      expect_outside "CNP toCIDR selects the world in it: x/a reaches 192.168.77.10" 1 "$(pod_world xa 192.168.77.10 80)"
      ;;
    entities-world)
      expect_outside "fromEntities world: 192.168.77.20 reaches z/a on 81" 1 "$(world_probe 192.168.77.20 za 81)"
      expect_outside "the world is not the cluster: 192.168.77.20 does not reach z/a on 80" 0 "$(world_probe 192.168.77.20 za 80)"
      expect_outside "toEntities world: z/b reaches 192.168.77.10" 1 "$(pod_world zb 192.168.77.10 80)"
      expect_outside "allow-localhost: the node reaches z/c on 81 (kubelet probes)" 1 "$(host_probe zc 81)"
      mln_myelin observe --all -o json --from-ip 192.168.77.20 --to-pod z/a --verdict DROPPED >"$MLN_TMP/world.json"
      t_jq "the world's dropped flow carries the world identity" '.flow.source.identity == 2 and (.flow.source.labels | index("reserved:world"))' "$MLN_TMP/world.json"
      mln_myelin observe --all -o json --to-pod z/c --from-identity 1 >"$MLN_TMP/host.json"
      t_jq "the node's flow carries the host identity" '.flow.source.identity == 1 and .flow.verdict == "FORWARDED"' "$MLN_TMP/host.json"
      ;;
  esac
}
SCEN_POD_SUPERNET=10.220.0.0/16 SCEN_POD_ALL=10.220.0.0/24
source "$(dirname "$0")/policy_scenarios.sh"
policy_scenarios


rm -f "$MANIFESTS/10-scenario.yaml"
gone() { [ "$(mln_myelin status -o json | jq -r '.policies // 0')" = 0 ]; }
mln_retry 100 0.02 gone || t_bad "deleting the policy file removes its policies"
check "policy file deleted: everything reachable again" all_allowed

echo "-- label changes re-evaluate policy without restarting pods"
apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {role: friend}}'
mln_pod xc timeout 3 nc -z -w 1 "${MLN_POD_IP[xa]}" 80 && t_bad "x/c denied before its label change" || t_ok "x/c denied before its label change"
before=$(revision)
printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: c\n  namespace: x\n  labels: {pod: c, role: friend}\n' >"$MANIFESTS/.relabel.tmp"
mv "$MANIFESTS/.relabel.tmp" "$MANIFESTS/20-relabel.yaml"   # a later file's Pod replaces the earlier one
relabeled() { [ "$(revision)" -gt "$before" ] && mln_pod xc timeout 2 nc -z -w 1 "${MLN_POD_IP[xa]}" 80; }
mln_retry 20 0.05 relabeled && t_ok "x/c allowed once its Pod labels say role=friend (within a second)" || t_bad "label change"

echo "-- live edit and attribution"
apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: live, namespace: z}
spec:
  podSelector: {matchLabels: {pod: c}}
  ingress: []'
mln_pod xa timeout 3 nc -z -w 1 "${MLN_POD_IP[zc]}" 80 && t_bad "live deny took effect" || t_ok "live deny took effect"
mln_myelin observe --all -o json --verdict DROPPED --to-ip "${MLN_POD_IP[zc]}" >"$MLN_TMP/drops.json"
t_jq "default-deny drop names the selecting policy" '.flow.drop_reason_desc == "POLICY_DENIED" and (.flow.ingress_denied_by // [] | map(.name) | index("live") != null)' "$MLN_TMP/drops.json"
apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: live, namespace: z}
spec:
  podSelector: {matchLabels: {pod: c}}
  ingress: [{}]'
mln_pod xa timeout 3 nc -z -w 1 "${MLN_POD_IP[zc]}" 80 && t_ok "edit to allow-all took effect" || t_bad "edit to allow-all took effect"
mln_myelin observe --all -o json --to-ip "${MLN_POD_IP[zc]}" --verdict FORWARDED >"$MLN_TMP/fwd.json"
t_jq "allowed flow names the allowing policy" '(.flow.ingress_allowed_by // [] | map(.name) | index("live") != null)' "$MLN_TMP/fwd.json"

echo "-- bad input keeps the last good version"
printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: live, namespace: z}\nspec:\n  podSelector: {}\n  ingress:\n  - frm: []\n' >"$MANIFESTS/10-scenario.yaml.tmp"
mv "$MANIFESTS/10-scenario.yaml.tmp" "$MANIFESTS/10-scenario.yaml"
refused() { mln_myelin status -o json | jq -e '.policy_errors // [] | any(test("10-scenario.yaml:7: spec.ingress\\[0\\].frm: is not supported"))' >/dev/null; }
mln_retry 100 0.02 refused && t_ok "a bad file is refused with file:line:field" || t_bad "bad file refused" "$(mln_myelin status -o json | jq -c .policy_errors)"
mln_pod xa timeout 3 nc -z -w 1 "${MLN_POD_IP[zc]}" 80 && t_ok "the last good version stays in force" || t_bad "last good version in force"

t_summary
