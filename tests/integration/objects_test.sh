#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The object store end to end: Services, EndpointSlices and Nodes from the
# manifests directory and from the Kubernetes API (the stand-in) are decoded
# and stored (myelin service|endpointslice|node list, -o json and the table),
# follow updates and deletes from both, and one that does not decode is
# refused with source, line and field (in its list and in status), its last
# good version kept.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/lib_standin.sh"

mln_init
mln_manifests_init

K="$MLN_TMP/k8s"
mkdir -p "$K"
echo '{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Node","metadata":{"name":"api-node"},"spec":{"podCIDR":"10.234.1.0/24"},"status":{"addresses":[{"type":"Hostname","address":"api-node"},{"type":"InternalIP","address":"192.168.234.1"}]}}]}' >"$K/objects.json"
MLN_CIDR=10.234.0.0/24
mln_standin_node "$K/objects.json" --bookmark-interval 0.5
ctl() { mln_standin_ctl "$@"; }

cat >"$M/web.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels: {service.kubernetes.io/service-proxy-name: other}
spec:
  type: NodePort
  clusterIP: 10.96.10.1
  selector: {app: web}
  externalTrafficPolicy: Local
  ports:
  - {name: http, port: 80, targetPort: http, nodePort: 30080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
- addresses: [10.234.0.5]
  nodeName: file-node
  targetRef: {kind: Pod, namespace: shop, name: web-0}
- addresses: [10.234.0.6]
  conditions: {ready: false, terminating: true}
ports:
- {name: http, port: 8080}
---
apiVersion: v1
kind: Node
metadata: {name: file-node}
spec: {podCIDRs: [10.234.0.0/24]}
status:
  addresses:
  - {type: InternalIP, address: 192.168.234.2}
YAML

MLN_AGENT_ARGS=(--manifests "$M" --kubeconfig "$K/kubeconfig" --metrics-addr 127.0.0.1:9968)
mln_agent_start

svc() { mln_myelin service list -o json; }
eps() { mln_myelin endpointslice list -o json; }
nodes() { mln_myelin node list --stored -o json; }
has() { "$1" | jq -e "$2" >/dev/null 2>&1; }

echo "-- from the manifests directory"
want_web='.services[] | select(.namespace == "shop" and .name == "web" and .type == "NodePort" and .cluster_ips == ["10.96.10.1"]
  and .ports[0].name == "http" and .ports[0].port == 80 and .ports[0].target_port == "http" and .ports[0].node_port == 30080
  and .ports[0].protocol == "TCP" and .selector.app == "web" and .external_traffic_policy == "Local"
  and .internal_traffic_policy == "Cluster" and .session_affinity == "None" and .proxy_name == "other")'
mln_retry 50 0.1 has svc "$want_web" && has svc ".services[] | select(.name == \"web\" and .source == \"$M/web.yaml:1\")" &&
  t_ok "service list: a Service from a manifest, decoded with the API's defaults, its source file:line" || t_bad "Service from a file" "$(svc)"
has eps '.endpoint_slices[] | select(.name == "web-1" and .service == "web" and .address_type == "IPv4"
  and .endpoints[0].addresses == ["10.234.0.5"] and .endpoints[0].ready and .endpoints[0].serving and (.endpoints[0].terminating // false | not)
  and .endpoints[0].node_name == "file-node" and .endpoints[0].target == "Pod shop/web-0"
  and (.endpoints[1].ready // false | not) and (.endpoints[1].serving // false | not) and .endpoints[1].terminating
  and .ports[0].port == 8080)' && t_ok "endpointslice list: conditions as the API means an omitted one, targetRef, ports" || t_bad "EndpointSlice from a file" "$(eps)"
has nodes '.nodes[] | select(.name == "file-node" and .internal_ips == ["192.168.234.2"] and .pod_cidrs == ["10.234.0.0/24"])' &&
  t_ok "node list: a Node from a manifest" || t_bad "Node from a file" "$(nodes)"

echo "-- from the API server"
mln_retry 50 0.1 has nodes '.nodes[] | select(.name == "api-node" and .internal_ips == ["192.168.234.1"] and .pod_cidrs == ["10.234.1.0/24"]
  and (.source | startswith("k8s:nodes/api-node")))' && t_ok "node list: a Node listed from the API (InternalIP only, podCIDR)" || t_bad "Node from the API" "$(nodes)"
ctl apply '{"apiVersion":"v1","kind":"Service","metadata":{"name":"api","namespace":"shop"},"spec":{"clusterIP":"10.96.10.2","clusterIPs":["10.96.10.2"],"sessionAffinity":"ClientIP","ports":[{"port":443,"targetPort":6443,"protocol":"TCP"}]}}'
ctl apply '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"api-x","namespace":"shop","labels":{"kubernetes.io/service-name":"api"}},"addressType":"IPv4","endpoints":[{"addresses":["10.234.1.7"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"api-node"}],"ports":[{"port":6443,"protocol":"TCP"}]}'
mln_retry 50 0.1 has svc '.services[] | select(.name == "api" and .cluster_ips == ["10.96.10.2"] and .ports[0].target_port == "6443"
  and .session_affinity == "ClientIP" and .affinity_timeout_seconds == 10800 and (.source | startswith("k8s:services/shop/api")))' &&
  t_ok "service list: a Service created through the API" || t_bad "Service from the API" "$(svc)"
