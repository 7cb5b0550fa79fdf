#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Myelin on this one machine, no Kubernetes: a node and three pods as network
# namespaces wired by the real CNI plugin, the agent, real ICMP/TCP/UDP
# traffic, one spoofed packet dropped with its reason, then what the CLI
# shows; at the end a second node joins through etcd and pods talk across
# the two nodes (VXLAN), policy holding cluster-wide. Everything is removed
# on exit, on failure and on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (it creates network namespaces and loads BPF)" >&2; exit 1; }
scripts/install-deps.sh
# Only what the demo runs, not the test suites; incremental, so a stale binary is rebuilt.
# MLN_BIN=DIR runs prebuilt binaries from DIR instead (nothing is built).
[ -n "${MLN_BIN:-}" ] || scripts/build.sh myelind myelin-cni myelin serve_hostname svc_probe

source scripts/lib/cluster.sh
source scripts/lib/multinode.sh
mln_init
MLN_NODE_NAME=demo-node
# The node is on an underlay (a bridge in a namespace of its own) with etcd,
# so that a second node can join it at the end (scripts/lib/multinode.sh).
mn_underlay_up
mn_etcd_up
DEMO_NODE_IP=$MN_UL_PREFIX.10
mn_attach "$MLN_NODE" vn0 "$DEMO_NODE_IP"
mln_node ip route add default via "$MN_WORLD_IP" dev ul0
MANIFESTS="$MLN_TMP/manifests"
mkdir -p "$MANIFESTS"
cat >"$MANIFESTS/00-workloads.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: data, labels: {team: data}}
---
apiVersion: v1
kind: Pod
metadata:
  name: frontend
  namespace: shop
  labels: {app: frontend}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: frontend-6f7d9c, uid: demo}]
---
apiVersion: v1
kind: Pod
metadata: {name: backend, namespace: shop, labels: {app: backend}}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: data, labels: {app: db}}
spec:
  containers:
  - name: db
    ports: [{name: dns, containerPort: 5353, protocol: UDP}]
YAML
for i in 1 2 3; do  # a Deployment-like set: shop/web-1..3, app=web, behind the Service shop/web
  printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-%s, namespace: shop, labels: {app: web}}\nspec:\n  containers:\n  - name: web\n    ports: [{name: http, containerPort: 9376}, {name: dns, containerPort: 5353, protocol: UDP}]\n' "$i"
done >"$MANIFESTS/01-web.yaml"
MLN_AGENT_ARGS=(--metrics-addr 127.0.0.1:9962 --manifests "$MANIFESTS" --network-events true
  --node-ip "$DEMO_NODE_IP" --kvstore etcd --kvstore-endpoints "$MN_ETCD_URL" --kvstore-lease-ttl 10)
step() { printf '\n\033[1;32m### %s\033[0m\n' "$*"; }

step "Starting myelind in node namespace $MLN_NODE (pod CIDR 10.210.0.0/24)"
mln_node_up 10.210.0.0/24
mln_myelin status

step "Creating pods with the CNI plugin: shop/frontend, shop/backend, data/db"
mln_pod_add frontend shop
mln_pod_add backend shop
mln_pod_add db data
FE=${MLN_POD_IP[frontend]} BE=${MLN_POD_IP[backend]} DB=${MLN_POD_IP[db]}
mln_myelin endpoint list

step "ICMP: frontend pings backend"
mln_pod frontend ping -c 3 -i 0.2 "$BE"

step "TCP: frontend -> backend:8080"
mln_pod_bg backend timeout 15 nc -l -p 8080
mln_wait_listen backend 8080 tcp
echo "GET /orders" | mln_pod frontend timeout 5 nc -N "$BE" 8080

step "UDP: backend -> db:5353"
mln_pod_bg db timeout 15 nc -u -l -p 5353
mln_wait_listen db 5353 udp
echo "query" | mln_pod backend timeout 3 nc -u -w 1 "$DB" 5353 || true

step "A spoofed source address from frontend (dropped by the datapath)"
mln_pod frontend ip addr add 10.66.66.66/32 dev eth0
mln_pod frontend ping -c 1 -W 1 -I 10.66.66.66 "$BE" || true

step "Policy: only shop/backend may reach data/db (a NetworkPolicy dropped into the manifests directory)"
cat >"$MANIFESTS/10-db-policy.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-backend, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: shop}}
      podSelector: {matchLabels: {app: backend}}
    ports:
    - {port: dns, protocol: UDP}
YAML
rev() { mln_myelin status -o json | jq -r '.policy_revision // 0 | tonumber'; }
r0=$(rev); applied() { [ "$(rev)" -gt "$r0" ]; }; mln_retry 100 0.02 applied || true
mln_myelin policy list
mln_myelin policy trace --from shop/frontend --to data/db --port 5353/udp
mln_myelin policy trace --from shop/backend --to data/db --port 5353/udp
mln_pod_bg db timeout 15 nc -u -l -p 5353
mln_wait_listen db 5353 udp
echo "from frontend" | mln_pod frontend timeout 3 nc -u -w 1 "$DB" 5353 || true

