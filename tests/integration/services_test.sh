#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Kubernetes Services end to end, on the model of the upstream e2e tests
# (test/e2e/network/service.go): three serve-hostname pods behind Services,
# a client pod, real TCP and UDP through the ClusterIPs. Services come as
# manifests (Service + EndpointSlice YAML, or a selector the agent derives
# the endpoints from), one through the Kubernetes API stand-in. Every
# scenario runs twice: the client inside the socket-LB cgroup (mln_pod_lb:
# connect/sendmsg translated by sock_lb) and outside it (mln_pod: the
# per-packet path on the pod's veth). Waits are bounded retries; every
# negative check has a positive control beside it.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/lib_standin.sh"

mln_init
mln_manifests_init
mln_need_bins serve_hostname svc_probe

# ClusterIPs of this test (never routed anywhere: only translation reaches a backend).
VIP_HOST=10.96.41.10 VIP_MULTI=10.96.41.11 VIP_DNS=10.96.41.12 VIP_NAMED=10.96.41.13
VIP_STICKY=10.96.41.14 VIP_SHORT=10.96.41.15 VIP_EMPTY=10.96.41.16 VIP_UNREADY=10.96.41.17
VIP_UNREADY_CTL=10.96.41.18 VIP_TERM=10.96.41.19 VIP_HAIRPIN=10.96.41.20 VIP_API=10.96.41.21
BACKENDS=(b1 b2 b3)
# serve_hostname ports in every backend pod: 9376 (the upstream one), 9377
# (multiport's second), 5353 (TCP and UDP on one port), 9378-9380 (the
# named port "serve", a different number in each pod).
SERVE_PORTS=(9376 9377 5353 9378 9379 9380)
declare -A NAMED_PORT=([b1]=9378 [b2]=9379 [b3]=9380)

# The pods as the store knows them: labels for selectors and policy, the
# named containerPort, and u1 a pod whose Ready condition is False.
{
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: e2e, labels: {kubernetes.io/metadata.name: e2e}}\n'
  for b in "${BACKENDS[@]}"; do
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: e2e, labels: {app: hostname}}\nspec:\n  nodeName: svc-node\n  containers:\n  - name: serve\n    ports:\n    - {name: serve, containerPort: %s}\n' "$b" "${NAMED_PORT[$b]}"
  done
  printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: e2e, labels: {app: client}}\nspec: {nodeName: svc-node, containers: [{name: c}]}\n'
  printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: u1, namespace: e2e, labels: {app: unready}}\nspec:\n  nodeName: svc-node\n  containers: [{name: serve, ports: [{containerPort: 9376}]}]\nstatus:\n  phase: Running\n  conditions: [{type: Ready, status: "False"}]\n'
} >"$M/00-pods.yaml"

# The Kubernetes API stand-in (one scenario's Service comes from it), in the node namespace.
MLN_CIDR=10.241.0.0/24
MLN_NODE_NAME=svc-node
mln_standin_node "" --bookmark-interval 0.5 --missing CiliumClusterwideNetworkPolicy
MLN_AGENT_ARGS=(--manifests "$M" --kubeconfig "$MLN_K8S/kubeconfig" --flow-store-size 65536 --metrics-addr 127.0.0.1:9969)
mln_agent_start

for p in "${BACKENDS[@]}" client u1; do mln_pod_add "$p" e2e "$p"; done
for p in "${BACKENDS[@]}" u1; do
  mln_pod_bg "$p" timeout 600 "$MLN_BIN/serve_hostname" "$p" "${SERVE_PORTS[@]}"
done
for p in "${BACKENDS[@]}" u1; do mln_wait_listen "$p" 9380 tcp; mln_wait_listen "$p" 5353 udp; done
declare -A IP=()
for p in "${BACKENDS[@]}" client u1; do IP[$p]=${MLN_POD_IP[$p]}; done
echo "pods: b1=${IP[b1]} b2=${IP[b2]} b3=${IP[b3]} client=${IP[client]} u1=${IP[u1]}"

LB_CGROUP=1
declare -F mln_pod_lb >/dev/null || LB_CGROUP=0

