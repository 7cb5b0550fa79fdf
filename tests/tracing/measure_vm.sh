#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs inside the VM for measure_policies.sh --vm: myelind on an empty
# /tmp/manifests, then measure_loop.sh over /work/policies (enforcing
# policies load here: the guest is ours alone).
. /work/agent.sh
mkdir -p /tmp/manifests /tmp/state
/work/myelind --node-name vm --pod-cidr 10.99.0.0/24 --api-socket /tmp/myelin.sock --bpffs-root /sys/fs/bpf/myelin/vm \
  --state-dir /tmp/state --manifests /tmp/manifests --metrics-addr "" --socket-lb false >/tmp/myelind.log 2>&1 &
i=0
until $M status -o json 2>/dev/null | /work/jq -e '.ready == true' >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 600 ]; then echo "myelind not ready:"; cat /tmp/myelind.log; exit 99; fi
  sleep 0.2
done
MYELIN="$M" JQ=/work/jq MEASURE_WAIT_STEPS=1500 sh /work/measure_loop.sh /work/policies /tmp/manifests 0
