#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CNI plugin against a live agent, invoked exactly as a runtime does
# (CNI_* environment, config on stdin): every command, idempotent DEL,
# 20 concurrent ADDs, and each bad input giving the spec's error code while
# changing nothing.
source "$(dirname "$0")/../integration/common.sh"

mln_init
MLN_NODE_NAME=cni-node
mln_node_up 10.213.0.0/24
CONF=$(cat "$MLN_CNI_CONF")

# cni COMMAND CONTAINERID NETNS [VAR=VALUE...] <<< config ; prints stdout, returns the exit code
cni() {
  local cmd=$1 cid=$2 netns=$3; shift 3
  mln_node env -i PATH="$PATH" CNI_COMMAND="$cmd" CNI_CONTAINERID="$cid" CNI_NETNS="$netns" CNI_IFNAME=eth0 \
    CNI_PATH="$MLN_BIN" "$@" "$MLN_BIN/myelin-cni"
}
# A pod namespace; named with the run's id so the cluster cleanup removes it.
new_netns() { local n="mln-$MLN_ID-c$1"; ip netns add "$n"; echo "/var/run/netns/$n"; }
ipam_used() { mln_myelin status -o json | jq -r '.ipam_used // 0'; }
host_links() { mln_node ip -o link show type veth | wc -l; }
expect_code() {  # description, expected code, output
  local code
  code=$(jq -r '.code // empty' <<<"$3" 2>/dev/null || true)
  if [ "$code" = "$2" ] && [ -n "$(jq -r '.msg // empty' <<<"$3")" ]; then t_ok "$1 -> code $2 ($(jq -r .msg <<<"$3"))"
  else t_bad "$1 -> code $2" "got: $3"; fi
}

echo "-- VERSION"
out=$(cni VERSION x x </dev/null)
[ "$(jq -c '.supportedVersions' <<<"$out")" = '["0.3.1","0.4.0","1.0.0","1.1.0"]' ] && t_ok "VERSION lists 0.3.1 0.4.0 1.0.0 1.1.0" || t_bad "VERSION" "$out"

echo "-- ADD"
NS1=$(new_netns 1)
out=$(cni ADD c1 "$NS1" CNI_ARGS="K8S_POD_NAMESPACE=web;K8S_POD_NAME=front;IgnoreUnknown=1" <<<"$CONF")
IP1=$(jq -r '.ips[0].address' <<<"$out" | cut -d/ -f1)
jq -e '.cniVersion == "1.1.0" and (.ips[0].address|endswith("/32")) and .ips[0].gateway == "169.254.1.1"
       and .ips[0].interface == 1 and .interfaces[1].name == "eth0" and .interfaces[1].sandbox != null
       and (.interfaces[0].name|startswith("lxc")) and .routes[0].dst == "0.0.0.0/0"' <<<"$out" >/dev/null &&
  t_ok "ADD prints a 1.1.0 result ($IP1)" || t_bad "ADD result" "$out"
ip netns exec "${NS1##*/}" ip -4 -o addr show dev eth0 | grep -q "inet $IP1/32" && t_ok "pod has $IP1/32 on eth0" || t_bad "pod address"
ip netns exec "${NS1##*/}" ip route show default | grep -q "via 169.254.1.1 dev eth0" && t_ok "default route via 169.254.1.1" || t_bad "default route"
ip netns exec "${NS1##*/}" ip neigh show 169.254.1.1 | grep -q PERMANENT && t_ok "gateway neighbour is permanent (no ARP broadcast)" || t_bad "gateway neighbour"
mln_myelin endpoint list -o json | jq -e --arg ip "$IP1" '.endpoints[] | select(.ip == $ip and .pod_name == "front" and .pod_namespace == "web" and .state == "ready")' >/dev/null &&
  t_ok "agent has the endpoint ready with pod name and namespace" || t_bad "agent endpoint"
out040=$(cni ADD c040 "$(new_netns 040)" <<<"${CONF/1.1.0/0.4.0}")
jq -e '.cniVersion == "0.4.0" and .ips[0].version == "4"' <<<"$out040" >/dev/null && t_ok "ADD with cniVersion 0.4.0 prints ips[].version" || t_bad "0.4.0 result" "$out040"

