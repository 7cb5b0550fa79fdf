#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Tunnel mode across two nodes, before the control plane exists: an underlay
# (a bridge in a namespace of its own), two node namespaces on it, each with
# its own myelind (--node-ip, routing tunnel) and a pod made by the real CNI
# plugin; the cluster-wide ipcache entries the control plane will write
# (each other's pod /32, pod CIDR and node address) are written here with
# bpftool into each node's pinned ipcache. Then: no entries -> no path
# (control), entries -> ICMP and TCP cross the VXLAN tunnel; the pods' routes
# carry underlay MTU - 50 while their devices keep the underlay's, a DF
# packet of exactly the route MTU crosses; the node reaches the other node's
# pod through to_overlay; a CiliumNetworkPolicy on node b (fromEntities
# remote-node) denies pod a by the identity its VNI carries (a POLICY_DENIED
# drop flow from the tunnel) and allows node a; the flows say TO_OVERLAY / FROM_OVERLAY with
# Hubble's tunnel {protocol, IP, vni}; the device survives an agent restart
# (adopted, same ifindex) and a 2000-packet stream through kill -9 and a
# restart of an agent loses none; UDP crosses too; the device goes (with
# the node config's tunnel mode) when the agent starts out of tunnel mode.
source "$(dirname "$0")/common.sh"

ID="tun$$"
UL="mln-$ID-ul"                      # the underlay's namespace (bridge)
NODES=(a b)
declare -A NODE_NS NODE_IP POD_CIDR POD_NS POD_IP SOCK BPFFS STATE LOG PID CNI
NODE_IP=([a]=192.168.77.1 [b]=192.168.77.2)
POD_CIDR=([a]=10.77.1.0/24 [b]=10.77.2.0/24)
TMP=$(mktemp -d "/tmp/myelin-$ID.XXXXXX")
CG="$(mln_cgroup2_mount)/mln-$ID"
mkdir -p "$CG"

