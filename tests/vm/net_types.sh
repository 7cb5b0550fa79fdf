#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs inside the VM (tests/vm/run-in-vm.sh, Debian's kernel): the network
# and credential arg types of TracingPolicy kprobes (fentry/fexit), each
# with a workload that must be posted (or killed) and one that must not:
# - skb: ip_output's packets by protocol, destination port and NOT address
#   (dns-only-specified-servers' shape), with labels and a nop arg;
# - socket + sockaddr: security_socket_connect by family and port;
# - net_device + skb: dev_hard_start_xmit on lo by port;
# - cred: commit_creds of one binary's new user namespace;
# - user_namespace + capability + return: cap_capable of CAP_SYS_ADMIN;
# - nop + matchCapabilities: create_user_ns by a process without
#   CAP_SYS_ADMIN is killed, root's is not (kill_unprivileged_user_namespace);
# - TrackSock (sk_alloc's returned sock, returnArgAction), UntrackSock
#   (__sk_free, beside NoPost): a SYN to a tracked listener is reported as
#   the listener's process, though it runs in the client's (softirq).
# Args are listed at their own positions, so matchArgs' index reads the
# same whether it means a position or Tetragon's arg index.
# Exit status: the number of failed checks.
. /work/agent.sh
# The events (lines of JSON) whose process (not parent) runs binary $1.
proc_bin() { grep "\"process\":{[^}]*\"binary\":\"$1\""; }

mkdir -p /tmp/manifests /tmp/bin /tmp/srv /etc
cp /bin/busybox /tmp/bin/busybox
cp /bin/busybox /tmp/srv/busybox
printf 'root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n' >/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' >/etc/group
sysctl -w kernel.unprivileged_userns_clone=1 >/dev/null 2>&1
cat >/tmp/manifests/net.yaml <<'YAML'
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: dns-others
spec:
  kprobes:
  - call: ip_output
    syscall: false
    args:
    - {index: 0, type: nop}
    - {index: 1, type: sock, label: sock}
    - {index: 2, type: skb, label: datagram}
    selectors:
    - matchArgs:
      - {index: 2, operator: Protocol, values: [IPPROTO_TCP, IPPROTO_UDP]}
      - {index: 2, operator: DPort, values: ["5353"]}
      - {index: 2, operator: NotDAddr, values: [127.0.0.53]}
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: connects
spec:
  kprobes:
  - call: security_socket_connect
    syscall: false
    args:
    - {index: 0, type: socket}
    - {index: 1, type: sockaddr}
    - {index: 2, type: int}
    selectors:
    - matchArgs:
      - {index: 0, operator: Protocol, values: [IPPROTO_TCP]}
      - {index: 1, operator: Family, values: [AF_INET]}
      - {index: 1, operator: SPort, values: ["8081"]}
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: lo-xmit
spec:
  kprobes:
  - call: dev_hard_start_xmit
    syscall: false
    args:
    - {index: 0, type: skb}
    - {index: 1, type: net_device}
    selectors:
    - matchArgs:
      - {index: 1, operator: Equal, values: [lo]}
      - {index: 0, operator: DPort, values: ["1339"]}
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: creds
spec:
  kprobes:
  - call: commit_creds
    syscall: false
    args:
    - {index: 0, type: cred}
    selectors:
    - matchBinaries:
      - {operator: In, values: [/tmp/bin/busybox]}
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: caps-used
spec:
  kprobes:
  - call: cap_capable
    syscall: false
    return: true
    args:
    - {index: 0, type: nop}
    - {index: 1, type: user_namespace}
    - {index: 2, type: capability}
    returnArg: {index: 0, type: int}
    selectors:
    - matchArgs:
      - {index: 2, operator: Equal, values: ["21"]}
      matchBinaries:
      - {operator: In, values: [/tmp/bin/busybox]}
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: userns-unprivileged
spec:
  kprobes:
  - call: create_user_ns
    syscall: false
    args:
    - {index: 0, type: nop}
    selectors:
    - matchCapabilities:
      - {type: Effective, operator: NotIn, values: [CAP_SYS_ADMIN]}
      matchActions:
      - action: Sigkill
