#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs inside the VM (tests/vm/run-in-vm.sh, Debian's kernel booted with
# lsm=...,bpf): myelind loads a TracingPolicy with lsmhooks and the kernel
# refuses, before they happen, the unlink and rename of a protected file and
# the exec of a binary from a forbidden directory; the events say so.
# Exit status: the number of failed checks.
. /work/agent.sh

mkdir -p /tmp/protected /tmp/forbidden /tmp/manifests
echo secret >/tmp/protected/key
mkdir -p /tmp/frozen && echo cold >/tmp/frozen/item
echo scratch >/tmp/unprotected
cp /bin/busybox /tmp/forbidden/tool
cat >/tmp/manifests/protect.yaml <<'YAML'
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: protect-files
spec:
  lsmhooks:
  - hook: inode_unlink
    args:
    - index: 0
      type: dentry
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["/tmp/protected"]
      matchActions:
      - action: Override
        argError: -1
  - hook: path_rename
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["/tmp/frozen"]
      matchActions:
      - action: Override
        argError: -1
  - hook: inode_rename
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["/tmp/protected"]
      matchActions:
      - action: Override
        argError: -1
  - hook: bprm_check_security
    args:
    - index: 0
      type: linux_binprm
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["/tmp/forbidden"]
      matchActions:
      - action: Override
        argError: -13
YAML

start_agent 1
ok "TracingPolicy with lsmhooks enabled: $($M tracingpolicy list | tail -1 | cut -c1-60)"

rm -f /tmp/protected/key 2>/tmp/rm.err
if [ -f /tmp/protected/key ] && grep -q "not permitted" /tmp/rm.err; then ok "rm of the protected file: EPERM, the file survives"; else bad "rm: $(cat /tmp/rm.err)"; fi
mv /tmp/protected/key /tmp/stolen 2>/tmp/mv.err
if [ -f /tmp/protected/key ] && [ ! -e /tmp/stolen ]; then ok "mv of the protected file refused ($(cut -c1-60 /tmp/mv.err))"; else bad "mv"; fi
[ "$(cat /tmp/protected/key)" = secret ] && ok "its content is intact" || bad "content"
mv /tmp/frozen/item /tmp/thawed 2>/tmp/mv2.err
if [ -f /tmp/frozen/item ] && [ ! -e /tmp/thawed ] && grep -q "not permitted" /tmp/mv2.err; then ok "path_rename: mv out of the frozen directory refused (EPERM)"; else bad "path_rename: $(cat /tmp/mv2.err)"; fi
rm /tmp/unprotected && [ ! -e /tmp/unprotected ] && ok "rm elsewhere works" || bad "rm elsewhere"
/tmp/forbidden/tool true 2>/tmp/exec.err
rc=$?
if [ $rc -ne 0 ] && grep -q "Permission denied" /tmp/exec.err; then ok "exec from the forbidden directory fails with the chosen errno, EACCES (rc $rc: $(cut -c1-50 /tmp/exec.err))"; else bad "exec: rc $rc $(cat /tmp/exec.err)"; fi
/bin/busybox true && ok "exec elsewhere works" || bad "exec elsewhere"

i=0
until $M events --type process_lsm -o json | grep -q bprm_check_security; do
  i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
ev=$($M events --type process_lsm -o json)
echo "$ev" | grep '"function_name":"inode_unlink"' | grep '"path":"/tmp/protected/key"' | grep -q '"return_value":-1' &&
  ok "the unlink is a process_lsm event: path, action Override, return -1" || bad "unlink event: $ev"
echo "$ev" | grep -q '"function_name":"inode_rename"' && ok "the rename is an event" || bad "rename event"
echo "$ev" | grep '"function_name":"path_rename"' | grep -q '"path":"/tmp/frozen/item"' && ok "the path_rename refusal is an event with the path" || bad "path_rename event"
echo "$ev" | grep '"function_name":"bprm_check_security"' | grep '"action":"KPROBE_ACTION_OVERRIDE"' | grep -q '"return_value":-13' &&
  ok "the refused exec is an event (return -13)" || bad "exec event"
$M events --type process_lsm | head -3
echo "$fails failed"
exit $fails
