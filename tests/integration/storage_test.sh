#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Storage visibility: direct (O_DIRECT) writes of known size by dd inside a
# pod go to the machine's disk; myelind's block probes count them for dd,
# on that device, attributed to the pod, with a latency histogram; the
# per-device metrics pass promtool.
source "$(dirname "$0")/common.sh"

mln_init
W=$(mktemp -d /var/tmp/myelin-storage-XXXXXX)   # on a real block device (not tmpfs)
mln_at_exit 'rm -rf "$W"'
# The disk that holds $W, from the file's own device number (df guesses from
# the mount table, which a mount stacked on / fools).
DEV=""
sysdev=/sys/dev/block/$(stat -c '%Hd:%Ld' "$W")
if [ -e "$sysdev" ]; then
  DEV=$(basename "$(readlink -f "$sysdev")")
  [ -e "$sysdev/partition" ] && DEV=$(basename "$(dirname "$(readlink -f "$sysdev")")")  # a partition: its disk
fi
[ -n "$DEV" ] || { echo "SKIP: $W is not on a block device"; exit 0; }
MLN_AGENT_ARGS=(--metrics-addr 127.0.0.1:9968)
mln_node_up 10.235.0.0/24
mln_pod_add writer batch writer

mln_pod writer dd if=/dev/zero of="$W/data" bs=64k count=64 oflag=direct status=none
dd_entry() { mln_myelin storage list -o json | jq -c '.entries[] | select(.binary | endswith("/dd"))'; }
written() { dd_entry | jq -e -s 'map(.bytes | tonumber) | add >= 4194304' >/dev/null 2>&1; }
mln_retry 50 0.1 written && t_ok "dd's 4 MiB of direct writes are counted for dd" || t_bad "bytes" "$(mln_myelin storage list)"
e=$(dd_entry | head -1)
jq -e ".device == \"$DEV\"" <<<"$e" >/dev/null && t_ok "on the device that holds the file ($DEV)" || t_bad "device" "$e"
jq -e '.pod_namespace == "batch" and .pod_name == "writer"' <<<"$e" >/dev/null && t_ok "attributed to pod batch/writer" || t_bad "pod" "$e"
jq -e '(.writes | tonumber) >= 1 and (.ios | tonumber) == (.writes | tonumber) + (.reads // "0" | tonumber) and (.latency_p99_us | tonumber) >= (.latency_p50_us | tonumber) and (.latency_p50_us | tonumber) > 0' <<<"$e" >/dev/null &&
  t_ok "writes counted, with latency p50 <= p99" || t_bad "latency" "$e"
mln_myelin storage list | grep -q "^$DEV .*dd .*batch/writer" && t_ok "table output" || t_bad "table" "$(mln_myelin storage list)"
scrape=$(mln_node curl -sf --max-time 5 http://127.0.0.1:9968/metrics)
grep -qE "^myelin_block_io_latency_seconds_count\{device=\"$DEV\"\} [1-9]" <<<"$scrape" &&
  t_ok "per-device latency histogram in the metrics" || t_bad "metrics" "$(grep block_io <<<"$scrape" | head -3)"
promtool check metrics <<<"$scrape" >/dev/null 2>&1 && t_ok "promtool check metrics passes" || t_bad "promtool" "$(promtool check metrics <<<"$scrape" 2>&1 | head -3)"

t_summary
