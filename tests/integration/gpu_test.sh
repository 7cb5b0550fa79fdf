#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# GPU visibility with uprobes, on a machine without a GPU: stand-in CUDA
# libraries (build/gpu-standin: libcudart.so.12 and libcuda.so.1 with the
# real exported names and signatures) and a workload with known numbers, run
# inside a pod. myelind --gpu-libs probes the libraries; the counters per
# process must match exactly and carry the pod; metrics pass promtool.
source "$(dirname "$0")/common.sh"

mln_init
GPU="$(cd "$MLN_BIN/.." && pwd)/gpu-standin"
[ -x "$GPU/gpu_app" ] || mln_die "$GPU/gpu_app is missing: build first"
MLN_AGENT_ARGS=(--gpu-libs "$GPU/libcudart.so.12,$GPU/libcuda.so.1" --metrics-addr 127.0.0.1:9967)
mln_node_up 10.234.0.0/24
mln_pod_add trainer ml trainer

mln_myelin gpu list -o json | jq -e '(.attached | length) == 9' >/dev/null &&
  t_ok "9 CUDA entry points probed in the two libraries" || t_bad "attached" "$(mln_myelin gpu list -o json)"

# The workload runs in the pod and waits on stdin while we read its counters.
# exec: APP_PID is gpu_app itself (ip netns exec execs it), not a subshell
# that the cleanup would end while gpu_app lives on.
coproc APP { exec ip netns exec "${MLN_POD_NETNS[trainer]}" "$GPU/gpu_app"; }
APP_RUNNING=$APP_PID  # bash unsets APP_PID once the coprocess ends
APP_IN=${APP[1]}
MLN_PIDS+=("$APP_RUNNING")
read -r -t 20 line <&"${APP[0]}" || true
[ "$line" = done ] || mln_die "the workload did not run: '$line'"
mine() { mln_myelin gpu list -o json | jq -c '.processes[] | select(.binary | endswith("gpu_app"))'; }
got=$(mine)
jq -e '.pod_namespace == "ml" and .pod_name == "trainer"' <<<"$got" >/dev/null && t_ok "the process is attributed to pod ml/trainer" || t_bad "pod" "$got"
jq -e '.calls.cudaMalloc == "3" and .calls.cudaFree == "3" and .calls.cudaMemcpy == "2" and .calls.cudaMemcpyAsync == "1"
       and .calls.cudaLaunchKernel == "5" and .calls.cuLaunchKernel == "2" and .calls.cuMemAlloc_v2 == "1"
       and .calls.cuMemcpyHtoD_v2 == "1" and .calls.cuMemcpyDtoH_v2 == "1"' <<<"$got" >/dev/null &&
  t_ok "every call counted exactly, per function" || t_bad "calls" "$got"
jq -e '.bytes_allocated == "3211264" and .bytes_copied == "9060" and .kernel_launches == "7"' <<<"$got" >/dev/null &&
  t_ok "bytes allocated (3 MiB + 64 KiB), copied (8192 + 100 + 512 + 256) and launches (7)" || t_bad "bytes" "$got"
echo >&"$APP_IN" 2>/dev/null || true
wait "$APP_RUNNING" 2>/dev/null || true
mln_myelin gpu list | grep -q "gpu_app .*ml/trainer" && t_ok "table output names the pod (also after the process exited)" || t_bad "table" "$(mln_myelin gpu list)"
scrape=$(mln_node curl -sf --max-time 5 http://127.0.0.1:9967/metrics)
grep -qE '^myelin_gpu_kernel_launches_total 7' <<<"$scrape" && grep -qE '^myelin_gpu_calls_total\{function="cudaMalloc"\} 3' <<<"$scrape" &&
  t_ok "node metrics: calls per function, launches" || t_bad "metrics" "$(grep gpu <<<"$scrape")"
promtool check metrics <<<"$scrape" >/dev/null 2>&1 && t_ok "promtool check metrics passes" || t_bad "promtool" "$(promtool check metrics <<<"$scrape" 2>&1 | head -3)"

t_summary
