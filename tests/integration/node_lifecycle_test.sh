#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The node datapath on one node, end to end: alone (no --kvstore, no
# Kubernetes API) the agent says so in status and `node list` (this node,
# local, with its pod CIDR), and writes no cluster prefix into the ipcache,
# not even its own pod CIDR (its pods are /32 entries; the map's budget is
# theirs). A Node object of another node in its manifests directory is
# listed as ignored, with the reason, in `node list` and status, and routes
# nothing (a second node's manifests are no cluster). State a previous cluster run left behind (another
# node's ipcache entry in the pinned map, a route of ours, proto 77) is gone
# after the next start, while a route of another protocol stays.
source "$(dirname "$0")/common.sh"

mln_init
mln_manifests_init
cat >"$M/nodes.yaml" <<'YAML'
apiVersion: v1
kind: Node
metadata: {name: other}
spec: {podCIDR: 10.237.0.0/24, podCIDRs: [10.237.0.0/24]}
status:
  addresses:
  - {type: InternalIP, address: 192.168.237.2}
YAML
MLN_AGENT_ARGS=(--manifests "$M")
MLN_NODE_NAME=solo
mln_node_up 10.236.0.0/24
IPCACHE="$MLN_BPFFS/myelin_ipcache"

# ipcache key of a prefix (struct myelin_ipcache_key): prefixlen 32+len, family 4, the address.
ipc_key() {  # $1 = a.b.c.d, $2 = prefix length
  local IFS=.
  # shellcheck disable=SC2086
  set -- $1 "$2"
  printf '%02x 00 00 00 04 00 00 00 %02x %02x %02x %02x 00 00 00 00 00 00 00 00 00 00 00 00' $((32 + $5)) "$1" "$2" "$3" "$4"
}
ipc_has() { bpftool map lookup pinned "$IPCACHE" key hex $(ipc_key "$1" "$2") >/dev/null 2>&1; }  # shellcheck disable=SC2046
ipc_flags() { bpftool -j map lookup pinned "$IPCACHE" key hex $(ipc_key "$1" "$2") 2>/dev/null | jq -r '.formatted.value.flags // empty'; }
status() { mln_myelin status -o json; }

echo "-- alone"
status | jq -e '.cluster.mode == "single node: no --kvstore and no Kubernetes API"' >/dev/null &&
  t_ok "status: a single node says so" || t_bad "status: single node" "$(status | jq -c .cluster)"
mln_myelin node list -o json | jq -e '.mode | startswith("single node")' >/dev/null &&
  mln_myelin node list -o json | jq -e '[.nodes[] | select(.local)] | length == 1 and (.[0] | .name == "solo" and .pod_cidrs == ["10.236.0.0/24"] and .source == "local")' >/dev/null &&
  t_ok "node list: this node, local, with its pod CIDR" || t_bad "node list" "$(mln_myelin node list -o json)"
mln_myelin node list | mln_has '^solo (local) ' && t_ok "node list (table): the row of this node" || t_bad "node list table" "$(mln_myelin node list)"
ignored() {
  mln_myelin node list -o json | jq -e '[.nodes[] | select(.name == "other")] | length == 1 and (.[0] | .health == "ignored"
    and .source == "manifests" and .addresses == ["192.168.237.2"] and (.problem | test("single node")) and (.local | not))' >/dev/null
}
mln_retry 50 0.1 ignored && t_ok "node list: the manifests' Node 'other' is listed as ignored, with the reason" ||
  t_bad "node list: the other Node ignored" "$(mln_myelin node list -o json)"
status | jq -e '[.cluster.problems[]? | select(test("^other .*ignored"))] | length == 1' >/dev/null &&
  t_ok "status names the ignored Node object" || t_bad "status: ignored Node" "$(status | jq -c .cluster)"
ipc_has 10.237.0.0 24 && t_bad "ipcache: the ignored Node's pod CIDR was written" || t_ok "ipcache: nothing of the ignored Node"
[ -z "$(mln_node ip route show 10.237.0.0/24)" ] && t_ok "no route to the ignored Node's pod CIDR" || t_bad "route to the ignored Node" "$(mln_node ip route)"
ipc_has 10.236.0.0 24 && t_bad "ipcache: a single node wrote its pod CIDR" "$(ipc_flags 10.236.0.0 24)" ||
  t_ok "ipcache: a single node writes no cluster prefix, not even its own pod CIDR"

echo "-- state of an earlier cluster run, removed while the agent was down"
mln_agent_kill TERM
# Another node's pod CIDR (world, tunnel endpoint 192.168.77.2, CLUSTER|REMOTE|POD_CIDR) and its address.
bpftool map update pinned "$IPCACHE" key hex $(ipc_key 10.77.0.0 24) value hex 02 00 00 00 00 00 00 00 c0 a8 4d 02 07 00 00 00
bpftool map update pinned "$IPCACHE" key hex $(ipc_key 192.168.77.2 32) value hex 06 00 00 00 00 00 00 00 00 00 00 00 03 00 00 00
# Positive control for the absence checks: ipc_has sees an entry that is there.
ipc_has 10.77.0.0 24 || mln_die "could not seed the stale ipcache entry"
mln_node ip link add mln-s0 type veth peer name mln-s1
mln_node ip link set mln-s0 up
mln_node ip link set mln-s1 up
mln_node ip addr add 192.168.77.1/24 dev mln-s0
mln_node ip route add 10.77.0.0/24 via 192.168.77.2 proto 77
mln_node ip route add 10.78.0.0/24 via 192.168.77.2 proto static
mln_agent_start
pruned=false
for _ in $(seq 1 100); do
  if ! ipc_has 10.77.0.0 24 && ! ipc_has 192.168.77.2 32 && [ -z "$(mln_node ip route show proto 77)" ]; then pruned=true; break; fi
  sleep 0.1
done
$pruned && t_ok "the other node's ipcache entries and our route are pruned at start" ||
  t_bad "stale state pruned" "ipcache 10.77.0.0/24: $(ipc_flags 10.77.0.0 24); routes: $(mln_node ip route show proto 77)"
mln_node ip route show proto static | mln_has '^10.78.0.0/24 via 192.168.77.2' && t_ok "a route of another protocol stays" ||
  t_bad "other route" "$(mln_node ip route)"
ipc_has 10.236.0.0 24 && t_bad "own pod CIDR written after restart" || t_ok "still no prefix of this node after restart"
status | jq -e '(.cluster.pruned | tonumber) >= 3 and (.cluster.error // "") == ""' >/dev/null && t_ok "status counts what was pruned" ||
  t_bad "status pruned" "$(status | jq -c .cluster)"

t_summary