mln_retry 50 0.1 has eps '.endpoint_slices[] | select(.name == "api-x" and .service == "api" and .endpoints[0].node_name == "api-node")' &&
  t_ok "endpointslice list: an EndpointSlice created through the API (watched)" || t_bad "EndpointSlice from the API" "$(eps)"
table=$(mln_myelin service list)
grep -qE '^shop +web +NodePort +10\.96\.10\.1 +http:80/TCP->http:30080 +app=web ' <<<"$table" && grep -qE '^shop +api +ClusterIP +10\.96\.10\.2 ' <<<"$table" &&
  t_ok "service list (table): both, one row each" || t_bad "service table" "$table"

echo "-- updates and deletes, from both"
ctl apply '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"api-x","namespace":"shop","labels":{"kubernetes.io/service-name":"api"}},"addressType":"IPv4","endpoints":[{"addresses":["10.234.1.7"],"conditions":{"ready":false,"serving":true,"terminating":true},"nodeName":"api-node"},{"addresses":["10.234.1.8"],"nodeName":"api-node"}],"ports":[{"port":6443,"protocol":"TCP"}]}'
mln_retry 50 0.1 has eps '.endpoint_slices[] | select(.name == "api-x" and (.endpoints | length) == 2 and .endpoints[0].terminating
  and (.endpoints[0].ready // false | not) and .endpoints[1].addresses == ["10.234.1.8"])' &&
  t_ok "an EndpointSlice updated through the API: its endpoint terminating, a second one" || t_bad "EndpointSlice update" "$(eps)"
ctl delete '{"kind":"Service","namespace":"shop","name":"api"}'
gone_api() { ! has svc '.services[] | select(.name == "api")'; }
mln_retry 50 0.1 gone_api && has svc '.services[] | select(.name == "web")' &&
  t_ok "a Service deleted through the API is gone (the file's stays)" || t_bad "Service delete" "$(svc)"
sed -i 's/externalTrafficPolicy: Local/externalTrafficPolicy: Cluster/' "$M/web.yaml"
mln_retry 50 0.1 has svc '.services[] | select(.name == "web" and .external_traffic_policy == "Cluster")' &&
  t_ok "a manifest edited: the Service updated" || t_bad "Service update from a file" "$(svc)"

echo "-- refused, with source, line and field; the last good version kept"
sed -i 's/{name: http, port: 80, targetPort: http, nodePort: 30080}/{name: http, port: 80, targetPort: Bad_Name}/' "$M/web.yaml"
refused='.refused[] | select(.source == "'"$M"'/web.yaml" and .line == 13 and .field == "spec.ports[0].targetPort" and .kind == "Service"
  and .name == "web" and .last_good_in_force and (.reason | startswith("must be a port number from 1 to 65535 or a port name")))'
mln_retry 50 0.1 has svc "$refused" && has svc '.services[] | select(.name == "web" and .ports[0].target_port == "http")' &&
  t_ok "service list: the refused edit by parts (line 13, spec.ports[0].targetPort), the last good version listed" || t_bad "refused Service" "$(svc)"
mln_myelin status -o json | jq -e "$refused" >/dev/null && t_ok "status lists the refused Service" || t_bad "status refused" "$(mln_myelin status -o json | jq -c .refused)"
mln_myelin service list | grep -qF "refused: $M/web.yaml:13 (Service shop/web): spec.ports[0].targetPort: must be a port number" &&
  t_ok "service list (table): the refusal line" || t_bad "service table refusal" "$(mln_myelin service list)"
ctl apply '{"apiVersion":"v1","kind":"Node","metadata":{"name":"api-node"},"status":{"addresses":[{"type":"InternalIP","address":"not-an-ip"}]}}'
mln_retry 50 0.1 has nodes '.refused[] | select(.source == "k8s:nodes/api-node" and .line > 0 and .field == "status.addresses[0].address")' &&
  has nodes '.nodes[] | select(.name == "api-node" and .internal_ips == ["192.168.234.1"])' &&
  t_ok "node list: a Node from the API refused (k8s:nodes/api-node, line, field), its last good version kept" || t_bad "refused Node" "$(nodes)"
rm -f "$M/web.yaml"
ctl delete '{"kind":"Node","name":"api-node"}'
empty() { has svc '(.services // []) == [] and (.refused // []) == []' && has nodes '(.nodes // []) == [] and (.refused // []) == []'; }
mln_retry 50 0.1 empty && has eps '[.endpoint_slices[] | select(.name == "api-x")] | length == 1' &&
  t_ok "file and API object deleted: nothing stored or refused (the API's EndpointSlice stays)" || t_bad "all gone" "$(svc; nodes; eps)"

t_summary
