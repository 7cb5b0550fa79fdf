#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A freshly booted machine: bpffs, tracefs (also /sys/kernel/debug/tracing),
# debugfs and securityfs not mounted. The test re-runs itself in a private
# mount namespace (unshare --mount --propagation private), unmounts them
# there (and checks with findmnt that they are gone), then runs the demo
# (CI=1) and the smoke path of every agent flag that starts a probe, each on
# a machine made fresh again: --probe, --network-events, --storage-events,
# --gpu-libs, --events-log and a TracingPolicy in the manifests directory.
# Each smoke: the agent logs the mounts it made, is ready, reports its probe
# attached, and one real event arrives from it. Also: where a mount is
# refused, the error names it. Outside, afterwards, the original mounts are
# the same ones, and no namespace of the run is left.
#
#   fresh_machine_test.sh              # the whole test (outer)
#   fresh_machine_test.sh smoke NAME   # one smoke, as the inner runner calls it
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_assert.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (mount namespaces, BPF)"; exit 0; }
FS_TYPES=bpf,tracefs,debugfs,securityfs
SMOKES=(probe mount_refused demo network_events storage_events gpu_libs events_log tracing_policy)

# --- one smoke (its own cluster, cleaned up on exit) ---------------------------------
if [ "${1:-}" = smoke ]; then
  source "$here/../../scripts/lib/cluster.sh"
  smoke=$2
  # The agent said it mounted what the fresh machine lacked.
  mounted() {
    local fs
    for fs in "$@"; do
      grep -q "mounts: mounted $fs on " "$MLN_AGENT_LOG" && t_ok "$smoke: agent log: mounted $fs" ||
        t_bad "$smoke: agent log: mounted $fs" "$(grep -E ' (mounts|datapath|myelind): ' "$MLN_AGENT_LOG" | head -5)"
    done
  }
  logged() { grep -q "$2" "$MLN_AGENT_LOG" && t_ok "$smoke: $1" || t_bad "$smoke: $1" "$(head -c 3000 "$MLN_AGENT_LOG")"; }
  case $smoke in
    probe)
      out=$("$MLN_BIN/myelind" --probe 2>&1) || t_bad "probe: myelind --probe exits 0" "$out"
      for fs in bpffs tracefs securityfs; do
        grep -q "mounts: mounted $fs on " <<<"$out" && grep -qE "^$fs: yes \(.*mounted by the agent" <<<"$out" &&
          t_ok "probe: $fs mounted and reported" || t_bad "probe: $fs mounted and reported" "$out"
      done
      # The BPF-LSM row read the active LSMs from the securityfs just mounted (not "cannot be read").
      grep -E '^bpf-lsm: ' <<<"$out" | grep -qE 'active LSMs|bpf is not among|do not load' &&
        t_ok "probe: bpf-lsm decided from securityfs" || t_bad "probe: bpf-lsm decided from securityfs" "$(grep bpf-lsm <<<"$out")"
      ;;
    mount_refused)
      # Where a mount is refused (a user namespace may not mount tracefs,
      # securityfs or bpffs; tmpfs stands where they would be): the error
      # names the mount, an optional one turns its features off with it.
      in_userns() { unshare --user --map-root-user --mount --propagation private bash -c "$1"; }
      mount -t bpf -o mode=0700 bpf /sys/fs/bpf  # the one required: there (the smoke runs in the private mount namespace)
      out=$(in_userns "mount -t tmpfs none /sys/kernel/tracing && mount -t tmpfs none /sys/kernel/security && '$MLN_BIN/myelind' --probe" 2>&1) ||
        t_bad "mount_refused: --probe runs without tracefs and securityfs" "$out"
      grep -q "^tracefs: no (mount tracefs on /sys/kernel/tracing: Operation not permitted; off: --network-events" <<<"$out" &&
        grep -q "^securityfs: no (mount securityfs on /sys/kernel/security: Operation not permitted; off: the bpf-lsm probe" <<<"$out" &&
        grep -q "^bpf-lsm: no (the active LSMs cannot be read: mount securityfs on /sys/kernel/security: Operation not permitted)" <<<"$out" &&
        t_ok "mount_refused: optional mounts refused: their rows and bpf-lsm say why" || t_bad "mount_refused: optional mounts refused" "$out"
      if in_userns "mount -t bpf bpf /sys/fs/bpf" 2>/dev/null; then
        echo "  skip mount_refused: this kernel lets a user namespace mount bpffs (not counted as passed)"
      else
        rc=0; out=$(in_userns "mount -t tmpfs none /sys/fs/bpf && '$MLN_BIN/myelind' --probe" 2>&1) || rc=$?
        [ "$rc" -ne 0 ] && grep -q "ERROR myelind: mount bpffs on /sys/fs/bpf: Operation not permitted (needed by the pod datapath's pinned maps)" <<<"$out" &&
          t_ok "mount_refused: bpffs refused: the agent exits naming the mount" || t_bad "mount_refused: bpffs refused" "rc=$rc: $out"
      fi
      ;;
    demo)
      out="$(mktemp /tmp/myelin-fresh-demo.XXXXXX)"
      trap 'rm -f "$out"' EXIT
      # MLN_ID: the demo's namespaces carry this smoke's id (the outer test checks none is left).
      if CI=1 MLN_ID=$$ MLN_BIN="$MLN_BIN" "$here/../../scripts/demo.sh" </dev/null >"$out" 2>&1; then t_ok "demo: CI=1 scripts/demo.sh exits 0"; else
        t_bad "demo: CI=1 scripts/demo.sh exits 0" "$(tail -n 40 "$out")"; fi
      sed -e 's/\x1b\[[0-9;]*m//g' -i "$out"
      for fs in bpffs tracefs securityfs; do
        grep -qE "^ +$fs +yes +/sys/[a-z/]+, mounted by the agent" "$out" && t_ok "demo: status: $fs mounted by the agent" ||
          t_bad "demo: status: $fs mounted by the agent" "$(grep -A20 'Kernel features' "$out" | head -20)"
      done
      grep -qE '^(🔌|.*) accept +shop/backend ' "$out" && t_ok "demo: a TCP accept seen by the network sensor" ||
        t_bad "demo: a TCP accept seen by the network sensor" "$(grep -A6 'Network per process' "$out")"
      grep -q "cat exited with 137" "$out" && t_ok "demo: the TracingPolicy's Sigkill killed cat" ||
        t_bad "demo: the TracingPolicy's Sigkill killed cat" "$(grep -B2 -A6 'kill cat' "$out")"
      grep -q "frontend.log" "$out" && t_ok "demo: the namespaced write policy reported shop's write" ||
        t_bad "demo: the namespaced write policy reported shop's write" "$(grep -A6 'TracingPolicyNamespaced' "$out")"
      ;;
    network_events)
      mln_init
      MLN_AGENT_ARGS=(--network-events true --metrics-addr "")
      mln_node_up 10.241.0.0/24
      mounted bpffs tracefs securityfs
      logged "TCP sensor reported attached" "network: TCP sensor attached .* found in /sys/kernel/tracing"
      mln_pod_add a web client
      mln_pod_add b web server
      B=${MLN_POD_IP[b]}
      mln_pod_bg b timeout 20 nc -l -p 8080
      mln_wait_listen b 8080
      echo hello | mln_pod a timeout 10 nc -N "$B" 8080 >/dev/null || t_bad "network_events: the connection works"
      seen() {
        mln_myelin events -o json --type process_kprobe --pod web/client |
          jq -e -s "map(select(.process_kprobe.function_name == \"tcp_connect\" and .process_kprobe.args[0].sock_arg.daddr == \"$B\" and .process_kprobe.args[0].sock_arg.dport == 8080)) | length > 0" >/dev/null 2>&1
      }
      mln_retry 100 0.1 seen && t_ok "network_events: tcp_connect from web/client to $B:8080" ||
        t_bad "network_events: tcp_connect from web/client to $B:8080" "$(mln_myelin events --type process_kprobe | tail -5)"
      ;;
    storage_events)
      mln_init
      W=$(mktemp -d /var/tmp/myelin-fresh-XXXXXX)  # on a real block device (not tmpfs)
      mln_at_exit 'rm -rf "$W"'
      MLN_AGENT_ARGS=(--storage-events true --metrics-addr "")
      mln_node_up 10.242.0.0/24
      mounted bpffs tracefs securityfs
      logged "block I/O probes reported attached" "storage: block I/O probes attached"
      mln_myelin storage list >/dev/null && t_ok "storage_events: storage list answers (probes on)" || t_bad "storage_events: storage list answers"
      mln_pod_add writer batch writer
      # Block requests are attributed to the task that issues them; on a busy
      # machine a kblockd worker issues some of dd's (counted, but as the
      # worker's): one of dd's own is the evidence asked for, a new dd each try.
      written() {
        mln_pod writer dd if=/dev/zero of="$W/data" bs=64k count=16 oflag=direct status=none
        mln_myelin storage list -o json | jq -e -s '[.[].entries[] | select((.binary | endswith("/dd")) and .pod_name == "writer") | .bytes | tonumber] | add >= 65536' >/dev/null 2>&1
      }
      mln_retry 20 0.2 written && t_ok "storage_events: dd's direct writes counted for batch/writer" ||
        t_bad "storage_events: dd's direct writes counted" "$(mln_myelin storage list)"
      ;;
    gpu_libs)
      mln_init
      GPU="$(cd "$MLN_BIN/.." && pwd)/gpu-standin"
      [ -x "$GPU/gpu_app" ] || mln_die "$GPU/gpu_app is missing: build first (target gpu_app)"
      MLN_AGENT_ARGS=(--gpu-libs "$GPU/libcudart.so.12,$GPU/libcuda.so.1" --metrics-addr "")
      mln_node_up 10.243.0.0/24
      mounted bpffs tracefs securityfs
      mln_myelin gpu list -o json | jq -e '(.attached | length) == 9' >/dev/null &&
        t_ok "gpu_libs: 9 CUDA entry points reported attached" || t_bad "gpu_libs: attached" "$(mln_myelin gpu list -o json)"
      mln_pod_add trainer ml trainer
      # gpu_app prints "done" after its calls, then waits for one line on stdin.
      out=$(echo | mln_pod trainer timeout 20 "$GPU/gpu_app")
      [ "$out" = done ] || t_bad "gpu_libs: the workload ran" "'$out'"
      counted() {
        mln_myelin gpu list -o json | jq -e '.processes[] | select((.binary | endswith("gpu_app")) and .pod_name == "trainer") | select(.calls.cudaMalloc == "3" and .kernel_launches == "7")' >/dev/null 2>&1
      }
      mln_retry 100 0.1 counted && t_ok "gpu_libs: gpu_app's calls counted (3 cudaMalloc, 7 launches) in ml/trainer" ||
        t_bad "gpu_libs: gpu_app's calls counted" "$(mln_myelin gpu list -o json)"
      ;;
    events_log)
      mln_init
      MARK="myelin-fresh-$MLN_ID"
      MLN_AGENT_ARGS=(--events-log "$MLN_TMP/events.log" --metrics-addr "")
      mln_node_up 10.244.0.0/24
      mounted bpffs tracefs securityfs
      logged "process probes reported attached" "runtime: process probes attached"
      mln_myelin status -o json | jq -e '.runtime_enabled == true' >/dev/null && t_ok "events_log: status: runtime events enabled" ||
        t_bad "events_log: status: runtime events enabled" "$(mln_myelin status -o json | jq -c '{runtime_enabled, runtime_error}')"
      mln_pod_add client web client
      rc=0; mln_pod client bash -c 'exit 7' "$MARK" || rc=$?
      [ "$rc" = 7 ] || t_bad "events_log: the marker process ran (exit 7)" "rc=$rc"
      in_log() {
        jq -e -s "map(select(.process_exit.status == 7 and (.process_exit.process.arguments // \"\" | contains(\"$MARK\")) and .process_exit.process.pod.name == \"client\")) | length == 1" \
          "$MLN_TMP/events.log" >/dev/null 2>&1
      }
      mln_retry 100 0.1 in_log && t_ok "events_log: the pod's process exit (status 7) written to --events-log" ||
        t_bad "events_log: the exit in the events log" "$(tail -c 2000 "$MLN_TMP/events.log" 2>&1)"
      ;;
    tracing_policy)
      mln_init
      D="$MLN_TMP/watched"
      mkdir -p "$D" "$MLN_TMP/manifests" && echo data >"$D/file"
      cat >"$MLN_TMP/manifests/open.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: fresh-open-$MLN_ID}
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args: [{index: 6, type: string}]
    selectors:
    - matchArgs: [{index: 6, operator: Prefix, values: ["$D/"]}]
