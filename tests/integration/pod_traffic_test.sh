#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pods on one node talk through Myelin's datapath: ICMP, TCP and UDP between
# three pods, proven to have crossed the BPF programs (datapath counters,
# conntrack entries and flows), and the flows are what `myelin observe -o json`
# shows with the right addresses, ports, verdict and direction. A spoofed
# source address is dropped with a reason.
source "$(dirname "$0")/common.sh"

mln_init
MLN_NODE_NAME=itest-node
mln_node_up 10.211.0.0/24
mln_pod_add a ns-x
mln_pod_add b ns-x
mln_pod_add c ns-y
A=${MLN_POD_IP[a]} B=${MLN_POD_IP[b]} C=${MLN_POD_IP[c]}
echo "pods: a=$A b=$B c=$C"

echo "-- endpoints"
mln_myelin endpoint list -o json >"$MLN_TMP/eps.json"
t_jq "three endpoints are ready" '(.endpoints // []) | map(select(.state == "ready")) | length == 3' "$MLN_TMP/eps.json"

before=$(mln_myelin status -o json | jq '(.forward_packets_egress // 0 | tonumber)')

echo "-- ICMP"
t_check "a pings b" mln_pod a ping -q -c 3 -i 0.2 -W 2 "$B"
t_check "c pings a" mln_pod c ping -q -c 2 -i 0.2 -W 2 "$A"

echo "-- TCP"
mln_pod_bg b timeout 20 nc -l -p 8080 >"$MLN_TMP/tcp.out"
mln_wait_listen b 8080 tcp
echo "hello-over-tcp" | mln_pod a timeout 10 nc -N "$B" 8080
mln_retry 50 0.1 grep -q hello-over-tcp "$MLN_TMP/tcp.out" && t_ok "b received a's TCP payload" || t_bad "b received a's TCP payload"

echo "-- UDP"
mln_pod_bg c timeout 20 nc -u -l -p 9090 >"$MLN_TMP/udp.out"
mln_wait_listen c 9090 udp
echo "hello-over-udp" | mln_pod a timeout 3 nc -u -w 1 "$C" 9090 || true
mln_retry 50 0.1 grep -q hello-over-udp "$MLN_TMP/udp.out" && t_ok "c received a's UDP datagram" || t_bad "c received a's UDP datagram"

echo "-- a spoofed source is dropped"
mln_pod a ip addr add 10.99.99.99/32 dev eth0
mln_pod a ping -c 1 -W 1 -I 10.99.99.99 "$B" >/dev/null 2>&1 && t_bad "spoofed ping is not answered" || t_ok "spoofed ping is not answered"

echo "-- datapath counters"
mln_myelin status -o json >"$MLN_TMP/status.json"
after=$(jq '(.forward_packets_egress // 0 | tonumber)' "$MLN_TMP/status.json")
[ "$after" -ge $((before + 10)) ] && t_ok "datapath forwarded >= 10 more packets ($before -> $after)" ||
  t_bad "datapath forwarded >= 10 more packets" "before=$before after=$after"
t_jq "INVALID_SOURCE_IP drop counted" '.drops // [] | map(select(.reason == "INVALID_SOURCE_IP" and (.packets|tonumber) >= 1)) | length > 0' "$MLN_TMP/status.json"
t_jq "conntrack has entries" '(.conntrack_entries // 0 | tonumber) >= 3' "$MLN_TMP/status.json"

echo "-- flows"
mln_retry 30 0.1 sh -c "'$MLN_BIN/myelin' --socket '$MLN_SOCK' observe --all -o json > '$MLN_TMP/flows.json' && grep -q 9090 '$MLN_TMP/flows.json'" || true
t_jq "TCP SYN a->b:8080 FORWARDED EGRESS" \
  ".flow.IP.source == \"$A\" and .flow.IP.destination == \"$B\" and .flow.l4.TCP.destination_port == 8080 and .flow.l4.TCP.flags.SYN == true and .flow.verdict == \"FORWARDED\" and .flow.traffic_direction == \"EGRESS\" and .flow.is_reply == false and .flow.source.pod_name == \"a\" and .flow.source.namespace == \"ns-x\" and .flow.destination.pod_name == \"b\"" "$MLN_TMP/flows.json"
t_jq "TCP SYN-ACK b->a is a reply" \
  ".flow.IP.source == \"$B\" and .flow.IP.destination == \"$A\" and .flow.l4.TCP.source_port == 8080 and .flow.l4.TCP.flags.SYN == true and .flow.l4.TCP.flags.ACK == true and .flow.is_reply == true and .flow.traffic_direction == \"INGRESS\"" "$MLN_TMP/flows.json"
t_jq "UDP a->c:9090 FORWARDED EGRESS" \
  ".flow.IP.source == \"$A\" and .flow.IP.destination == \"$C\" and .flow.l4.UDP.destination_port == 9090 and .flow.verdict == \"FORWARDED\" and .flow.traffic_direction == \"EGRESS\"" "$MLN_TMP/flows.json"
t_jq "ICMP echo a->b" \
  ".flow.IP.source == \"$A\" and .flow.IP.destination == \"$B\" and .flow.l4.ICMPv4.type == 8 and .flow.verdict == \"FORWARDED\"" "$MLN_TMP/flows.json"
t_jq "flows carry Hubble's envelope (node_name, time, Type, event_type)" \
  '.node_name == "itest-node" and (.time|type) == "string" and .flow.Type == "L3_L4" and .flow.event_type.type == 4 and .flow.node_name == "itest-node"' "$MLN_TMP/flows.json"
t_jq "spoofed packet: DROPPED with INVALID_SOURCE_IP" \
  '.flow.IP.source == "10.99.99.99" and .flow.verdict == "DROPPED" and .flow.drop_reason_desc == "INVALID_SOURCE_IP" and .flow.event_type.type == 1' "$MLN_TMP/flows.json"

echo "-- observe filters run in the agent"
mln_myelin observe --all -o json --to-port 8080 >"$MLN_TMP/f8080.json"
if [ -s "$MLN_TMP/f8080.json" ] && jq -e -s 'all(.flow.l4.TCP.destination_port == 8080)' "$MLN_TMP/f8080.json" >/dev/null; then
  t_ok "--to-port 8080 returns only port-8080 flows"
else t_bad "--to-port 8080 returns only port-8080 flows"; fi
mln_myelin observe --all -o json --verdict DROPPED >"$MLN_TMP/fdrop.json"
if [ -s "$MLN_TMP/fdrop.json" ] && jq -e -s 'all(.flow.verdict == "DROPPED")' "$MLN_TMP/fdrop.json" >/dev/null; then
  t_ok "--verdict DROPPED returns only drops"
else t_bad "--verdict DROPPED returns only drops"; fi

t_summary
