#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# TracingPolicy hook kinds and spec-level features on this host's kernel,
# each with a workload that triggers it and one that must not:
# - spec.lists + InMap: raw_syscalls/sys_enter with the syscall numbers of a
#   list (dup, dup2) posts the workload's dups, not its getppid;
# - raw: true: the raw tracepoint sched_process_exec, its old_pid argument,
#   posts the workload's exec only (matchBinaries in the kernel);
# - spec.options policy-mode: monitor: a Sigkill selector posts, kills nothing;
# - spec.usdts: a USDT probe of the test's own binary, its int and long
#   arguments as the note places them, filtered on the first; its semaphore
#   is counted up while the policy is loaded.
# - uprobes with return: true: the workload's hooks_workload_ret(N) returns
#   2N; posted only when matchReturnArgs holds (> 100), with its argument
#   (kept at entry) and the return value;
# - spec.loader: the workload mapping libc executable is reported (with its
#   build id); a static binary maps nothing and is not.
# The workload is tests/tools/hooks_workload, at a path of this run's own.
source "$(dirname "$0")/common.sh"

mln_init
MANIFESTS="$MLN_TMP/manifests"
W="$MLN_TMP/hooks_workload"
[ -x "$MLN_BIN/hooks_workload" ] || mln_die "$MLN_BIN/hooks_workload is missing: build first"
cp "$MLN_BIN/hooks_workload" "$W"
mkdir -p "$MANIFESTS"
mln_at_exit mln_agent_kill

cat >"$MANIFESTS/lists.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: dups-$MLN_ID}
spec:
  lists:
  - name: "dups"
    type: "syscalls"
    values: ["sys_dup", "sys_dup2"]
  tracepoints:
  - subsystem: "raw_syscalls"
    event: "sys_enter"
    args: [{index: 4, type: "uint64"}]
    selectors:
    - matchArgs: [{index: 0, operator: "InMap", values: ["list:dups"]}]
      matchBinaries: [{operator: In, values: ["$W"]}]
YAML
cat >"$MANIFESTS/raw.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: rawtp-$MLN_ID}
spec:
  options:
  - {name: policy-mode, value: monitor}
  tracepoints:
  - subsystem: "sched"
    event: "sched_process_exec"
    raw: true
    args: [{index: 1, type: int}]
    selectors:
    - matchBinaries: [{operator: In, values: ["$W"]}]
      matchActions: [{action: Sigkill}]
YAML
cat >"$MANIFESTS/usdt.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: usdt-$MLN_ID}
spec:
  usdts:
  - path: "$W"
    provider: "myelin_test"
    name: "args"
    message: "the test's probe"
    args: [{index: 0, type: int32}, {index: 1, type: int64}]
    selectors:
    - matchArgs: [{index: 0, operator: Equal, values: ["-7"]}]
  - path: "$W"
    provider: "myelin_test"
    name: "sem"
    args: [{index: 0, type: int}]
YAML

cat >"$MANIFESTS/uret.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: uret-$MLN_ID}
spec:
  uprobes:
  - path: "$W"
    symbols: ["hooks_workload_ret"]
    return: true
    returnArg: {index: 0, type: long}
    args: [{index: 0, type: long}]
    selectors:
    - matchReturnArgs: [{index: 0, operator: GT, values: ["100"]}]
YAML
cat >"$MANIFESTS/loader.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: loader-$MLN_ID}
spec:
  loader: true
YAML
BB="$MLN_TMP/busybox"
cp /bin/busybox "$BB"
MLN_AGENT_ARGS=(--manifests "$MANIFESTS" --metrics-addr "")
mln_node_up 10.236.0.0/24

list() { mln_myelin tracingpolicy list -o json; }
enabled() { list | jq -e "[.policies[] | select(.state == \"enabled\")] | length == 5" >/dev/null; }
mln_retry 100 0.1 enabled && t_ok "lists, raw tracepoint (monitor), usdt, uretprobe and loader policies are enabled" || t_bad "enabled" "$(list)"
list | jq -e ".policies[] | select(.name == \"rawtp-$MLN_ID\" and (.mode | test(\"monitor\")))" >/dev/null &&
  t_ok "the monitor-mode policy says so in its mode" || t_bad "monitor mode" "$(list)"

ev() { mln_myelin events -o json --policy "$1-$MLN_ID"; }
count() { ev "$1" | jq -s length; }
# settle NAME N: exactly N events, waited for (bounded) until there are at
# least N; each check's last workload is the one reported, so an earlier
# unreported one would be in by then (one ring buffer, read in order).
settle() { local want=$2; at_least() { [ "$(count "$1")" -ge "$want" ]; }; mln_retry 100 0.1 at_least "$1" && [ "$(count "$1")" = "$want" ]; }

