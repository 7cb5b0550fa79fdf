#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A flow log that cannot be written (here /dev/full: every write is ENOSPC)
# is reported and counted, and never slows or stops pod traffic.
source "$(dirname "$0")/common.sh"

mln_init
MLN_NODE_NAME=fulldisk-node
MLN_AGENT_ARGS=(--flow-log /dev/full --metrics-addr 127.0.0.1:9962)
mln_node_up 10.219.0.0/24
mln_pod_add a
mln_pod_add b
t_check "pods talk while the flow log fails" mln_pod a ping -q -c 5 -i 0.1 -W 2 "${MLN_POD_IP[b]}"
errors() { mln_node curl -sf http://127.0.0.1:9962/metrics | awk '/^myelin_flow_log_errors_total /{print $2}'; }
has_errors() { [ "$(errors)" -gt 0 ] 2>/dev/null; }
mln_retry 50 0.1 has_errors && t_ok "myelin_flow_log_errors_total counts the failed writes ($(errors))" || t_bad "flow log errors counted"
grep -q "ERROR flowlog: writing /dev/full: No space left on device" "$MLN_AGENT_LOG" && t_ok "the agent log says why" ||
  t_bad "the agent log says why" "$(grep flowlog "$MLN_AGENT_LOG")"
mln_myelin observe --last 1 -o json | jq -e '.flow' >/dev/null && t_ok "flows are still recorded for observe" || t_bad "observe still works"
t_summary