echo "-- CHECK"
PREV=$(jq -c --argjson prev "$out" '. + {prevResult: $prev}' <<<"$CONF")
cni CHECK c1 "$NS1" <<<"$PREV" >/dev/null && t_ok "CHECK passes on a healthy attachment" || t_bad "CHECK healthy"
ip netns exec "${NS1##*/}" ip addr del "$IP1/32" dev eth0
out=$(cni CHECK c1 "$NS1" <<<"$PREV" || true)
expect_code "CHECK after the address was removed" 102 "$out"
out=$(cni CHECK c1 "$NS1" <<<"$CONF" || true)
expect_code "CHECK without prevResult" 7 "$out"

echo "-- DEL"
cni DEL c1 "$NS1" <<<"$CONF" >/dev/null && t_ok "DEL" || t_bad "DEL"
cni DEL c1 "$NS1" <<<"$CONF" >/dev/null && t_ok "DEL again (idempotent)" || t_bad "DEL twice"
mln_myelin endpoint list -o json | jq -e --arg ip "$IP1" '[.endpoints[]? | select(.ip == $ip)] | length == 0' >/dev/null &&
  t_ok "endpoint gone from the agent" || t_bad "endpoint gone"
NS2=$(new_netns 2)
cni ADD c2 "$NS2" <<<"$CONF" >/dev/null
ip netns del "${NS2##*/}"
cni DEL c2 "$NS2" <<<"$CONF" >/dev/null && t_ok "DEL after the netns is gone" || t_bad "DEL without netns"
cni DEL never-added "" <<<"$CONF" >/dev/null && t_ok "DEL of an unknown attachment, no CNI_NETNS" || t_bad "DEL unknown"

echo "-- STATUS"
cni STATUS "" "" <<<"$CONF" >/dev/null && t_ok "STATUS ok while the agent runs" || t_bad "STATUS"

echo "-- GC"
NS3=$(new_netns 3); NS4=$(new_netns 4)
cni ADD keep "$NS3" <<<"$CONF" >/dev/null
cni ADD drop "$NS4" <<<"$CONF" >/dev/null
ip netns exec "${NS4##*/}" ip link show eth0 >/dev/null 2>&1 && t_ok "before GC the stale attachment has its eth0" || t_bad "eth0 before GC"
GCCONF=$(jq -c '. + {"cni.dev/valid-attachments": [{"containerID":"keep","ifname":"eth0"},{"containerID":"c040","ifname":"eth0"}]}' <<<"$CONF")
cni GC "" "" <<<"$GCCONF" >/dev/null && t_ok "GC" || t_bad "GC"
eps=$(mln_myelin endpoint list -o json)
jq -e '[.endpoints[].container_id] | (index("keep") != null) and (index("drop") == null)' <<<"$eps" >/dev/null &&
  t_ok "GC removed the attachment not in the valid list, kept the others" || t_bad "GC result" "$eps"
ip netns exec "${NS4##*/}" ip link show eth0 >/dev/null 2>&1 && t_bad "GC deleted the stale veth" || t_ok "GC deleted the stale veth"

echo "-- 20 concurrent ADDs"
pids=()
for i in $(seq 1 20); do
  ns=$(new_netns "p$i")
  (cni ADD "par$i" "$ns" <<<"$CONF" >"$MLN_TMP/par$i.json") &
  pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
[ "$fails" -eq 0 ] && t_ok "20 parallel ADDs succeeded" || t_bad "20 parallel ADDs" "$fails failed"
uniq=$(cat "$MLN_TMP"/par*.json | jq -r '.ips[0].address' | sort -u | wc -l)
[ "$uniq" -eq 20 ] && t_ok "20 unique addresses" || t_bad "20 unique addresses" "got $uniq"