echo "-- spec.lists + InMap on raw_syscalls/sys_enter"
"$W" nodup
/usr/bin/true
"$W" dup   # last: dup then dup2, the reported ones
settle dups 2 && ev dups | jq -e -s 'map(.process_tracepoint.args[0].size_arg) == ["32", "33"]' >/dev/null &&
  t_ok "the workload's dup and dup2 are posted (ids 32, 33), its getppid is not" || t_bad "list InMap" "$(ev dups | jq -c .process_tracepoint.args)"

echo "-- raw tracepoint, monitor mode"
rc=0; "$W" nodup || rc=$?
[ "$rc" = 0 ] && t_ok "monitor mode: the Sigkill selector's process lives" || t_bad "monitor kill" "rc=$rc"
# The workload's three execs so far (nodup, dup, nodup); /usr/bin/true's is not posted.
settle rawtp 3 && ev rawtp | jq -e -s 'all(.process_tracepoint.event == "sched_process_exec" and .process_tracepoint.action == "KPROBE_ACTION_POST" and
    .process_tracepoint.args[0].int_arg == .process_tracepoint.process.pid)' >/dev/null &&
  t_ok "sched_process_exec (raw) posts the workload's execs only, old_pid its pid, as Post" || t_bad "raw tp event" "$(ev rawtp | jq -c .)"

echo "-- uprobe return: true"
"$W" ret 10 >/dev/null   # returns 20: not posted
"$W" ret 70 >/dev/null   # returns 140: the reported one
settle uret 1 && ev uret | jq -e '.process_uprobe.symbol == "hooks_workload_ret" and .process_uprobe.args == [{"long_arg": 70}] and .process_uprobe.return == {"long_arg": 140}' >/dev/null &&
  t_ok "the return probe posts ret(70) = 140 with its entry argument, not ret(10) = 20" || t_bad "uretprobe" "$(ev uret)"

echo "-- spec.loader"
"$BB" true
"$W" nodup
lib() { ev loader | jq -e -s "map(select(.process_loader.process.binary == \"$W\" and (.process_loader.path | test(\"libc\\\\.so\")))) | length >= 1" >/dev/null; }
mln_retry 100 0.1 lib && t_ok "the workload mapping libc executable is a process_loader event" || t_bad "loader" "$(ev loader | tail -3)"
ev loader | jq -e -s "map(select(.process_loader.process.binary == \"$W\" and (.process_loader.buildid | length > 0))) | length >= 1" >/dev/null &&
  t_ok "with the library's build id" || t_bad "loader buildid" "$(ev loader | tail -3)"
ev loader | jq -e -s "map(select(.process_loader.process.binary == \"$BB\")) | length == 0" >/dev/null &&
  t_ok "a static binary (busybox) maps no file executable: no event" || t_bad "loader static" "$(ev loader | jq -c "select(.process_loader.process.binary == \"$BB\")")"
rm -f "$MANIFESTS/loader.yaml"

echo "-- spec.usdts"
out=$("$W" usdt 5 11) || { [ $? = 77 ] && echo "SKIP: hooks_workload built without <sys/sdt.h>"; t_summary; exit 0; }
[ "$out" = "sem=1" ] && t_ok "the probe's semaphore is counted up while the policy is loaded" || t_bad "semaphore" "$out"
"$W" usdt -7 123456789012 >/dev/null
settle usdt 3 || t_bad "usdt events" "$(ev usdt)"
ev usdt | jq -e -s 'map(select(.process_usdt.name == "args")) | length == 1 and .[0].process_usdt.args == [{"int_arg": -7}, {"long_arg": 123456789012}]
    and .[0].process_usdt.provider == "myelin_test" and .[0].process_usdt.message == "the test'"'"'s probe"' >/dev/null &&
  t_ok "myelin_test:args posts only A == -7, with its int and long arguments" || t_bad "usdt args" "$(ev usdt | jq -c .)"
ev usdt | jq -e -s '[.[] | select(.process_usdt.name == "sem") | .process_usdt.args[0].int_arg] == [5, -7]' >/dev/null &&
  t_ok "myelin_test:sem (behind its semaphore) posts both runs" || t_bad "usdt sem" "$(ev usdt | jq -c .)"

rm -f "$MANIFESTS/usdt.yaml"
gone() { ! list | jq -e ".policies[] | select(.name == \"usdt-$MLN_ID\")" >/dev/null; }
mln_retry 50 0.1 gone && out=$("$W" usdt 1 1) && [ "$out" = "sem=0" ] && t_ok "policy removed: the semaphore is back to 0" || t_bad "semaphore after" "$out"

t_summary
