#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs inside the VM (tests/vm/run-in-vm.sh, Debian's kernel): TracingPolicy
# kprobes attached as fentry and fmod_ret, which this host kernel cannot load.
# - Override on a security_* function (fmod_ret): reading a protected file
#   fails with EPERM before anything is read; the same hook posts reads of
#   other files under a Prefix, with the path of the struct file argument;
# - live patch of write(2) above 4096 bytes for one binary: Debian's kernel
#   has no CONFIG_FUNCTION_ERROR_INJECTION, so a syscall's return cannot be
#   overridden there; the policy runs its Override as Sigkill and says
#   kill-after; smaller writes and other binaries are untouched;
# - a return probe (fexit) on openat with matchReturnArgs: only failed opens
#   under a prefix are posted, each with the errno it returned.
# Exit status: the number of failed checks.
. /work/agent.sh

mkdir -p /tmp/manifests /tmp/bin /tmp/watched
cp /bin/busybox /tmp/bin/busybox
echo data >/tmp/watched/data
echo secret >/tmp/watched/secret
cat >/tmp/manifests/kprobes.yaml <<'YAML'
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: live-patch-write
spec:
  kprobes:
  - call: sys_write
    syscall: true
    args:
    - index: 0
      type: fd
    - index: 2
      type: size_t
    selectors:
    - matchArgs:
      - index: 2
        operator: GT
        values: ["4096"]
      matchBinaries:
      - operator: In
        values: ["/tmp/bin/busybox"]
      matchActions:
      - action: Override
        argError: -27
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: file-reads
spec:
  kprobes:
  - call: security_file_permission
    syscall: false
    args:
    - index: 0
      type: file
    - index: 1
      type: int
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["/tmp/watched/secret"]
      matchActions:
      - action: Override
        argError: -1
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["/tmp/watched/"]
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: failed-opens
spec:
  kprobes:
  - call: sys_openat
    syscall: true
    return: true
    args:
    - index: 1
      type: string
    returnArg:
      index: 0
      type: int
    selectors:
    - matchArgs:
      - index: 1
        operator: Prefix
        values: ["/tmp/watched/"]
      matchReturnArgs:
      - index: 0
        operator: LT
        values: ["0"]
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: connects
spec:
  kprobes:
  - call: tcp_connect
    syscall: false
    args:
    - index: 0
      type: sock
    selectors:
    - matchArgs:
      - index: 0
        operator: DPort
        values: ["8080"]
      - index: 0
        operator: DAddr
        values: ["127.0.0.0/8"]
YAML

start_agent 4
ok "the kprobe policies are enabled (fentry, fmod_ret, fexit)"
$M status | grep -q "Override on security_\* kprobes: preventive" &&
  ok "status: Override on security_* kprobes is preventive here" || bad "status: $($M status | grep -i override)"
$M status | grep -q "Override on syscall kprobes: kill-after here" &&
  ok "status: Override on syscalls is kill-after here (no error injection)" || bad "status syscalls: $($M status | grep -i override)"
$M tracingpolicy list -o json | grep '"live-patch-write"' | grep -q 'kill-after on __x64_sys_write' &&
  ok "the write policy's mode says its Override runs as Sigkill here" || bad "mode: $($M tracingpolicy list -o json)"

cat /tmp/watched/secret >/tmp/read.out 2>/tmp/read.err
rc=$?
if [ $rc -ne 0 ] && grep -q "not permitted" /tmp/read.err && [ ! -s /tmp/read.out ]; then
  ok "reading the protected file fails with EPERM before anything is read ($(cut -c1-50 /tmp/read.err))"
else
  bad "override read: rc $rc $(cat /tmp/read.err) out=$(cat /tmp/read.out)"
fi
/tmp/bin/busybox dd if=/dev/zero of=/tmp/big bs=8192 count=1 2>/dev/null
rc=$?
[ $rc = 137 ] && ok "an 8 KiB write by the patched binary is killed (SIGKILL, rc 137)" || bad "kill: rc $rc"
/tmp/bin/busybox dd if=/dev/zero of=/tmp/small bs=1024 count=1 2>/dev/null && [ "$(stat -c %s /tmp/small)" = 1024 ] &&
  ok "a 1 KiB write by it works" || bad "small write"
/bin/busybox dd if=/dev/zero of=/tmp/other bs=8192 count=1 2>/dev/null && [ "$(stat -c %s /tmp/other)" = 8192 ] &&
  ok "the same 8 KiB write by another binary works" || bad "other binary"
cat /tmp/watched/data >/dev/null
cat /etc/hostname >/dev/null 2>&1
cat /tmp/watched/missing 2>/dev/null
ip link set lo up
# tcp_connect runs when the SYN is sent: nothing needs to listen (both are refused at once).
busybox nc 127.0.0.1 8080 </dev/null >/dev/null 2>&1
busybox nc 127.0.0.1 8081 </dev/null >/dev/null 2>&1
cat /tmp/elsewhere-missing 2>/dev/null
# Last, a posted marker: once its event is in, every event of the accesses
# above is too (one ring buffer, read in order), so what is absent below was
# filtered out, not merely late.
cat /tmp/watched/last-missing 2>/dev/null

i=0
until $M events --type process_kprobe -o json | grep -q '"string_arg":"/tmp/watched/last-missing"'; do
  i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
ev=$($M events --type process_kprobe -o json)
echo "$ev" | grep '"function_name":"security_file_permission"' | grep '"path":"/tmp/watched/secret"' | grep '"action":"KPROBE_ACTION_OVERRIDE"' | grep -q '"int_arg":-1' &&
  ok "the refused read is a process_kprobe event: path, Override, return -1" || bad "override event: $ev"
echo "$ev" | grep '"function_name":"__x64_sys_write"' | grep '"action":"KPROBE_ACTION_SIGKILL"' | grep -q '"size_arg":"8192"' &&
  ok "the killed write is an event: __x64_sys_write, size 8192, Sigkill" || bad "kill event: $ev"
echo "$ev" | grep '"function_name":"security_file_permission"' | grep -q '"path":"/tmp/watched/data"' &&
  ok "security_file_permission posts the file's path (struct file resolved in the kernel)" || bad "file event"
opens=$(echo "$ev" | grep '"policy_name":"failed-opens"')
echo "$opens" | grep '"function_name":"__x64_sys_openat"' | grep '"string_arg":"/tmp/watched/missing"' | grep -q '"return":{"int_arg":-2}' &&
  echo "$opens" | grep '"string_arg":"/tmp/watched/last-missing"' | grep -q '"return":{"int_arg":-2}' &&
  [ "$(echo "$opens" | grep -c .)" = 2 ] &&
  ok "return probe: only the two failed opens under the prefix are posted, with -2 (ENOENT)" || bad "return probe: $opens"
conns=$(echo "$ev" | grep '"policy_name":"connects"')
echo "$conns" | grep '"function_name":"tcp_connect"' | grep '"dport":8080' | grep '"daddr":"127.0.0.1"' | grep -q '"protocol":"IPPROTO_TCP"' &&
  [ "$(echo "$conns" | grep -c .)" = 1 ] &&
  ok "tcp_connect with a sock arg: only the connect to port 8080 is posted, with its addresses" || bad "sock: $conns"
n=$(echo "$ev" | grep '"function_name":"security_file_permission"' | grep -vc '"path":"/tmp/watched/')
[ "$n" = 0 ] && ok "no other file's access reached user space" || bad "$n events outside /tmp/watched/"
$M events --type process_kprobe | head -4
echo "$fails failed"
exit $fails
