#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The maps whose full behaviour is the agent's, filled for real: an agent
# with tiny maps (--bpf-map-max-entries), pods made by the CNI plugin, policy
# from the manifests directory, real connections to pods and to a "world"
# namespace behind the node.
#   endpoints full: CNI ADD fails with a clear error and leaves nothing
#     half-made; room made, the same ADD succeeds.
#   policy map full: the endpoint fails closed (NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION), status says
#     why; a policy that fits again restores it.
#   ipcache full: an allowed CIDR that did not fit lets nothing more through
#     (world stays denied); an except that did not fit fails the endpoint
#     closed (else the except's addresses would pass as the wider block).
# Every step checks myelin_bpf_map_pressure and has a positive control.
source "$(dirname "$0")/common.sh"

mln_init
MANIFESTS="$MLN_TMP/manifests"
mkdir -p "$MANIFESTS"
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: default, labels: {pod: %s}}\n---\n' a a b b c c d d >"$MANIFESTS/00-pods.yaml"
MLN_NODE_NAME=full-node
# 1 of the 4 ipcache entries is the node's address on the world link.
MLN_AGENT_ARGS=(--manifests "$MANIFESTS" --metrics-addr 127.0.0.1:9962 --bpf-map-max-entries endpoints=3,policy=8,ipcache=4)
mln_node_up 10.221.0.0/24

# "world": a namespace behind the node at 192.168.78.0/24.
WORLD="mln-$MLN_ID-world"
ip netns add "$WORLD"
ip link add "mlf$MLN_ID" netns "$MLN_NODE" type veth peer name eth0 netns "$WORLD"
mln_node ip addr add 192.168.78.1/24 dev "mlf$MLN_ID"
mln_node ip link set "mlf$MLN_ID" up
mln_node sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$WORLD" sh -c 'ip link set lo up && ip link set eth0 up &&
  ip addr add 192.168.78.10/24 dev eth0 && ip addr add 192.168.78.20/24 dev eth0 &&
  ip route add 10.221.0.0/24 via 192.168.78.1'
ip netns exec "$WORLD" timeout 600 socat TCP-LISTEN:80,fork,reuseaddr,backlog=64 SYSTEM:true >/dev/null 2>&1 &
MLN_PIDS+=("$!")