cleanup() {
  local rc=$? n
  trap - EXIT INT TERM
  set +e
  for n in "${NODES[@]}"; do
    if [ -n "${PID[$n]:-}" ]; then kill "${PID[$n]}" 2>/dev/null; wait "${PID[$n]}" 2>/dev/null; fi
    [ -n "${POD_NS[$n]:-}" ] && ip netns del "${POD_NS[$n]}" 2>/dev/null
    [ -n "${NODE_NS[$n]:-}" ] && ip netns del "${NODE_NS[$n]}" 2>/dev/null
    [ -n "${BPFFS[$n]:-}" ] && rm -rf "${BPFFS[$n]}"
  done
  ip netns del "$UL" 2>/dev/null
  rmdir "$CG" 2>/dev/null
  [ "$rc" -eq 0 ] || { for n in "${NODES[@]}"; do echo "--- myelind $n log" >&2; tail -n 40 "${LOG[$n]}" >&2; done; }
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_node() { local n=$1; shift; nsenter --net="/var/run/netns/${NODE_NS[$n]}" -- "$@"; }
in_pod() { local n=$1; shift; ip netns exec "${POD_NS[$n]}" "$@"; }
cli() { local n=$1; shift; "$MLN_BIN/myelin" --socket "${SOCK[$n]}" "$@"; }

# ---- the underlay and the nodes ----
ip netns add "$UL"
nsenter --net="/var/run/netns/$UL" -- ip link add br0 type bridge
nsenter --net="/var/run/netns/$UL" -- ip link set br0 up
i=0
for n in "${NODES[@]}"; do
  NODE_NS[$n]="mln-$ID-node-$n"
  SOCK[$n]="$TMP/$n.sock"
  BPFFS[$n]="/sys/fs/bpf/myelin/tunnel-$ID-$n"
  STATE[$n]="$TMP/state-$n"
  LOG[$n]="$TMP/myelind-$n.log"
  CNI[$n]="$TMP/cni-$n.conf"
  printf '{"cniVersion":"1.1.0","name":"myelin","type":"myelin-cni","socket":"%s"}\n' "${SOCK[$n]}" >"${CNI[$n]}"
  ip netns add "${NODE_NS[$n]}"
  ip link add "ul-$ID-$i" netns "$UL" type veth peer name eth1 netns "${NODE_NS[$n]}"
  nsenter --net="/var/run/netns/$UL" -- ip link set "ul-$ID-$i" master br0 up
  in_node "$n" ip link set lo up
  in_node "$n" ip addr add "${NODE_IP[$n]}/24" dev eth1
  in_node "$n" ip link set eth1 up
  in_node "$n" sysctl -qw net.ipv4.ip_forward=1
  i=$((i + 1))
done
t_check "the nodes reach each other over the underlay" in_node a ping -q -c 1 -W 2 "${NODE_IP[b]}"

# Node b reads manifests (pod-b's labels; a policy later).
MB="$TMP/manifests-b"
mkdir -p "$MB"
printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-b\n  namespace: default\n  labels: {app: b}\n' >"$MB/00-pods.yaml"

start_agent() {
  local n=$1 extra=()
  [ "$n" = b ] && extra=(--manifests "$MB")
  MLN_CGROUP=$CG mln_agent_cgroup_args "$MLN_BIN"  # --cgroup-root: socket LB on this run's cgroup, never the root
  nsenter --net="/var/run/netns/${NODE_NS[$n]}" -- "$MLN_BIN/myelind" --node-name "node-$n" --pod-cidr "${POD_CIDR[$n]}" \
    --node-ip "${NODE_IP[$n]}" --routing-mode "${ROUTING:-tunnel}" --api-socket "${SOCK[$n]}" --bpffs-root "${BPFFS[$n]}" \
    --state-dir "${STATE[$n]}" "${MLN_CG_ARGS[@]}" "${extra[@]}" >>"${LOG[$n]}" 2>&1 &
  PID[$n]=$!
  local k
  for k in $(seq 1 300); do
    cli "$n" status -o json 2>/dev/null | jq -e '.ready == true' >/dev/null 2>&1 && return 0
    kill -0 "${PID[$n]}" 2>/dev/null || { cat "${LOG[$n]}" >&2; mln_die "myelind $n exited during start-up"; }
    sleep 0.1
  done
  mln_die "myelind $n not ready after 30 s"
}
for n in "${NODES[@]}"; do start_agent "$n"; done

echo "-- the VXLAN device"
for n in "${NODES[@]}"; do
  in_node "$n" ip -d -j link show myelin_vxlan >"$TMP/vx-$n.json" || true
  t_jq "node $n: myelin_vxlan is a collect-metadata VXLAN device on UDP 8472, MTU 1500 (the underlay's), up" \
    '.[0].linkinfo.info_kind == "vxlan" and .[0].linkinfo.info_data.external == true and .[0].linkinfo.info_data.port == 8472 and .[0].mtu == 1500 and (.[0].flags | index("UP")) != null' \
    "$TMP/vx-$n.json"
  in_node "$n" tc filter show dev myelin_vxlan ingress >"$TMP/tc-$n.txt"
  in_node "$n" tc filter show dev myelin_vxlan egress >>"$TMP/tc-$n.txt"
  t_check "node $n: from_overlay and to_overlay on its tc ingress and egress" \
    bash -c "grep -q from_overlay '$TMP/tc-$n.txt' && grep -q to_overlay '$TMP/tc-$n.txt'"
done
IFINDEX_A=$(jq '.[0].ifindex' "$TMP/vx-a.json")

echo "-- pods through the CNI plugin"
for n in "${NODES[@]}"; do
  POD_NS[$n]="mln-$ID-pod-$n"
  ip netns add "${POD_NS[$n]}"
  in_pod "$n" ip link set lo up
  res=$(in_node "$n" env CNI_COMMAND=ADD CNI_CONTAINERID="cid-$ID-$n" CNI_NETNS="/var/run/netns/${POD_NS[$n]}" CNI_IFNAME=eth0 \
    CNI_PATH="$MLN_BIN" CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-$n" "$MLN_BIN/myelin-cni" <"${CNI[$n]}") ||
    mln_die "CNI ADD on node $n: $res"
  POD_IP[$n]=$(jq -r '.ips[0].address' <<<"$res" | cut -d/ -f1)
  echo "$res" >"$TMP/cni-result-$n.json"
done
A=${POD_IP[a]} B=${POD_IP[b]}
t_check "pod a's device keeps the underlay MTU (1500)" bash -c "ip netns exec '${POD_NS[a]}' cat /sys/class/net/eth0/mtu | grep -qx 1500"
t_check "pod a's default route carries MTU 1450 (underlay - 50)" bash -c "ip netns exec '${POD_NS[a]}' ip route show default | grep -q 'mtu 1450'"
t_check "pod a's gateway route carries MTU 1450" bash -c "ip netns exec '${POD_NS[a]}' ip route show 169.254.1.1 | grep -q 'mtu 1450'"
t_jq "the CNI result's route says mtu 1450 (CNI 1.1.0)" '.routes[0].mtu == 1450' "$TMP/cni-result-a.json"

echo "-- without the cluster's ipcache entries there is no path (control)"
in_pod a ping -q -c 1 -W 1 "$B" >/dev/null 2>&1 && t_bad "a cannot reach b before the entries" || t_ok "a cannot reach b before the entries"

# ---- the entries the control plane will write ----
hexip() { local IFS=.; set -- $1; printf '%02x %02x %02x %02x' "$1" "$2" "$3" "$4"; }
le32() { printf '%02x %02x %02x %02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
# ipcache_put NODE ADDR PREFIX IDENTITY ENDPOINT(or -) FLAGS
ipcache_put() {
  local n=$1 addr=$2 plen=$3 id=$4 ep=$5 flags=$6 eph
  [ "$ep" = - ] && eph="00 00 00 00" || eph=$(hexip "$ep")
  # shellcheck disable=SC2046
  bpftool map update pinned "${BPFFS[$n]}/myelin_ipcache" \
    key hex $(le32 $((32 + plen))) 04 00 00 00 $(hexip "$addr") 00 00 00 00 00 00 00 00 00 00 00 00 \
    value hex $(le32 "$id") 00 00 00 00 $eph $(le32 "$flags")
}
identity_of() { cli "$1" endpoint list -o json | jq -r --arg ip "$2" '.endpoints[] | select(.ip == $ip) | .identity'; }
ID_A=$(identity_of a "$A") ID_B=$(identity_of b "$B")
[ -n "$ID_A" ] && [ -n "$ID_B" ] || mln_die "no identities for the pods ($ID_A, $ID_B)"
# flags: CLUSTER 1, REMOTE 2, POD_CIDR 4; identities: world 2, remote-node 6
ipcache_put a "${NODE_IP[b]}" 32 6 - 3
ipcache_put a 10.77.2.0 24 2 "${NODE_IP[b]}" 7
ipcache_put a "$B" 32 "$ID_B" "${NODE_IP[b]}" 3
ipcache_put b "${NODE_IP[a]}" 32 6 - 3
ipcache_put b 10.77.1.0 24 2 "${NODE_IP[a]}" 7
ipcache_put b "$A" 32 "$ID_A" "${NODE_IP[a]}" 3

echo "-- ICMP and TCP across the tunnel"
t_check "a pings b (other node)" in_pod a ping -q -c 3 -i 0.2 -W 2 "$B"
t_check "b pings a (other node)" in_pod b ping -q -c 3 -i 0.2 -W 2 "$A"
in_pod b timeout 20 nc -l -p 8080 >"$TMP/tcp.out" &
NC=$!
mln_retry 100 0.05 sh -c "ip netns exec '${POD_NS[b]}' ss -H -ltn 'sport = :8080' | grep -q ." || mln_die "nothing listens in pod b"
head -c 200000 /dev/urandom | base64 -w0 >"$TMP/payload"
echo >>"$TMP/payload"
in_pod a timeout 10 nc -N "$B" 8080 <"$TMP/payload"
wait "$NC" || true
t_check "b received a's 270 kB over TCP intact (segments at the route's MSS)" cmp -s "$TMP/payload" "$TMP/tcp.out"
# The packets really went through the VXLAN devices (sent on a, received on b).
vx_stat() { in_node "$1" ip -j -s link show myelin_vxlan | jq ".[0].stats64.$2.packets"; }
t_check "myelin_vxlan sent > 10 packets on node a and b received them (6 are the pings; GSO counts a TCP burst once)" \
  test "$(vx_stat a tx)" -gt 10 -a "$(vx_stat b rx)" -gt 10

in_pod a timeout 20 nc -u -l -p 9090 >"$TMP/udp.out" &
UDPL=$!
mln_retry 100 0.05 sh -c "ip netns exec '${POD_NS[a]}' ss -H -lun 'sport = :9090' | grep -q ." || mln_die "nothing listens on UDP in pod a"
echo "hello-over-udp" | in_pod b timeout 3 nc -u -w 1 "$A" 9090 || true
mln_retry 50 0.1 grep -q hello-over-udp "$TMP/udp.out" && t_ok "a received b's UDP datagram" || t_bad "a received b's UDP datagram"
kill "$UDPL" 2>/dev/null; wait "$UDPL" 2>/dev/null || true

echo "-- MTU: a DF packet of exactly the route MTU crosses"
t_check "ping -M do with 1450-byte packets crosses (1422 + 28)" in_pod a ping -q -c 2 -i 0.2 -W 2 -M do -s 1422 "$B"
in_pod a ping -q -c 1 -W 1 -M do -s 1423 "$B" >/dev/null 2>&1 && t_bad "1451 bytes with DF is refused at the pod (route MTU)" ||
  t_ok "1451 bytes with DF is refused at the pod (route MTU)"

echo "-- the node reaches the other node's pod (to_overlay)"
in_node a ip route add 10.77.2.0/24 dev myelin_vxlan src "${NODE_IP[a]}" mtu 1450
t_check "node a pings pod b through myelin_vxlan" in_node a ping -q -c 2 -i 0.2 -W 2 "$B"

echo "-- flows"
sleep 0.5
cli a observe --all -o json >"$TMP/flows-a.json"
cli b observe --all -o json >"$TMP/flows-b.json"
t_jq "node a: a->b TO_OVERLAY with tunnel {VXLAN, ${NODE_IP[a]} -> ${NODE_IP[b]}, vni = a's identity}" \
  ".flow.IP.source == \"$A\" and .flow.IP.destination == \"$B\" and .flow.trace_observation_point == \"TO_OVERLAY\" and .flow.tunnel.protocol == \"VXLAN\" and .flow.tunnel.IP.source == \"${NODE_IP[a]}\" and .flow.tunnel.IP.destination == \"${NODE_IP[b]}\" and .flow.tunnel.vni == $ID_A" \
  "$TMP/flows-a.json"
t_jq "node b: a->b FROM_OVERLAY from ${NODE_IP[a]}, source identity = the VNI" \
  ".flow.IP.source == \"$A\" and .flow.IP.destination == \"$B\" and .flow.trace_observation_point == \"FROM_OVERLAY\" and .flow.tunnel.IP.source == \"${NODE_IP[a]}\" and .flow.tunnel.IP.destination == \"${NODE_IP[b]}\" and .flow.tunnel.vni == $ID_A and .flow.source.identity == $ID_A and .flow.destination.pod_name == \"pod-b\"" \
  "$TMP/flows-b.json"
t_jq "node b: node a's own ping arrives as remote-node (VNI 6)" \
  ".flow.IP.source == \"${NODE_IP[a]}\" and .flow.trace_observation_point == \"FROM_OVERLAY\" and .flow.tunnel.vni == 6" \
  "$TMP/flows-b.json"

echo "-- ingress policy on node b by the identity the VNI carries"
cat >"$MB/10-policy.yaml" <<'EOF2'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: b-from-remote-nodes-only, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: b}}
  ingress:
  - fromEntities: [remote-node]
EOF2
EP_B=$(cli b endpoint list -o json | jq -r '.endpoints[] | select(.pod_name == "pod-b") | .id')
enforced_b() { cli b endpoint get "$EP_B" -o json | jq -e '.policy.ingress_enforced == true' >/dev/null; }
open_b() { ! enforced_b; }
mln_retry 100 0.1 enforced_b || mln_die "the policy never took effect on pod-b"
SINCE=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
in_pod a ping -q -c 1 -W 1 "$B" >/dev/null 2>&1 && t_bad "pod a (its own identity in the VNI) is denied by b's policy" ||
  t_ok "pod a (its own identity in the VNI) is denied by b's policy"
t_check "node a (VNI remote-node) is allowed by fromEntities remote-node" in_node a ping -q -c 2 -i 0.2 -W 2 "$B"
mln_retry 30 0.1 sh -c "'$MLN_BIN/myelin' --socket '${SOCK[b]}' observe --all -o json --verdict DROPPED --since '$SINCE' >'$TMP/drops-b.json' && grep -q POLICY_DENIED '$TMP/drops-b.json'" || true
t_jq "node b: the denied packet is a POLICY_DENIED drop from the tunnel, identity = a's VNI" \
  ".flow.IP.source == \"$A\" and .flow.IP.destination == \"$B\" and .flow.verdict == \"DROPPED\" and .flow.drop_reason_desc == \"POLICY_DENIED\" and .flow.source.identity == $ID_A and .flow.tunnel.IP.source == \"${NODE_IP[a]}\"" \
  "$TMP/drops-b.json"
rm "$MB/10-policy.yaml"
mln_retry 100 0.1 open_b || t_bad "the policy's removal took effect on pod-b"
mln_retry 50 0.1 in_pod a ping -q -c 1 -W 1 "$B" >/dev/null 2>&1 && t_ok "policy removed: a reaches b again" || t_bad "policy removed: a reaches b again"

echo "-- kill -9 and restart of an agent under a cross-node stream"
in_pod a ping -q -c 2000 -i 0.01 -W 1 "$B" >"$TMP/stream.txt" 2>&1 &
STREAM=$!
sleep 1
kill -9 "${PID[a]}"; wait "${PID[a]}" 2>/dev/null || true
t_check "with agent a killed, a still pings b" in_pod a ping -q -c 2 -i 0.2 -W 2 "$B"
start_agent a
kill -0 "$STREAM" 2>/dev/null && t_ok "the stream was still running when the new agent was ready" ||
  t_bad "the stream was still running when the new agent was ready" "the restart took longer than the stream: it proves nothing"
wait "$STREAM" || true
t_check "the stream through kill -9 and restart lost no packet ($(grep -o '[0-9]* packets transmitted, [0-9]* received' "$TMP/stream.txt"))" \
  grep -q ' 0% packet loss' "$TMP/stream.txt"
t_check "agent a restarted: myelin_vxlan adopted with the same ifindex" \
  bash -c "[ \"\$(nsenter --net=/var/run/netns/${NODE_NS[a]} ip -j link show myelin_vxlan | jq '.[0].ifindex')\" = '$IFINDEX_A' ]"
t_check "the log says adopted" grep -q "adopted myelin_vxlan" "${LOG[a]}"
t_check "after the restart a pings b" in_pod a ping -q -c 2 -i 0.2 -W 2 "$B"

echo "-- restarted out of tunnel mode: nothing of the tunnel stays"
kill "${PID[a]}"; wait "${PID[a]}" 2>/dev/null || true
ROUTING=native start_agent a
t_check "myelin_vxlan is gone from node a" bash -c "! nsenter --net=/var/run/netns/${NODE_NS[a]} ip link show myelin_vxlan >/dev/null 2>&1"
in_pod a ping -q -c 1 -W 1 "$B" >/dev/null 2>&1 && t_bad "a no longer reaches b through a tunnel" || t_ok "a no longer reaches b through a tunnel"

t_summary