YAML
      MLN_AGENT_ARGS=(--manifests "$MLN_TMP/manifests" --metrics-addr "")
      mln_node_up 10.245.0.0/24
      mounted bpffs tracefs securityfs
      enabled() { mln_myelin tracingpolicy list -o json | jq -e ".policies[] | select(.name == \"fresh-open-$MLN_ID\" and .state == \"enabled\" and .hooks >= 1)" >/dev/null 2>&1; }
      mln_retry 100 0.1 enabled && t_ok "tracing_policy: the TracingPolicy is enabled, its tracepoint attached" ||
        t_bad "tracing_policy: enabled" "$(mln_myelin tracingpolicy list)"
      mln_pod_add reader web reader
      mln_pod reader cat "$D/file" >/dev/null
      seen() {
        mln_myelin events -o json --type process_tracepoint --policy "fresh-open-$MLN_ID" |
          jq -e -s "map(select((.process_tracepoint.args // [] | map(.string_arg) | index(\"$D/file\")) != null and .process_tracepoint.process.pod.name == \"reader\")) | length > 0" >/dev/null 2>&1
      }
      mln_retry 100 0.1 seen && t_ok "tracing_policy: cat's open of $D/file reported by the policy, in web/reader" ||
        t_bad "tracing_policy: the open reported" "$(mln_myelin events -o json --type process_tracepoint | tail -3)"
      ;;
    *) echo "fresh_machine_test: unknown smoke $smoke" >&2; exit 2 ;;
  esac
  t_summary
  exit
