#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `myelin observe` end to end: allowed and dropped traffic between pods,
# then every filter flag and every output format against the live agent
# (filtering happens in the agent), --follow, and clear errors for bad input.
source "$(dirname "$0")/common.sh"

mln_init
MLN_NODE_NAME=observe-node
mln_node_up 10.217.0.0/24
mln_pod_add a ns-x
mln_pod_add b ns-x
mln_pod_add c ns-y
A=${MLN_POD_IP[a]} B=${MLN_POD_IP[b]} C=${MLN_POD_IP[c]}
B_ID=$(mln_myelin endpoint list -o json | jq -r '.endpoints[] | select(.pod_name=="b") | .identity')
C_ID=$(mln_myelin endpoint list -o json | jq -r '.endpoints[] | select(.pod_name=="c") | .identity')

mln_pod_bg b timeout 60 nc -lk -p 8080 >/dev/null
mln_wait_listen b 8080 tcp
echo hello | mln_pod a timeout 3 nc -N "$B" 8080
mln_pod_bg c timeout 60 nc -u -l -p 9090 >/dev/null
mln_wait_listen c 9090 udp
echo dgram | mln_pod a timeout 3 nc -u -w 1 "$C" 9090 || true
mln_pod c ping -q -c 1 -W 2 "$A" >/dev/null
mln_pod a ip addr add 10.99.7.7/32 dev eth0
mln_pod a ping -c 1 -W 1 -I 10.99.7.7 "$B" >/dev/null 2>&1 || true
mln_retry 50 0.1 sh -c "'$MLN_BIN/myelin' --socket '$MLN_SOCK' observe --all -o json --verdict DROPPED | grep -q INVALID_SOURCE_IP" ||
  mln_die "drop flow never arrived"

# f "description" 'jq predicate every line must satisfy' observe-flags...
f() {
  local what=$1 pred=$2; shift 2
  local out="$MLN_TMP/f.json"
  if ! mln_myelin observe --all -o json "$@" >"$out" 2>"$MLN_TMP/f.err"; then
    t_bad "$what" "observe $* failed: $(cat "$MLN_TMP/f.err")"; return
  fi
  if [ ! -s "$out" ]; then t_bad "$what" "observe $* returned nothing"; return; fi
  if jq -e -s "all(.flow | $pred)" "$out" >/dev/null; then t_ok "$what ($(wc -l <"$out") flows)"
  else t_bad "$what" "a flow of observe $* does not satisfy: $pred"; head -c 1500 "$out" >&2; fi
}
total=$(mln_myelin observe --all -o json | wc -l)

echo "-- filters ($total flows recorded)"
f "--pod ns-x/b (either side)" '.source.pod_name == "b" or .destination.pod_name == "b"' --pod ns-x/b
f "--from-pod ns-x/a" '.source.pod_name == "a"' --from-pod ns-x/a
f "--to-pod ns-y/c" '.destination.pod_name == "c"' --to-pod ns-y/c
f "--namespace ns-y" '.source.namespace == "ns-y" or .destination.namespace == "ns-y"' --namespace ns-y
f "--ip (either side)" ".IP.source == \"$C\" or .IP.destination == \"$C\"" --ip "$C"
f "--from-ip CIDR" '.IP.source == "10.99.7.7"' --from-ip 10.99.7.0/24
f "--to-ip" ".IP.destination == \"$B\"" --to-ip "$B"
f "--label" '[.source.labels[]?, .destination.labels[]?] | any(. == "k8s:io.kubernetes.pod.namespace=ns-y")' --label io.kubernetes.pod.namespace=ns-y
f "--from-label" '.source.labels | any(. == "k8s:io.kubernetes.pod.namespace=ns-y")' --from-label io.kubernetes.pod.namespace=ns-y
f "--identity" ".source.identity == $C_ID or .destination.identity == $C_ID" --identity "$C_ID"
f "--to-identity" ".destination.identity == $B_ID" --to-identity "$B_ID"
f "--port 9090" '.l4.UDP.destination_port == 9090 or .l4.UDP.source_port == 9090' --port 9090
f "--to-port 8080" '.l4.TCP.destination_port == 8080' --to-port 8080
f "--from-port 8080 (replies)" '.l4.TCP.source_port == 8080 and .is_reply == true' --from-port 8080
f "--verdict DROPPED" '.verdict == "DROPPED"' --verdict DROPPED
f "--verdict FORWARDED" '.verdict == "FORWARDED"' --verdict forwarded
f "--drop-reason-desc" '.drop_reason_desc == "INVALID_SOURCE_IP"' --drop-reason-desc INVALID_SOURCE_IP
f "--protocol udp" '.l4.UDP != null' --protocol udp
f "--protocol icmp" '.l4.ICMPv4 != null' --protocol icmp
f "--type drop" '.event_type.type == 1' --type drop
f "--type trace" '.event_type.type == 4' --type trace
f "--traffic-direction ingress" '.traffic_direction == "INGRESS"' --traffic-direction ingress
f "--tcp-flags SYN,ACK" '.l4.TCP.flags.SYN == true and .l4.TCP.flags.ACK == true' --tcp-flags SYN,ACK
f "--not --protocol tcp" '.l4.TCP == null' --not --protocol tcp
f "--not --verdict FORWARDED" '.verdict != "FORWARDED"' --not --verdict FORWARDED
f "two kinds AND: --to-pod ns-x/b --protocol tcp" '.destination.pod_name == "b" and .l4.TCP != null' --to-pod ns-x/b --protocol tcp
f "one kind OR: --protocol udp --protocol icmp" '.l4.UDP != null or .l4.ICMPv4 != null' --protocol udp --protocol icmp
f "--node-name glob" '.node_name == "observe-node"' --node-name 'observe-*'
f "--since 1h" 'true' --since 1h
n=$(mln_myelin observe --all -o json --until 2000-01-01T00:00:00Z | wc -l)
n_future=$(mln_myelin observe --all -o json --until "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" | wc -l)
[ "$n" -eq 0 ] && [ "$n_future" -gt 0 ] && t_ok "--until in the past: nothing (in an hour: $n_future flows)" || t_bad "--until in the past" "$n flows; $n_future until in an hour"

