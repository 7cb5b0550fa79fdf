#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Lost events are first-class: with a one-page ring buffer and the agent
# frozen (SIGSTOP) while pods keep talking, the datapath must count every
# event it could not deliver, the agent must put exactly that many into the
# flow stream as lost-event records and into metrics, and nothing may go
# unaccounted: events sent = events processed, and sent + lost = all.
source "$(dirname "$0")/common.sh"

mln_init
MLN_NODE_NAME=overload-node
MLN_AGENT_ARGS=(--events-ring-size 4096 --metrics-addr 127.0.0.1:9962)
mln_node_up 10.218.0.0/24
mln_pod_add a
mln_pod_add b
B=${MLN_POD_IP[b]}
mln_pod_bg b timeout 60 nc -lk -p 8080 >"$MLN_TMP/received"
mln_wait_listen b 8080 tcp

kill -STOP "$MLN_AGENT_PID"
frozen() { [ "$(awk '{print $3}' "/proc/$MLN_AGENT_PID/stat")" = T ]; }
mln_retry 50 0.1 frozen && t_ok "the agent is frozen (state T)" || t_bad "the agent is frozen" "$(cat "/proc/$MLN_AGENT_PID/stat")"
made=0
for i in $(seq 1 40); do echo "x$i" | mln_pod a timeout 3 nc -N "$B" 8080 && made=$((made + 1)); done
frozen && t_ok "still frozen after the connections" || t_bad "still frozen after the connections"
kill -CONT "$MLN_AGENT_PID"
received() { [ "$(grep -c '^x[0-9]*$' "$MLN_TMP/received")" = 40 ]; }
[ "$made" = 40 ] && mln_retry 50 0.1 received &&
  t_ok "40 connections made while the agent was frozen, 40 payloads received (the datapath does not need it)" ||
  t_bad "40 connections while frozen" "$made of 40 connected, $(grep -c '^x[0-9]*$' "$MLN_TMP/received") payloads received"

status() { mln_myelin status -o json; }
caught_up() { status | jq -e '(.events_sent_datapath|tonumber) == (.events_processed|tonumber)' >/dev/null; }
mln_retry 100 0.1 caught_up && t_ok "agent processed every event the datapath sent" || t_bad "events sent = processed" "$(status)"
# The agent turns the datapath's loss counter into stream records every 0.5 s.
lost_in_stream() { mln_myelin observe --all -o json | jq -s '[.[] | select(.lost_events.source == "PERF_EVENT_RING_BUFFER") | .lost_events.num_events_lost | tonumber] | add // 0'; }
stream_has_loss() { [ "$(lost_in_stream)" -gt 0 ]; }
mln_retry 50 0.1 stream_has_loss || true
s=$(status)
lost=$(jq -r '.events_lost_datapath // 0' <<<"$s")
sent=$(jq -r '.events_sent_datapath // 0' <<<"$s")
[ "$lost" -gt 0 ] && t_ok "a one-page ring buffer overflowed: $lost events lost, $sent delivered" || t_bad "ring buffer overflowed" "$s"
stream_loss_is() { [ "$(lost_in_stream)" = "$1" ]; }
mln_retry 50 0.1 stream_loss_is "$lost" &&
  t_ok "lost-event records in the flow stream add up to exactly $lost" || t_bad "lost records add up" "stream says $(lost_in_stream), datapath $lost"
mln_myelin observe --all | grep -q "EVENTS LOST: PERF_EVENT_RING_BUFFER" && t_ok "compact output shows the loss" || t_bad "compact shows loss"
metric=$(mln_node curl -sf http://127.0.0.1:9962/metrics | awk '/^myelin_lost_events_total\{source="datapath_ringbuf"\}/{print $2}')
[ "$metric" = "$lost" ] && t_ok "myelin_lost_events_total{source=datapath_ringbuf} = $lost" || t_bad "lost metric" "metric=$metric lost=$lost"
flows=$(jq -r '.flows_seen // 0' <<<"$s")
[ "$flows" = "$sent" ] && t_ok "flows in the store = events sent ($sent): nothing unaccounted" || t_bad "flows = sent" "flows=$flows sent=$sent"

t_summary
