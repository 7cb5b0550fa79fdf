#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Policy from the Kubernetes API, end to end: myelind --kubeconfig watches
# the stand-in API server (TLS, bearer token) for Namespaces, Pods and
# NetworkPolicies; real traffic between pods follows objects created,
# edited and deleted through the API, a Pod label change, a dropped watch
# connection, and a 410 Gone after compaction (the agent re-lists).
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/lib_standin.sh"

mln_init
K="$MLN_TMP/k8s"
mkdir -p "$K"

ns_json() { printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s","labels":{"kubernetes.io/metadata.name":"%s"}}}' "$1" "$1"; }
pod_json() {  # ns name labels-json
  printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"%s","labels":%s},"spec":{"nodeName":"kube-node","containers":[{"name":"c","image":"busybox","ports":[{"name":"pg","containerPort":5432}]}]},"status":{"phase":"Running"}}' "$2" "$1" "$3"
}
{ echo '{"apiVersion":"v1","kind":"List","items":['
  ns_json web; echo ,; ns_json db; echo ,
  pod_json web client '{"app":"client"}'; echo ,; pod_json db server '{"app":"pg"}'
  echo ']}'; } >"$K/objects.json"

# The node namespace first: the API server stand-in listens on its loopback.
MLN_CIDR=10.230.0.0/24
MLN_NODE_NAME=kube-node
ip netns add "$MLN_NODE"
mln_node ip link set lo up
mln_node ip addr add 192.168.230.1/32 dev lo   # the node's own address (its probes of pods come from it)
mln_standin_start "$K/objects.json" --bookmark-interval 0.5 --missing CiliumClusterwideNetworkPolicy
ctl() { mln_standin_ctl "$@"; }

MLN_AGENT_ARGS=(--kubeconfig "$K/kubeconfig" --metrics-addr 127.0.0.1:9964)
mln_agent_start
grep -qE "every (served )?resource listed" "$MLN_AGENT_LOG" && t_ok "agent listed every resource before serving (a missing CRD counts as none)" ||
  t_bad "initial sync" "$(cat "$MLN_AGENT_LOG")"

mln_pod_add client web client
mln_pod_add server db server
mln_pod_bg server timeout 300 socat TCP-LISTEN:5432,fork,reuseaddr SYSTEM:true >/dev/null 2>&1
mln_wait_listen server 5432
SERVER_IP=${MLN_POD_IP[server]}
reach() { mln_pod client timeout 3 nc -z -w 1 "$SERVER_IP" 5432 2>/dev/null; }
# The node reaches its pods whatever their ingress policy (allow-localhost):
# the positive control that the server is up whenever the client is blocked.
node_reach() { mln_node timeout 3 nc -z -w 1 "$SERVER_IP" 5432 2>/dev/null; }
blocked() { node_reach && ! reach && ! reach; }
# Verdicts must follow within a second of the API change (polled in 0.1 s steps).
follows() { mln_retry 10 0.1 "$@"; }

reach && t_ok "no policy: client reaches server" || t_bad "no policy: client reaches server"
node_reach && t_ok "no policy: the node reaches server" || t_bad "no policy: the node reaches server"

np_deny='{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"db-default-deny","namespace":"db"},"spec":{"podSelector":{},"policyTypes":["Ingress"]}}'
ctl apply "$np_deny"
follows blocked && t_ok "NetworkPolicy created through the API: denied within a second" || t_bad "deny via API"

np_allow='{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"pg-from-clients","namespace":"db"},"spec":{"podSelector":{"matchLabels":{"app":"pg"}},"ingress":[{"from":[{"namespaceSelector":{},"podSelector":{"matchLabels":{"role":"db-client"}}}],"ports":[{"port":"pg"}]}]}}'
ctl apply "$np_allow"
# In force once policy list shows it selecting the server (listed only after
# its regeneration wrote the datapath); the client's labels do not match yet.
allow_in_force() { mln_myelin policy list -o json | jq -e '.policies[] | select(.name == "pg-from-clients" and (.endpoints | length) == 1)' >/dev/null 2>&1; }
mln_retry 50 0.1 allow_in_force && t_ok "the allow policy arrived through the API and selects the server" ||
  t_bad "allow policy in force" "$(mln_myelin policy list -o json)"
