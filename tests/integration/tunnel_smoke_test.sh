#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Tunnel mode's own checks, on two nodes of a real cluster (multinode.sh,
# etcd, --routing-mode tunnel). Pod traffic, MTU and masquerade across nodes
# are integration_multinode_traffic_tunnel's; here: the VXLAN device and its
# programs; Hubble's tunnel {protocol, IP {source, destination}, vni} naming
# both nodes, the VNI = the source identity; the node's own traffic to a
# remote pod arriving as VNI remote-node (6); a CiliumNetworkPolicy on node b
# (fromEntities remote-node) allowing node a while denying pod a by the
# identity its VNI carries (a POLICY_DENIED drop from the tunnel), and one on
# node a (toEntities remote-node) letting pod a reach node b's address only
# by that rule; removing a policy restores the path; the device adopted by a
# restarted agent (same ifindex) and gone when the agent starts out of
# tunnel mode.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib/multinode.sh"

mn_init
mn_etcd_up
MN_STORE=etcd MN_MODE=tunnel
# Each node's manifests: its pod's labels, and later its policy.
for n in a b; do
  mkdir -p "$MLN_TMP/m-$n"
  printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-%s\n  namespace: default\n  labels: {app: %s}\n' "$n" "$n" >"$MLN_TMP/m-$n/00-pod.yaml"
done
MA="$MLN_TMP/m-a" MB="$MLN_TMP/m-b"
mn_node_add a --manifests "$MA"
mn_node_add b --manifests "$MB"
mn_pod_add a pa default pod-a
mn_pod_add b pb default pod-b
A=${MLN_POD_IP[pa]} B=${MLN_POD_IP[pb]} NA=${MN_NODE_IP[a]} NB=${MN_NODE_IP[b]}
echo "pods: pod-a=$A (node a $NA) pod-b=$B (node b $NB)"

echo "-- the VXLAN device"
for n in a b; do
  mn_node "$n" ip -d -j link show myelin_vxlan >"$MLN_TMP/vx-$n.json" || true
  t_jq "node $n: myelin_vxlan is a collect-metadata VXLAN device on UDP 8472, MTU 1500 (the underlay's), up" \
    '.[0].linkinfo.info_kind == "vxlan" and .[0].linkinfo.info_data.external == true and .[0].linkinfo.info_data.port == 8472 and .[0].mtu == 1500 and (.[0].flags | index("UP")) != null' \
    "$MLN_TMP/vx-$n.json"
  { mn_node "$n" tc filter show dev myelin_vxlan ingress; mn_node "$n" tc filter show dev myelin_vxlan egress; } >"$MLN_TMP/tc-$n.txt" 2>&1 || true
  t_check "node $n: from_overlay and to_overlay on its tc ingress and egress" \
    bash -c "grep -q from_overlay '$MLN_TMP/tc-$n.txt' && grep -q to_overlay '$MLN_TMP/tc-$n.txt'"
done
IFINDEX_A=$(jq '.[0].ifindex' "$MLN_TMP/vx-a.json")
mn_myelin a status -o json >"$MLN_TMP/status-a.json"
t_jq "status says tunnel mode: myelin_vxlan, UDP 8472, from $NA on ul0, MTU 1500, pod routes 1450" \
  ".tunnel.device == \"myelin_vxlan\" and .tunnel.ifindex == $IFINDEX_A and .tunnel.port == 8472 and .tunnel.node_ip == \"$NA\" and .tunnel.underlay_device == \"ul0\" and .tunnel.underlay_mtu == 1500 and .tunnel.pod_route_mtu == 1450" \
  "$MLN_TMP/status-a.json"