fi

# The pseudo-filesystems still mounted here (target, type, mount id: a remount is not the same).
fs_mounts() { findmnt -rn -o TARGET,FSTYPE,ID -t "$FS_TYPES" | sort || true; }

# --- inside the private mount namespace ----------------------------------------------
if [ "${1:-}" = inner ]; then
  # Never unmount anything in the machine's own mount namespace.
  [ "$(readlink /proc/self/ns/mnt)" != "$MLN_FRESH_OUTER_NS" ] || { echo "FAIL: not in a private mount namespace" >&2; exit 1; }
  findmnt -rn -o PROPAGATION / | grep -q private || { echo "FAIL: / is not private here: $(findmnt -rn -o PROPAGATION /)" >&2; exit 1; }
  make_fresh() {
    local t i
    for i in 1 2 3 4 5; do
      # Deepest first (/sys/kernel/debug/tracing before /sys/kernel/debug), stacked mounts one by one.
      for t in $(findmnt -rn -o TARGET -t "$FS_TYPES" | sort -r); do umount "$t" 2>/dev/null || umount -l "$t" 2>/dev/null || true; done
      [ -z "$(fs_mounts)" ] && return 0
    done
    return 1
  }
  for smoke in "${SMOKES[@]}"; do
    echo "--- $smoke" >&2
    if make_fresh; then t_ok "$smoke: fresh machine: no $FS_TYPES mounted (findmnt)"; else
      t_bad "$smoke: fresh machine: no $FS_TYPES mounted (findmnt)" "$(fs_mounts)"; continue; fi
    for d in /sys/fs/bpf /sys/kernel/tracing /sys/kernel/security; do
      [ "$(stat -f -c %T "$d")" = sysfs ] || t_bad "$smoke: $d is a bare sysfs directory" "$(stat -f -c %T "$d")"
    done
    bash "$0" smoke "$smoke" &
    pid=$!
    echo "$pid" >>"$MLN_FRESH_PIDS"
    if wait "$pid"; then t_ok "$smoke on a fresh machine"; else t_bad "$smoke on a fresh machine" "see its lines above"; fi
  done
  t_summary
  exit