step "myelin observe --last 25"
mln_myelin observe --last 25
step "myelin observe --verdict DROPPED --drop-reason-desc POLICY_DENIED -o json --last 1 (note ingress_denied_by)"
mln_myelin observe --verdict DROPPED --drop-reason-desc POLICY_DENIED -o json --last 1
step "Runtime: processes in pods, seen from the kernel (myelin events --pod shop/ --last 4)"
mln_pod frontend sh -c 'echo hello >/dev/null; exit 3' demo-marker || true
exited() { mln_myelin events --pod shop/ --type process_exit | grep -q demo-marker; }
mln_retry 50 0.1 exited || true
mln_myelin events --pod shop/ --last 4

step "Network per process: the TCP connections above, seen from the processes (myelin events --type process_kprobe)"
tcp_seen() { mln_myelin events --type process_kprobe --pod shop/ | grep -q accept; }
mln_retry 50 0.1 tcp_seen || true
mln_myelin events --type process_kprobe --pod shop/

step "TracingPolicy: kill cat reading the demo's secret (a Sigkill selector, filtered in the kernel)"
SECRET="$MLN_TMP/secret"
mkdir -p "$SECRET" && echo "s3cr3t" >"$SECRET/token"
cat >"$MANIFESTS/20-protect-secret.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: protect-secret}
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args: [{index: 6, type: string}]
    selectors:
    - matchArgs: [{index: 6, operator: Prefix, values: ["$SECRET/"]}]
      matchBinaries: [{operator: In, values: ["/usr/bin/cat"]}]
      matchActions: [{action: Sigkill}]
YAML
enabled() { mln_myelin tracingpolicy list -o json | jq -e '.policies[] | select(.name == "protect-secret" and .state == "enabled")' >/dev/null; }
mln_retry 50 0.1 enabled || true
mln_myelin tracingpolicy list
rc=0; cat "$SECRET/token" 2>/dev/null || rc=$?; echo "cat exited with $rc (137 = SIGKILL)"
head -c 6 "$SECRET/token"; echo " <- head may read it (no selector acts on it)"
killed() { mln_myelin events --type process_tracepoint --policy protect-secret | grep -q killed; }
mln_retry 50 0.1 killed || true
mln_myelin events --type process_tracepoint --policy protect-secret

step "TracingPolicyNamespaced: report writes by shop's pods only (the fd resolved to its path in the kernel)"
cat >"$MANIFESTS/30-shop-writes.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicyNamespaced
metadata: {name: shop-writes, namespace: shop}
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_write
    args: [{index: 5, type: fd}, {index: 7, type: size_t}]
    selectors:
    - matchArgs: [{index: 5, operator: Prefix, values: ["$MLN_TMP/"]}]
YAML
shop_on() { mln_myelin tracingpolicy list -o json | jq -e '.policies[] | select(.name == "shop-writes" and .state == "enabled")' >/dev/null; }
mln_retry 50 0.1 shop_on || true
mln_pod frontend sh -c "echo order-42 >$MLN_TMP/frontend.log"
mln_pod db sh -c "echo row-7 >$MLN_TMP/db.log"
echo host-line >"$MLN_TMP/host.log"
wrote() { mln_myelin events --policy shop-writes | grep -q frontend.log; }
mln_retry 50 0.1 wrote || true
mln_myelin events --policy shop-writes
echo "(data/db's and the host's writes to the same directory are not reported: out of the policy's scope)"

step "Services: shop/web (ClusterIP 10.96.0.80) in front of shop/web-1..3, its endpoints derived from the selector app=web"
for i in 1 2 3; do mln_pod_add "web-$i" shop; done
for i in 1 2 3; do mln_pod_bg "web-$i" timeout 120 "$MLN_BIN/serve_hostname" "web-$i" 9376 5353; done
for i in 1 2 3; do mln_wait_listen "web-$i" 9376 tcp; done
cat >"$MANIFESTS/20-web-service.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.80
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: dns, port: 53, targetPort: dns, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: web-sticky, namespace: shop}
spec:
  clusterIP: 10.96.0.81
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody-home, namespace: shop}
spec:
  clusterIP: 10.96.0.82
  selector: {app: not-deployed}
  ports: [{name: http, port: 80, targetPort: 9376}, {name: dns, port: 53, targetPort: 5353, protocol: UDP}]
YAML
# The frontend's processes run inside the socket-LB cgroup when the harness
# has one (connect() translated once), else the per-packet path serves them.
SVC_RUN=mln_pod
declare -F mln_pod_lb >/dev/null && SVC_RUN=mln_pod_lb
served() { $SVC_RUN frontend "$MLN_BIN/svc_probe" tcp 10.96.0.80 80 -n 9 -t 300 2>/dev/null | awk '{print $1}' | sort -u | grep -c web- | grep -qx 3; }
mln_retry 20 0.1 served || true
mln_myelin service list || true
mln_myelin bpf lb list || true

step "Balanced: 30 connections from shop/frontend to 10.96.0.80:80 (svc_probe; the answer names the pod)"
$SVC_RUN frontend "$MLN_BIN/svc_probe" tcp 10.96.0.80 80 -n 30 -t 500 | awk '{print $1}' | sort | uniq -c || true

