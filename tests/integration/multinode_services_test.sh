#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Services across nodes (issue 12 on issue 11's Services), MN_MODE=tunnel|
# native, cluster state in etcd: serve-hostname backends b2 on n2 and b3 on
# n3 (EndpointSlices with nodeName, in the manifests directory every node
# reads), clients on n1 (which has no backend):
#   - ClusterIP: both remote backends answer, the client outside the
#     socket-LB cgroup (from_container's per-packet DNAT, the reply's rev-NAT
#     where it comes back in) and inside it (connect() translated);
#   - NodePort externalTrafficPolicy Local, from the world: n2 answers with
#     b2 only, n3 with b3 only, the client's address kept; n1 (no local
#     backend) does not answer (the positive control is n2, same Service);
#   - NodePort externalTrafficPolicy Cluster, from the world, on n1: the
#     backends on the other nodes answer (n1 SNATs the client to its own
#     address and sends the packet to the backend's node; the reply is
#     translated back on n1 and leaves from n1's NodePort);
#   - a NetworkPolicy on the backends (ingress only from app=client) holds
#     for connections through the ClusterIP from n1: client served, intruder
#     (same node, same Service) not.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib/multinode.sh"
MN_MODE=${MN_MODE:-tunnel}
echo "routing mode: $MN_MODE"

mn_init
mln_need_bins serve_hostname svc_probe
mn_etcd_up
M="$MLN_TMP/manifests"
mkdir -p "$M"
VIP=10.96.51.10 VIP_NPC=10.96.51.11 VIP_NPL=10.96.51.12
NP_CLUSTER=30081 NP_LOCAL=30082
{
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: svc, labels: {kubernetes.io/metadata.name: svc}}\n'
  for p in b2:n2:hostname b3:n3:hostname client:n1:client intruder:n1:intruder; do
    IFS=: read -r name node app <<<"$p"
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: svc, labels: {app: %s}}\nspec:\n  nodeName: %s\n  containers: [{name: c, ports: [{containerPort: 9376}]}]\n' \
      "$name" "$app" "$node"
  done
} >"$M/00-pods.yaml"
MN_AGENT_ARGS=(--manifests "$M")
for n in n1 n2 n3; do mn_node_add "$n"; done
mn_pod_add n2 b2 svc
mn_pod_add n3 b3 svc
mn_pod_add n1 client svc
mn_pod_add n1 intruder svc
for p in b2 b3; do mln_pod_bg "$p" timeout 600 "$MLN_BIN/serve_hostname" "$p" 9376; done
for p in b2 b3; do mln_wait_listen "$p" 9376 tcp; done
B2=${MLN_POD_IP[b2]} B3=${MLN_POD_IP[b3]}
echo "pods: b2=$B2 (n2) b3=$B3 (n3) client=${MLN_POD_IP[client]} intruder=${MLN_POD_IP[intruder]} (n1)"
mn_wait_cluster 30 && t_ok "every node lists the three nodes" || t_bad "every node lists the three nodes"

# The Services: no selector, the slices say where each backend runs.
ep() { printf -- '- addresses: [%s]\n  conditions: {ready: true, serving: true, terminating: false}\n  nodeName: %s\n  targetRef: {kind: Pod, namespace: svc, name: %s}\n' "$2" "$3" "$1"; }
svc() {  # NAME VIP [TYPE NODEPORT POLICY]
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: svc}\nspec:\n  clusterIP: %s\n  clusterIPs: [%s]\n' "$1" "$2" "$2"
  if [ -n "${3:-}" ]; then
    printf '  type: %s\n  externalTrafficPolicy: %s\n  ports: [{name: http, port: 80, targetPort: 9376, protocol: TCP, nodePort: %s}]\n' "$3" "$5" "$4"
  else
    printf '  ports: [{name: http, port: 80, targetPort: 9376, protocol: TCP}]\n'
  fi
  printf -- '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: %s-1\n  namespace: svc\n  labels: {kubernetes.io/service-name: %s}\naddressType: IPv4\nports: [{name: http, port: 9376, protocol: TCP}]\nendpoints:\n%s%s' \
    "$1" "$1" "$(ep b2 "$B2" n2)" $'\n'"$(ep b3 "$B3" n3)"$'\n'
}
{
  svc hostname $VIP
  printf -- '---\n'; svc np-cluster $VIP_NPC NodePort $NP_CLUSTER Cluster
  printf -- '---\n'; svc np-local $VIP_NPL NodePort $NP_LOCAL Local
} >"$M/.10-services.tmp"
mv "$M/.10-services.tmp" "$M/10-services.yaml"

# ask RUNNER... -- PROTO ADDR PORT COUNT: svc_probe's answer lines.
ask() { local run=() ; while [ "$1" != -- ]; do run+=("$1"); shift; done; shift
  "${run[@]}" "$MLN_BIN/svc_probe" "$1" "$2" "$3" -n "${4:-1}" -t "${5:-1000}" ${ASK_STOP:+-x} 2>/dev/null || true; }
names() { awk '$1 != "ERR" {print $1}' | sort -u | xargs; }
# sees WANT RUNNER... -- PROTO ADDR PORT: within 15 s (bounded retries), 20 connections in a
# row answered, by exactly the backends WANT (an attempt stops at its first failed connection).
LAST=""
sees() {
  local want=$1; shift
  local end=$((SECONDS + 15))
  while :; do
    LAST=$(ASK_STOP=1 ask "$@" 20)
    [ "$(grep -c . <<<"$LAST")" -eq 20 ] && [ "$(names <<<"$LAST")" = "$want" ] && ! grep -q '^ERR' <<<"$LAST" && return 0
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.3
  done
}
served_by() {  # LABEL WANT RUNNER... -- ADDR PORT
  local label=$1; shift
  sees "$@" && t_ok "$label: answered by $1" || t_bad "$label" "answered: '$(names <<<"$LAST")', expected '$1'; $(grep -m2 ERR <<<"$LAST" | xargs)"
}
world_ip=$MN_WORLD_IP

