#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Metrics and flow logs from a live agent: a Prometheus scrape that
# `promtool check metrics` accepts, with forward/drop counters that follow
# real traffic; and a JSON-lines flow log that rotates by size.
source "$(dirname "$0")/common.sh"
command -v promtool >/dev/null || { echo "FAIL: promtool missing (apt-get install prometheus)"; exit 1; }

mln_init
MLN_NODE_NAME=obs-node
MLN_AGENT_ARGS=(--metrics-addr 127.0.0.1:9962 --flow-log "$MLN_TMP/flows.log" --flow-log-max-size 8K
                --flow-log-max-backups 2 --flow-log-deny '{"protocol":["udp"]}')
mln_node_up 10.216.0.0/24
mln_pod_add a
mln_pod_add b
B=${MLN_POD_IP[b]}
scrape() { mln_node curl -sf --max-time 5 http://127.0.0.1:9962/metrics; }
mln_retry 50 0.1 scrape >/dev/null || mln_die "no metrics endpoint"

# Traffic: 40 TCP connections (flows to log), UDP (denied from the log), one spoofed packet.
mln_pod_bg b timeout 30 nc -lk -p 7000 >/dev/null
mln_wait_listen b 7000 tcp
made=0
for i in $(seq 1 40); do echo hi | mln_pod a timeout 3 nc -N "$B" 7000 && made=$((made + 1)); done
[ "$made" = 40 ] && t_ok "40 TCP connections made" || t_bad "40 TCP connections made" "$made"
echo x | mln_pod a timeout 2 nc -u -w 1 "$B" 7001 || true  # nothing answers: the flow is what counts (below)
mln_pod a ip addr add 10.99.0.9/32 dev eth0
mln_pod a ping -c 1 -W 1 -I 10.99.0.9 "$B" >/dev/null 2>&1 || true

echo "-- metrics"
scrape >"$MLN_TMP/metrics.txt"
if promtool check metrics <"$MLN_TMP/metrics.txt" >"$MLN_TMP/promtool.out" 2>&1; then
  t_ok "promtool check metrics passes on a live scrape"
else
  t_bad "promtool check metrics" "$(cat "$MLN_TMP/promtool.out")"
fi
for m in myelin_forward_count_total myelin_forward_bytes_total myelin_drop_count_total myelin_drop_bytes_total \
         myelin_endpoint myelin_endpoint_regeneration_seconds_bucket myelin_policy myelin_policy_change_total \
         myelin_identity myelin_bpf_map_pressure myelin_bpf_map_ops_total myelin_conntrack_gc_runs_total \
         myelin_conntrack_gc_entries myelin_flows_processed_total myelin_lost_events_total myelin_k8s_events_total \
         myelin_build_info; do
  grep -q "^# TYPE $m \|^$m" "$MLN_TMP/metrics.txt" && t_ok "exports $m" || t_bad "exports $m"
done
fwd=$(awk '/^myelin_forward_count_total\{direction="EGRESS"\}/{print $2}' "$MLN_TMP/metrics.txt")
awk -v v="${fwd:-0}" 'BEGIN{exit !(v >= 200)}' && t_ok "forward counter follows traffic (EGRESS=$fwd)" || t_bad "forward counter" "EGRESS=$fwd"
grep -q 'myelin_drop_count_total{direction="EGRESS",reason="INVALID_SOURCE_IP"} 1' "$MLN_TMP/metrics.txt" &&
  t_ok "drop counter by reason" || t_bad "drop counter by reason" "$(grep myelin_drop_count "$MLN_TMP/metrics.txt")"
grep -q 'myelin_endpoint{state="ready"} 2' "$MLN_TMP/metrics.txt" && t_ok "endpoint gauge" || t_bad "endpoint gauge"
grep -q 'myelin_endpoint_regeneration_seconds_count{outcome="success"} 2' "$MLN_TMP/metrics.txt" &&
  t_ok "regeneration histogram counts both endpoints" || t_bad "regeneration histogram"
per_pod='^myelin_[a-z_]+\{[^}]*(pod|namespace|ip)='
grep -qE "$per_pod" <<<'myelin_drop_count_total{direction="EGRESS",pod="a"} 1' || t_bad "the per-pod label pattern matches a per-pod series"
if grep -E "$per_pod" "$MLN_TMP/metrics.txt"; then t_bad "no per-pod labels by default"; else t_ok "no per-pod labels by default"; fi

echo "-- flow log"
mln_retry 50 0.1 sh -c "ls '$MLN_TMP'/flows.log.1 >/dev/null 2>&1" && t_ok "flow log rotated at 8K" || t_bad "flow log rotated"
[ -e "$MLN_TMP/flows.log.2" ] && [ ! -e "$MLN_TMP/flows.log.3" ] && t_ok "at most 2 backups kept (both there)" || t_bad "backups bounded" "$(ls -la "$MLN_TMP"/flows.log*)"
cat "$MLN_TMP"/flows.log* >"$MLN_TMP/all.log"
if jq -e -s 'length > 5 and all(.flow.node_name == "obs-node" and (.flow.uuid|length) == 36)' "$MLN_TMP/all.log" >/dev/null; then
  t_ok "flow log lines are Hubble JSON ($(wc -l <"$MLN_TMP/all.log") lines)"
else t_bad "flow log lines are Hubble JSON"; fi
# The UDP flow exists (observe has it): its absence from the log is the deny filter's doing.
udp_seen() { mln_myelin observe --all -o json --protocol udp --to-port 7001 | grep -q .; }
mln_retry 50 0.1 udp_seen && jq -e -s 'map(select(.flow.l4.UDP)) | length == 0' "$MLN_TMP/all.log" >/dev/null &&
  t_ok "deny filter keeps UDP out (the UDP flow is in observe)" || t_bad "deny filter" "observe UDP: $(mln_myelin observe --all --protocol udp | head -3)"
big=0
for f in "$MLN_TMP"/flows.log*; do [ "$(stat -c %s "$f")" -le 8192 ] || big=$((big + 1)); done
[ "$big" -eq 0 ] && t_ok "every log file within 8K" || t_bad "every log file within 8K" "$big larger"

t_summary