metric() { mln_node curl -sf http://127.0.0.1:9962/metrics | awk -v m="myelin_bpf_map_pressure{map_name=\"$1\"}" '$1 == m {print $2}'; }
status() { mln_myelin status -o json; }
revision() { status | jq -r '.policy_revision // 0'; }
apply() {  # FILE TEXT: written atomically; waits for the regeneration it causes
  local before; before=$(revision)
  printf '%s\n' "$2" >"$MANIFESTS/.tmp"
  mv "$MANIFESTS/.tmp" "$MANIFESTS/$1"
  changed() { [ "$(revision)" -gt "$before" ]; }
  mln_retry 200 0.02 changed || mln_die "agent did not pick up $1"
}
reach() { mln_pod "$1" timeout 4 nc -z -w 2 "$2" "$3" 2>/dev/null; }  # POD ADDR PORT
# drop_reason POD ADDR: the drop reason of the last flow from POD to ADDR
drop_reason() { mln_myelin observe --all -o json --from-pod "default/$1" --to-ip "$2" --verdict DROPPED | jq -r '.flow.drop_reason_desc' | tail -1; }
failures() { status | jq -r '.policy_failures // [] | .[]'; }

echo "-- endpoint map full (3 endpoints)"
mln_pod_add a
mln_pod_add b
mln_pod_add c
[ "$(metric myelin_ep)" = 1 ] && t_ok "3 of 3 endpoints: pressure{myelin_ep} = 1" || t_bad "endpoint pressure" "$(metric myelin_ep)"
links_before=$(mln_node ip -o link show type veth | wc -l)
ipam_before=$(status | jq -r '.ipam_used')
ip netns add "mln-$MLN_ID-d"
rc=0; out=$(mln_cni ADD "cid-$MLN_ID-d" "/var/run/netns/mln-$MLN_ID-d" CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=d") || rc=$?
[ "$rc" != 0 ] && jq -e '.code == 100 and (.msg | test("this node is full: the endpoint map myelin_ep holds its 3 endpoints"))' <<<"$out" >/dev/null &&
  t_ok "4th CNI ADD fails: $(jq -r .msg <<<"$out")" || t_bad "4th ADD fails clearly" "rc=$rc $out"
[ "$(mln_node ip -o link show type veth | wc -l)" = "$links_before" ] && t_ok "no host veth left behind" || t_bad "host veth left" "$(mln_node ip -o link show type veth)"
ip netns exec "mln-$MLN_ID-d" ip link show eth0 >/dev/null 2>&1 && t_bad "pod interface left behind" || t_ok "no pod interface left behind"
[ "$(status | jq -r '.ipam_used')" = "$ipam_before" ] && t_ok "its address was released (IPAM $ipam_before in use)" || t_bad "address leaked" "$(status | jq .ipam_used)"
[ "$(mln_myelin endpoint list -o json | jq '.endpoints | length')" = 3 ] && t_ok "the agent lists 3 endpoints, not 4" || t_bad "endpoint count"
mln_cni DEL "${MLN_POD_CID[c]}" "/var/run/netns/${MLN_POD_NETNS[c]}" >/dev/null
rc=0; out=$(mln_cni ADD "cid-$MLN_ID-d" "/var/run/netns/mln-$MLN_ID-d" CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=d") || rc=$?
[ "$rc" = 0 ] && t_ok "after one pod is deleted, the same ADD succeeds (positive control)" || t_bad "ADD after DEL" "$out"
MLN_PODS+=(d); MLN_POD_NETNS[d]="mln-$MLN_ID-d"; MLN_POD_CID[d]="cid-$MLN_ID-d"
MLN_POD_IP[d]=$(jq -r '.ips[0].address' <<<"$out" | cut -d/ -f1)
unset 'MLN_POD_NETNS[c]'; MLN_PODS=(a b d)
B=${MLN_POD_IP[b]} D=${MLN_POD_IP[d]}
for p in b d; do mln_pod_bg "$p" timeout 600 socat TCP-LISTEN:8080,fork,reuseaddr,backlog=64 SYSTEM:true >/dev/null 2>&1; done
mln_wait_listen b 8080; mln_wait_listen d 8080

echo "-- policy map full (8 entries)"
ingress_b() {  # ports as YAML list items
  printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: b-in, namespace: default}\nspec:\n  podSelector: {matchLabels: {pod: b}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {pod: a}}}]\n    ports: [%s]\n' "$1"
}
apply 10-b.yaml "$(ingress_b '{port: 8080}')"
mln_retry 20 0.1 reach a "$B" 8080 && t_ok "b allows a on 8080 (2 entries): a reaches b" || t_bad "a reaches b:8080 with a policy that fits"
reach d "$B" 8080 && t_bad "d is not allowed into b" || t_ok "d does not reach b (the policy is in force)"
apply 10-b.yaml "$(ingress_b '{port: 8080}, {port: 81}, {port: 82}, {port: 83}, {port: 84}, {port: 85}, {port: 86}, {port: 87}, {port: 88}')"
failures | grep -q "endpoint .* (default/b): policy map full" && t_ok "status: $(failures | grep 'policy map full' | head -1)" || t_bad "status names the full policy map" "$(failures)"
reach a "$B" 8080 && t_bad "b fails closed when its policy does not fit" "a still reaches b:8080" || t_ok "10 entries do not fit: b fails closed, a no longer reaches b:8080"
[ "$(drop_reason a "$B")" = NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION ] && t_ok "dropped as NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION" || t_bad "drop reason" "$(drop_reason a "$B")"
[ "$(metric myelin_pol_allow)" = 1 ] && t_ok "pressure{myelin_pol_allow} = 1" || t_bad "policy pressure" "$(metric myelin_pol_allow)"
mln_retry 20 0.1 reach a "$D" 8080 && t_ok "d, which no policy selects, is still reached (positive control)" || t_bad "a reaches d"
apply 10-b.yaml "$(ingress_b '{port: 8080}')"
mln_retry 20 0.1 reach a "$B" 8080 && t_ok "a policy that fits again: a reaches b" || t_bad "recovery after policy map full"
[ -z "$(failures)" ] && t_ok "status: nothing failing any more" || t_bad "failures cleared" "$(failures)"
rm -f "$MANIFESTS/10-b.yaml"

