#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs inside the VM (tests/vm/run-in-vm.sh): the per-packet datapath objects
# (lxc.bpf.o: the pod veth, Services included; host.bpf.o: NodePort on the
# devices; overlay.bpf.o: the VXLAN device of tunnel mode) pass the verifier of Debian's stock kernel, older than this host's
# (6.1 takes no global function's pointer argument as a map key, for one).
# The enforcement tests see a failing lxc.bpf.o only as an agent that never
# gets ready; this names the program and prints the verifier's last words,
# and covers host.bpf.o, which they never load (the guest has no devices).
# Exit status: the number of objects that did not load.
mount -t bpf bpf /sys/fs/bpf
fails=0
for o in lxc host overlay; do
  mkdir -p "/sys/fs/bpf/load-$o"
  if /work/bpftool -d prog loadall "/work/$o.bpf.o" "/sys/fs/bpf/load-$o" >"/tmp/$o.log" 2>&1; then
    echo "  ok   $o.bpf.o loads: $(ls "/sys/fs/bpf/load-$o" | tr '\n' ' ')"
    grep -E "^verification time|^stack depth|^processed" "/tmp/$o.log" | sed 's/^/       /'
  else
    echo "  FAIL $o.bpf.o does not load"
    # The last verifier log is the refused program's; its end says why.
    grep -B 8 -e '-- END PROG LOAD LOG --' "/tmp/$o.log" | tail -n 9 | sed 's/^/       /'
    grep -E "failed to load|not found in kernel" "/tmp/$o.log" | sed 's/^/       /'
    fails=$((fails + 1))
  fi
done
exit $fails
