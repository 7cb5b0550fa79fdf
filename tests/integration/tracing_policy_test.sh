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
trap 'rm -rf "$SECRET"; mln_cleanup' EXIT
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
      - index: 1
        operator: Prefix
        values: ["$SECRET/"]
      matchBinaries:
      - operator: In
        values: ["/usr/bin/cat"]
      matchActions:
      - action: Sigkill
    - matchArgs:
      - index: 1
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
    - matchArgs: [{index: 0, operator: Prefix, values: ["$SECRET"]}]
      matchActions: [{action: Override, argError: -1}]
YAML
MLN_AGENT_ARGS=(--manifests "$MANIFESTS" --metrics-addr 127.0.0.1:9966)
mln_node_up 10.232.0.0/24

list() { mln_myelin tracingpolicy list -o json; }
enabled() { list | jq -e ".policies[] | select(.name == \"$POLICY\" and .state == \"enabled\" and .hooks == 1)" >/dev/null; }
mln_retry 50 0.1 enabled && t_ok "the tracepoint policy is enabled (1 hook, filters in the kernel)" || t_bad "enabled" "$(list)"
list | jq -e ".policies[] | select(.name == \"needs-kprobes-$MLN_ID\" and .state == \"error\" and (.error | test(\"kprobe unavailable\")) and (.hooks // 0) == 0)" >/dev/null &&
  t_ok "a kprobes policy is rejected whole, naming the missing kernel feature" || t_bad "kprobes rejected" "$(list)"

if mln_myelin status -o json | jq -e '.features[] | select(.name == "bpf-lsm" and .available == true)' >/dev/null; then
  list | jq -e ".policies[] | select(.name == \"needs-bpf-lsm-$MLN_ID\" and .state == \"enabled\")" >/dev/null &&
    t_ok "BPF-LSM runs here: the lsmhooks policy is enabled" || t_bad "lsmhooks enabled" "$(list)"
else
  list | jq -e ".policies[] | select(.name == \"needs-bpf-lsm-$MLN_ID\" and .state == \"error\" and (.error | test(\"bpf-lsm unavailable\")))" >/dev/null &&
    t_ok "no BPF-LSM here: the lsmhooks policy is rejected whole, naming bpf-lsm (tests/vm enforces it)" || t_bad "lsmhooks rejected" "$(list)"
fi
rm -f "$MANIFESTS/lsm.yaml"

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
sed -i 's/operator: Prefix/operator: Postfix/' "$MANIFESTS/tracing.yaml"
refused() { grep -q "tracing.yaml:[0-9]*: spec.tracepoints\[0\].selectors\[0\].matchArgs\[0\].operator: 'Postfix' is not supported" "$MLN_AGENT_LOG"; }
mln_retry 50 0.1 refused && t_ok "a bad edit is refused with file:line:field" || t_bad "bad edit" "$(grep tracing "$MLN_AGENT_LOG" | tail -3)"
rc=0; cat "$SECRET/key" >/dev/null 2>&1 || rc=$?
[ "$rc" = 137 ] && t_ok "the last good version still enforces" || t_bad "last good version" "rc=$rc"

rm -f "$MANIFESTS/tracing.yaml"
gone() { ! list | jq -e ".policies[] | select(.name == \"$POLICY\")" >/dev/null; }
mln_retry 50 0.1 gone && cat "$SECRET/key" >/dev/null && t_ok "file removed: policy detached, cat works again" || t_bad "detach"

t_summary
