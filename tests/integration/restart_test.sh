#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Restart safety: a TCP stream and a ping between two pods keep running while
# myelind is killed with SIGKILL and started again, with no lost packet. The
# new agent adopts the pinned maps, the attached programs and its state dir.
source "$(dirname "$0")/common.sh"

mln_init
MLN_NODE_NAME=restart-node
mln_node_up 10.212.0.0/24
mln_pod_add a
mln_pod_add b
A=${MLN_POD_IP[a]} B=${MLN_POD_IP[b]}
mln_myelin status -o json | jq -e '.adopted != true' >/dev/null && t_ok "first start created fresh maps" || t_bad "first start created fresh maps"

# Long-running traffic: a TCP stream (iperf3, rate-limited so the 2-core
# machine stays responsive) and a ping every 20 ms.
mln_pod_bg b iperf3 -s -1 -p 5201 >"$MLN_TMP/iperf-server.out" 2>&1
mln_wait_listen b 5201 tcp
mln_pod_bg a iperf3 -c "$B" -p 5201 -t 8 -b 200M -J --logfile "$MLN_TMP/iperf.json"
IPERF_PID=$MLN_LAST_PID
mln_pod_bg a ping -i 0.02 -c 350 -W 1 "$B" >"$MLN_TMP/ping.out"
PING_PID=$MLN_LAST_PID

# Kill the agent once traffic demonstrably flows.
mln_retry 100 0.05 grep -q "icmp_seq=20 " "$MLN_TMP/ping.out" || mln_die "ping never got going"
old_pid=$MLN_AGENT_PID
mln_agent_kill KILL
kill -0 "$old_pid" 2>/dev/null && t_bad "myelind is gone after SIGKILL" || t_ok "myelind is gone after SIGKILL"
seq_at_kill=$(grep -c "icmp_seq=" "$MLN_TMP/ping.out" || true)

# Traffic keeps flowing with no agent at all.
mln_retry 100 0.05 sh -c "[ \$(grep -c icmp_seq= '$MLN_TMP/ping.out') -ge $((seq_at_kill + 20)) ]" &&
  t_ok "ping replies keep coming while the agent is down" || t_bad "ping replies keep coming while the agent is down"

mln_agent_start
mln_myelin status -o json >"$MLN_TMP/status.json"
t_jq "restarted agent adopted the pinned datapath" '.adopted == true' "$MLN_TMP/status.json"
t_jq "restarted agent restored both endpoints" '(.endpoints // 0) == 2' "$MLN_TMP/status.json"

wait "$PING_PID" || true
wait "$IPERF_PID" && t_ok "iperf3 TCP stream completed across the restart" || t_bad "iperf3 TCP stream completed across the restart"
loss=$(grep -oE '[0-9.]+% packet loss' "$MLN_TMP/ping.out" | cut -d% -f1)
[ "$loss" = "0" ] && t_ok "no ping lost across the restart (350 sent)" || t_bad "no ping lost across the restart" "loss=$loss%: $(tail -n 2 "$MLN_TMP/ping.out")"
sent=$(jq '.end.sum_sent.bytes // 0' "$MLN_TMP/iperf.json")
errs=$(jq -r '.error // ""' "$MLN_TMP/iperf.json")
[ "$sent" -gt 0 ] && [ -z "$errs" ] && t_ok "iperf3 sent $sent bytes without error" || t_bad "iperf3 sent bytes without error" "sent=$sent error=$errs"

# New connections work with the new agent, and it sees them.
t_check "a still reaches b after the restart" mln_pod a ping -c 2 -i 0.2 -W 2 "$B"
mln_myelin observe --all -o json --from-ip "$A" >"$MLN_TMP/flows.json"
t_jq "the new agent records flows" ".flow.IP.source == \"$A\"" "$MLN_TMP/flows.json"

t_summary
