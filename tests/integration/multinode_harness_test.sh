#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The multi-node harness itself (scripts/lib/multinode.sh), before any
# cluster feature: etcd listens only on its underlay address and answers from
# every node namespace; three nodes, each with its own agent, reach each other
# over the underlay bridge; pods made by the CNI plugin get addresses of their
# node's pod CIDR and talk on their node; and a run that exits, or fails,
# leaves no namespace, pin directory, cgroup or process behind.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/../../scripts/lib/multinode.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = child ]; then
  # A cluster that exits by itself ($2 = ok) or by failing ($2 = fail); its
  # run id and agent PIDs are printed for the parent to check after it.
  MLN_ID="$3"
  MN_STORE=none
  mn_init
  mn_etcd_up
  mn_node_add c1
  mn_node_add c2
  mn_pod_add c1 p1
  echo "pids ${MN_PID[c1]} ${MN_PID[c2]} $MN_ETCD_PID"
  # The PIDs are the processes themselves (myelind, etcd), not subshells.
  grep -q myelind "/proc/${MN_PID[c1]}/cmdline" && grep -q etcd "/proc/$MN_ETCD_PID/cmdline" || mln_die "PIDs are not the processes"
  [ "$2" = ok ] || mln_die "failing on purpose"
  exit 0
fi

mn_init
mn_etcd_up
# MN_STORE=none: the harness is tested on its own; the cluster flags are the
# cluster tests' business (a store is given to the agents there).
MN_STORE=none
for n in n1 n2 n3; do mn_node_add "$n"; done

echo "-- etcd on the underlay only"
listen=$(mn_etcd_ns ss -Hltn | awk '{print $4}' | sort -u | tr '\n' ' ')
[ -n "$listen" ] && ! grep -qvE "^$MN_ETCD_IP:" <<<"$(tr ' ' '\n' <<<"$listen" | sed '/^$/d')" &&
  t_ok "etcd listens only on $MN_ETCD_IP ($listen)" || t_bad "etcd listens only on its underlay address" "$listen"
for n in n1 n2 n3; do
  mn_node "$n" env ETCDCTL_API=3 etcdctl --endpoints "$MN_ETCD_URL" --command-timeout=3s put "mln-test/$n" "$n" >/dev/null &&
    t_ok "node $n writes to etcd over the underlay" || t_bad "node $n writes to etcd"
done
[ "$(mn_etcdctl get --prefix mln-test/ --keys-only | sed '/^$/d' | wc -l)" -eq 3 ] && t_ok "etcd holds the three nodes' keys" || t_bad "etcd keys"

echo "-- nodes on the underlay, each with its own agent"
for a in n1 n2 n3; do for b in n1 n2 n3; do
  [ "$a" = "$b" ] && continue
  mn_node "$a" ping -q -c 1 -W 2 "${MN_NODE_IP[$b]}" >/dev/null && t_ok "$a reaches $b at ${MN_NODE_IP[$b]}" || t_bad "$a reaches $b"
done; done
mn_node n1 ping -q -c 1 -W 2 "$MN_WORLD_IP" >/dev/null && t_ok "n1 reaches the world (its default gateway)" || t_bad "n1 reaches the world"
socks=$(for n in n1 n2 n3; do echo "${MN_SOCK[$n]}"; done | sort -u | wc -l)
pids=$(for n in n1 n2 n3; do echo "${MN_PID[$n]}"; done | sort -u | wc -l)
[ "$socks" = 3 ] && [ "$pids" = 3 ] && t_ok "three agents, three API sockets" || t_bad "one agent per node" "$socks sockets, $pids pids"
for n in n1 n2 n3; do
  [ "$(mn_myelin "$n" status -o json | jq -r '.node_name // .node // empty')" = "$n" ] && t_ok "node $n's agent answers as $n" ||
    t_bad "node $n's agent answers as $n" "$(mn_myelin "$n" status -o json | head -c 300)"
  [ -d "$MLN_BPFFS/$n" ] && t_ok "node $n pins under its own bpffs root" || t_bad "node $n pins under $MLN_BPFFS/$n"