echo "-- bad input changes nothing"
used=$(ipam_used); links=$(host_links)
NSB=$(new_netns bad)
out=$(mln_node env -i PATH="$PATH" "$MLN_BIN/myelin-cni" <<<"$CONF" || true); expect_code "no CNI_COMMAND" 4 "$out"
out=$(cni BOGUS b1 "$NSB" <<<"$CONF" || true); expect_code "unknown CNI_COMMAND" 4 "$out"
out=$(cni ADD "" "$NSB" <<<"$CONF" || true); expect_code "missing CNI_CONTAINERID" 4 "$out"
grep -q CNI_CONTAINERID <<<"$out" && t_ok "error names CNI_CONTAINERID" || t_bad "error names the variable" "$out"
out=$(cni ADD b1 "" <<<"$CONF" || true); expect_code "missing CNI_NETNS" 4 "$out"
out=$(mln_node env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID=b1 CNI_NETNS="$NSB" "$MLN_BIN/myelin-cni" <<<"$CONF" || true)
expect_code "missing CNI_IFNAME" 4 "$out"
out=$(cni ADD b1 "$NSB" <<<'{"cniVersion":"1.1.0", "name": ' || true); expect_code "malformed JSON" 6 "$out"
out=$(cni ADD b1 "$NSB" <<<"${CONF/1.1.0/9.9.9}" || true); expect_code "unknown cniVersion" 1 "$out"
out=$(cni ADD b1 /var/run/netns/does-not-exist <<<"$CONF" || true); expect_code "bad netns path" 4 "$out"
out=$(cni ADD b1 /etc/hostname <<<"$CONF" || true); expect_code "netns path that is not a namespace" 4 "$out"
out=$(cni ADD b1 "$NSB" <<<'{"cniVersion":"1.1.0","name":"myelin","type":"myelin-cni"}' || true); expect_code "config without socket" 7 "$out"
out=$(cni ADD b1 "$NSB" <<<"$(jq -c '.mtu = 20' <<<"$CONF")" || true); expect_code "mtu out of range" 7 "$out"
out=$(cni ADD b1 "$NSB" CNI_ARGS="garbage" <<<"$CONF" || true); expect_code "malformed CNI_ARGS" 4 "$out"
[ "$(ipam_used)" = "$used" ] && t_ok "no address was allocated by bad input" || t_bad "IPAM unchanged" "$used -> $(ipam_used)"
[ "$(host_links)" = "$links" ] && t_ok "no interface was created by bad input" || t_bad "links unchanged" "$links -> $(host_links)"
ip netns exec "${NSB##*/}" ip link show eth0 >/dev/null 2>&1 && t_bad "pod netns untouched" || t_ok "pod netns untouched"
# The positive control of the three above: the same good ADD allocates, creates and moves.
cni ADD good "$NSB" <<<"$CONF" >/dev/null &&
  [ "$(ipam_used)" = $((used + 1)) ] && [ "$(host_links)" = $((links + 1)) ] && ip netns exec "${NSB##*/}" ip link show eth0 >/dev/null 2>&1 &&
  t_ok "a good ADD into the same netns: one address, one host veth, eth0 in the pod" || t_bad "good ADD after bad input" "used $used -> $(ipam_used), links $links -> $(host_links)"

echo "-- IPAM exhausted (a second agent with a /30)"
mln_agent_kill TERM
out=$(cni STATUS "" "" <<<"$CONF" || true); expect_code "STATUS with the agent stopped" 50 "$out"
rm -rf "$MLN_BPFFS"
MLN_CIDR=10.213.9.0/30 MLN_STATE="$MLN_TMP/state-small"
mln_agent_start
used0=$(ipam_used); links0=$(host_links)
cni ADD s1 "$(new_netns s1)" <<<"$CONF" >/dev/null
cni ADD s2 "$(new_netns s2)" <<<"$CONF" >/dev/null
used=$(ipam_used); links=$(host_links)
[ "$used" = $((used0 + 2)) ] && [ "$links" = $((links0 + 2)) ] && t_ok "the /30's two addresses are allocated, two veths created" ||
  t_bad "two ADDs in the /30" "used $used0 -> $used, links $links0 -> $links"
NSX=$(new_netns s3)
out=$(cni ADD s3 "$NSX" <<<"$CONF" || true); expect_code "ADD when the pod CIDR is full" 100 "$out"
[ "$(ipam_used)" = "$used" ] && [ "$(host_links)" = "$links" ] && t_ok "a full CIDR changes nothing" || t_bad "full CIDR changed state"

t_summary