# ---- manifests ----
# put FILE CONTENT: written atomically, as kubectl apply would be.
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
PUT_MS=0
put() { printf '%s\n' "$2" >"$M/.$1.tmp"; mv "$M/.$1.tmp" "$M/$1.yaml"; PUT_MS=$(now_ms); }
unput() { rm -f "$M/$1.yaml"; PUT_MS=$(now_ms); }
api() { mln_standin_ctl "$@"; PUT_MS=$(now_ms); }
# svc NAME VIP PORTS-FLOW-LIST [EXTRA-SPEC-LINES]: a Service without selector (its slices written by the test).
svc() {
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: e2e}\nspec:\n  clusterIP: %s\n  clusterIPs: [%s]\n  ports: %s\n' \
    "$1" "$2" "$2" "$3"
  [ -z "${4:-}" ] || printf '%s\n' "$4"
}
# ep POD [READY SERVING TERMINATING]: one endpoint of a slice.
ep() {
  printf -- '- addresses: [%s]\n  conditions: {ready: %s, serving: %s, terminating: %s}\n  nodeName: svc-node\n  targetRef: {kind: Pod, namespace: e2e, name: %s}\n' \
    "${IP[$1]}" "${2:-true}" "${3:-true}" "${4:-false}" "$1"
}
# slice SVC PORTS-FLOW-LIST ENDPOINTS-YAML
slice() {
  printf -- '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: %s-1\n  namespace: e2e\n  labels: {kubernetes.io/service-name: %s}\naddressType: IPv4\nports: %s\nendpoints:\n%s' \
    "$1" "$1" "$2" "${3:-[]}"
}
eps_of() { local p out=""; for p in "$@"; do out+=$(ep "$p"); out+=$'\n'; done; printf '%s' "$out"; }

HOST_PORTS='[{name: http, port: 80, targetPort: 9376, protocol: TCP}]'
HOST_SLICE_PORTS='[{name: http, port: 9376, protocol: TCP}]'
put hostname "$(svc hostname $VIP_HOST "$HOST_PORTS"; slice hostname "$HOST_SLICE_PORTS" "$(eps_of b1 b2 b3)")"
put multi "$(svc multi $VIP_MULTI '[{name: a, port: 80, targetPort: 9376}, {name: b, port: 81, targetPort: 9377}]'
  slice multi '[{name: a, port: 9376, protocol: TCP}, {name: b, port: 9377, protocol: TCP}]' "$(eps_of b1 b2 b3)")"
DNS_PORTS='[{name: dns-tcp, port: 53, targetPort: 5353, protocol: TCP}, {name: dns, port: 53, targetPort: 5353, protocol: UDP}]'
DNS_SLICE_PORTS='[{name: dns-tcp, port: 5353, protocol: TCP}, {name: dns, port: 5353, protocol: UDP}]'
put dns "$(svc dns $VIP_DNS "$DNS_PORTS"; slice dns "$DNS_SLICE_PORTS" "$(eps_of b1 b2 b3)")"
# Named targetPort, endpoints derived from the selector (no slice): each pod's "serve" is another number.
put named "$(svc named $VIP_NAMED '[{name: http, port: 80, targetPort: serve}]' '  selector: {app: hostname}')"
put sticky "$(svc sticky $VIP_STICKY "$HOST_PORTS" '  sessionAffinity: ClientIP'; slice sticky "$HOST_SLICE_PORTS" "$(eps_of b1 b2 b3)")"
put short "$(svc short $VIP_SHORT "$HOST_PORTS" $'  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 2}}'
  slice short "$HOST_SLICE_PORTS" "$(eps_of b1 b2 b3)")"
put empty "$(svc empty $VIP_EMPTY '[{name: tcp, port: 80, targetPort: 9376, protocol: TCP}, {name: udp, port: 80, targetPort: 9376, protocol: UDP}]')"
put unready "$(svc unready $VIP_UNREADY '[{port: 80, targetPort: 9376}]' $'  selector: {app: unready}\n  publishNotReadyAddresses: true')"
put unready-ctl "$(svc unready-ctl $VIP_UNREADY_CTL '[{port: 80, targetPort: 9376}]' '  selector: {app: unready}')"
put hairpin "$(svc hairpin $VIP_HAIRPIN "$HOST_PORTS"; slice hairpin "$HOST_SLICE_PORTS" "$(eps_of b1)")"
term() { put term "$(svc term $VIP_TERM "$HOST_PORTS"; slice term "$HOST_SLICE_PORTS" "$1")"; }
term "$(eps_of b3)"

