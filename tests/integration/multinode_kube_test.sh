#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Kubernetes-API path of a cluster (no kvstore), against the stand-in API
# server on the underlay: nodes from Node objects (spec.podCIDR, InternalIP;
# --ipam kubernetes), remote pods from Pods' status.podIPs and labels, the
# identities as MyelinIdentity objects with the same numbers on every node, a
# NetworkPolicy from the API holding across nodes, and a Node deleted
# leaving nothing behind.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib/multinode.sh"
MN_MODE=${MN_MODE:-tunnel}
echo "routing mode: $MN_MODE"

mn_init
node_json() {  # name index
  printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"%s","uid":"uid-%s"},"spec":{"podCIDR":"10.244.%s.0/24","podCIDRs":["10.244.%s.0/24"]},"status":{"addresses":[{"type":"InternalIP","address":"%s.%s"},{"type":"Hostname","address":"%s"}]}}' \
    "$1" "$1" "$2" "$2" "$MN_UL_PREFIX" "$((10 + $2))" "$1"
}
pod_json() {  # ns name node labels-json [ip]
  local st='{"phase":"Pending"}'
  [ -n "${5:-}" ] && st="{\"phase\":\"Running\",\"podIP\":\"$5\",\"podIPs\":[{\"ip\":\"$5\"}]}"
  printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"%s","uid":"uid-%s-%s","labels":%s},"spec":{"nodeName":"%s","containers":[{"name":"c"}]},"status":%s}' \
    "$2" "$1" "$1" "$2" "$4" "$3" "$st"
}
mkdir -p "$MLN_TMP/objects"
{
  echo '{"apiVersion":"v1","kind":"List","items":['
  echo '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns-x","labels":{"ns":"x"}}},'
  node_json n1 1; echo ,; node_json n2 2; echo ,
  pod_json ns-x a n1 '{"app":"a"}'; echo ,
  pod_json ns-x b n2 '{"app":"b"}'; echo ,
  pod_json ns-x c n2 '{"app":"c"}'
  echo ']}'
} >"$MLN_TMP/objects/cluster.json"
mn_standin_up "$MLN_TMP/objects/cluster.json"
MN_STORE=kube MN_IPAM=kubernetes
mn_node_add n1
mn_node_add n2
mn_pod_add n1 a ns-x a
mn_pod_add n2 b ns-x b
mn_pod_add n2 c ns-x c
A=${MLN_POD_IP[a]} B=${MLN_POD_IP[b]} C=${MLN_POD_IP[c]}
[[ $A == 10.244.1.* && $B == 10.244.2.* ]] && t_ok "--ipam kubernetes: pods get addresses of their Node's spec.podCIDR (a=$A b=$B)" ||
  t_bad "--ipam kubernetes: the Node's podCIDR" "a=$A b=$B"
# The kubelet's part: the Pods' IPs in their status.
mn_standin_ctl apply "$(pod_json ns-x a n1 '{"app":"a"}' "$A")"
mn_standin_ctl apply "$(pod_json ns-x b n2 '{"app":"b"}' "$B")"
mn_standin_ctl apply "$(pod_json ns-x c n2 '{"app":"c"}' "$C")"

echo "-- nodes and pods from the API"
mn_wait_cluster 30 && t_ok "both nodes list both nodes (from Node objects)" || t_bad "node list from Node objects" "$(mn_myelin n1 node list -o json 2>&1 | head -c 500)"
mn_myelin n1 node list -o json >"$MLN_TMP/nodes.json" 2>&1 || true
t_jq "n1 sees n2 with its InternalIP and podCIDR" \
  ".nodes[]? | select(.name == \"n2\") | (tostring | contains(\"${MN_NODE_IP[n2]}\")) and (tostring | contains(\"10.244.2.0/24\"))" "$MLN_TMP/nodes.json"
reach() { mln_pod "$1" ping -q -c 1 -W 1 "$2" >/dev/null 2>&1; }
mln_retry 60 0.5 reach a "$B" && t_ok "a (n1) reaches b (n2)" || t_bad "a (n1) reaches b (n2)"
t_check "b (n2) reaches a (n1)" mln_pod b ping -q -c 2 -i 0.2 -W 2 "$A"
mn_wait_ipcache n1 "$B/32" 10 && t_ok "n1's ipcache holds b's address (from its Pod's status.podIPs)" || t_bad "n1's ipcache has b" "$(mn_ipcache n1)"

echo "-- identities: MyelinIdentity objects, the same numbers on both nodes"
for n in n1 n2; do
  mn_myelin "$n" identity list -o json | jq -S '[.identities[] | select(.kind == "pod") | {id, labels: (.labels | sort)}] | sort_by(.id)' \
    >"$MLN_TMP/ids-$n.json" 2>/dev/null || echo '[]' >"$MLN_TMP/ids-$n.json"
