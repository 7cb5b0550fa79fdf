#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# TracingPolicy on this host's kernel: a syscalls/sys_enter_openat policy
# with a path Prefix and matchBinaries kills `cat` opening the test's own
# secret directory (Sigkill, in the kernel) and only reports `head` doing the
# same; every other open on the machine is filtered out in the kernel. A
# policy that needs kprobes is rejected whole, naming the missing feature; a
# bad edit keeps the last good version; removing the file detaches it.
# Enforcement is scoped to this test's processes and paths.
source "$(dirname "$0")/common.sh"

mln_init
MANIFESTS="$MLN_TMP/manifests"
SECRET="/tmp/myelin-secret-$MLN_ID"
mkdir -p "$MANIFESTS" "$SECRET"
echo "the key" >"$SECRET/key"
mkdir -p "$SECRET-lsm" && echo guarded >"$SECRET-lsm/file"
# The agent goes first: its policies would kill an rm under the secret paths.
mln_at_exit mln_agent_kill
mln_at_exit 'rm -rf "$SECRET" "$SECRET-lsm"'
POLICY="protect-secret-$MLN_ID"
good_policy() {
  cat <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: $POLICY
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 5
      type: int
    - index: 6
      type: string
    selectors:
    - matchArgs:
      - index: 6
        operator: Prefix
        values: ["$SECRET/"]
      matchBinaries:
      - operator: In
        values: ["/usr/bin/cat"]
      matchActions:
      - action: Sigkill
    - matchArgs:
      - index: 6
        operator: Prefix
        values: ["$SECRET/"]
YAML
}
good_policy >"$MANIFESTS/tracing.yaml"
cat >"$MANIFESTS/kprobe.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: needs-kprobes-$MLN_ID}
spec:
  kprobes:
  - call: security_file_open
    syscall: false
YAML
cat >"$MANIFESTS/lsm.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: needs-bpf-lsm-$MLN_ID}
spec:
  lsmhooks:
  - hook: inode_unlink
    selectors:
    - matchArgs: [{index: 0, operator: Prefix, values: ["$SECRET-lsm/"]}]
      matchActions: [{action: Override, argError: -1}]
YAML
MLN_AGENT_ARGS=(--manifests "$MANIFESTS" --metrics-addr 127.0.0.1:9966)
mln_node_up 10.232.0.0/24

list() { mln_myelin tracingpolicy list -o json; }
enabled() { list | jq -e ".policies[] | select(.name == \"$POLICY\" and .state == \"enabled\" and .hooks == 1)" >/dev/null; }
mln_retry 50 0.1 enabled && t_ok "the tracepoint policy is enabled (1 hook, filters in the kernel)" || t_bad "enabled" "$(list)"
list | jq -e ".policies[] | select(.name == \"needs-kprobes-$MLN_ID\" and .state == \"error\" and (.error | test(\"fentry unavailable \\\\(a tracing program does not load\")) and (.hooks // 0) == 0)" >/dev/null &&
  t_ok "a kprobes policy is rejected whole, naming the missing kernel feature" || t_bad "kprobes rejected" "$(list)"

if mln_myelin status -o json | jq -e '.features[] | select(.name == "bpf-lsm" and .available == true)' >/dev/null; then
  list | jq -e ".policies[] | select(.name == \"needs-bpf-lsm-$MLN_ID\" and .state == \"enabled\" and (.mode | test(\"preventive\")))" >/dev/null &&
    t_ok "BPF-LSM runs here: the lsmhooks policy is enabled, preventive" || t_bad "lsmhooks enabled" "$(list)"
else
  list | jq -e ".policies[] | select(.name == \"needs-bpf-lsm-$MLN_ID\" and .state == \"enabled\" and (.mode | test(\"kill-after\")))" >/dev/null &&
    t_ok "no BPF-LSM here: the lsmhooks policy runs as its kill-after fallback, and says so" || t_bad "lsmhooks fallback" "$(list)"
  rc=0; rm "$SECRET-lsm/file" 2>/dev/null || rc=$?
  [ "$rc" = 137 ] && t_ok "rm of a guarded file is killed at syscall entry (SIGKILL)" || t_bad "rm killed" "rc=$rc"
  fallback_event() { mln_myelin events --type process_tracepoint --policy "needs-bpf-lsm-$MLN_ID" | grep -q "killed  host /usr/bin/rm syscalls/sys_enter_unlinkat $SECRET-lsm/file (needs-bpf-lsm-$MLN_ID; killed, the call may have completed)"; }
  mln_retry 50 0.1 fallback_event && t_ok "the event says killed, the call may have completed" ||
    t_bad "fallback event" "$(mln_myelin events --type process_tracepoint --policy "needs-bpf-lsm-$MLN_ID")"
