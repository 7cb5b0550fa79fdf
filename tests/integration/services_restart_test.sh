#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Services across an agent restart, under traffic (Cilium lost live backends
# on restart: cilium/cilium#27215, #48050). A Service from the Kubernetes API
# stand-in with three serve-hostname backends; clients inside the socket-LB
# cgroup and outside it open new TCP connections every 20 ms, keep one TCP
# connection and one connected UDP socket talking, through two restarts:
# SIGTERM with nothing changed (the load-balancing maps read the same after),
# then SIGKILL, b3 removed from the EndpointSlice while the agent is down and
# the API holding its lists when it comes back: until the agent has listed,
# the restored backends (b3 included) stay in use; once it has, b3 is pruned.
# Services keep answering while the agent is down; no client sees an error.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/lib_standin.sh"

mln_init
mln_manifests_init
mln_need_bins serve_hostname svc_probe
declare -F mln_pod_lb >/dev/null || mln_die "mln_pod_lb is missing from scripts/lib/cluster.sh (i11-socklb)"

VIP=10.96.42.10
BACKENDS=(b1 b2 b3)
{
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: e2e}\n'
  for p in "${BACKENDS[@]}" client; do
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: e2e, labels: {app: %s}}\nspec: {nodeName: restart-node, containers: [{name: c}]}\n' \
      "$p" "$([ "$p" = client ] && echo client || echo hostname)"
  done
} >"$M/00-pods.yaml"

MLN_CIDR=10.242.0.0/24
MLN_NODE_NAME=restart-node
mln_standin_node "" --bookmark-interval 0.5 --missing CiliumClusterwideNetworkPolicy
MLN_AGENT_ARGS=(--manifests "$M" --kubeconfig "$MLN_K8S/kubeconfig")
mln_agent_start
for p in "${BACKENDS[@]}" client; do mln_pod_add "$p" e2e "$p"; done
for p in "${BACKENDS[@]}"; do mln_pod_bg "$p" timeout 600 "$MLN_BIN/serve_hostname" "$p" 9376 5353; done
for p in "${BACKENDS[@]}"; do mln_wait_listen "$p" 9376 tcp; mln_wait_listen "$p" 5353 udp; done

objects() {  # the Service and its EndpointSlice with the backends given, as the stand-in's objects file
  local eps="" p
  for p in "$@"; do eps+="${eps:+,}{\"addresses\":[\"${MLN_POD_IP[$p]}\"],\"conditions\":{\"ready\":true},\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"e2e\",\"name\":\"$p\"}}"; done
  printf '{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"e2e"},"spec":{"clusterIP":"%s","clusterIPs":["%s"],"ports":[{"name":"http","port":80,"targetPort":9376,"protocol":"TCP"},{"name":"dns","port":53,"targetPort":5353,"protocol":"UDP"}]}},{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"web-1","namespace":"e2e","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","endpoints":[%s],"ports":[{"name":"http","port":9376,"protocol":"TCP"},{"name":"dns","port":5353,"protocol":"UDP"}]}]}\n' \
    "$VIP" "$VIP" "$eps"
}
items() { jq -c '.items[]' <<<"$1"; }
while read -r o; do mln_standin_ctl apply "$o"; done < <(items "$(objects b1 b2 b3)")

names() { awk '$1 != "ERR" {print $1}' | sort -u | xargs; }
# sees RUN PROTO WANT...: within bounded retries, 30 answers from exactly WANT.
sees() {
  local run=$1 proto=$2 port=80 i got=""; shift 2
  [ "$proto" = udp ] && port=53
  for i in $(seq 1 30); do
    got=$($run client "$MLN_BIN/svc_probe" "$proto" "$VIP" "$port" -n 30 -x 2>/dev/null | names || true)
    [ "$got" = "$*" ] && return 0
    sleep 0.1
  done
  echo "       answered: '$got', expected '$*'" >&2
  return 1
}
for run in mln_pod mln_pod_lb; do
  t_check "before: $run client served by b1 b2 b3 (TCP)" sees $run tcp b1 b2 b3
  t_check "before: $run client served by b1 b2 b3 (UDP)" sees $run udp b1 b2 b3
