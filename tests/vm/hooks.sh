#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs inside the VM (tests/vm/run-in-vm.sh, Debian's 6.1 kernel): the hook
# kinds of tests/integration/tracing_hooks_test.sh on the older verifier, and
# what needs fentry:
# - spec.lists: a kprobe whose call is list:dups (sys_dup, sys_dup2) is one
#   fentry per syscall; the workload's dup and dup2 are posted, its getppid
#   and other binaries' dups are not;
# - the same list as InMap values on raw_syscalls/sys_enter;
# - raw: true (sched_process_exec), a uprobe with return: true and a USDT
#   probe, each posting the workload's hit only;
# - a generic lsmhook (file_open with matchBinaries, Tetragon's lsm_file_open
#   form): the copied busybox cannot open the secret (EPERM), the system's can.
# The workload: /work/hooks_workload (static), run from /tmp/bin. Exit status: failed checks.
. /work/agent.sh

W=/tmp/bin/hooks_workload
mkdir -p /tmp/manifests /tmp/bin
cp /work/hooks_workload "$W" && chmod +x "$W"  # the initramfs copy is not executable
cp /bin/busybox /tmp/bin/busybox
echo secret >/tmp/lsm-secret
cat >/tmp/manifests/hooks.yaml <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: list-kprobes}
spec:
  lists:
  - {name: dups, type: syscalls, values: [sys_dup, sys_dup2]}
  kprobes:
  - call: "list:dups"
    selectors:
    - matchBinaries: [{operator: In, values: ["$W"]}]
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: list-inmap}
spec:
  lists:
  - {name: dups, type: syscalls, values: [sys_dup, sys_dup2]}
  tracepoints:
  - subsystem: raw_syscalls
    event: sys_enter
    args: [{index: 4, type: uint64}]
    selectors:
    - matchArgs: [{index: 0, operator: InMap, values: ["list:dups"]}]
      matchBinaries: [{operator: In, values: ["$W"]}]
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: rawtp}
spec:
  tracepoints:
  - subsystem: sched
    event: sched_process_exec
    raw: true
    args: [{index: 1, type: int}]
    selectors:
    - matchBinaries: [{operator: In, values: ["$W"]}]
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: uret}
spec:
  uprobes:
  - path: "$W"
    symbols: [hooks_workload_ret]
    return: true
    returnArg: {index: 0, type: long}
    args: [{index: 0, type: long}]
    selectors:
    - matchReturnArgs: [{index: 0, operator: GT, values: ["100"]}]
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: usdt}
spec:
  usdts:
  - path: "$W"
    provider: myelin_test
    name: args
    args: [{index: 0, type: int32}, {index: 1, type: int64}]
    selectors:
    - matchArgs: [{index: 0, operator: Equal, values: ["-7"]}]
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: lsm-generic}
spec:
  lsmhooks:
  - hook: file_open
    args: [{index: 0, type: file}]
    selectors:
    - matchBinaries: [{operator: In, values: ["/tmp/bin/busybox"]}]
      matchArgs: [{index: 0, operator: Equal, values: ["/tmp/lsm-secret", "/tmp/lsm-other"]}]
      matchActions: [{action: Override, argError: -1}]
YAML

start_agent 6
ok "list kprobes, list InMap, raw tracepoint, uretprobe, usdt and generic lsmhook policies are enabled"
$M tracingpolicy list -o json | grep '"list-kprobes"' | grep -q '"hooks":"2"\|"hooks":2' &&
  ok "list:dups is two kprobes (one per syscall)" || bad "list hooks: $($M tracingpolicy list -o json)"

/bin/busybox sh -c 'exec 7>&1' # another binary's dup2: not posted
$W nodup
$W ret 10 >/dev/null
$W usdt 5 11 >/dev/null
$W ret 70 >/dev/null
$W usdt -7 123456789012 >/dev/null
$W dup   # last: its dup2 is the marker

i=0
until $M events -o json --policy list-inmap | grep -q '"size_arg":"33"'; do
  i=$((i + 1)); [ $i -gt 150 ] && break; sleep 0.1
done
i=0
until [ "$($M events -o json --policy list-kprobes | grep -c .)" -ge 2 ]; do
  i=$((i + 1)); [ $i -gt 150 ] && break; sleep 0.1
done
kp=$($M events -o json --policy list-kprobes)
echo "$kp" | grep -q '"function_name":"__x64_sys_dup"' && echo "$kp" | grep -q '"function_name":"__x64_sys_dup2"' &&
  [ "$(echo "$kp" | grep -c .)" = 2 ] && ok "fentry on __x64_sys_dup and __x64_sys_dup2: the workload's two calls only" || bad "list kprobes: $kp"
im=$($M events -o json --policy list-inmap)
echo "$im" | grep -q '"size_arg":"32"' && [ "$(echo "$im" | grep -c .)" = 2 ] &&
  ok "InMap list:dups on raw_syscalls/sys_enter: ids 32 and 33, nothing else" || bad "inmap: $im"
raw=$($M events -o json --policy rawtp)
[ "$(echo "$raw" | grep -c '"event":"sched_process_exec"')" -ge 6 ] && echo "$raw" | grep -q '"int_arg":[1-9]' &&
  ok "raw sched_process_exec posts the workload's execs with old_pid" || bad "rawtp: $raw"
ur=$($M events -o json --policy uret)
echo "$ur" | grep -q '"args":\[{"long_arg":70}\]' && echo "$ur" | grep -q '"return":{"long_arg":140}' && [ "$(echo "$ur" | grep -c .)" = 1 ] &&
  ok "return probe: ret(70) = 140 posted with its entry argument, ret(10) not" || bad "uret: $ur"
us=$($M events -o json --policy usdt)
echo "$us" | grep -q '"args":\[{"int_arg":-7},{"long_arg":123456789012}\]' && [ "$(echo "$us" | grep -c .)" = 1 ] &&
  ok "USDT myelin_test:args: only A == -7, with its int and long arguments" || bad "usdt: $us"
out=$(/tmp/bin/busybox cat /tmp/lsm-secret 2>&1)
rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "not permitted" && ok "generic lsmhook: the copied busybox cannot open the secret (EPERM)" || bad "lsm deny: rc $rc $out"
[ "$(/bin/busybox cat /tmp/lsm-secret)" = secret ] && ok "the system's busybox opens it (matchBinaries in the kernel)" || bad "lsm other binary"
i=0
until $M events -o json --policy lsm-generic | grep -q lsm-secret; do i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1; done
lsm=$($M events -o json --policy lsm-generic)
echo "$lsm" | grep '"process_lsm"' | grep '"function_name":"file_open"' | grep '"path":"/tmp/lsm-secret"' | grep -q '"action":"KPROBE_ACTION_OVERRIDE"' &&
  [ "$(echo "$lsm" | grep -c .)" = 1 ] && ok "one process_lsm event: file_open, the path, Override" || bad "lsm event: $lsm"
echo "$fails failed"
exit $fails
