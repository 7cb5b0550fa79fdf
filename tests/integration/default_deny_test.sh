#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Default deny end to end with raw packets (issue 9, section 2). Namespace
# "locked" (pods s, t) has a NetworkPolicy denying all ingress and egress;
# namespace "open" (pods o, u) has none; a "world" namespace sits behind
# the node. A raw-socket sender sends every ICMP type and stray TCP segments
# (no SYN, no connection), each tagged; a raw receiver on the target pod's
# interface records what arrives. Checked:
#   - nothing crosses the default deny, pod to pod (from_container) or from
#     the world (to_container); each packet is a drop flow in `myelin
#     observe` with its reason, and the drop counters (status, metrics) move;
#   - positive controls in the same run: the same packets reach the
#     unrestricted pod (errors only when they quote a connection that is
#     tracked), and reach t once an allow policy is in place;
#   - ICMP errors about a tracked connection cross the deny as RELATED.
source "$(dirname "$0")/common.sh"
command -v python3 >/dev/null || { echo "FAIL: python3 missing"; exit 1; }
RAW="$(cd "$(dirname "$0")" && pwd)/raw_packets.py"

mln_init
MANIFESTS="$MLN_TMP/manifests"
mkdir -p "$MANIFESTS"
{
  for ns in locked open; do printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {ns: %s}\n---\n' "$ns" "$ns"; done
  for p in locked/s locked/t open/o open/u; do
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {app: %s}\n---\n' "${p#*/}" "${p%/*}" "${p#*/}"
  done
} >"$MANIFESTS/00-cluster.yaml"
cat >"$MANIFESTS/10-deny-all.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: locked}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
EOF
MLN_NODE_NAME=deny-node
MLN_AGENT_ARGS=(--manifests "$MANIFESTS" --metrics-addr 127.0.0.1:9963)
mln_node_up 10.231.0.0/24
for p in locked/s locked/t open/o open/u; do mln_pod_add "${p#*/}" "${p%/*}" "${p#*/}"; done
S=${MLN_POD_IP[s]} T=${MLN_POD_IP[t]} O=${MLN_POD_IP[o]} U=${MLN_POD_IP[u]}
# The world: a namespace routed through the node (192.168.78.10).
WORLD="mln-$MLN_ID-world" W=192.168.78.10
ip netns add "$WORLD"
ip link add "mlw$MLN_ID" netns "$MLN_NODE" type veth peer name eth0 netns "$WORLD"
mln_node ip addr add 192.168.78.1/24 dev "mlw$MLN_ID"
mln_node ip link set "mlw$MLN_ID" up
mln_node sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$WORLD" sh -c "ip link set lo up && ip link set eth0 up && ip addr add $W/24 dev eth0 &&
  ip route add 10.231.0.0/24 via 192.168.78.1"

ep_id() { mln_myelin endpoint list -o json | jq -r ".endpoints[] | select(.pod_name==\"$1\") | .id"; }
# enforced POD: both directions of the pod's policy are in force in the datapath.
enforced() { mln_myelin endpoint get "$(ep_id "$1")" -o json | jq -e '.policy.ingress_enforced and .policy.egress_enforced' >/dev/null; }
mln_retry 100 0.1 enforced s || mln_die "deny-all never took effect on s"
mln_retry 100 0.1 enforced t || mln_die "deny-all never took effect on t"
enforced u && mln_die "u is in namespace open: nothing may select it"

