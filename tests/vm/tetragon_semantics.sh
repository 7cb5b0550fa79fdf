#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs inside the VM (tests/vm/run-in-vm.sh): TracingPolicy fields read as
# Tetragon reads them, end to end on fentry/fexit/fmod_ret:
# - return: true with an Override: the Override runs at entry (the read
#   fails with EPERM, posted with the errno), a return probe beside it posts
#   the other selector's reads with what the function returned (0);
# - Override and Sigkill in one selector: the open fails and cat is killed;
#   the same open by another binary is not touched;
# - five args on one hook (mount), matched by their own index; NotEqual of
#   several values: none of them (AND-ed).
# Exit status: the number of failed checks.
. /work/agent.sh

mkdir -p /tmp/sem/guarded /tmp/sem/open /tmp/manifests /tmp/bin
echo secret >/tmp/sem/guarded/key
echo data >/tmp/sem/open/file
echo killme >/tmp/sem/open/kill
cp /bin/busybox /tmp/bin/busybox
cat >/tmp/manifests/semantics.yaml <<'YAML'
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: return-and-override
spec:
  kprobes:
  - call: security_file_permission
    syscall: false
    return: true
    args:
    - index: 0
      type: file
    - index: 1
      type: int
    returnArg:
      index: 0
      type: int
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["/tmp/sem/guarded/"]
      matchActions:
      - action: Override
        argError: -1
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["/tmp/sem/open/file"]
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: override-and-kill
spec:
  kprobes:
  - call: security_file_open
    syscall: false
    args:
    - index: 0
      type: file
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["/tmp/sem/open/kill"]
      matchBinaries:
      - operator: In
        values: ["/tmp/bin/busybox"]
      matchActions:
      - action: Override
        argError: -13
      - action: Sigkill
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: five-args
spec:
  kprobes:
  - call: sys_mount
    syscall: true
    args:
    - index: 0
      type: string
    - index: 1
      type: string
    - index: 2
      type: string
    - index: 3
      type: uint64
    - index: 4
      type: uint64
    selectors:
    - matchArgs:
      - index: 1
        operator: Prefix
        values: ["/tmp/sem/mnt"]
      - index: 2
        operator: NotEqual
        values: ["xfs", "ext4"]
YAML

start_agent 3
ok "the three policies are enabled (return: true with Override, two actions in a selector, five args)"
$M tracingpolicy list -o json | grep -o '"name":"return-and-override"[^}]*"hooks":[0-9]*' | grep -q '"hooks":2' &&
  ok "return: true with an Override attaches two programs (entry and return)" || bad "hooks: $($M tracingpolicy list -o json)"

# dd: exactly one read(2), so one call of the hook (cat tries sendfile, then read: two).
dd if=/tmp/sem/guarded/key of=/tmp/read.out bs=64 count=1 2>/tmp/read.err
rc=$?
[ $rc -ne 0 ] && grep -q "not permitted" /tmp/read.err && [ ! -s /tmp/read.out ] &&
  ok "return: true + Override: the read fails with EPERM at entry" || bad "override at entry: rc $rc $(cat /tmp/read.err)"
[ "$(cat /tmp/sem/open/file)" = data ] && ok "the other selector's file reads normally" || bad "read of a posted file"
/tmp/bin/busybox cat /tmp/sem/open/kill >/dev/null 2>&1
rc=$?
[ $rc = 137 ] && ok "Override + Sigkill: the open by the listed binary is killed (rc 137)" || bad "override+kill: rc $rc"
[ "$(/bin/busybox cat /tmp/sem/open/kill)" = killme ] && ok "the same open by another binary works" || bad "other binary"
mkdir -p /tmp/sem/mnt1 /tmp/sem/mnt2 /tmp/sem/mntlast /tmp/sem-other
mount -t tmpfs none /tmp/sem/mnt1 && ok "a tmpfs mount under the prefix works (posted, not acted on)" || bad "mount"
mount -t xfs none /tmp/sem/mnt2 2>/dev/null  # fails (no such device); the call is made, of a type listed as NotEqual
mount -t tmpfs none /tmp/sem-other
# A marker last: its event in means the ones above are in too (one ring buffer, in order).
mount -t tmpfs none /tmp/sem/mntlast
i=0
until $M events --type process_kprobe -o json | grep -q '"string_arg":"/tmp/sem/mntlast"'; do
  i=$((i + 1)); [ $i -gt 150 ] && break; sleep 0.1
done
ev=$($M events --type process_kprobe -o json)
ro=$(echo "$ev" | grep '"policy_name":"return-and-override"')
echo "$ro" | grep '"path":"/tmp/sem/guarded/key"' | grep '"action":"KPROBE_ACTION_OVERRIDE"' | grep -q '"return":{"int_arg":-1}' &&
  ok "the overridden read is posted at entry with its errno as the return" || bad "override event: $ro"
[ "$(echo "$ro" | grep -c '"path":"/tmp/sem/guarded/key"')" = 1 ] && ok "once: the return probe does not post it again" || bad "override posted twice: $ro"
echo "$ro" | grep '"path":"/tmp/sem/open/file"' | grep '"action":"KPROBE_ACTION_POST"' | grep -q '"return":{"int_arg":0}' &&
  ok "the return probe posts the other selector's read with the function's return (0)" || bad "return event: $ro"
echo "$ev" | grep '"policy_name":"override-and-kill"' | grep '"path":"/tmp/sem/open/kill"' | grep -q '"action":"KPROBE_ACTION_OVERRIDE"' &&
  ok "the killed open is an event (Override)" || bad "kill event: $ev"
[ "$(echo "$ev" | grep '"policy_name":"override-and-kill"' | grep -c .)" = 1 ] && ok "the other binary's open is not posted" || bad "kill events"
fa=$(echo "$ev" | grep '"policy_name":"five-args"')
echo "$fa" | grep '"string_arg":"/tmp/sem/mnt1"' | grep '"string_arg":"tmpfs"' | grep -q '"string_arg":"none"' &&
  [ "$(echo "$fa" | grep -o '_arg"' | wc -l)" -ge 5 ] &&
  ok "five args are posted, matched on the args of index 1 (Prefix) and 2 (NotEqual xfs, ext4)" || bad "five args: $fa"
echo "$fa" | grep -q '"string_arg":"xfs"' && bad "the xfs mount matched NotEqual [xfs, ext4]: $fa" || ok "the xfs mount is filtered: NotEqual of several values is none of them"
[ "$(echo "$fa" | grep -c .)" = 2 ] && ok "only the two tmpfs mounts under the prefix are posted" || bad "five-args events: $fa"
$M events --type process_kprobe | tail -5
echo "$fails failed"
exit $fails