done

echo "-- pods through the CNI plugin"
mn_pod_add n1 a
mn_pod_add n1 b
mn_pod_add n2 c
[[ ${MLN_POD_IP[a]} == 10.244.1.* && ${MLN_POD_IP[b]} == 10.244.1.* && ${MLN_POD_IP[c]} == 10.244.2.* ]] &&
  t_ok "pod addresses come from their node's CIDR (a=${MLN_POD_IP[a]} b=${MLN_POD_IP[b]} c=${MLN_POD_IP[c]})" ||
  t_bad "pod addresses from the node's CIDR" "a=${MLN_POD_IP[a]} b=${MLN_POD_IP[b]} c=${MLN_POD_IP[c]}"
t_check "a pings b on n1" mln_pod a ping -q -c 2 -i 0.2 -W 2 "${MLN_POD_IP[b]}"
[ "$(mn_myelin n1 endpoint list -o json | jq '.endpoints | length')" = 2 ] && [ "$(mn_myelin n2 endpoint list -o json | jq '.endpoints | length')" = 1 ] &&
  t_ok "each agent has its own pods' endpoints" || t_bad "endpoints per node"
mn_pod_del b
[ "$(mn_myelin n1 endpoint list -o json | jq '.endpoints | length')" = 1 ] && t_ok "mn_pod_del removes the endpoint" || t_bad "mn_pod_del"

echo "-- a node removed"
n3ip=${MN_NODE_IP[n3]}
mn_node_del n3
# The kernel tears a namespace down asynchronously once its last user is gone.
n3_unreachable() { ! mn_node n1 ping -q -c 1 -W 1 "$n3ip" >/dev/null 2>&1; }
[ ! -e "/var/run/netns/mln-$MLN_ID-n-n3" ] && [ ! -d "$MLN_BPFFS/n3" ] && mln_retry 50 0.2 n3_unreachable &&
  t_ok "n3's namespace and pins are gone, its address unreachable" || t_bad "n3 removed" "$(ls /var/run/netns | grep -c "mln-$MLN_ID-n-n3") netns, pins: $(ls "$MLN_BPFFS")"

echo "-- cleanup, after success and after failure"
for how in ok fail; do
  id="$MLN_ID-c$how"
  out=$(MLN_BIN=$MLN_BIN MLN_DEADLINE=0 bash "$HERE/multinode_harness_test.sh" child "$how" "$id" 2>"$MLN_TMP/child-$how.err") && rc=0 || rc=$?
  read -r _ p1 p2 pe <<<"$(grep '^pids ' <<<"$out")"
  left=$(ip netns list | awk '{print $1}' | grep -cE "^mln-$id(-|$)" || true)
  alive=0
  for p in $p1 $p2 $pe; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
  # Also by what they run: any process still naming the run's temp dir or id.
  alive=$((alive + $(grep -lsE "myelin-${id}[.]|mln-${id}[/]" /proc/[0-9]*/cmdline 2>/dev/null | wc -l || true)))
  if [ "$how" = ok ]; then want_rc=0; else want_rc=1; fi
  [ -n "$p1" ] && [ "$rc" = "$want_rc" ] && [ "$left" = 0 ] && [ "$alive" = 0 ] && [ ! -e "/sys/fs/bpf/myelin/$id" ] &&
    [ ! -e "$(mln_cgroup2_mount)/mln-$id" ] && ! ls -d /tmp/myelin-"$id".* >/dev/null 2>&1 &&
    t_ok "a run that exits $how (rc $rc) leaves no namespace, process, pin, cgroup or temp dir" ||
    t_bad "cleanup after $how" "rc=$rc netns=$left alive=$alive pids=$p1 $p2 $pe; $(tail -3 "$MLN_TMP/child-$how.err")"
done

t_summary