---
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: listen-track
spec:
  kprobes:
  - call: sk_alloc
    syscall: false
    return: true
    args:
    - {index: 0, type: nop}
    - {index: 1, type: int, label: family}
    returnArg: {index: 0, type: sock}
    returnArgAction: TrackSock
    selectors:
    - matchArgs:
      - {index: 1, operator: Equal, values: ["2", "10"]}
      matchBinaries:
      - {operator: In, values: [/tmp/srv/busybox]}
      matchActions:
      - action: NoPost
  - call: __sk_free
    syscall: false
    args:
    - {index: 0, type: sock}
    selectors:
    - matchActions:
      - {action: UntrackSock, argSock: 0}
      - {action: NoPost}
  - call: tcp_conn_request
    syscall: false
    args:
    - {index: 0, type: nop}
    - {index: 1, type: nop}
    - {index: 2, type: sock, label: listener}
    selectors:
    - matchArgs:
      - {index: 2, operator: SPort, values: ["1337", "1338"]}
YAML

start_agent 7
ok "the 7 policies of network and credential args are enabled"

# skb: TCP SYNs to 5353 (nothing listens: refused at once)
busybox nc 127.0.0.1 5353 </dev/null >/dev/null 2>&1
busybox nc 127.0.0.53 5353 </dev/null >/dev/null 2>&1
busybox nc 127.0.0.1 5354 </dev/null >/dev/null 2>&1
# socket + sockaddr
busybox nc 127.0.0.1 8082 </dev/null >/dev/null 2>&1
# net_device
busybox nc 127.0.0.1 1339 </dev/null >/dev/null 2>&1
busybox nc 127.0.0.1 1340 </dev/null >/dev/null 2>&1
# cred and cap_capable: a new user namespace, a hostname set by the watched binary; others by /bin/busybox
/tmp/bin/busybox unshare -U /tmp/bin/busybox true
/bin/busybox unshare -U /bin/busybox true
h=$(hostname)
/tmp/bin/busybox hostname vm-net-types && /tmp/bin/busybox hostname "$h"
/bin/busybox hostname vm-other && /bin/busybox hostname "$h"
# create_user_ns without CAP_SYS_ADMIN: killed; root's is not
out=$(su -s /bin/sh nobody -c '/bin/busybox unshare -U /bin/busybox true; echo "rc=$?"' 2>&1)
echo "$out" | grep -q 'rc=137' && ok "an unprivileged user namespace is killed (SIGKILL, rc 137)" || bad "unprivileged unshare: $out"
/bin/busybox unshare -U /bin/busybox true && ok "root creates a user namespace (CAP_SYS_ADMIN)" || bad "root's unshare: rc $?"
# TrackSock: a listener of the tracked binary, one of another; SYNs from a third binary
/tmp/srv/busybox nc -l -p 1337 </dev/null >/dev/null 2>&1 &
srv=$!
/bin/busybox nc -l -p 1338 </dev/null >/dev/null 2>&1 &
other=$!
i=0
until netstat -ltn 2>/dev/null | grep -q ':1338 '; do i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1; done
until netstat -ltn 2>/dev/null | grep -q ':1337 '; do i=$((i + 1)); [ $i -gt 200 ] && break; sleep 0.1; done
/tmp/bin/busybox nc -w 2 127.0.0.1 1337 </dev/null >/dev/null 2>&1
/tmp/bin/busybox nc -w 2 127.0.0.1 1338 </dev/null >/dev/null 2>&1
kill $srv $other 2>/dev/null
# Last, a posted marker: once it is in, every event above is (one ring, read in order).
busybox nc 127.0.0.1 8081 </dev/null >/dev/null 2>&1

i=0
until $M events --type process_kprobe -o json | grep '"function_name":"security_socket_connect"' | grep -q '"port":8081'; do
  i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
ev=$($M events --type process_kprobe -o json)

dns=$(echo "$ev" | grep '"policy_name":"dns-others"')
echo "$dns" | grep '"skb_arg":{' | grep '"daddr":"127.0.0.1"' | grep '"dport":5353' | grep '"protocol":"IPPROTO_TCP"' |
  grep '"family":"AF_INET"' | grep '"label":"datagram"' | grep -q '"label":"sock"' &&
  ok "skb: the SYN to 127.0.0.1:5353 is posted with its skb_arg and labels" || bad "skb: $dns"