echo "-- across the tunnel"
mn_wait_cluster 30 || t_bad "both nodes list both nodes" "$(mn_myelin a node list -o json 2>&1 | head -c 400)"
reach() { mln_pod "$1" ping -q -c 1 -W 1 "$2" >/dev/null 2>&1; }
mln_retry 60 0.5 reach pa "$B" && t_ok "pod a reaches pod b (other node)" || t_bad "pod a reaches pod b"
node_reaches() { mn_node a ping -q -c 1 -W 1 "$B" >/dev/null 2>&1; }
mln_retry 20 0.2 node_reaches && t_ok "node a itself reaches pod b (to_overlay)" || t_bad "node a reaches pod b" "$(mn_node a ip route get "$B")"
identity_of() { mn_myelin "$1" endpoint list -o json | jq -r --arg p "$2" '.endpoints[] | select(.pod_name == $p) | .identity'; }
ID_A=$(identity_of a pod-a) ID_B=$(identity_of b pod-b)
[ -n "$ID_A" ] && [ -n "$ID_B" ] || mln_die "no identities for the pods (a: '$ID_A', b: '$ID_B')"

echo "-- flows"
# Bounded wait for the last flow expected (node a's ping seen on b), then read both.
flows_b() {
  mn_myelin b observe --all -o json >"$MLN_TMP/flows-b.json" &&
    jq -e -s "map(select(.flow.IP.source == \"$NA\" and .flow.trace_observation_point == \"FROM_OVERLAY\")) | length > 0" "$MLN_TMP/flows-b.json" >/dev/null
}
mln_retry 50 0.1 flows_b || true
mn_myelin a observe --all -o json >"$MLN_TMP/flows-a.json"
t_jq "node a: a->b TO_OVERLAY with tunnel {VXLAN, $NA -> $NB, vni = a's identity $ID_A}" \
  ".flow.IP.source == \"$A\" and .flow.IP.destination == \"$B\" and .flow.trace_observation_point == \"TO_OVERLAY\" and .flow.tunnel.protocol == \"VXLAN\" and .flow.tunnel.IP.source == \"$NA\" and .flow.tunnel.IP.destination == \"$NB\" and .flow.tunnel.vni == $ID_A" \
  "$MLN_TMP/flows-a.json"
t_jq "node b: a->b FROM_OVERLAY with tunnel {VXLAN, $NA -> $NB}, source identity = the VNI, destination pod-b" \
  ".flow.IP.source == \"$A\" and .flow.IP.destination == \"$B\" and .flow.trace_observation_point == \"FROM_OVERLAY\" and .flow.tunnel.protocol == \"VXLAN\" and .flow.tunnel.IP.source == \"$NA\" and .flow.tunnel.IP.destination == \"$NB\" and .flow.tunnel.vni == $ID_A and .flow.source.identity == $ID_A and .flow.destination.pod_name == \"pod-b\"" \
  "$MLN_TMP/flows-b.json"
t_jq "node b: node a's own ping arrives as remote-node (VNI 6)" \
  ".flow.IP.source == \"$NA\" and .flow.IP.destination == \"$B\" and .flow.trace_observation_point == \"FROM_OVERLAY\" and .flow.tunnel.vni == 6 and .flow.source.identity == 6" \
  "$MLN_TMP/flows-b.json"

echo "-- ingress on node b: fromEntities remote-node, by the identity the VNI carries"
cat >"$MB/10-policy.yaml" <<'EOF'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: b-from-remote-nodes-only, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: b}}
  ingress:
  - fromEntities: [remote-node]
EOF
EP_B=$(mn_myelin b endpoint list -o json | jq -r '.endpoints[] | select(.pod_name == "pod-b") | .id')
enforced() { mn_myelin "$1" endpoint get "$2" -o json | jq -e ".policy.${3}_enforced == true" >/dev/null; }
released() { ! enforced "$@"; }
mln_retry 100 0.1 enforced b "$EP_B" ingress || mln_die "the ingress policy never took effect on pod-b"
SINCE=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
reach pa "$B" && t_bad "pod a (its own identity in the VNI) is denied by b's policy" || t_ok "pod a (its own identity in the VNI) is denied by b's policy"
t_check "node a (VNI remote-node) is allowed by fromEntities remote-node" mn_node a ping -q -c 2 -i 0.2 -W 2 "$B"
drops_b() {
  mn_myelin b observe --all -o json --verdict DROPPED --since "$SINCE" >"$MLN_TMP/drops-b.json" && grep -q POLICY_DENIED "$MLN_TMP/drops-b.json"
}
mln_retry 30 0.1 drops_b || true
t_jq "node b: the denied packet is a POLICY_DENIED drop from the tunnel, identity = a's VNI" \
  ".flow.IP.source == \"$A\" and .flow.IP.destination == \"$B\" and .flow.verdict == \"DROPPED\" and .flow.drop_reason_desc == \"POLICY_DENIED\" and .flow.source.identity == $ID_A and .flow.tunnel.IP.source == \"$NA\"" \
  "$MLN_TMP/drops-b.json"
