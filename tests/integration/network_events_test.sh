#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The per-process TCP sensor (myelind --network-events): a connection from
# pod a to a server in pod b is seen as tcp_connect by the client process and
# inet_csk_accept by the server process, each with its pod and the 4-tuple,
# and tcp_close from both ends with the same socket cookie as their open
# (the client exits without calling close(): its exit closes it); a refused
# connect carries its error. Filtered in the kernel to inet TCP
# sockets: the pipes and files the same processes close are not reported.
source "$(dirname "$0")/common.sh"

mln_init
MLN_AGENT_ARGS=(--network-events true --metrics-addr "")
mln_node_up 10.236.0.0/24
mln_pod_add a web client
mln_pod_add b web server
A=${MLN_POD_IP[a]}
B=${MLN_POD_IP[b]}

mln_pod_bg b timeout 20 nc -l -p 8080
mln_wait_listen b 8080
echo hello | mln_pod a timeout 10 nc -N "$B" 8080 || t_bad "the connection works"
# A blocking connect (bash's /dev/tcp): refused by the server's kernel, connect(2) returns -ECONNREFUSED.
mln_pod a timeout 5 bash -c "exec 3<>/dev/tcp/$B/8081" 2>/dev/null && t_bad "nothing listens on 8081"

ev() { mln_myelin events -o json --type process_kprobe --pod "web/$1"; }
has() { ev "$1" | jq -e -s "map(select($2)) | length > 0" >/dev/null 2>&1; }
check() { mln_retry 50 0.1 has "$2" "$3" && t_ok "$1" || t_bad "$1" "$(ev "$2" | jq -c '.process_kprobe | {function_name, args, return}' | tail -4)"; }
sock='.process_kprobe.args[0].sock_arg'
check "client: tcp_connect by nc in web/client with the 4-tuple" client \
  ".process_kprobe.function_name == \"tcp_connect\" and (.process_kprobe.process.binary | endswith(\"nc.openbsd\") or endswith(\"/nc\")) and $sock.saddr == \"$A\" and $sock.daddr == \"$B\" and $sock.dport == 8080 and (.process_kprobe.return.int_arg == 0 or .process_kprobe.return.int_arg == -115)"
check "server: inet_csk_accept by nc in web/server, the same connection seen from its side" server \
  ".process_kprobe.function_name == \"inet_csk_accept\" and $sock.saddr == \"$B\" and $sock.sport == 8080 and $sock.daddr == \"$A\""
check "a refused connect is reported with its error (-111)" client \
  ".process_kprobe.function_name == \"tcp_connect\" and $sock.dport == 8081 and .process_kprobe.return.int_arg == -111"
for side in client server; do
  paired() {
    ev "$side" | jq -e -s "(map(select(.process_kprobe.function_name != \"tcp_close\" and $sock.dport != 8081 and $sock.sport != 8081)) | map($sock.cookie)) as \$open |
      map(select(.process_kprobe.function_name == \"tcp_close\")) | length == 1 and (.[0].process_kprobe.args[0].sock_arg.cookie as \$c | \$open | index(\$c) != null)" >/dev/null
  }
  mln_retry 50 0.1 paired && t_ok "$side: exactly one tcp_close, with the cookie of its open" || t_bad "$side close" "$(ev "$side" | jq -c '.process_kprobe | {function_name, cookie: .args[0].sock_arg.cookie}')"
done
n=$(ev client | jq -s 'map(select(.process_kprobe.args[0].sock_arg.family != "AF_INET")) | length')
[ "$n" = 0 ] && t_ok "only inet TCP sockets are reported (no pipes, files or unix sockets)" || t_bad "filter" "$n other"
mln_myelin events --type process_kprobe --pod web/client | grep -q "^🔌 connect web/client .* tcp $A:[0-9]* -> $B:8080" &&
  t_ok "compact: one line per connect" || t_bad "compact" "$(mln_myelin events --type process_kprobe --pod web/client)"

t_summary