# ---- clients ----
RUN=mln_pod MODE=pkt
# ask PROTO VIP PORT [COUNT] [TIMEOUT_MS] [POD]: svc_probe's lines, one per attempt.
ask() { $RUN "${6:-client}" "$MLN_BIN/svc_probe" "$1" "$2" "$3" -n "${4:-1}" -t "${5:-1000}" ${ASK_STOP:+-x} 2>/dev/null || true; }
askx() { ASK_STOP=1 ask "$@"; }   # stops at the first failed attempt: a bounded wait costs one timeout, not COUNT
names() { awk '$1 != "ERR" {print $1}' | sort -u | xargs; }     # distinct backends that answered
errors() { grep -c '^ERR' || true; }
# sees PROTO VIP PORT WANT...: within SEES_S seconds (default 5, bounded retries), 10 answers per backend
# cover exactly the backends WANT (upstream VerifyServeHostnameServiceUp: every expected pod answers, no other).
sees() {
  local proto=$1 vip=$2 port=$3; shift 3
  local want; want=$(printf '%s\n' "$@" | sort -u | xargs)
  local got="" end=$(( $(now_ms) + ${SEES_S:-5} * 1000 ))
  while :; do
    got=$(askx "$proto" "$vip" "$port" $((10 * $#)) | names)
    [ "$got" = "$want" ] && return 0
    [ "$(now_ms)" -lt "$end" ] || break
    sleep 0.1
  done
  echo "       answered: '$got', expected '$want'" >&2
  return 1
}
# only PROTO VIP PORT N WANT...: N answers, each from one of WANT, none an error.
only() {
  local proto=$1 vip=$2 port=$3 n=$4; shift 4
  local out; out=$(askx "$proto" "$vip" "$port" "$n")
  local bad; bad=$(awk -v w=" $* " '$1 == "ERR" || index(w, " " $1 " ") == 0' <<<"$out" | head -3)
  [ "$(grep -c . <<<"$out")" -eq "$n" ] && [ -z "$bad" ] && return 0
  echo "       unexpected: $(xargs <<<"$bad")" >&2
  return 1
}
# follows CMD...: the last change (put, unput, api) is in force for new connections within a
# second: CMD succeeds on a probe started at most FOLLOW_MS (1000) after it; prints the time measured.
follows() {
  local t
  while :; do
    t=$(( $(now_ms) - PUT_MS ))
    [ "$t" -le "${FOLLOW_MS:-1000}" ] || { echo "       not in force ${FOLLOW_MS:-1000} ms after the change" >&2; return 1; }
    if "$@"; then echo "       in force for a probe run $t-$(( $(now_ms) - PUT_MS )) ms after the change"; return 0; fi
    sleep 0.05
  done
}
c() { t_check "[$MODE] $1" "${@:2}"; }
# A client in the background: RUN is a shell function, so $! is a subshell;
# stop_bg ends the subshell's children too (by PID), and timeout bounds them
# whatever happens to this run.
stop_bg() { local k; for k in $(pgrep -P "$1" 2>/dev/null); do kill "$k" 2>/dev/null; done; kill "$1" 2>/dev/null; wait "$1" 2>/dev/null || true; }

# metric NAME{LABELS}: its value in the agent's Prometheus endpoint (0 when absent).
metric() { mln_node curl -s --max-time 5 http://127.0.0.1:9969/metrics | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
FWD='myelin_sock_lb_translations_total{direction="forward"}'

# ---- scenarios (each run once per client mode) ----
basic() {
  local f0 f1
  f0=$(metric "$FWD")
  c "basic: the ClusterIP is served by b1, b2 and b3, nothing else" sees tcp $VIP_HOST 80 b1 b2 b3
  f1=$(metric "$FWD")
  # Which path served: the socket path counts a translation per connect(), the packet path none.
  if [ "$MODE" = lb ]; then
    [ "$f1" -ge $((f0 + 30)) ] && t_ok "[$MODE] basic: translated at connect() by the socket LB ($((f1 - f0)) translations for >= 30 connections)" ||
      t_bad "[$MODE] basic: translated by the socket LB" "$f0 -> $f1 socket translations"
  else
    [ "$f1" -eq "$f0" ] && t_ok "[$MODE] basic: not translated by the socket LB (outside its cgroup: the packet path served)" ||
      t_bad "[$MODE] basic: outside the cgroup, no socket translation" "$f0 -> $f1"
  fi
  local out; out=$(ask tcp $VIP_HOST 80 5)
  [ "$(grep -c "peer=$VIP_HOST:80" <<<"$out")" -eq 5 ] && t_ok "[$MODE] basic: getpeername says the Service's address" ||
    t_bad "[$MODE] basic: getpeername says the Service's address" "$(head -2 <<<"$out")"
  out=$(ask tcp "${IP[b2]}" 9376 1)
  [[ "$out" == "b2 "* ]] && t_ok "[$MODE] control: b2 answers on its own address" || t_bad "[$MODE] control: b2 direct" "$out"
  unserved() { [[ "$(ask tcp $VIP_HOST 81 1 500)" == ERR* ]]; }
  c "basic: a port the Service does not have is not served (81)" unserved
}

multiport() {
  c "multiport: all backends on port 80" sees tcp $VIP_MULTI 80 b1 b2 b3
  c "multiport: all backends on port 81" sees tcp $VIP_MULTI 81 b1 b2 b3
  local a b
  a=$(ask tcp $VIP_MULTI 80 6 | awk '{print $2}' | sort -u | xargs)
  b=$(ask tcp $VIP_MULTI 81 6 | awk '{print $2}' | sort -u | xargs)
  [ "$a" = port=9376 ] && [ "$b" = port=9377 ] && t_ok "[$MODE] multiport: 80 -> targetPort 9376, 81 -> 9377" ||
    t_bad "[$MODE] multiport: each port to its targetPort" "80 -> '$a', 81 -> '$b'"
}

tcp_udp() {
  c "same port, TCP: 53/tcp served by the three" sees tcp $VIP_DNS 53 b1 b2 b3
  c "same port, UDP: 53/udp served by the three (connected sockets)" sees udp $VIP_DNS 53 b1 b2 b3
  if [ "$MODE" = lb ]; then
    # sendmsg picks a backend per datagram on the socket path.
    c "same port, UDP: 53/udp served by the three (one unconnected socket, sendto per datagram)" sees udp-sendto $VIP_DNS 53 b1 b2 b3
  else
    # One unconnected socket is one 5-tuple: one conntrack entry, one backend, as with kube-proxy.
    local one; one=$(askx udp-sendto $VIP_DNS 53 10)
    [ "$(grep -c . <<<"$one")" -eq 10 ] && [ "$(names <<<"$one" | wc -w)" -eq 1 ] && ! grep -q ERR <<<"$one" &&
      t_ok "[$MODE] same port, UDP: one unconnected socket's 10 datagrams all answered, by one backend (one conntrack entry)" ||
      t_bad "[$MODE] same port, UDP: one unconnected socket, one backend" "$(names <<<"$one"), $(errors <<<"$one") errors"
  fi
  local out; out=$(ask udp-sendto $VIP_DNS 53 3)
  [ "$(grep -c "port=5353 .* peer=$VIP_DNS:53" <<<"$out")" -eq 3 ] && t_ok "[$MODE] UDP replies come from the Service's address, not the backend's" ||
    t_bad "[$MODE] UDP replies come from the Service's address" "$(head -2 <<<"$out")"
}

named_port() {
  c "named targetPort: endpoints derived from the selector, all three" sees tcp $VIP_NAMED 80 b1 b2 b3
  local out bad=""; out=$(ask tcp $VIP_NAMED 80 12)
  [ "$(grep -c . <<<"$out")" -eq 12 ] || bad+="$(grep -c . <<<"$out") answers of 12 "
  while read -r n p _; do
    [ -z "$n" ] && continue
    [ "$n" = ERR ] && { bad+="ERR "; continue; }
    [ "$p" = "port=${NAMED_PORT[$n]:-none}" ] || bad+="$n:$p "
  done <<<"$out"
  [ -z "$bad" ] && t_ok "[$MODE] named targetPort: resolved per pod (b1 9378, b2 9379, b3 9380)" ||
    t_bad "[$MODE] named targetPort: resolved per pod" "wrong: $bad"
}

live_endpoints() {
  put hostname "$(svc hostname $VIP_HOST "$HOST_PORTS"; slice hostname "$HOST_SLICE_PORTS" "$(eps_of b1 b2)")"
  no_b3() { only tcp $VIP_HOST 80 6 b1 b2 2>/dev/null; }
  c "endpoint removed live: new connections stop reaching b3 within a second" follows no_b3
  c "endpoint removed live: 30 more connections, never b3" only tcp $VIP_HOST 80 30 b1 b2
  c "endpoint removed live: control, b1 and b2 both still answer" sees tcp $VIP_HOST 80 b1 b2
  put hostname "$(svc hostname $VIP_HOST "$HOST_PORTS"; slice hostname "$HOST_SLICE_PORTS" "$(eps_of b1 b2 b3)")"
  has_b3() { askx tcp $VIP_HOST 80 6 | grep -q '^b3 '; }
  c "endpoint added live: new connections reach b3 within a second" follows has_b3
  c "endpoint added live: the three again" sees tcp $VIP_HOST 80 b1 b2 b3
}

affinity() {
  local out first
  out=$(ask tcp $VIP_STICKY 80 15)
  first=$(head -1 <<<"$out" | awk '{print $1}')
  [ "$(names <<<"$out")" = "$first" ] && [ "$(grep -c "^$first " <<<"$out")" -eq 15 ] && [ "$first" != ERR ] &&
    t_ok "[$MODE] ClientIP affinity: 15 consecutive connections, all to $first" ||
    t_bad "[$MODE] ClientIP affinity: 15 identical answers" "$(names <<<"$out"), errors $(errors <<<"$out")"
  put sticky "$(svc sticky $VIP_STICKY "$HOST_PORTS" '  sessionAffinity: None'; slice sticky "$HOST_SLICE_PORTS" "$(eps_of b1 b2 b3)")"
  spread() { [ "$(askx tcp $VIP_STICKY 80 30 | names | wc -w)" -ge 2 ]; }
  c "affinity switched off: connections spread again (>= 2 backends in 30)" follows spread
  put sticky "$(svc sticky $VIP_STICKY "$HOST_PORTS" '  sessionAffinity: ClientIP'; slice sticky "$HOST_SLICE_PORTS" "$(eps_of b1 b2 b3)")"
  one() { local o; o=$(askx tcp $VIP_STICKY 80 15); [ "$(grep -c . <<<"$o")" -eq 15 ] && [ "$(names <<<"$o" | wc -w)" -eq 1 ]; }
  c "affinity switched on again: one backend for 15 connections" follows one
}

affinity_timeout() {
  local out first i got moved=0
  out=$(ask tcp $VIP_SHORT 80 15)
  first=$(head -1 <<<"$out" | awk '{print $1}')
  [ "$(names <<<"$out")" = "$first" ] && [ "$(grep -c "^$first " <<<"$out")" -eq 15 ] && [ "$first" != ERR ] &&
    t_ok "[$MODE] affinity timeout 2s: within it, 15 connections to $first" ||
    t_bad "[$MODE] affinity timeout 2s: within it, 15 identical" "$(names <<<"$out")"
  # Past the timeout the choice is free again: with three backends a new one
  # shows within 10 tries ((1/3)^10 that it never does while the timeout works).
  for i in $(seq 1 10); do
    sleep 2.5   # the behaviour under test is the 2 s timeout itself
    got=$(ask tcp $VIP_SHORT 80 1 | awk '{print $1}')
    [[ "$got" == b[123] && "$got" != "$first" ]] && { moved=1; break; }
  done
  [ "$moved" = 1 ] && t_ok "[$MODE] affinity timeout: after 2.5 s idle a connection may go elsewhere (after $i tries)" ||
    t_bad "[$MODE] affinity timeout: after it a new backend is picked" "always $first in 10 tries"
}

nbf() { mln_myelin observe --all -o json --verdict DROPPED 2>/dev/null | jq -s '[.[] | select(.flow.drop_reason_desc == "SERVICE_BACKEND_NOT_FOUND")] | length'; }
# nbm PATH: myelin_service_no_backend_drops_total summed over protocols, for one path.
nbm() {
  mln_node curl -s --max-time 5 http://127.0.0.1:9969/metrics |
    awk -v p="path=\"$1\"" 'index($1, "myelin_service_no_backend_drops_total{") == 1 && index($1, p) {v += $2} END {print v + 0}'
}
no_backends() {
  local t0 t1 out n0 n1 path other m0 m1 o0 o1
  n0=$(nbf)
  # The path that refuses: the socket LB inside its cgroup, the pod's veth outside it.
  if [ "$MODE" = lb ]; then path=socket other=packet; else path=packet other=socket; fi
  m0=$(nbm $path); o0=$(nbm $other)
  t0=$(date +%s%N); out=$(ask tcp $VIP_EMPTY 80 1 3000); t1=$(date +%s%N)
  [ "$out" = "ERR ECONNREFUSED" ] && [ $(((t1 - t0) / 1000000)) -lt 2000 ] &&
    t_ok "[$MODE] no endpoints: TCP connect refused at once (ECONNREFUSED, $(((t1 - t0) / 1000000)) ms)" ||
    t_bad "[$MODE] no endpoints: TCP refused" "got '$out' after $(((t1 - t0) / 1000000)) ms"
  out=$(ask udp $VIP_EMPTY 80 1 3000)
  [ "$out" = "ERR ECONNREFUSED" ] && t_ok "[$MODE] no endpoints: UDP gets ECONNREFUSED" ||
    t_bad "[$MODE] no endpoints: UDP refused" "got '$out'"
  c "no endpoints: control, the same client is served by another Service meanwhile" sees tcp $VIP_HOST 80 b1 b2 b3
  more() { n1=$(nbf); [ "$n1" -ge $((n0 + 2)) ]; }
  mln_retry 20 0.1 more && t_ok "[$MODE] no endpoints: both refusals left a SERVICE_BACKEND_NOT_FOUND drop flow ($n0 -> $n1)" ||
    t_bad "[$MODE] no endpoints: a SERVICE_BACKEND_NOT_FOUND flow for each refusal" "$n0 -> $n1"
  counted() { m1=$(nbm $path); [ "$m1" -ge $((m0 + 2)) ]; }
  mln_retry 20 0.1 counted && t_ok "[$MODE] no endpoints: both counted in myelin_service_no_backend_drops_total{path=\"$path\"} ($m0 -> $m1)" ||
    t_bad "[$MODE] no endpoints: counted on the $path path" "$m0 -> $m1"
  o1=$(nbm $other)
  [ "$o1" = "$o0" ] && t_ok "[$MODE] no endpoints: control, nothing counted on the $other path ($o0)" ||
    t_bad "[$MODE] no endpoints: nothing on the $other path" "$o0 -> $o1"
}

unready() {
  c "publishNotReadyAddresses: the unready pod u1 serves" sees tcp $VIP_UNREADY 80 u1
  local out; out=$(ask tcp $VIP_UNREADY_CTL 80 1 1000)
  [ "$out" = "ERR ECONNREFUSED" ] && t_ok "[$MODE] without publishNotReadyAddresses the unready pod is no endpoint (refused)" ||
    t_bad "[$MODE] without publishNotReadyAddresses: refused" "got '$out'"
  out=$(ask tcp "${IP[u1]}" 9376 1)
  [[ "$out" == "u1 "* ]] && t_ok "[$MODE] control: u1 itself answers" || t_bad "[$MODE] control: u1 direct" "$out"
}

terminating() {
  term "$(eps_of b3)"
  c "terminating: b3 alone serves" sees tcp $VIP_TERM 80 b3
  # An established connection to b3 that must outlive b3's terminating, not serving.
  $RUN client timeout 60 "$MLN_BIN/svc_probe" tcp-hold $VIP_TERM 80 -n 40 -g 100 -t 2000 >"$MLN_TMP/hold-$MODE" 2>&1 &
  local hold=$!
  MLN_PIDS+=("$hold")
  mln_retry 50 0.1 grep -q '^0 ' "$MLN_TMP/hold-$MODE" || true
  term "$(eps_of b1 b2; ep b3 false false true)"
  c "terminating, not serving: new connections go to the ready b1, b2 only" follows only tcp $VIP_TERM 80 9 b1 b2
  c "terminating, not serving: 20 more, never b3" only tcp $VIP_TERM 80 20 b1 b2
  term "$(ep b1 false true true; ep b2 false true true; ep b3 false false true)"
  c "none ready: new connections fall back to serving+terminating b1, b2" follows only tcp $VIP_TERM 80 9 b1 b2
  c "none ready: the fallback covers both b1 and b2" sees tcp $VIP_TERM 80 b1 b2
  wait "$hold" 2>/dev/null || true
  local lines; lines=$(grep -c '^[0-9]* b3 ' "$MLN_TMP/hold-$MODE" || true)
  [ "$lines" -eq 41 ] && t_ok "[$MODE] terminating: the established connection to b3 went on (41 of 41 answers from b3)" ||
    t_bad "[$MODE] terminating: the established connection continues" "$lines of 41 from b3: $(tail -2 "$MLN_TMP/hold-$MODE" | xargs)"
  term "$(ep b1 false false true; ep b2 false false true)"
  refused() { [ "$(ask tcp $VIP_TERM 80 1)" = "ERR ECONNREFUSED" ]; }
  c "no endpoint serving: refused" follows refused
  term "$(eps_of b3)"
  c "control: b3 ready again serves" sees tcp $VIP_TERM 80 b3
}

hairpin() {
  local out want=169.254.42.1
  [ "$MODE" = lb ] && want=${IP[b1]}   # the socket path connects b1 to itself: no packet to translate
  out=$(ask tcp $VIP_HAIRPIN 80 3 1000 b1)
  [ "$(grep -c "^b1 port=9376 client=$want:" <<<"$out")" -eq 3 ] &&
    t_ok "[$MODE] hairpin: b1 reaches itself through its Service (seen from $want)" ||
    t_bad "[$MODE] hairpin: b1 through its own Service" "$(head -1 <<<"$out")"
  c "hairpin: control, the client reaches b1 through the same Service" sees tcp $VIP_HAIRPIN 80 b1
}

source_ip() {
  local out; out=$(ask tcp $VIP_HOST 80 6)
  [ "$(grep -c " client=${IP[client]}:" <<<"$out")" -eq 6 ] && t_ok "[$MODE] source IP preserved: every backend sees the client's ${IP[client]}" ||
    t_bad "[$MODE] source IP preserved" "$(awk '{print $1, $3}' <<<"$out" | head -3 | xargs)"
  out=$(ask udp $VIP_DNS 53 6)
  [ "$(grep -c " client=${IP[client]}:" <<<"$out")" -eq 6 ] && t_ok "[$MODE] source IP preserved over UDP" ||
    t_bad "[$MODE] source IP preserved over UDP" "$(head -2 <<<"$out" | xargs)"
}

connected_udp() {
  local log="$MLN_TMP/udp-$MODE" pid victim others n0 d0 d1
  d0=$(metric myelin_sock_lb_destroyed_sockets_total)
  $RUN client timeout 60 "$MLN_BIN/svc_probe" udp-stream $VIP_DNS 53 -n 0 -g 50 -t 300 -r >"$log" 2>&1 &
  pid=$!
  MLN_PIDS+=("$pid")
  mln_retry 50 0.1 grep -q '^[0-9]* b' "$log" || { t_bad "[$MODE] connected UDP client answered" "$(head -3 "$log")"; stop_bg "$pid"; return; }
  victim=$(grep -m1 '^[0-9]* b' "$log" | awk '{print $2}')
  others=$(printf '%s\n' "${BACKENDS[@]}" | grep -vx "$victim" | xargs)
  # shellcheck disable=SC2086
  put dns "$(svc dns $VIP_DNS "$DNS_PORTS"; slice dns "$DNS_SLICE_PORTS" "$(eps_of $others)")"
  moved() { tail -n 3 "$log" | grep -qE "^[0-9]+ (${others// /|}) "; }
  c "connected UDP: the client's backend $victim removed, its answers come from another within a second" follows moved
  n0=$(wc -l <"$log")
  mln_retry 60 0.05 bash -c "[ \$(wc -l <'$log') -ge $((n0 + 20)) ]" || true
  stop_bg "$pid"
  local after; after=$(tail -n +"$((n0 + 1))" "$log")
  local stale; stale=$(grep -c "^[0-9]* $victim " <<<"$after" || true)
  local ok; ok=$(grep -cE "^[0-9]+ (${others// /|}) " <<<"$after" || true)
  [ "$stale" -eq 0 ] && [ "$ok" -ge 15 ] && t_ok "[$MODE] connected UDP: $ok answers since, none from $victim (which still runs)" ||
    t_bad "[$MODE] connected UDP: not pinned to the removed backend" "since: $ok from others, $stale from $victim"
  local re; re=$(grep -c RECONNECT "$log" || true)
  if [ "$MODE" = pkt ]; then
    [ "$re" -eq 0 ] && t_ok "[$MODE] connected UDP: the same socket kept working (conntrack picked a new backend)" ||
      t_bad "[$MODE] connected UDP: the same socket kept working" "$re reconnects: $(grep -B1 RECONNECT "$log" | head -2 | xargs)"
  else
    d1=$(metric myelin_sock_lb_destroyed_sockets_total)
    [ "$d1" -ge $((d0 + 1)) ] && [ "$re" -ge 1 ] &&
      t_ok "[$MODE] connected UDP: the agent destroyed the socket ($((d1 - d0)) destroyed), the client saw $(grep -m1 -B1 RECONNECT "$log" | head -1 | awk '{print $3}') and reconnected" ||
      t_bad "[$MODE] connected UDP: the socket pinned to $victim destroyed" "destroyed $d0 -> $d1, $re reconnects"
  fi
  put dns "$(svc dns $VIP_DNS "$DNS_PORTS"; slice dns "$DNS_SLICE_PORTS" "$(eps_of b1 b2 b3)")"
  c "connected UDP: control, $victim back among the backends" sees udp $VIP_DNS 53 b1 b2 b3
}

revision() { mln_myelin status -o json | jq -r '.policy_revision // 0 | tonumber'; }
policy() {
  local before; before=$(revision)
  put policy 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: backends-9377-only, namespace: e2e}
spec:
  podSelector: {matchLabels: {app: hostname}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 9377, protocol: TCP}]'
  changed() { [ "$(revision)" -gt "$before" ]; }
  mln_retry 100 0.02 changed || t_bad "[$MODE] policy: the agent picked the policy up"
  c "policy: 81 -> backend port 9377 (allowed) served through the ClusterIP" sees tcp $VIP_MULTI 81 b1 b2 b3
  local out; out=$(ask tcp $VIP_MULTI 80 3 1000)
  [ "$(errors <<<"$out")" -eq 3 ] && t_ok "[$MODE] policy: 80 -> backend port 9376 (not allowed) denied through the ClusterIP" ||
    t_bad "[$MODE] policy: 80 -> 9376 denied" "$(xargs <<<"$out")"
  out=$(ask tcp "${IP[b1]}" 9377 1)
  [[ "$out" == "b1 "* ]] && t_ok "[$MODE] policy: control, b1:9377 direct allowed" || t_bad "[$MODE] policy: b1:9377 direct" "$out"
  out=$(ask tcp "${IP[b1]}" 9376 1)
  [[ "$out" == ERR* ]] && t_ok "[$MODE] policy: control, b1:9376 direct denied" || t_bad "[$MODE] policy: b1:9376 direct denied" "$out"
  before=$(revision)
  unput policy
  mln_retry 100 0.02 changed || true
  c "policy removed: 80 served again" sees tcp $VIP_MULTI 80 b1 b2 b3
}

from_api() {
  api apply '{"apiVersion":"v1","kind":"Service","metadata":{"name":"api","namespace":"e2e"},"spec":{"clusterIP":"'$VIP_API'","clusterIPs":["'$VIP_API'"],"ports":[{"name":"http","port":80,"targetPort":9376,"protocol":"TCP"}]}}'
  api apply '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"api-1","namespace":"e2e","labels":{"kubernetes.io/service-name":"api"}},"addressType":"IPv4","endpoints":[{"addresses":["'"${IP[b1]}"'"],"conditions":{"ready":true}},{"addresses":["'"${IP[b2]}"'"],"conditions":{"ready":true}}],"ports":[{"name":"http","port":9376,"protocol":"TCP"}]}'
  c "from the API: a Service and EndpointSlice created through the API serve (b1, b2)" sees tcp $VIP_API 80 b1 b2
  api apply '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"api-1","namespace":"e2e","labels":{"kubernetes.io/service-name":"api"}},"addressType":"IPv4","endpoints":[{"addresses":["'"${IP[b2]}"'"],"conditions":{"ready":true}},{"addresses":["'"${IP[b3]}"'"],"conditions":{"ready":true}}],"ports":[{"name":"http","port":9376,"protocol":"TCP"}]}'
  c "from the API: the EndpointSlice updated (b2, b3) is followed" sees tcp $VIP_API 80 b2 b3
  api delete '{"kind":"EndpointSlice","namespace":"e2e","name":"api-1"}'
  refused() { [ "$(ask tcp $VIP_API 80 1)" = "ERR ECONNREFUSED" ]; }
  c "from the API: its EndpointSlice deleted, refused" follows refused
  api apply '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"api-1","namespace":"e2e","labels":{"kubernetes.io/service-name":"api"}},"addressType":"IPv4","endpoints":[{"addresses":["'"${IP[b1]}"'"],"conditions":{"ready":true}}],"ports":[{"name":"http","port":9376,"protocol":"TCP"}]}'
  c "from the API: control, served again with b1" sees tcp $VIP_API 80 b1
}

# The agent has every Service before the scenarios start (bounded).
SEES_S=20 sees tcp $VIP_HOST 80 b1 b2 b3 2>/dev/null || true

echo "-- the agent's view"
mln_myelin service list -o json >"$MLN_TMP/svc.json" 2>&1 || true
t_jq "service list: hostname with three active backends from its EndpointSlice" \
  '(.services // .)[]? | select(.name == "hostname" and .namespace == "e2e") | [.frontends[]?.backends[]? | select(.state == "active")] | length == 3' "$MLN_TMP/svc.json"
t_jq "service list: named's endpoints derived from its selector" \
  '(.services // .)[]? | select(.name == "named") | (.endpoints_from // "" | ascii_downcase) == "derived"' "$MLN_TMP/svc.json"

for MODE in pkt lb; do
  if [ "$MODE" = lb ]; then
    [ "$LB_CGROUP" = 1 ] || { t_bad "socket-LB client runs (mln_pod_lb, from i11-socklb, is missing)"; continue; }
    RUN=mln_pod_lb
  else
    RUN=mln_pod
  fi
  echo "-- client $([ "$MODE" = lb ] && echo inside || echo outside) the socket-LB cgroup ($RUN)"
  basic; multiport; tcp_udp; named_port; live_endpoints; affinity; affinity_timeout; no_backends
  unready; terminating; hairpin; source_ip; connected_udp; from_api; policy
done

echo "-- flows"
mln_myelin observe --all -o json >"$MLN_TMP/flows.json" 2>/dev/null || true
t_jq "a flow to the ClusterIP's backend names its Service (destination_service e2e/hostname)" \
  '.flow.destination_service.name == "hostname" and .flow.destination_service.namespace == "e2e"' "$MLN_TMP/flows.json"
t_jq "a refused connection left a SERVICE_BACKEND_NOT_FOUND drop" \
  '.flow.verdict == "DROPPED" and .flow.drop_reason_desc == "SERVICE_BACKEND_NOT_FOUND"' "$MLN_TMP/flows.json"
[ "$LB_CGROUP" = 1 ] && t_jq "socket translations are Type SOCK flows, verdict TRANSLATED" \
  '.flow.Type == "SOCK" and .flow.verdict == "TRANSLATED" and (.flow.socket_cookie // 0 | tonumber) > 0' "$MLN_TMP/flows.json"
[ "$LB_CGROUP" = 1 ] && t_jq "socket refusals are Type SOCK drop flows naming their Service (e2e/empty)" \
  '.flow.Type == "SOCK" and .flow.verdict == "DROPPED" and .flow.drop_reason_desc == "SERVICE_BACKEND_NOT_FOUND" and .flow.destination_service.name == "empty" and .flow.destination_service.namespace == "e2e"' "$MLN_TMP/flows.json"
# This kernel (6.18) has bpf_sock_destroy: status and metrics say the sockets are destroyed.
mln_myelin status -o json >"$MLN_TMP/status.json" 2>/dev/null || true
t_jq "status: connected UDP sockets of removed backends are destroyed here (sock-lb-udp-destroy)" \
  '.features[]? | select(.name == "sock-lb-udp-destroy") | .available == true' "$MLN_TMP/status.json"
sup=$(metric myelin_sock_lb_udp_destroy_supported)
[ "$sup" = 1 ] && t_ok "metrics: myelin_sock_lb_udp_destroy_supported 1" || t_bad "metrics: myelin_sock_lb_udp_destroy_supported" "$sup"

t_summary