echo "-- ipcache full (4 entries, 1 is the node's address)"
mln_retry 20 0.1 reach a 192.168.78.10 80 && t_ok "no policy: a reaches the world (positive control)" || t_bad "a reaches the world"
egress_a() {  # egress peers as YAML list items
  printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a-out, namespace: default}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - to: [%s]\n' "$1"
}
# Four CIDRs, three slots: 192.168.78.0/24 (last in order) does not fit.
apply 20-a.yaml "$(egress_a '{ipBlock: {cidr: 10.250.0.0/16}}, {ipBlock: {cidr: 10.251.0.0/16}}, {ipBlock: {cidr: 10.252.0.0/16}}, {ipBlock: {cidr: 192.168.78.0/24}}')"
failures | grep -q "ipcache full: 192.168.78.0/24" && t_ok "status: $(failures | head -1 | cut -c1-110)..." || t_bad "status names the missing CIDR" "$(failures)"
[ "$(metric myelin_ipcache)" = 1 ] && t_ok "pressure{myelin_ipcache} = 1" || t_bad "ipcache pressure" "$(metric myelin_ipcache)"
reach a 192.168.78.10 80 && t_bad "an allowed CIDR that did not fit must not let world traffic through" ||
  t_ok "allowed 192.168.78.0/24 missing: a does not reach 192.168.78.10 (world is not allowed)"
[ "$(drop_reason a 192.168.78.10)" = POLICY_DENIED ] && t_ok "dropped as POLICY_DENIED: narrower, the endpoint did not need to fail closed" || t_bad "drop reason" "$(drop_reason a 192.168.78.10)"
failures | grep -q "(default/a)" && t_bad "a missing allow does not fail a closed" "$(failures)" || t_ok "a is not failing closed"
mln_retry 20 0.1 reach b 192.168.78.10 80 && t_ok "b, which no policy selects, reaches the world (positive control)" || t_bad "b reaches world"
# An except that does not fit: .16/28 (holding .20) is the one left out.
apply 20-a.yaml "$(egress_a '{ipBlock: {cidr: 10.250.0.0/16}}, {ipBlock: {cidr: 10.251.0.0/16}}, {ipBlock: {cidr: 192.168.78.0/24, except: [192.168.78.16/28]}}')"
failures | grep -q "(default/a): ipcache full: 192.168.78.16/28" && t_ok "status: a fails closed for the missing except" || t_bad "except missing: a fails closed" "$(failures)"
reach a 192.168.78.20 80 && t_bad "an except that did not fit must not open it" "a reaches 192.168.78.20" ||
  t_ok "except 192.168.78.16/28 missing: a does not reach 192.168.78.20"
[ "$(drop_reason a 192.168.78.20)" = NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION ] && t_ok "dropped as NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION (fail closed)" || t_bad "drop reason" "$(drop_reason a 192.168.78.20)"
reach a 192.168.78.10 80 && t_bad "fail closed is the whole endpoint" || t_ok "a fails closed: 192.168.78.10 is not reached either"
mln_retry 20 0.1 reach b 192.168.78.20 80 && t_ok "b still reaches 192.168.78.20 (positive control)" || t_bad "b reaches .20"
# One CIDR fewer: everything fits, the except works as written.
apply 20-a.yaml "$(egress_a '{ipBlock: {cidr: 10.250.0.0/16}}, {ipBlock: {cidr: 192.168.78.0/24, except: [192.168.78.16/28]}}')"
[ -z "$(failures)" ] && t_ok "fits again: nothing failing" || t_bad "failures cleared" "$(failures)"
mln_retry 20 0.1 reach a 192.168.78.10 80 && t_ok "a reaches 192.168.78.10 (allowed)" || t_bad "a reaches .10 when all fits"
reach a 192.168.78.20 80 && t_bad "the except holds when it fits" || t_ok "a does not reach 192.168.78.20 (the except)"
[ "$(drop_reason a 192.168.78.20)" = POLICY_DENIED ] && t_ok "dropped as POLICY_DENIED" || t_bad "drop reason" "$(drop_reason a 192.168.78.20)"

echo "-- every map has a pressure value"
for m in myelin_ep myelin_ct myelin_frag myelin_metrics myelin_ipcache myelin_pol_allow myelin_pol_deny myelin_events; do
  v=$(metric "$m")
  awk -v v="$v" 'BEGIN {exit !(v != "" && v >= 0 && v <= 1)}' && t_ok "myelin_bpf_map_pressure{map_name=\"$m\"} = $v" || t_bad "pressure of $m" "'$v'"
done

t_summary
