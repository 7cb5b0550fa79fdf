#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's socket-level load balancing, end to end: myelind attaches its
# cgroup programs to this run's cgroup (cluster.sh, --cgroup-root) and to
# nothing else; a client pod started inside that cgroup (mln_pod_lb) that
# connects to a ClusterIP lands on the backend pod and sees the ClusterIP as
# its peer; a frontend without backends refuses TCP and UDP at once; and the
# translation is a Hubble trace-sock flow (Type SOCK, TRANSLATED) naming the
# client pod in `myelin observe`. A client outside the cgroup (mln_pod) is
# not translated at the socket (no SOCK flow of it): the control.
#
# The frontends are written into the pinned Services maps with bpftool, as
# the Services writer would (abi/lb.h layouts), on addresses no Service of
# the test uses, so this test needs nothing but the datapath and the agent.
source "$(dirname "$0")/common.sh"

mln_init
MLN_NODE_NAME=socklb-node
MLN_AGENT_ARGS=(--metrics-addr 127.0.0.1:9962)
mln_node_up 10.213.0.0/24
mln_pod_add client ns-a
mln_pod_add outside ns-a
mln_pod_add backend ns-b
BE=${MLN_POD_IP[backend]}
echo "pods: client=${MLN_POD_IP[client]} outside=${MLN_POD_IP[outside]} backend=$BE; cgroup $MLN_CGROUP"

echo "-- attached to this run's cgroup only"
grep -q "socket-lb: attached connect4, sendmsg4, recvmsg4, getpeername4 to $MLN_CGROUP" "$MLN_AGENT_LOG" &&
  t_ok "the agent attached to --cgroup-root $MLN_CGROUP" || t_bad "the agent attached to the run's cgroup" "$(grep socket-lb "$MLN_AGENT_LOG")"
ours=$(bpftool -j cgroup show "$MLN_CGROUP" | jq -r '[.[] | .name] | sort | join(",")')
[ "$ours" = "sock4_connect,sock4_getpeername,sock4_recvmsg,sock4_sendmsg" ] &&
  t_ok "bpftool: the four programs on the run's cgroup" || t_bad "bpftool: the four programs on the run's cgroup" "$ours"
ids=$(bpftool -j cgroup show "$MLN_CGROUP" | jq -r '.[].id')
root_ids=$(bpftool -j cgroup show "$(mln_cgroup2_mount)" | jq -r '.[].id')
leaked=0
[ -n "$ids" ] || leaked=1  # nothing to compare would prove nothing
for id in $ids; do grep -qx "$id" <<<"$root_ids" && leaked=1; done
[ "$leaked" -eq 0 ] && t_ok "none of them on the machine's cgroup root" || t_bad "a program of ours is on the machine's cgroup root"

echo "-- frontends in the pinned maps"
hex() { python3 -c "import struct,sys,socket; sys.stdout.write(' '.join('%02x' % b for b in eval(sys.argv[1])))" "$1"; }
ip4() { echo "socket.inet_aton('$1') + bytes(12)"; }
upd() { bpftool map update pinned "$MLN_BPFFS/$1" key hex $(hex "$2") value hex $(hex "$3"); }
# config: enabled
upd myelin_lb_cfg "struct.pack('<I', 0)" "struct.pack('<IIHHI', 1, 0, 0, 0, 0)"
# backend 1: the backend pod, TCP 8080, active
upd myelin_lb_be "struct.pack('<I', 1)" "$(ip4 "$BE") + struct.pack('>H', 8080) + struct.pack('<BBB3x', 6, 1, 4)"
# svc key: addr, dport (be), proto, scope, slot, family, pad; value: backend, count, rev, flags, affinity
svc() {  # $1 = address, $2 = port, $3 = proto, $4 = slot, $5 = backend, $6 = count, $7 = rev_nat_index
  upd myelin_lb_svc "$(ip4 "$1") + struct.pack('>H', $2) + struct.pack('<BBHBx', $3, 0, $4, 4)" \
    "struct.pack('<IHHII', $5, $6, $7, 1, 10800)"
}
svc 10.97.0.10 80 6 1 1 0 21
svc 10.97.0.10 80 6 0 0 1 21
svc 10.97.0.20 80 6 0 0 0 22   # no backends
svc 10.97.0.20 53 17 0 0 0 23  # no backends
t_ok "frontends written (10.97.0.10:80 -> $BE:8080; 10.97.0.20 none)"