echo "-- counts"
[ "$(mln_myelin observe --last 3 -o json | wc -l)" -eq 3 ] && t_ok "--last 3" || t_bad "--last 3"
first=$(mln_myelin observe --first 1 -o json | jq -r .flow.time)
last=$(mln_myelin observe --last 1 -o json | jq -r .flow.time)
[ "$(date -d "$first" +%s%N)" -lt "$(date -d "$last" +%s%N)" ] && t_ok "--first 1 is older than --last 1" ||
  t_bad "--first/--last order" "$first vs $last"
[ "$(mln_myelin observe --all -o json | wc -l)" -ge "$total" ] && t_ok "--all returns everything" || t_bad "--all"

echo "-- outputs"
mln_myelin observe --all --to-port 8080 | grep -q "ns-x/a:[0-9]* (ID:[0-9]*) -> ns-x/b:8080 (ID:$B_ID) to-endpoint FORWARDED (TCP Flags: SYN)" &&
  t_ok "compact" || t_bad "compact" "$(mln_myelin observe --last 3)"
mln_myelin observe --all -o dict --verdict DROPPED | grep -q "DROP REASON: INVALID_SOURCE_IP" && t_ok "dict" || t_bad "dict"
mln_myelin observe --all -o table --protocol udp | head -1 | grep -q "^TIMESTAMP *SOURCE *DESTINATION" && t_ok "table" || t_bad "table"
mln_myelin observe --last 5 -o json | jq -e -s 'length == 5 and all(has("flow") and has("node_name") and has("time"))' >/dev/null &&
  t_ok "json: one GetFlowsResponse per line" || t_bad "json lines"

echo "-- follow"
"$MLN_BIN/myelin" --socket "$MLN_SOCK" observe -f -o json --to-port 7777 >"$MLN_TMP/follow.json" 2>&1 &
follower=$!
MLN_PIDS+=("$follower")
mln_pod_bg b timeout 20 nc -l -p 7777 >/dev/null
mln_wait_listen b 7777 tcp
echo late | mln_pod a timeout 3 nc -N "$B" 7777
mln_retry 50 0.1 grep -q '"destination_port":7777' "$MLN_TMP/follow.json" && t_ok "--follow streams a new flow" || t_bad "--follow"
jq -e -s 'all(.flow.l4.TCP.destination_port == 7777)' "$MLN_TMP/follow.json" >/dev/null && t_ok "--follow applies filters" || t_bad "--follow filters"
kill "$follower" 2>/dev/null || true

echo "-- bad input"
for bad in "--verdict MAYBE" "--port 99999" "--ip 300.1.1.1" "--since yesterday" "--frobnicate" "--not" "--type packet"; do
  # shellcheck disable=SC2086
  if err=$(mln_myelin observe $bad 2>&1); then t_bad "observe $bad is refused"
  else [ -n "$err" ] && t_ok "observe $bad -> $(head -1 <<<"$err")" || t_bad "observe $bad says why"; fi
done
mln_myelin observe -o yaml >/dev/null 2>&1 && t_bad "-o yaml refused" || t_ok "-o yaml refused"

t_summary