fi

# --- outside: the machine's own mount namespace ----------------------------------------
command -v unshare >/dev/null && command -v findmnt >/dev/null || { echo "SKIP: unshare/findmnt missing (util-linux)"; exit 0; }
MLN_BIN=${MLN_BIN:-$(cd "$here/../.." && pwd)/build/bin}
export MLN_BIN
before=$(fs_mounts)
MLN_FRESH_PIDS=$(mktemp /tmp/myelin-fresh-pids.XXXXXX)
trap 'rm -f "$MLN_FRESH_PIDS"' EXIT
export MLN_FRESH_PIDS MLN_FRESH_OUTER_NS
MLN_FRESH_OUTER_NS=$(readlink /proc/self/ns/mnt)
rc=0
unshare --mount --propagation private bash "$0" inner || rc=$?
after=$(fs_mounts)
[ -n "$before" ] && [ "$before" = "$after" ] && t_ok "outside: the original mounts are untouched ($(wc -l <<<"$after") of $FS_TYPES)" ||
  t_bad "outside: the original mounts are untouched" "before: $before | after: $after"
left=""
while read -r pid; do
  [ -n "$pid" ] || continue
  left+=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^mln-(node-)?$pid(-|$)" || true)
  [ -e "/sys/fs/bpf/myelin/$pid" ] && left+=" /sys/fs/bpf/myelin/$pid"
  [ -n "$(ls -d /tmp/myelin-"$pid".* 2>/dev/null)" ] && left+=" $(ls -d /tmp/myelin-"$pid".*)"
done <"$MLN_FRESH_PIDS"
[ $(wc -l <"$MLN_FRESH_PIDS") -eq ${#SMOKES[@]} ] && [ -z "$left" ] && t_ok "outside: nothing of the ${#SMOKES[@]} smokes is left (namespaces, pins, temp dirs)" ||
  t_bad "outside: nothing of the smokes is left" "smokes run: $(wc -l <"$MLN_FRESH_PIDS"); left: $left"
[ "$rc" -eq 0 ] && t_ok "inside: every smoke passed" || t_bad "inside: every smoke passed" "exit status $rc"
t_summary