rm "$MB/10-policy.yaml"
mln_retry 100 0.1 released b "$EP_B" ingress || t_bad "the ingress policy's removal took effect on pod-b"
mln_retry 50 0.1 reach pa "$B" && t_ok "policy removed: pod a reaches pod b again" || t_bad "policy removed: pod a reaches pod b again"

echo "-- egress on node a: toEntities remote-node"
# Controls first: without a policy pod a reaches node b's address and the
# world (same underlay, not a node); under the policy only node b's address.
reach pa "$NB" && t_ok "control: without a policy pod a reaches node b's address $NB" || t_bad "control: pod a reaches node b's address"
reach pa "$MN_WORLD_IP" && t_ok "control: without a policy pod a reaches the world $MN_WORLD_IP" || t_bad "control: pod a reaches the world"
cat >"$MA/10-policy.yaml" <<'EOF'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: a-to-remote-nodes-only, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: a}}
  egress:
  - toEntities: [remote-node]
EOF
EP_A=$(mn_myelin a endpoint list -o json | jq -r '.endpoints[] | select(.pod_name == "pod-a") | .id')
mln_retry 100 0.1 enforced a "$EP_A" egress || mln_die "the egress policy never took effect on pod-a"
t_check "pod a reaches node b's address $NB (toEntities remote-node)" mln_pod pa ping -q -c 2 -i 0.2 -W 2 "$NB"
reach pa "$MN_WORLD_IP" && t_bad "pod a is denied the world (not remote-node)" || t_ok "pod a is denied the world (not remote-node)"
reach pa "$B" && t_bad "pod a is denied pod b (a pod, not remote-node)" || t_ok "pod a is denied pod b (a pod, not remote-node)"
rm "$MA/10-policy.yaml"
mln_retry 100 0.1 released a "$EP_A" egress || t_bad "the egress policy's removal took effect on pod-a"
mln_retry 50 0.1 reach pa "$MN_WORLD_IP" && t_ok "policy removed: pod a reaches the world again" || t_bad "policy removed: pod a reaches the world again"
mln_retry 50 0.1 reach pa "$B" && t_ok "policy removed: pod a reaches pod b again" || t_bad "policy removed: pod a reaches pod b again"

echo "-- the device across restarts"
mn_agent_kill a
mn_agent_start a
t_check "agent a restarted: myelin_vxlan adopted with the same ifindex" \
  bash -c "[ \"\$(nsenter --net=/var/run/netns/${MN_NODE_NS[a]} ip -j link show myelin_vxlan | jq '.[0].ifindex')\" = '$IFINDEX_A' ]"
t_check "the log says adopted" grep -q "adopted myelin_vxlan" "${MN_LOG[a]}"
mln_retry 50 0.1 reach pa "$B" && t_ok "after the restart pod a reaches pod b" || t_bad "after the restart pod a reaches pod b"
mn_agent_kill a
MN_NODE_ARGS[a]="${MN_NODE_ARGS[a]/--routing-mode tunnel/--routing-mode native --native-routing-cidr $MN_POD_POOL}"
mn_agent_start a
mn_myelin a status -o json | jq -e 'has("tunnel") | not' >/dev/null && t_ok "restarted in native mode: status no longer says tunnel mode" ||
  t_bad "status no longer says tunnel mode"
t_check "myelin_vxlan is gone from node a" bash -c "! nsenter --net=/var/run/netns/${MN_NODE_NS[a]} ip link show myelin_vxlan >/dev/null 2>&1"

t_summary
