#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The per-packet Service path (lxc.bpf.c, lib/lb_nat.h) with real traffic
# between pods, the Services given as manifests and installed by the
# agent's own ServiceManager and LbWriter: a TCP connection through a
# ClusterIP reaches the backend with the client's address and its answer
# comes back from the ClusterIP; a Service without endpoints refuses at
# once, TCP (RST) and UDP (ICMP port unreachable: ECONNREFUSED on a
# connected socket); UDP through it; a DNAT of the node's stack
# (kube-proxy's) undone on the way back; a pod reaching itself through its
# Service (hairpin) sees the service-loopback address. The clients run
# outside the socket-LB cgroup (mln_pod), so the per-packet path is the one
# that translates. Real veths, real checksum offloads, redirect_peer: what
# BPF_PROG_TEST_RUN cannot show.
source "$(dirname "$0")/common.sh"

mln_init
VIP=10.96.77.10 SELF=10.96.77.11 EMPTY=10.96.77.12
M="$MLN_TMP/manifests"
mkdir -p "$M"
cat >"$M/lb.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default, labels: {app: a}}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: default, labels: {app: b}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: $VIP
  selector: {app: b}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: dns, port: 54, protocol: UDP, targetPort: 5353}
---
apiVersion: v1
kind: Service
metadata: {name: self, namespace: default}
spec:
  clusterIP: $SELF
  selector: {app: a}
  ports: [{port: 90, targetPort: 9090}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  clusterIP: $EMPTY
  selector: {app: nobody}
  ports:
  - {name: http, port: 81}
  - {name: dns, port: 53, protocol: UDP}
EOF
MLN_AGENT_ARGS=(--manifests "$M" --metrics-addr "")
mln_node_up 10.213.0.0/24
mln_pod_add a
mln_pod_add b
A=${MLN_POD_IP[a]} B=${MLN_POD_IP[b]}
PY=/usr/bin/python3
t_eq() { [ "$2" = "$3" ] && t_ok "$1" || t_bad "$1" "expected '$2', got '$3'"; }
echo "pods: a=$A b=$B, ClusterIPs $VIP (b), $SELF (a), $EMPTY (no endpoints)"

# The writer's frontends, as `myelin bpf lb list` shows them: each
# "ADDR:PORT/PROTO=BACKENDS" ("-": none), once the pods' endpoints are in.
frontends() {
  mln_myelin bpf lb list -o json | jq -r '[.frontends[] | "\(.address):\(.port)/\(.protocol)=\(.slots // [] | map(.backend) | sort | join(",") | if . == "" then "-" else . end)"] | sort | join(" ")'
}
want="$VIP:54/UDP=$B:5353 $VIP:80/TCP=$B:8080 $SELF:90/TCP=$A:9090 $EMPTY:53/UDP=- $EMPTY:81/TCP=-"
want=$(tr ' ' '\n' <<<"$want" | sort | tr '\n' ' ' | sed 's/ $//')
if mln_retry 100 0.1 test "$(frontends)" = "$want"; then
  t_ok "the writer installed the three Services' frontends from the manifests"
else
  t_bad "the writer installed the three Services' frontends" "expected '$want', got '$(frontends)'"
fi
[ "$(mln_myelin bpf lb list -o json | jq -r '.enabled')" = true ] && t_ok "the writer enabled the Services config slot" ||
  t_bad "the writer enabled the Services config slot"

# A one-shot TCP server: answers "pong"; `peer POD PORT` is the address it saw.
server() {  # pod port
  mln_pod_bg "$1" timeout 20 $PY -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1)
c, peer = s.accept(); c.recv(100); c.sendall(b"pong"); print(peer[0], flush=True); c.close()' "$2" >"$MLN_TMP/$1.$2.peer"
  mln_wait_listen "$1" "$2" tcp
}
peer() {  # pod port: what server's accept() returned (waits for it, bounded)
  mln_retry 50 0.1 grep -q . "$MLN_TMP/$1.$2.peer" || true
  cat "$MLN_TMP/$1.$2.peer"
}
client() {  # pod ip port: prints the answer and the peer the socket saw
  mln_pod "$1" timeout 10 $PY -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"ping"); print(s.recv(100).decode(), s.getpeername()[0])' "$2" "$3"
}

echo "-- TCP through the ClusterIP"
server b 8080
out=$(client a "$VIP" 80 || true)
t_eq "a gets b's answer from the ClusterIP" "pong $VIP" "$out"
t_eq "b sees a's own address (source preserved)" "$A" "$(peer b 8080)"

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
server b 8081
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
    print("error", e)' "$EMPTY" || true)
t_eq "TCP connect to a Service without endpoints" "refused fast" "$out"
out=$(mln_pod a timeout 10 $PY -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect((sys.argv[1], 53)); s.settimeout(3)
s.send(b"q")
try:
    s.recv(100); print("answered")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")' "$EMPTY" || true)
t_eq "UDP to a Service without endpoints" "refused" "$out"
mln_myelin status -o json >"$MLN_TMP/status.json"
t_jq "SERVICE_BACKEND_NOT_FOUND drops counted" \
  '.drops // [] | map(select(.reason == "SERVICE_BACKEND_NOT_FOUND" and (.packets|tonumber) >= 2)) | length > 0' "$MLN_TMP/status.json"

echo "-- hairpin: a reaches itself through its Service"
server a 9090
out=$(client a "$SELF" 90 || true)
t_eq "a gets its own answer from its ClusterIP" "pong $SELF" "$out"
t_eq "a's server sees the service-loopback address" "169.254.42.1" "$(peer a 9090)"

t_summary