fi
rm -f "$MANIFESTS/lsm.yaml"
lsm_gone() { ! list | jq -e ".policies[] | select(.name == \"needs-bpf-lsm-$MLN_ID\")" >/dev/null; }
mln_retry 50 0.1 lsm_gone || t_bad "lsm policy removed"

rc=0; cat "$SECRET/key" >/dev/null 2>&1 || rc=$?
[ "$rc" = 137 ] && t_ok "cat opening the protected path is killed (SIGKILL, exit 137)" || t_bad "cat killed" "rc=$rc"
out=$(head -c 3 "$SECRET/key") && [ "$out" = "the" ] && t_ok "head opening it works (that selector only posts)" || t_bad "head allowed"
cat /etc/hostname >/dev/null && t_ok "cat opening anything else works" || t_bad "cat elsewhere"

ev() { mln_myelin events -o json --type process_tracepoint --policy "$POLICY"; }
has() { ev | jq -e -s "map(select($1)) | length > 0" >/dev/null 2>&1; }
killed() { has ".process_tracepoint.action == \"KPROBE_ACTION_SIGKILL\" and .process_tracepoint.process.binary == \"/usr/bin/cat\" and .process_tracepoint.args[1].string_arg == \"$SECRET/key\""; }
mln_retry 50 0.1 killed && t_ok "the kill is an event: process, syscall, path, action" || t_bad "kill event" "$(ev | tail -2)"
posted() { has ".process_tracepoint.action == \"KPROBE_ACTION_POST\" and (.process_tracepoint.process.binary | endswith(\"/head\")) and .process_tracepoint.subsys == \"syscalls\" and .process_tracepoint.event == \"sys_enter_openat\""; }
mln_retry 50 0.1 posted && t_ok "head's open is posted, not acted on" || t_bad "post event" "$(ev | tail -2)"
n=$(ev | jq -s length)
[ "$n" = 2 ] && t_ok "exactly 2 events: every other open on the machine was filtered in the kernel" || t_bad "in-kernel filtering" "$n events"
mln_myelin events --type process_tracepoint --policy "$POLICY" | grep -q "^💀 killed  host /usr/bin/cat syscalls/sys_enter_openat" &&
  t_ok "compact output shows the kill" || t_bad "compact" "$(mln_myelin events --type process_tracepoint --policy "$POLICY")"
list | jq -e ".policies[] | select(.name == \"$POLICY\" and .events == \"2\" and .actions.KPROBE_ACTION_SIGKILL == \"1\")" >/dev/null &&
  t_ok "tracingpolicy list counts its events and actions" || t_bad "list counts" "$(list)"
scrape=$(mln_node curl -sf --max-time 5 http://127.0.0.1:9966/metrics)
grep -qE "^myelin_runtime_actions_total\{action=\"KPROBE_ACTION_SIGKILL\",policy=\"$POLICY\"\} 1" <<<"$scrape" &&
  t_ok "myelin_runtime_actions_total counts the kill" || t_bad "actions metric" "$(grep runtime_actions <<<"$scrape")"

# A bad edit: refused with file:line:field, the loaded version stays.
sed -i 's/operator: Prefix/operator: Suffix/' "$MANIFESTS/tracing.yaml"
refused() { grep -q "tracing.yaml:[0-9]*: spec.tracepoints\[0\].selectors\[0\].matchArgs\[0\].operator: 'Suffix' is not supported" "$MLN_AGENT_LOG"; }
mln_retry 50 0.1 refused && t_ok "a bad edit is refused with file:line:field" || t_bad "bad edit" "$(grep tracing "$MLN_AGENT_LOG" | tail -3)"
rc=0; cat "$SECRET/key" >/dev/null 2>&1 || rc=$?
[ "$rc" = 137 ] && t_ok "the last good version still enforces" || t_bad "last good version" "rc=$rc"

rm -f "$MANIFESTS/tracing.yaml"
gone() { ! list | jq -e ".policies[] | select(.name == \"$POLICY\")" >/dev/null; }
mln_retry 50 0.1 gone && cat "$SECRET/key" >/dev/null && t_ok "file removed: policy detached, cat works again" || t_bad "detach"

t_summary