done
lb_list() { mln_myelin bpf lb list -o json 2>/dev/null | jq -S . 2>/dev/null; }
lb_list >"$MLN_TMP/lb-before.json" || true

echo "-- traffic"
declare -A LOGS=()
bg() {  # NAME RUN ARGS...: a client in the background, its lines in $MLN_TMP/NAME
  local name=$1 run=$2; shift 2
  : >"$MLN_TMP/$name"  # exists before the client starts: snap reads it at once
  $run client timeout 300 "$MLN_BIN/svc_probe" "$@" >>"$MLN_TMP/$name" 2>&1 &
  MLN_PIDS+=("$!")
  LOGS[$name]=$!
}
bg conn-pkt mln_pod tcp $VIP 80 -n 100000 -g 20 -t 2000
bg conn-lb mln_pod_lb tcp $VIP 80 -n 100000 -g 20 -t 2000
bg hold-pkt mln_pod tcp-hold $VIP 80 -n 100000 -g 100 -t 2000
bg hold-lb mln_pod_lb tcp-hold $VIP 80 -n 100000 -g 100 -t 2000
bg udp-pkt mln_pod udp-stream $VIP 53 -n 0 -g 50 -t 1000
bg udp-lb mln_pod_lb udp-stream $VIP 53 -n 0 -g 50 -t 1000
lines() { wc -l <"$MLN_TMP/$1"; }
grown() {  # every log has N more lines than in the snapshot SNAP
  local n
  for n in "${!LOGS[@]}"; do [ "$(lines "$n")" -ge $(( ${SNAP[$n]:-0} + $1 )) ] || return 1; done
}
declare -A SNAP=()
snap() { local n; for n in "${!LOGS[@]}"; do SNAP[$n]=$(lines "$n"); done; }
snap
t_check "traffic flows on all six clients" mln_retry 100 0.1 grown 10

echo "-- restart 1: SIGTERM, nothing changed meanwhile"
mln_agent_kill TERM
snap
t_check "agent stopped: all six clients still answered (>= 20 more answers each)" mln_retry 150 0.1 grown 20
mln_agent_start
lb_list >"$MLN_TMP/lb-after.json" || true
if jq -e '[.frontends[] | select(.service == "e2e/web" and (.slots | length) == 3)] | length == 2' "$MLN_TMP/lb-before.json" >/dev/null 2>&1 &&
  cmp -s "$MLN_TMP/lb-before.json" "$MLN_TMP/lb-after.json"; then
  t_ok "bpf lb list: the same 2 frontends of 3 backends, rev-NAT indexes and backend ids after the restart"
else
  t_bad "bpf lb list: unchanged by the restart" "$(diff "$MLN_TMP/lb-before.json" "$MLN_TMP/lb-after.json" 2>&1 | head -8 | xargs)"
fi
snap
t_check "restarted: all six clients still answered" mln_retry 150 0.1 grown 20

echo "-- restart 2: SIGKILL; b3 leaves the EndpointSlice while the agent is down"
mln_agent_kill KILL
snap
t_check "agent killed: all six clients still answered" mln_retry 150 0.1 grown 20
for run in mln_pod mln_pod_lb; do
  t_check "agent killed: a new $run client is still served by b1 b2 b3" sees $run tcp b1 b2 b3