echo "-- ClusterIP from n1 to backends on n2 and n3"
for b in b2:$B2 b3:$B3; do
  direct=$(ask mln_pod client -- tcp "${b#*:}" 9376 1)
  [[ $direct == "${b%%:*} "* ]] && t_ok "control: client (n1) reaches ${b%%:*} on its own address" || t_bad "control: client reaches ${b%%:*} directly" "$direct"
done
served_by "ClusterIP, client outside the socket-LB cgroup (per-packet)" "b2 b3" mln_pod client -- tcp $VIP 80
out=$(ask mln_pod client -- tcp $VIP 80 6)
[ "$(grep -c "peer=$VIP:80" <<<"$out")" -eq 6 ] && t_ok "per-packet: the replies come back from the ClusterIP (rev-NAT across nodes)" ||
  t_bad "per-packet: replies from the ClusterIP" "$(head -2 <<<"$out" | xargs)"
[ "$(grep -c " client=${MLN_POD_IP[client]}:" <<<"$out")" -eq 6 ] && t_ok "per-packet: the remote backends see the client's own address" ||
  t_bad "per-packet: client address kept" "$(head -2 <<<"$out" | xargs)"
served_by "ClusterIP, client inside the socket-LB cgroup" "b2 b3" mn_pod_lb client -- tcp $VIP 80

echo "-- NodePort, externalTrafficPolicy Local, from the world"
served_by "eTP Local on n2 (its backend b2, never b3 of n3)" b2 mn_world -- tcp "${MN_NODE_IP[n2]}" $NP_LOCAL
[ "$(grep -c " client=$world_ip:" <<<"$LAST")" -eq 20 ] && t_ok "eTP Local on n2: the backend sees the world's address ($world_ip)" ||
  t_bad "eTP Local: client address kept" "$(head -2 <<<"$LAST" | xargs)"
served_by "eTP Local on n3 (its backend b3, never b2 of n2)" b3 mn_world -- tcp "${MN_NODE_IP[n3]}" $NP_LOCAL
out=$(ask mn_world -- tcp "${MN_NODE_IP[n1]}" $NP_LOCAL 5 1000)
[ "$(grep -c '^ERR' <<<"$out")" -eq 5 ] && t_ok "eTP Local on n1 (no local backend): not served (5 of 5 refused or timed out: $(awk '{print $2}' <<<"$out" | sort -u | xargs))" ||
  t_bad "eTP Local on n1: not served" "$(names <<<"$out")"

echo "-- NodePort, externalTrafficPolicy Cluster, from the world, on n1 (no local backend)"
served_by "eTP Cluster on n2 (control: one local and one remote backend)" "b2 b3" mn_world -- tcp "${MN_NODE_IP[n2]}" $NP_CLUSTER
served_by "eTP Cluster on n1: backends on the other nodes" "b2 b3" mn_world -- tcp "${MN_NODE_IP[n1]}" $NP_CLUSTER
[ "$(grep -c " client=${MN_NODE_IP[n1]}:" <<<"$LAST")" -eq 20 ] && [ "$(grep -c "peer=${MN_NODE_IP[n1]}:$NP_CLUSTER" <<<"$LAST")" -eq 20 ] &&
  t_ok "eTP Cluster on n1: the backends see n1's address (SNAT), the world's replies come from n1:$NP_CLUSTER" ||
  t_bad "eTP Cluster on n1: SNAT to the node and the reply from the NodePort" "$(head -2 <<<"$LAST" | xargs)"

echo "-- NetworkPolicy on the backends, through the ClusterIP from n1"
served_by "control: intruder is served before the policy" "b2 b3" mln_pod intruder -- tcp $VIP 80
cat >"$M/.20-policy.tmp" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: hostname-from-client, namespace: svc}
spec:
  podSelector: {matchLabels: {app: hostname}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 9376, protocol: TCP}]
EOF
mv "$M/.20-policy.tmp" "$M/20-policy.yaml"
denied() {  # RUNNER...: 4 new connections through the ClusterIP, none answered
  local o; o=$(ask "$@" -- tcp $VIP 80 4 700)
  [ "$(grep -c '^ERR' <<<"$o")" -eq 4 ]
}
mln_retry 40 0.5 denied mln_pod intruder && t_ok "policy: intruder (n1) no longer reaches the backends through the ClusterIP" ||
  t_bad "policy: intruder denied through the ClusterIP" "$(ask mln_pod intruder -- tcp $VIP 80 4 700 | xargs)"
mln_retry 10 0.5 denied mn_pod_lb intruder && t_ok "policy: intruder inside the socket-LB cgroup denied too" ||
  t_bad "policy: intruder (socket LB) denied" "$(ask mn_pod_lb intruder -- tcp $VIP 80 4 700 | xargs)"
served_by "policy: client (allowed) still served by both, per-packet" "b2 b3" mln_pod client -- tcp $VIP 80
served_by "policy: client (allowed) still served by both, socket LB" "b2 b3" mn_pod_lb client -- tcp $VIP 80

t_summary