mln_pod_bg backend python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 8080)); s.listen(16)
while True:
    c, a = s.accept(); c.sendall(b"backend\n"); c.close()'
mln_wait_listen backend 8080 tcp

client='
import socket, sys
s = socket.socket(); s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except OSError as e:
    print("error", e.errno); sys.exit(0)
print("peer", "%s:%d" % s.getpeername(), s.recv(64).decode().strip())'
udp_client='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); s.send(b"q")
except OSError as e:
    print("error", e.errno); sys.exit(0)
print("connected")'

echo "-- inside the cgroup: translated at the socket"
out=$(mln_pod_lb client python3 -c "$client" 10.97.0.10 80)
[ "$out" = "peer 10.97.0.10:80 backend" ] && t_ok "connect to the ClusterIP lands on the backend; getpeername is the ClusterIP" ||
  t_bad "connect through the socket LB" "$out"
out=$(mln_pod_lb client python3 -c "$client" 10.97.0.20 80)
[ "$out" = "error 111" ] && t_ok "no backends: TCP connect refused at once (ECONNREFUSED)" || t_bad "no backends: TCP refused" "$out"
out=$(mln_pod_lb client python3 -c "$udp_client" 10.97.0.20 53)
[ "$out" = "error 111" ] && t_ok "no backends: UDP connect refused (ECONNREFUSED)" || t_bad "no backends: UDP refused" "$out"

echo "-- outside the cgroup: not translated at the socket (the control)"
out=$(mln_pod outside timeout 5 python3 -c "$client" 10.97.0.10 80 || true)
echo "   outside client: ${out:-timed out}"

echo "-- the translation as a Hubble trace-sock flow"
sock_flow() {
  mln_myelin observe --all -o json >"$MLN_TMP/flows.json" 2>/dev/null || return 1
  jq -e -s --arg be "$BE" 'map(.flow // empty | select(.Type == "SOCK" and .verdict == "TRANSLATED"
      and .sock_xlate_point == "SOCK_XLATE_POINT_POST_DIRECTION_FWD" and .IP.destination == $be
      and .l4.TCP.destination_port == 8080 and .source.pod_name == "client" and .source.namespace == "ns-a"
      and ((.socket_cookie // "0") | tonumber) > 0 and ((.cgroup_id // "0") | tonumber) > 0)) | length > 0' \
    "$MLN_TMP/flows.json" >/dev/null
}
if mln_retry 50 0.1 sock_flow; then t_ok "observe: Type SOCK, TRANSLATED, POST_DIRECTION_FWD to $BE:8080, source client, cookie and cgroup id"
else t_bad "observe: the socket translation flow" "$(jq -c -s 'map(.flow // empty | select(.Type == "SOCK"))' "$MLN_TMP/flows.json" | head -c 2000)"; fi
cg_id=$(stat -c %i "$MLN_CGROUP")
jq -e -s --arg cg "$cg_id" 'map(.flow // empty | select(.Type == "SOCK" and .cgroup_id == $cg)) | length > 0' "$MLN_TMP/flows.json" >/dev/null &&
  t_ok "its cgroup_id is the run's cgroup ($cg_id)" || t_bad "cgroup_id of the SOCK flow" "expected $cg_id"
n=$(jq -s 'map(.flow // empty | select(.Type == "SOCK" and .source.pod_name == "outside")) | length' "$MLN_TMP/flows.json")
[ "$n" -eq 0 ] && t_ok "no SOCK flow of the pod outside the cgroup" || t_bad "no SOCK flow of the pod outside the cgroup" "$n"

echo "-- metrics"
metrics=$(mln_node curl -sf --max-time 5 http://127.0.0.1:9962/metrics || true)
grep -qE '^myelin_sock_lb_attached(\{\})? 1' <<<"$metrics" && t_ok "metric: myelin_sock_lb_attached 1" ||
  t_bad "metric: myelin_sock_lb_attached 1" "$(grep sock_lb <<<"$metrics" | head -5)"
grep -qE '^myelin_sock_lb_translations_total\{direction="forward"\} [1-9]' <<<"$metrics" &&
  t_ok "metric: forward translations counted" || t_bad "metric: forward translations" "$(grep sock_lb <<<"$metrics" | head -5)"

t_summary