tr=$(mln_myelin policy trace --from web/client --to db/server --port 5432/tcp)
grep -q "Verdict: DENIED" <<<"$tr" && t_ok "policy trace: the client is still denied (labels do not match yet)" || t_bad "trace before label change" "$tr"
blocked && t_ok "allow for role=db-client does not match the client yet" || t_bad "allow matched too early"
ctl apply "$(pod_json web client '{"app":"client","role":"db-client"}')"
follows reach && t_ok "Pod label change through the API: allowed within a second (named port pg)" || t_bad "label change"

mln_myelin policy list -o json | jq -e '.policies[] | select(.name == "pg-from-clients" and (.source | startswith("k8s:networkpolicies/db/")))' >/dev/null &&
  t_ok "policy list names the API object as the source" || t_bad "policy source" "$(mln_myelin policy list -o json)"

# A dropped watch: changes made while disconnected arrive when it resumes.
ctl "drop?hold=1"
ctl delete '{"kind":"NetworkPolicy","namespace":"db","name":"pg-from-clients"}'
ctl release
follows blocked && t_ok "watch dropped, policy deleted meanwhile: the resumed watch applies it" || t_bad "resume after drop"

# 410 Gone: the agent's version is compacted away while it is disconnected.
ctl "drop?hold=1"
ctl apply "$np_allow"
ctl compact
ctl release
follows reach && t_ok "410 Gone after compaction: the agent re-lists and applies what it missed" || t_bad "re-list after 410"
grep -q "listed networkpolicies" "$MLN_AGENT_LOG" && scrape=$(mln_node curl -sf --max-time 5 http://127.0.0.1:9964/metrics) &&
  grep -qE 'myelin_k8s_events_total\{.*action="list".*resource="networkpolicies".*\} [2-9]' <<<"$scrape" &&
  t_ok "metrics count two lists of networkpolicies" || t_bad "k8s event metrics" "$(grep k8s_events <<<"${scrape:-}")"

# A TracingPolicy from the API: loaded, listed with the API object as its source, unloaded on delete.
tp='{"apiVersion":"cilium.io/v1alpha1","kind":"TracingPolicy","metadata":{"name":"watch-etc-writes"},"spec":{"tracepoints":[{"subsystem":"syscalls","event":"sys_enter_openat","args":[{"index":6,"type":"string"},{"index":7,"type":"int"}],"selectors":[{"matchArgs":[{"index":6,"operator":"Prefix","values":["/etc/myelin-never-"]},{"index":7,"operator":"Mask","values":["0x243"]}]}]}]}}'
ctl apply "$tp"
tp_on() { mln_myelin tracingpolicy list -o json | jq -e '.policies[] | select(.name == "watch-etc-writes" and .state == "enabled" and (.source | startswith("k8s:tracingpolicies/watch-etc-writes")))' >/dev/null; }
mln_retry 50 0.1 tp_on && t_ok "a TracingPolicy created through the API is enabled" || t_bad "TracingPolicy via API" "$(mln_myelin tracingpolicy list -o json)"
ctl delete '{"kind":"TracingPolicy","name":"watch-etc-writes"}'
tp_off() { ! mln_myelin tracingpolicy list -o json | jq -e '.policies[] | select(.name == "watch-etc-writes")' >/dev/null; }
mln_retry 50 0.1 tp_off && t_ok "deleted through the API: unloaded" || t_bad "TracingPolicy delete"

# A policy the agent cannot enforce exactly is refused by name; the last good version stays.
bad='{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"pg-from-clients","namespace":"db"},"spec":{"podSelector":{},"ingress":[{"frm":[]}]}}'
ctl apply "$bad"
refused() { grep -q "k8s:networkpolicies/db/pg-from-clients.*spec.ingress\[0\].frm: is not supported" "$MLN_AGENT_LOG"; }
mln_retry 20 0.1 refused && t_ok "a bad policy from the API is refused, naming the object and field" || t_bad "bad policy refused" "$(tail -5 "$MLN_AGENT_LOG")"
reach && t_ok "the last good version stays in force" || t_bad "last good version"

t_summary