echo "$dns" | grep -q '127.0.0.53' && bad "skb: NotDAddr let 127.0.0.53 through: $dns" || ok "skb: nothing to 127.0.0.53 (NotDAddr)"
echo "$dns" | grep -q '"dport":5354' && bad "skb: port 5354 posted" || ok "skb: nothing to port 5354 (DPort)"
echo "$dns" | grep '"dport":5353' | head -1 | grep -q '"args":\[{"label":"sock","sock_arg"' &&
  ok "skb: the nop arg is not shown (the sock is the first arg)" || bad "nop: $(echo "$dns" | head -1)"

conns=$(echo "$ev" | grep '"policy_name":"connects"')
echo "$conns" | grep '"sockaddr_arg":{"addr":"127.0.0.1","family":"AF_INET","port":8081}' | grep -q '"protocol":"IPPROTO_TCP"' &&
  ok "socket + sockaddr: the connect to 127.0.0.1:8081 is posted with sockaddr_arg and sock_arg" || bad "connect: $conns"
echo "$conns" | grep -q '"port":8082' && bad "connect: port 8082 posted" || ok "socket + sockaddr: the connect to 8082 is not"

xmit=$(echo "$ev" | grep '"policy_name":"lo-xmit"')
echo "$xmit" | grep '"string_arg":"lo"' | grep -q '"dport":1339' &&
  ok "net_device: the packet to 1339 on lo is posted, the device as its name" || bad "net_device: $xmit"
echo "$xmit" | grep -q '"dport":1340' && bad "net_device: port 1340 posted" || ok "net_device: port 1340 is not"

creds=$(echo "$ev" | grep '"policy_name":"creds"')
echo "$creds" | grep '"process_credentials_arg":{' | proc_bin /tmp/bin/busybox | grep -q '"user_ns":{"gid":0,"level":1' &&
  ok "cred: commit_creds of the new user namespace (level 1) is posted with process_credentials_arg" || bad "cred: $creds"
echo "$creds" | proc_bin /bin/busybox | grep -q . && bad "cred: another binary posted" || ok "cred: other binaries' commit_creds are not"

caps=$(echo "$ev" | grep '"policy_name":"caps-used"')
echo "$caps" | grep '"capability_arg":{"name":"CAP_SYS_ADMIN","value":21}' | grep '"user_ns_arg":{' | grep '"is_host":true' |
  grep -q '"return":{"int_arg":0}' &&
  ok "user_namespace + capability: cap_capable of CAP_SYS_ADMIN in the host namespace, returned 0" || bad "caps: $caps"
echo "$caps" | proc_bin /bin/busybox | grep -q . && bad "caps: another binary posted" || ok "caps: other binaries' checks are not"

kills=$(echo "$ev" | grep '"policy_name":"userns-unprivileged"')
echo "$kills" | grep '"function_name":"create_user_ns"' | grep -q '"action":"KPROBE_ACTION_SIGKILL"' &&
  [ "$(echo "$kills" | grep -c .)" = 1 ] &&
  ok "nop + matchCapabilities: one create_user_ns event, Sigkill (root's not matched)" || bad "userns: $kills"

track=$(echo "$ev" | grep '"policy_name":"listen-track"')
echo "$track" | grep '"label":"listener"' | grep '"sport":1337' | proc_bin /tmp/srv/busybox | grep -q . &&
  ok "TrackSock: the SYN to the tracked listener is reported as the listener's process" || bad "track: $track"
echo "$track" | grep '"sport":1338' | proc_bin /tmp/bin/busybox | grep -q . &&
  ok "TrackSock: the SYN to an untracked listener is the current (client's) process" || bad "untracked: $track"
echo "$track" | grep -q '"function_name":"sk_alloc"\|"function_name":"__sk_free"' && bad "NoPost hooks posted: $track" ||
  ok "TrackSock / UntrackSock beside NoPost post nothing"
$M events --type process_kprobe | tail -8
echo "$fails failed"
exit $fails
