#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs inside the VM (tests/vm/run-in-vm.sh, Debian's 6.1 kernel, which has
# no bpf_sock_destroy): myelind starts with socket LB on a cgroup of its own,
# loaded without the UDP socket iterator; status says connected UDP sockets
# of removed backends are not destroyed here; the socket LB still serves: a
# connect() from the cgroup to a Service without backends is refused at once
# and leaves a SERVICE_BACKEND_NOT_FOUND drop flow naming the Service.
# Exit status: the number of failed checks.
. /work/agent.sh

CG=/sys/fs/cgroup/mln-vm-socklb
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
mkdir -p "$CG" /tmp/manifests /tmp/state
cat >/tmp/manifests/empty.yaml <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: vm}
spec:
  clusterIP: 10.96.0.99
  clusterIPs: [10.96.0.99]
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
YAML

/work/myelind --node-name vm --pod-cidr 10.99.0.0/24 --api-socket /tmp/myelin.sock --bpffs-root /sys/fs/bpf/myelin/vm \
  --state-dir /tmp/state --manifests /tmp/manifests --metrics-addr "" --cgroup-root "$CG" >/tmp/myelind.log 2>&1 &
i=0
until $M status >/tmp/status.txt 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 600 ]; then echo "myelind did not answer:"; cat /tmp/myelind.log; exit 99; fi
  sleep 0.2
done
ok "myelind started with socket LB on kernel $(uname -r)"
grep -q "attached connect4" /tmp/myelind.log && ok "socket LB attached to $CG" || bad "socket LB attached: $(grep socket-lb /tmp/myelind.log)"
grep -E "sock-destroy +no " /tmp/status.txt >/dev/null && ok "feature report: $(grep -E 'sock-destroy ' /tmp/status.txt | tr -s ' ' | cut -c1-100)" ||
  bad "feature report: sock-destroy no ($(grep sock-destroy /tmp/status.txt))"
grep -E "sock-lb-udp-destroy +no " /tmp/status.txt >/dev/null && ok "status: $(grep sock-lb-udp-destroy /tmp/status.txt | tr -s ' ' | cut -c1-120)" ||
  bad "status: sock-lb-udp-destroy no ($(grep sock-lb-udp-destroy /tmp/status.txt))"
grep -q "are not destroyed on this node" /tmp/myelind.log && ok "the log says so" || bad "log: $(grep socket-lb /tmp/myelind.log)"

# in_cg CMD...: runs CMD inside the socket-LB cgroup.
in_cg() { sh -c 'echo $$ >'"$CG"'/cgroup.procs && exec "$@"' sh "$@"; }
i=0
until in_cg nc 10.96.0.99 80 </dev/null 2>&1 | grep -qi refused; do
  i=$((i + 1))
  [ $i -gt 100 ] && break  # the writer has not installed the frontend yet
  sleep 0.2
done
out=$(in_cg nc 10.96.0.99 80 </dev/null 2>&1)
echo "$out" | grep -qi refused && ok "no backends: connect() from the cgroup refused ($out)" || bad "no backends: refused, got '$out'"
out=$(in_cg nc 10.96.0.98 80 </dev/null 2>&1)
echo "$out" | grep -qi refused && bad "control: an address that is no frontend is refused too ('$out')" ||
  ok "control: an address that is no frontend is not refused by socket LB ($out)"
i=0
until $M observe --all -o json 2>/dev/null | grep '"Type":"SOCK"' | grep '"SERVICE_BACKEND_NOT_FOUND"' | grep -q '"name":"empty"'; do
  i=$((i + 1))
  [ $i -gt 50 ] && break
  sleep 0.2
done
$M observe --all -o json 2>/dev/null | grep '"Type":"SOCK"' | grep '"SERVICE_BACKEND_NOT_FOUND"' | grep -q '"name":"empty"' &&
  ok "the refusal is a Type SOCK SERVICE_BACKEND_NOT_FOUND flow naming vm/empty" ||
  bad "refusal flow: $($M observe --all -o json 2>&1 | tail -3)"
exit $fails