done
while read -r o; do mln_standin_ctl apply "$o"; done < <(items "$(objects b1 b2)")
# The API answers no list until released: the restarted agent has not synced.
mln_standin_ctl hold-lists
starts=$(grep -c "watching the API server" "$MLN_AGENT_LOG")
# As mln_agent_start, without waiting for ready (it is not, until it has listed); on this run's cgroup.
mln_agent_cgroup_args "$MLN_BIN"
[ ${#MLN_CG_ARGS[@]} -gt 0 ] || mln_die "myelind has no --cgroup-root: it would attach its socket LB to the machine's root"
nsenter --net="/var/run/netns/$MLN_NODE" -- "$MLN_BIN/myelind" \
  --node-name "$MLN_NODE_NAME" --pod-cidr "$MLN_CIDR" --api-socket "$MLN_SOCK" --bpffs-root "$MLN_BPFFS" \
  --state-dir "$MLN_STATE" "${MLN_CG_ARGS[@]}" "${MLN_AGENT_ARGS[@]}" >>"$MLN_AGENT_LOG" 2>&1 &
MLN_AGENT_PID=$!
MLN_PIDS+=("$MLN_AGENT_PID")
watching() { [ "$(grep -c "watching the API server" "$MLN_AGENT_LOG")" -gt "$starts" ]; }
t_check "the agent restarts and waits for the API's lists" mln_retry 300 0.1 watching
mln_check_cgroup
snap
t_check "restarted, not synced: all six clients still answered" mln_retry 150 0.1 grown 20
for run in mln_pod mln_pod_lb; do
  t_check "restarted, not synced: restored b3 still in use for a new $run client" sees $run tcp b1 b2 b3
done
synced() { [ "$(grep -c "every resource listed" "$MLN_AGENT_LOG")" -ge 3 ]; }
synced && t_bad "the agent had not synced while the lists were held" || t_ok "the agent had not synced while the lists were held"

# The traffic clients stop here: from now on b3 goes away, and an established
# connection to a removed backend may be cut, as kube-proxy's is.
# $run is a shell function: the PID is a subshell's, its child is ended too (by PID).
stop_bg() { local k; for k in $(pgrep -P "$1" 2>/dev/null); do kill "$k" 2>/dev/null; done; kill "$1" 2>/dev/null; wait "$1" 2>/dev/null || true; }
for n in "${!LOGS[@]}"; do stop_bg "${LOGS[$n]}"; done
for n in conn-pkt conn-lb hold-pkt hold-lb udp-pkt udp-lb; do
  e=$(grep -c 'ERR' "$MLN_TMP/$n" || true)
  total=$(lines "$n")
  [ "$e" -eq 0 ] && [ "$total" -ge 50 ] && t_ok "$n: $total answers through two restarts, no error" ||
    t_bad "$n: no error through two restarts" "$e errors in $total lines: $(grep -m2 ERR "$MLN_TMP/$n" | xargs)"
done
# An established connection is the same one throughout: one backend answered it.
for n in hold-pkt hold-lb; do
  [ "$(awk '{print $2}' "$MLN_TMP/$n" | sort -u | wc -l)" -eq 1 ] && t_ok "$n: one connection, one backend, from start to end" ||
    t_bad "$n: one backend" "$(awk '{print $2}' "$MLN_TMP/$n" | sort | uniq -c | xargs)"
done

echo "-- the API answers: the agent syncs and prunes b3"
mln_standin_ctl release
mln_wait_ready
# Bounded by the kube source's list retry backoff after the held lists.
t_check "the restarted agent listed the API once released" mln_retry 300 0.1 synced
for run in mln_pod mln_pod_lb; do
  t_check "synced: b3 pruned, a $run client is served by b1 and b2 only" sees $run tcp b1 b2
  t_check "synced: the same over UDP ($run)" sees $run udp b1 b2
done
revnat() { jq -c '[.frontends[] | {address, port, protocol, rev_nat_index}] | sort' "$1"; }
lb_list >"$MLN_TMP/lb-pruned.json" || true
[ "$(revnat "$MLN_TMP/lb-pruned.json")" = "$(revnat "$MLN_TMP/lb-before.json")" ] &&
  jq -e '[.frontends[] | select(.service == "e2e/web" and (.slots | length) == 2 and (.restored | not))] | length == 2' "$MLN_TMP/lb-pruned.json" >/dev/null &&
  t_ok "bpf lb list: after the prune the frontends keep their rev-NAT indexes, 2 backends each" ||
  t_bad "bpf lb list after the prune" "$(revnat "$MLN_TMP/lb-pruned.json") vs $(revnat "$MLN_TMP/lb-before.json")"
out=$(mln_pod client "$MLN_BIN/svc_probe" tcp "${MLN_POD_IP[b3]}" 9376 2>/dev/null || true)
[[ "$out" == "b3 "* ]] && t_ok "control: b3 itself still answers (it is the Service that left it)" || t_bad "control: b3 direct" "$out"

t_summary
