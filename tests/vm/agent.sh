# SPDX-License-Identifier: Apache-2.0
# Sourced by the scripts that run inside the VM (copied to /work/agent.sh):
# check reporting, and myelind started on /tmp/manifests with the CLI in $M.
fails=0
ok() { echo "  ok   $1"; }
bad() { echo "  FAIL $1"; fails=$((fails + 1)); }
M="/work/myelin --socket /tmp/myelin.sock"

# Socket LB off: these checks need no Services, and the VM's stock kernel may
# lack bpf_sock_destroy (6.5).
# start_agent N: myelind runs and N TracingPolicies are enabled (bounded wait; exit 99 otherwise).
start_agent() {
  mkdir -p /tmp/state
  /work/myelind --node-name vm --pod-cidr 10.99.0.0/24 --api-socket /tmp/myelin.sock --bpffs-root /sys/fs/bpf/myelin/vm \
    --state-dir /tmp/state --manifests /tmp/manifests --metrics-addr "" --socket-lb false >/tmp/myelind.log 2>&1 &
  i=0
  until [ "$($M tracingpolicy list -o json 2>/dev/null | grep -o '"state":"enabled"' | wc -l)" = "$1" ]; do
    i=$((i + 1))
    if [ $i -gt 600 ]; then
      echo "myelind did not enable $1 policies:"; cat /tmp/myelind.log; $M tracingpolicy list 2>&1
      exit 99
    fi
    sleep 0.2
  done
}
