#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One real myelind with --kvstore etcd, and a real etcd in the node's
# namespace (127.0.0.1 there only): the agent starts with the store absent
# and says degraded (and why), publishes its node record and its pods'
# endpoints once etcd is up (identity, node, namespace, pod, under its
# lease), follows a pod's removal, sees another node's records as remote,
# survives etcd killed and restarted (degraded, then converged, with a pod
# added meanwhile), and after kill -9 its records leave with the lease TTL.
source "$(dirname "$0")/common.sh"
command -v etcd >/dev/null && command -v etcdctl >/dev/null || { echo "SKIP: needs etcd and etcdctl (etcd-server, etcd-client)"; exit 0; }

TTL=4
MLN_NODE_NAME=kv-node-a
mln_init
mln_manifests_init
pods() {  # $1 = pod-a's second named port: its containers' ports are what the endpoint record carries
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: pod-a, namespace: x, labels: {app: a}}\nspec:\n  containers:\n  - name: c\n    ports:\n    - {name: http, containerPort: 8080}\n    - %s\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: pod-b, namespace: x, labels: {app: b}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: pod-c, namespace: x, labels: {app: a}}\n' "$1" >"$M/pods.yaml.tmp"
  mv "$M/pods.yaml.tmp" "$M/pods.yaml"
}
pods '{name: dns, containerPort: 53, protocol: UDP}'
MLN_AGENT_ARGS=(--manifests "$M" --kvstore etcd --kvstore-endpoints http://127.0.0.1:2379 --node-ip 192.0.2.10 --routing-mode native --kvstore-lease-ttl "$TTL" --cluster-name kvt)
ETCD_PID=""
etcd_start() {
  # nsenter execs etcd (no fork for a network namespace): $! is etcd's PID, to kill by.
  nsenter --net="/var/run/netns/$MLN_NODE" -- etcd --name kv --data-dir "$MLN_TMP/etcd" --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster kv=http://127.0.0.1:2380 >>"$MLN_TMP/etcd.log" 2>&1 &
  ETCD_PID=$!
  MLN_PIDS+=("$ETCD_PID")
}
etcd_kill() { kill -9 "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null || true; }
ectl() { mln_node env ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:2379 --dial-timeout 2s --command-timeout 3s "$@"; }
P=myelin/v1/kvt
kv() { ectl get "$P/$1" --print-value-only 2>/dev/null; }
st() { mln_myelin status -o json | jq -r "$1"; }
wait_for() {  # description, then a command that must come to succeed (bounded: 30 s)
  local what=$1 i; shift
  for i in $(seq 1 300); do "$@" >/dev/null 2>&1 && { t_ok "$what"; return 0; }; sleep 0.1; done
  t_bad "$what" "not after 30 s: $*"
}
state_is() { [ "$(st .kvstore.state)" = "$1" ]; }
has_key() { [ -n "$(kv "$1")" ]; }
no_key() { ectl get "$P/$1" -w json | jq -e '(.count // 0) == 0' >/dev/null; }

echo "-- the store absent at start: the agent runs, degraded, and says why"
mln_node_up 10.231.0.0/24
state_is degraded && t_ok "status: degraded" || t_bad "degraded at start" "$(st .kvstore)"
why=$(st .kvstore.reason)
[[ $why == *"http://127.0.0.1:2379"* && $why == *"keeps the cluster state"* ]] && t_ok "reason names the endpoint: $why" || t_bad "reason" "$why"
mln_myelin status | mln_has "^  degraded:" && t_ok "myelin status (table) shows it" || t_bad "table status" "$(mln_myelin status)"
# A CNI ADD that may fail (mln_pod_add stops the run): the plugin's answer, its status.
pod_try_add() {
  local pod=$1 netns="mln-$MLN_ID-$1" cid="cid-$MLN_ID-$1"
  ip netns add "$netns"
  MLN_PODS+=("$pod"); MLN_POD_NETNS[$pod]=$netns; MLN_POD_CID[$pod]=$cid
  mln_cni ADD "$cid" "/var/run/netns/$netns" CNI_ARGS="K8S_POD_NAMESPACE=$2;K8S_POD_NAME=$3"
}
# Labels the cluster has not numbered cannot get a number without the store:
# the pod does not start (the runtime retries), it never gets a number of its own.
if out=$(pod_try_add z x pod-z 2>&1); then t_bad "a pod with new labels while etcd is absent" "it started: $out"
elif [[ $out == *identit* ]]; then t_ok "a pod with new labels waits for the store: $(jq -r .msg <<<"$out" 2>/dev/null | cut -c1-100)"
else t_bad "the refusal names the identity" "$out"; fi

echo "-- etcd arrives: records published, status ok"
etcd_start
wait_for "status ok after etcd started" state_is ok
mln_pod_add a x pod-a
mln_pod_add b x pod-b
mln_myelin status | grep -E "^Kvstore:|^  degraded:" | sed 's/^/     /'
rec=$(kv "endpoints/${MLN_POD_IP[a]}")
jq -e --arg ip "${MLN_POD_IP[a]}" '.ip == $ip and .node == "kv-node-a" and .namespace == "x" and .pod == "pod-a" and .identity >= 256 and
  .namedPorts == [{"name":"http","port":8080,"protocol":"TCP"},{"name":"dns","port":53,"protocol":"UDP"}]' <<<"$rec" >/dev/null &&
  t_ok "endpoints/${MLN_POD_IP[a]}: $rec" || t_bad "pod a's record" "$rec"
id_a=$(jq -r .identity <<<"$rec")
ep_id=$(mln_myelin endpoint list -o json | jq -r --arg ip "${MLN_POD_IP[a]}" '[.. | objects | select(.ip? == $ip)][0].identity')
[ "$id_a" = "$ep_id" ] && t_ok "the record's identity is the endpoint's ($ep_id)" || t_bad "identity" "record $id_a, endpoint $ep_id"
id_b=$(kv "endpoints/${MLN_POD_IP[b]}" | jq -r .identity)
[ -n "$id_b" ] && [ "$id_b" != "$id_a" ] && t_ok "pod b's record, another identity ($id_b)" || t_bad "pod b's record" "$id_b vs $id_a"

echo "-- a Pod's named ports changed: its record follows"
pods '{name: metrics, containerPort: 9090}'
ports_now() { kv "endpoints/${MLN_POD_IP[a]}" | jq -e '.namedPorts | map(.name) == ["http","metrics"]'; }
wait_for "pod a's record has the new named port" ports_now
node=$(kv nodes/kv-node-a)
jq -e '.name == "kv-node-a" and .ip == "192.0.2.10" and .podCIDRs == ["10.231.0.0/24"]' <<<"$node" >/dev/null &&
  t_ok "nodes/kv-node-a: $node" || t_bad "node record" "$node"
lease=$(ectl get "$P/nodes/kv-node-a" -w json | jq -r '.kvs[0].lease')
[ "$lease" != "null" ] && [ "$lease" != "0" ] && t_ok "under a lease" || t_bad "lease" "$lease"
[ "$(st .kvstore.endpoint_records)" = 2 ] && [ "$(st .kvstore.node_records)" = 1 ] && t_ok "status: 1 node + 2 endpoint records" ||
  t_bad "records in status" "$(st .kvstore)"
metrics=$(mln_node curl -s --max-time 5 http://127.0.0.1:9962/metrics)
grep -qx 'myelin_kvstore_connected 1' <<<"$metrics" && grep -qx 'myelin_kvstore_records_published{kind="endpoint"} 2' <<<"$metrics" &&
  grep -qx 'myelin_kvstore_degraded 0' <<<"$metrics" && t_ok "metrics: connected, 2 endpoint records, not degraded" ||
  t_bad "metrics" "$(grep myelin_kvstore <<<"$metrics")"

echo "-- a pod removed: its record goes; the other stays"
mln_cni DEL "${MLN_POD_CID[b]}" "/var/run/netns/${MLN_POD_NETNS[b]}" >/dev/null
wait_for "pod b's record deleted" no_key "endpoints/${MLN_POD_IP[b]}"
has_key "endpoints/${MLN_POD_IP[a]}" && t_ok "pod a's record stays (positive control)" || t_bad "pod a's record stays"

echo "-- another node's records: remote in this node's view"
rl=$(ectl lease grant 60 | awk '{print $2}')
ectl put "$P/nodes/kv-node-b" '{"name":"kv-node-b","ip":"192.0.2.11","podCIDRs":["10.232.0.0/24"]}' --lease="$rl" >/dev/null
ectl put "$P/endpoints/10.232.0.5" '{"ip":"10.232.0.5","identity":300,"node":"kv-node-b","namespace":"y","pod":"pod-r"}' --lease="$rl" >/dev/null
remote_seen() { [ "$(st .kvstore.remote_nodes)" = 1 ] && [ "$(st .kvstore.remote_endpoints)" = 1 ]; }
wait_for "status: 1 remote node, 1 remote endpoint" remote_seen
ectl lease revoke "$rl" >/dev/null
remote_gone() { [ "$(st '.kvstore.remote_nodes // 0')" = 0 ] && [ "$(st '.kvstore.remote_endpoints // 0')" = 0 ]; }
wait_for "its lease revoked: gone from the view" remote_gone

echo "-- etcd killed: degraded, the agent keeps running; restarted: converged"
[ "$(cat /proc/"$ETCD_PID"/comm 2>/dev/null)" = etcd ] && t_ok "etcd is PID $ETCD_PID" || t_bad "etcd's PID" "$(cat /proc/"$ETCD_PID"/comm 2>&1)"
etcd_kill
ectl endpoint health >/dev/null 2>&1 && t_bad "etcd down" "it still answers" || t_ok "etcd down (etcdctl fails)"
wait_for "status degraded with etcd gone" state_is degraded
mln_pod_add c x pod-c   # pod a's labels: numbered already, so it starts with the store away
kill -0 "$MLN_AGENT_PID" && t_ok "agent still running" || t_bad "agent exited"
etcd_start
wait_for "status ok after etcd restarted" state_is ok
wait_for "pod c (added while etcd was away) published" has_key "endpoints/${MLN_POD_IP[c]}"
has_key "endpoints/${MLN_POD_IP[a]}" && t_ok "pod a's record still there" || t_bad "pod a's record after restart"

echo "-- kill -9 of the agent: its records leave with the lease (TTL $TTL s)"
mln_agent_kill KILL
has_key "endpoints/${MLN_POD_IP[a]}" && t_ok "records still there right after the kill (nothing revoked)" || t_bad "records kept at kill"
start=$(date +%s%N)
wait_for "pod a's record gone after the TTL" no_key "endpoints/${MLN_POD_IP[a]}"
echo "     gone $(( ($(date +%s%N) - start) / 1000000 )) ms after kill -9 (TTL ${TTL} s)"
no_key nodes/kv-node-a && t_ok "node record gone too" || t_bad "node record after TTL" "$(kv nodes/kv-node-a)"

t_summary
