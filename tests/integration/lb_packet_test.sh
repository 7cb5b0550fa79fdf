#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The per-packet Service path (lxc.bpf.c, lib/lb_nat.h) with real traffic
# between pods, the Services maps written by hand (bpftool), not by the
# agent: a TCP connection through a ClusterIP reaches the backend with the
# client's address and its answer comes back from the ClusterIP; a frontend
# without backends refuses at once, TCP (RST) and UDP (ICMP port
# unreachable: ECONNREFUSED on a connected socket); UDP through it; a DNAT
# of the node's stack (kube-proxy's) undone on the way back; a pod reaching itself
# through its Service (hairpin) sees the service-loopback address. Real veths,
# real checksum offloads, redirect_peer: what BPF_PROG_TEST_RUN cannot show.
source "$(dirname "$0")/common.sh"

mln_init
mln_node_up 10.213.0.0/24
mln_pod_add a
mln_pod_add b
A=${MLN_POD_IP[a]} B=${MLN_POD_IP[b]}
VIP=10.96.77.10
PY=/usr/bin/python3
t_eq() { [ "$2" = "$3" ] && t_ok "$1" || t_bad "$1" "expected '$2', got '$3'"; }
echo "pods: a=$A b=$B, ClusterIP $VIP"

# Little-endian / network-order hex bytes for bpftool.
le32() { printf '%02x %02x %02x %02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
le16() { printf '%02x %02x' $(($1 & 255)) $((($1 >> 8) & 255)); }
be16() { printf '%02x %02x' $((($1 >> 8) & 255)) $(($1 & 255)); }
addr() { local IFS=.; set -- $1; printf '%02x %02x %02x %02x 00 00 00 00 00 00 00 00 00 00 00 00' "$1" "$2" "$3" "$4"; }
map() { bpftool map update pinned "$MLN_BPFFS/$1" key hex $2 value hex $3; }

# config: enabled, Maglev size, NodePort range, hairpin address 169.254.42.1
map myelin_lb_cfg "$(le32 0)" "$(le32 1) $(le32 16381) $(le16 30000) $(le16 32767) a9 fe 2a 01"
backend() {  # id ip port proto
  map myelin_lb_be "$(le32 "$1")" "$(addr "$2") $(be16 "$3") $(printf %02x "$4") 01 04 00 00 00"
}
frontend() {  # vip port proto rev backend-ids...
  local vip=$1 port=$2 proto=$3 rev=$4 slot=1; shift 4
  for id in "$@"; do
    map myelin_lb_svc "$(addr "$vip") $(be16 "$port") $(printf %02x "$proto") 00 $(le16 $slot) 04 00" \
      "$(le32 "$id") $(le16 0) $(le16 "$rev") $(le32 0) $(le32 0)"
    slot=$((slot + 1))
  done
  map myelin_lb_svc "$(addr "$vip") $(be16 "$port") $(printf %02x "$proto") 00 $(le16 0) 04 00" \
    "$(le32 0) $(le16 $#) $(le16 "$rev") $(le32 1) $(le32 0)"
  map myelin_lb_revnat "$(le32 "$rev")" "$(addr "$vip") $(be16 "$port") 04 00"
}
backend 1 "$B" 8080 6
backend 2 "$A" 9090 6
backend 3 "$B" 5353 17
frontend "$VIP" 80 6 7 1
frontend "$VIP" 81 6 8
frontend "$VIP" 53 17 9
frontend "$VIP" 54 17 11 3
frontend "$VIP" 90 6 10 2

# A one-shot TCP server: prints its peer, answers "pong".
server() {  # pod port out
  mln_pod_bg "$1" timeout 20 $PY -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1)
c, peer = s.accept(); c.recv(100); c.sendall(b"pong"); print(peer[0], flush=True); c.close()' "$2" >"$3"
  mln_wait_listen "$1" "$2" tcp
}
client() {  # pod ip port: prints the answer and the peer the socket saw
  mln_pod "$1" timeout 10 $PY -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"ping"); print(s.recv(100).decode(), s.getpeername()[0])' "$2" "$3"
}

echo "-- TCP through the ClusterIP"
server b 8080 "$MLN_TMP/b.peer"
out=$(client a "$VIP" 80 || true)
t_eq "a gets b's answer from the ClusterIP" "pong $VIP" "$out"
mln_retry 50 0.1 grep -q . "$MLN_TMP/b.peer" || true
t_eq "b sees a's own address (source preserved)" "$A" "$(cat "$MLN_TMP/b.peer")"

echo "-- UDP through the ClusterIP (port 54 -> 5353)"
mln_pod_bg b timeout 20 $PY -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 5353))
d, peer = s.recvfrom(100); s.sendto(b"answer", peer)'
mln_wait_listen b 5353 udp
out=$(mln_pod a timeout 10 $PY -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect((sys.argv[1], 54)); s.settimeout(5)
s.send(b"query"); print(s.recv(100).decode())' "$VIP" || true)
t_eq "a's connected UDP socket gets b's answer" "answer" "$out"

echo "-- beside kube-proxy: a DNAT in the node's stack is undone on the way back"
# No Myelin frontend for this address: the node's iptables translates it, as
# kube-proxy would. b's reply must go back through the stack (VIA_STACK).
KP=10.96.77.20
mln_node sysctl -qw net.ipv4.ip_forward=1
mln_node iptables -t nat -A PREROUTING -d "$KP" -p tcp --dport 80 -j DNAT --to-destination "$B:8081"
server b 8081 "$MLN_TMP/b2.peer"
out=$(client a "$KP" 80 || true)
t_eq "a gets b's answer from the kube-proxy address" "pong $KP" "$out"

echo "-- no backends: refused at once"
out=$(mln_pod a timeout 10 $PY -c '
import socket, sys, time
t = time.monotonic()
try:
    socket.create_connection((sys.argv[1], 81), timeout=5); print("connected")
except ConnectionRefusedError:
    print("refused", "fast" if time.monotonic() - t < 1 else "slow")
except OSError as e:
    print("error", e)' "$VIP" || true)
t_eq "TCP connect to a frontend without backends" "refused fast" "$out"
out=$(mln_pod a timeout 10 $PY -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect((sys.argv[1], 53)); s.settimeout(3)
s.send(b"q")
try:
    s.recv(100); print("answered")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")' "$VIP" || true)
t_eq "UDP to a frontend without backends" "refused" "$out"

echo "-- hairpin: a reaches itself through its Service"
server a 9090 "$MLN_TMP/a.peer"
out=$(client a "$VIP" 90 || true)
t_eq "a gets its own answer from the ClusterIP" "pong $VIP" "$out"
mln_retry 50 0.1 grep -q . "$MLN_TMP/a.peer" || true
t_eq "a's server sees the service-loopback address" "169.254.42.1" "$(cat "$MLN_TMP/a.peer")"

t_summary