step "Affinity: shop/web-sticky (sessionAffinity ClientIP), 15 connections"
$SVC_RUN frontend "$MLN_BIN/svc_probe" tcp 10.96.0.81 80 -n 15 -t 500 | awk '{print $1}' | sort | uniq -c || true

step "A connected UDP client to 10.96.0.80:53 while its backend leaves the Service (its pod relabelled)"
$SVC_RUN frontend "$MLN_BIN/svc_probe" udp-stream 10.96.0.80 53 -n 60 -g 50 -t 300 -r >"$MLN_TMP/udp-client.log" 2>&1 &
udp_client=$!
MLN_PIDS+=("$udp_client")
mln_retry 50 0.1 grep -q ' web-' "$MLN_TMP/udp-client.log" || true
gone=$(grep -m1 ' web-' "$MLN_TMP/udp-client.log" | awk '{print $2}')
gone=${gone:-web-3}
echo "the client talks to $gone; relabelling $gone app=web -> app=retired"
sed -i "/name: $gone,/s/app: web}/app: retired}/" "$MANIFESTS/01-web.yaml"
wait "$udp_client" 2>/dev/null || true
awk '{print $2 ($2 == "ERR" ? " " $3 : "")}' "$MLN_TMP/udp-client.log" | uniq -c | awk '{$1 = sprintf("  %3d x", $1); print}'
echo "(a datagram every 50 ms on one connected socket; ERR then RECONNECT: the agent destroyed the socket pinned to $gone, the client opened another)"

step "No endpoints: shop/nobody-home refuses at once (ECONNREFUSED, as kube-proxy; not a timeout)"
$SVC_RUN frontend "$MLN_BIN/svc_probe" tcp 10.96.0.82 80 -t 3000 || true
$SVC_RUN frontend "$MLN_BIN/svc_probe" udp 10.96.0.82 53 -t 3000 || true
mln_myelin observe --drop-reason-desc SERVICE_BACKEND_NOT_FOUND --last 2 || true

step "A second node joins: node-2 on the same underlay; etcd ($MN_ETCD_URL) shares nodes, endpoints and identities"
cat >"$MANIFESTS/40-node-2.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: backend-2, namespace: shop, labels: {app: backend}}
---
apiVersion: v1
kind: Pod
metadata: {name: frontend-2, namespace: shop, labels: {app: frontend}}
YAML
MN_AGENT_ARGS=(--manifests "$MANIFESTS" --metrics-addr "")
mn_node_add node-2
mn_pod_add node-2 backend-2 shop backend-2
mn_pod_add node-2 frontend-2 shop frontend-2
both_listed() { [ "$(mln_myelin node list -o json 2>/dev/null | jq '[.nodes[]?] | length')" = 2 ]; }
mln_retry 100 0.1 both_listed || true
mln_myelin node list || true
mn_myelin node-2 node list || true

step "Across nodes: shop/backend-2 (node-2) pings shop/frontend (demo-node) through the VXLAN tunnel"
across() { mln_pod backend-2 ping -c 1 -W 1 "$FE" >/dev/null 2>&1; }
mln_retry 50 0.2 across || true
mln_pod backend-2 ping -c 3 -i 0.2 "$FE" || true

step "Policy holds across nodes: db-from-backend lets shop/backend-2 (node-2) query data/db, not shop/frontend-2"
mln_pod_bg db timeout 15 nc -u -l -k -p 5353
mln_wait_listen db 5353 udp
echo "from backend-2" | mln_pod backend-2 timeout 3 nc -u -w 1 "$DB" 5353 || true
echo "from frontend-2" | mln_pod frontend-2 timeout 3 nc -u -w 1 "$DB" 5353 || true
sleep 0.5
echo "(db printed only what backend-2 sent; the flows, seen on demo-node, name the pods of node-2)"
mln_myelin observe --to-pod data/db --last 4 || true

step "One identity per label set, cluster-wide: shop's pod identities on demo-node and on node-2"
ids() { "$@" identity list -o json | jq -r '.identities[] | select(.kind == "pod") | "\(.id) \(.labels | map(select(startswith("k8s:app=") or startswith("k8s:io.kubernetes.pod.namespace="))) | join(","))"' | sort -n; }
paste <(echo "demo-node:"; ids mln_myelin) <(echo "node-2:"; ids mn_myelin node-2) | column -t -s $'\t' || true

step "myelin status"
mln_myelin status

step "Prometheus metrics (curl http://127.0.0.1:9962/metrics in the node namespace, excerpt)"
mln_node curl -s http://127.0.0.1:9962/metrics | grep -E '^myelin_(forward_count_total|drop_count_total|endpoint\{|flows_processed_total|lost_events_total|runtime_events_total|runtime_actions_total|build_info)'

if [ -t 0 ] && [ -z "${CI:-}" ]; then
  step "Pods stay up: try 'sudo $MLN_BIN/myelin --socket $MLN_SOCK observe -f' in another terminal. Enter to clean up."
  read -r _ || true
fi
step "Cleaning up"
