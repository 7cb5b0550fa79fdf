#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Services translation in the running agent: Services from the manifests
# directory, endpoints derived from the Pods whose endpoints the CNI plugin
# added (named targetPort per pod), followed as pods come and go; what is not
# proxied and why; EndpointSlices winning over deriving; `myelin service
# list|get` (-o json and the table), status and metrics.
source "$(dirname "$0")/common.sh"

mln_init
mln_manifests_init

cat >"$M/shop.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.20.1
  selector: {app: web}
  sessionAffinity: ClientIP
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: shop, labels: {app: web}}
spec:
  containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: shop, labels: {app: web}}
spec:
  containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: shop, labels: {app: web}}
spec:
  containers: [{name: c, ports: [{name: http, containerPort: 7070}]}]
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: shop, labels: {service.kubernetes.io/service-proxy-name: someone-else}}
spec:
  clusterIP: 10.96.20.2
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: shop}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 53, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  clusterIP: 10.96.20.3
  selector: {app: web}
  ports: [{name: https, port: 443, targetPort: 6443}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, namespace: shop, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
endpoints:
- {addresses: [10.99.0.7], nodeName: elsewhere}
- {addresses: [10.99.0.8], conditions: {ready: false, serving: true, terminating: true}}
ports: [{name: https, port: 6443}]
YAML

MLN_CIDR=10.235.0.0/24
ip netns add "$MLN_NODE"
mln_node ip link set lo up
MLN_AGENT_ARGS=(--manifests "$M" --metrics-addr 127.0.0.1:9969)
mln_agent_start
mln_pod_add a shop a
mln_pod_add b shop b

get() { mln_myelin service get "$1" -o json; }
has() { "${@:1:$#-1}" | jq -e "${!#}" >/dev/null 2>&1; }
backends() { get shop/web | jq -c '[.frontends[0].backends[] | "\(.address):\(.port) \(.state)"] | sort'; }
want() { jq -nc '$ARGS.positional | sort' --args "$@"; }

echo "-- endpoints derived from the Pods of the node"
two=$(want "${MLN_POD_IP[a]}:8080 active" "${MLN_POD_IP[b]}:9090 active")
mln_retry 50 0.1 test "$(backends)" = "$two" &&
  has get shop/web '.endpoints_from == "derived" and (.not_proxied // "") == "" and .frontends[0].kind == "ClusterIP"
    and .frontends[0].address == "10.96.20.1" and .frontends[0].port == 80 and .frontends[0].affinity
    and .frontends[0].affinity_timeout_seconds == 10800 and ([.frontends[0].backends[] | .local and .ready] | all)' &&
  t_ok "service get: the pods' endpoints, the named targetPort resolved per pod (8080, 9090), affinity" || t_bad "derived" "$(get shop/web)"
echo "-- followed as pods come and go"
mln_pod_add c shop c
three=$(want "${MLN_POD_IP[a]}:8080 active" "${MLN_POD_IP[b]}:9090 active" "${MLN_POD_IP[c]}:7070 active")
mln_retry 50 0.1 test "$(backends)" = "$three" && t_ok "a pod added: its endpoint a backend" || t_bad "pod added" "$(backends)"
mln_cni DEL "${MLN_POD_CID[a]}" "/var/run/netns/${MLN_POD_NETNS[a]}" >/dev/null
bc=$(want "${MLN_POD_IP[b]}:9090 active" "${MLN_POD_IP[c]}:7070 active")
mln_retry 50 0.1 test "$(backends)" = "$bc" && t_ok "a pod deleted: its backend gone" || t_bad "pod deleted" "$(backends)"

echo "-- not proxied, and slices over deriving"
list() { mln_myelin service list -o json; }
has list '.services[] | select(.name == "other" and .not_proxied == "service-proxy-name someone-else" and (.frontends // []) == [])' &&
  has list '.services[] | select(.name == "dns" and .not_proxied == "headless")' &&
  t_ok "service list: service-proxy-name and headless not proxied, saying why" || t_bad "not proxied" "$(list)"
has get shop/api '.endpoints_from == "EndpointSlice" and ([.frontends[0].backends[] | "\(.address):\(.port) \(.state)"] | sort)
    == ["10.99.0.7:6443 active", "10.99.0.8:6443 terminating"] and (.frontends[0].backends[0].local | not)' &&
  t_ok "service get: an EndpointSlice wins over deriving; ready active, serving+terminating kept for established" || t_bad "slices" "$(get shop/api)"
table=$(mln_myelin service list)
grep -qE '^shop +web +ClusterIP +10\.96\.20\.1 +http:80/TCP->http +app=web +derived +1 +2/2 active +yes ' <<<"$table" &&
  grep -qE '^shop +other .* no: service-proxy-name someone-else ' <<<"$table" &&
  t_ok "service list (table): origin, frontends, active backends, proxied or why not" || t_bad "table" "$table"
mln_myelin service get shop/web | grep -qE "^ +${MLN_POD_IP[b]//./\\.}:9090 +active +same +local +shop/b +ready,serving" &&
  t_ok "service get (table): a backend row" || t_bad "get table" "$(mln_myelin service get shop/web)"
out=$(mln_myelin service get shop/nope 2>&1) && t_bad "a missing Service" "$out" ||
  { grep -q "service shop/nope not found" <<<"$out" && t_ok "service get of a missing Service fails, saying so"; } || t_bad "missing" "$out"

echo "-- status and metrics"
mln_myelin status -o json | jq -e '.services.services == 4 and .services.proxied == 2 and .services.not_proxied["headless"] == 1
  and .services.not_proxied["service-proxy-name"] == 1 and .services.frontends == 2 and .services.backends_active == 3
  and .services.backends_terminating == 1 and .services.synced' >/dev/null &&
  t_ok "status: Services proxied and not, frontends, backends by state, synced" || t_bad "status" "$(mln_myelin status -o json | jq -c .services)"
m=$(mln_node curl -s http://127.0.0.1:9969/metrics || true)
grep -q '^myelin_services{type="ClusterIP"} 4' <<<"$m" && grep -q '^myelin_service_backends{state="active"} 3' <<<"$m" &&
  grep -q '^myelin_services_not_proxied{reason="service-proxy-name"} 1' <<<"$m" && grep -q '^myelin_service_frontends{kind="ClusterIP"} 2' <<<"$m" &&
  t_ok "metrics: Services by type, not proxied by reason, frontends by kind, backends by state" || t_bad "metrics" "$(grep myelin_serv <<<"$m")"

echo "-- what a user sees"
mln_myelin service list
mln_myelin service get shop/web
mln_myelin service get shop/api
t_summary