netns_of() { if [ "$1" = world ]; then echo "$WORLD"; else echo "${MLN_POD_NETNS[$1]}"; fi; }
in_ns() { local ns; ns=$(netns_of "$1"); shift; ip netns exec "$ns" "$@"; }
ALL=$(python3 "$RAW" cases) ERRORS=$(python3 "$RAW" cases --only errors) OTHERS=$(python3 "$RAW" cases --only others)
N_ALL=$(grep -c . <<<"$ALL") N_ERRORS=$(grep -c . <<<"$ERRORS") N_OTHERS=$(grep -c . <<<"$OTHERS")
suffix() { [ -n "$1" ] && sed "s/\$/ $2/" <<<"$1"; }   # suffix LINES TEXT
# drop_flows SRC DST SINCE: "case REASON DIRECTION" for each drop flow between the two addresses since then.
drop_flows() {
  mln_myelin observe --all -o json --verdict DROPPED --from-ip "$1" --to-ip "$2" --since "$3" | jq -r '.flow |
    (if .l4.ICMPv4 then "icmp:\(.l4.ICMPv4.type // 0):\(.l4.ICMPv4.code // 0)"
     elif .l4.TCP then "tcp:" + ([.l4.TCP.flags // {} | to_entries[] | select(.value) | .key] | sort |
                                 if length == 0 then "none" else join("|") end)
     else "other" end) + " " + .drop_reason_desc + " " + .traffic_direction' | sort
}
BASE=0
# step NAME FROM TO SRC DST ONLY QUOTE ARRIVE DROPS: FROM sends the cases (ONLY: all|errors|others,
# errors quoting the UDP datagram QUOTE) to DST; exactly ARRIVE reaches TO, exactly DROPS are drop flows.
step() {
  local name=$1 from=$2 to=$3 src=$4 dst=$5 only=$6 quote=$7 arrive=$8 drops=$9
  BASE=$((BASE + 100))
  local rx="$MLN_TMP/rx-$BASE" since n_arrive n_drops
  since=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
  : >"$rx.txt"
  # Started directly (not through a function): $! is the receiver itself, which `ip netns exec` becomes.
  ip netns exec "$(netns_of "$to")" python3 "$RAW" receive --src "$src" --id-base "$BASE" --out "$rx.txt" --ready "$rx.ready" &
  local pid=$!
  MLN_PIDS+=("$pid")
  mln_retry 100 0.05 test -s "$rx.ready" || mln_die "$name: the receiver in $to did not start"
  in_ns "$from" python3 "$RAW" send --dst "$dst" --id-base "$BASE" --only "$only" --quote "$quote" >"$rx.sent"
  n_arrive=$(grep -c . <<<"$arrive" || true) n_drops=$(grep -c . <<<"$drops" || true)
  # Bounded wait until every expected packet arrived and every expected drop is a flow: a packet
  # that crosses where it must not leaves a drop missing, one dropped where it must cross an arrival.
  settled() { [ "$(grep -c . "$rx.txt")" -ge "$n_arrive" ] && [ "$(drop_flows "$src" "$dst" "$since" | grep -c .)" -ge "$n_drops" ]; }
  mln_retry 100 0.1 settled || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  kill -0 "$pid" 2>/dev/null && t_bad "$name: the receiver is still running"
  local got_arrive got_drops
  got_arrive=$(sort "$rx.txt") got_drops=$(drop_flows "$src" "$dst" "$since")
  [ "$(grep -c . "$rx.sent")" -eq "$(python3 "$RAW" cases --only "$only" | grep -c .)" ] || t_bad "$name: not every case was sent"
  if [ "$got_arrive" = "$(sort <<<"$arrive")" ]; then t_ok "$name: $n_arrive of $(grep -c . "$rx.sent") packets arrived, as they must"
  else t_bad "$name: arrivals" "expected [$(tr '\n' ' ' <<<"$arrive")], got [$(tr '\n' ' ' <<<"$got_arrive")]"; fi
  if [ "$got_drops" = "$(sort <<<"$drops")" ]; then t_ok "$name: $n_drops drop flows with their reasons"
  else t_bad "$name: drop flows" "$(diff <(sort <<<"$drops") <(echo "$got_drops") | grep '^[<>]' | head -20 | tr '\n' ';')"; fi
}
drop_counter() {  # REASON DIRECTION: packets in `myelin status`
  mln_myelin status -o json | jq -r "[.drops[]? | select(.reason==\"$1\" and .direction==\"$2\") | .packets | tonumber] | add // 0"
}
DENIED=POLICY_DENIED UNRELATED=CT_CANNOT_CREATE_ENTRY_FROM_PACKET
before_denied_eg=$(drop_counter $DENIED EGRESS) before_denied_in=$(drop_counter $DENIED INGRESS)
before_unrel_eg=$(drop_counter $UNRELATED EGRESS) before_unrel_in=$(drop_counter $UNRELATED INGRESS)

echo "-- default deny in namespace locked"
step "s -> t (pod to pod, from_container)" s t "$S" "$T" all "$T:5000-$S:6000" "" \
  "$(suffix "$OTHERS" "$DENIED EGRESS"; suffix "$ERRORS" "$UNRELATED EGRESS")"
step "world -> t (through the node, to_container)" world t "$W" "$T" all "$T:5000-$W:6000" "" \
  "$(suffix "$OTHERS" "$DENIED INGRESS"; suffix "$ERRORS" "$UNRELATED INGRESS")"

echo "-- positive controls: the unrestricted pod u"
step "o -> u: everything but errors about nothing" o u "$O" "$U" all "$U:5002-$O:6002" "$OTHERS" \
  "$(suffix "$ERRORS" "$UNRELATED EGRESS")"
step "world -> u: everything but errors about nothing" world u "$W" "$U" all "$U:5003-$W:6003" "$OTHERS" \
  "$(suffix "$ERRORS" "$UNRELATED INGRESS")"
mln_pod u python3 "$RAW" udp --dst "$O" --sport 5000 --dport 6000
step "o -> u: errors about u's datagram to o are RELATED" o u "$O" "$U" errors "$U:5000-$O:6000" "$ERRORS" ""
mln_pod u python3 "$RAW" udp --dst "$W" --sport 5004 --dport 6004
step "world -> u: errors about u's datagram to the world are RELATED" world u "$W" "$U" errors "$U:5004-$W:6004" "$ERRORS" ""

echo "-- an allow policy: s may reach t"
before=$(mln_myelin status -o json | jq -r '.policy_revision // 0 | tonumber')
cat >"$MANIFESTS/.allow.tmp" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: s-to-t, namespace: locked}
spec:
  podSelector: {matchLabels: {app: s}}
  policyTypes: [Egress]
  egress:
  - to:
    - podSelector: {matchLabels: {app: t}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: t-from-s, namespace: locked}