done
[ "$(jq length "$MLN_TMP/ids-n1.json")" -ge 3 ] && cmp -s "$MLN_TMP/ids-n1.json" "$MLN_TMP/ids-n2.json" &&
  t_ok "identity list: the same $(jq length "$MLN_TMP/ids-n1.json") pod identities and numbers on n1 and n2" ||
  t_bad "identity numbers equal on both nodes" "n1: $(jq -c 'map(.id)' "$MLN_TMP/ids-n1.json") n2: $(jq -c 'map(.id)' "$MLN_TMP/ids-n2.json")"
idb=$(mn_myelin n2 endpoint list -o json | jq -r '.endpoints[] | select(.pod_name == "b") | .identity')
crds=$(mn_kubectl_get /apis/myelin.io/v1alpha1/myelinidentities 2>/dev/null || mn_kubectl_get /apis/myelin.io/v1/myelinidentities 2>/dev/null || echo '{}')
jq -e --arg id "$idb" '[.items[]? | select(.metadata.name == $id)] | length == 1' <<<"$crds" >/dev/null &&
  t_ok "b's identity $idb is a MyelinIdentity object named $idb in the API" || t_bad "MyelinIdentity for b's identity $idb" "$(head -c 400 <<<"$crds")"
# The remote pod's identity on n1 is the number its labels have: from the Pod's labels, not guessed.
mn_ipcache n1 | mln_has "^$B/32 identity=$idb " && t_ok "n1's ipcache gives b ($B) its identity $idb (from the Pod's labels)" ||
  t_bad "n1's ipcache identity of b ($idb)" "$(mn_ipcache n1 | grep "^$B/" || echo none)"

echo "-- a NetworkPolicy from the API, across nodes"
mln_pod_bg a timeout 120 socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:true
mln_wait_listen a 80 tcp
c_reaches() { mln_pod c timeout 3 nc -z -w 1 "$A" 80; }
mln_retry 20 0.2 c_reaches && t_ok "c (n2) reaches a (n1) before the policy (control)" || t_bad "c (n2) reaches a (n1) before the policy"
mn_standin_ctl apply '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"a-from-b","namespace":"ns-x","uid":"np1"},"spec":{"podSelector":{"matchLabels":{"app":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"b"}}}]}]}}'
c_denied() { ! mln_pod c timeout 3 nc -z -w 1 "$A" 80; }
mln_retry 50 0.1 c_denied && t_ok "c (n2) denied to a (n1) by the policy" || t_bad "c (n2) denied to a (n1)"
t_check "b (n2) allowed to a (n1) by its labels (positive control)" mln_pod b timeout 3 nc -z -w 1 "$A" 80

echo "-- a Node deleted"
# Deleted before its Pods, as in a cluster (the pod GC removes a gone node's
# Pods later): nothing of n2 may stay on n1 meanwhile.
has_n2() { mn_ipcache n1 | mln_has "tunnel=${MN_NODE_IP[n2]} "; }
n2_none() {
  ! has_n2 && ! mn_ipcache n1 | mln_has -e "^10\.244\.2\." -e "^${MN_NODE_IP[n2]}/32 " && ! mn_node n1 ip -4 route show | mln_has "10.244.2.0" &&
    mn_myelin n1 node list -o json | jq -e '[.nodes[]? | select(.name == "n2")] | length == 0' >/dev/null
}
has_n2 && mn_ipcache n1 | mln_has "^$B/32 " && mn_ipcache n1 | mln_has "^${MN_NODE_IP[n2]}/32 " &&
  t_ok "positive control: n1's ipcache has n2's address, pod CIDR and pods" || t_bad "positive control: n1 has n2's entries" "$(mn_ipcache n1)"
mn_standin_ctl delete '{"kind":"Node","name":"n2"}'
mln_retry 100 0.1 n2_none && t_ok "Node n2 deleted (its Pods still listed): n1 has no ipcache entry, route or node of it" ||
  t_bad "Node n2 deleted: nothing left on n1" "$(mn_ipcache n1 | tr '\n' ';') routes: $(mn_node n1 ip -4 route show | tr '\n' ';')"
mn_standin_ctl delete '{"kind":"Pod","namespace":"ns-x","name":"b"}'
mn_standin_ctl delete '{"kind":"Pod","namespace":"ns-x","name":"c"}'
mn_myelin n1 node list -o json | jq -e '[.nodes[]? | select(.name == "n1")] | length == 1' >/dev/null && n2_none &&
  t_ok "its Pods deleted too: still nothing of n2 on n1, n1 still listed" || t_bad "after n2's Pods deleted" "$(mn_ipcache n1 | tr '\n' ';')"

t_summary