spec:
  podSelector: {matchLabels: {app: t}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: s}}
EOF
mv "$MANIFESTS/.allow.tmp" "$MANIFESTS/20-allow-s-to-t.yaml"
allowed_in() { mln_myelin endpoint get "$(ep_id t)" -o json | jq -e '[.policy.rules[]? | select(test("^ingress allow"))] | length > 0' >/dev/null; }
allowed_out() { mln_myelin endpoint get "$(ep_id s)" -o json | jq -e '[.policy.rules[]? | select(test("^egress allow"))] | length > 0' >/dev/null; }
mln_retry 100 0.1 allowed_in || mln_die "the allow policy never reached t (revision was $before)"
mln_retry 100 0.1 allowed_out || mln_die "the allow policy never reached s"
step "s -> t allowed: everything but errors about nothing" s t "$S" "$T" all "$T:5005-$S:6005" "$OTHERS" \
  "$(suffix "$ERRORS" "$UNRELATED EGRESS")"
mln_pod s python3 "$RAW" udp --dst "$T" --sport 5006 --dport 6006
step "t -> s: errors about s's datagram are RELATED through t's and s's deny; nothing else is" t s "$T" "$S" all \
  "$S:5006-$T:6006" "$ERRORS" "$(suffix "$OTHERS" "$DENIED EGRESS")"
related=$(mln_myelin observe --all -o json --from-ip "$T" --to-ip "$S" --verdict FORWARDED | jq -s '[.[] | select(.flow.trace_reason == "RELATED")] | length')
[ "$related" -ge "$N_ERRORS" ] && t_ok "observe shows the $related errors t sent s as RELATED" || t_bad "RELATED flows" "$related, want >= $N_ERRORS"

echo "-- drop counters"
counted() {  # NAME REASON DIRECTION BEFORE MIN-DELTA
  local now; now=$(drop_counter "$2" "$3")
  [ $((now - $4)) -ge "$5" ] && t_ok "$1: $2/$3 counted $((now - $4)) (at least $5)" || t_bad "$1" "$2/$3 moved by $((now - $4)), want >= $5"
}
counted "status" $DENIED EGRESS "$before_denied_eg" $((2 * N_OTHERS))
counted "status" $DENIED INGRESS "$before_denied_in" "$N_OTHERS"
counted "status" $UNRELATED EGRESS "$before_unrel_eg" $((3 * N_ERRORS))
counted "status" $UNRELATED INGRESS "$before_unrel_in" $((2 * N_ERRORS))
# scraped REASON DIRECTION: the drop counter in a Prometheus scrape.
scraped() {
  mln_node curl -sf --max-time 5 http://127.0.0.1:9963/metrics |
    awk -v k="myelin_drop_count_total{direction=\"$2\",reason=\"$1\"}" '$1 == k {print $2}'
}
for rd in "$DENIED EGRESS" "$DENIED INGRESS" "$UNRELATED EGRESS" "$UNRELATED INGRESS"; do
  read -r reason dir <<<"$rd"
  same() { [ "$(scraped "$reason" "$dir")" = "$(drop_counter "$reason" "$dir")" ]; }  # retried: a late reply may move one
  if mln_retry 20 0.1 same; then t_ok "metrics: myelin_drop_count_total $reason/$dir = $(scraped "$reason" "$dir"), as status says"
  else t_bad "metrics $reason/$dir" "scrape says $(scraped "$reason" "$dir"), status $(drop_counter "$reason" "$dir")"; fi
done

t_summary
