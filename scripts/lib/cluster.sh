# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# A one-node "cluster" made of network namespaces, for the demo, the
# integration tests and the benchmarks. Source it, then:
#   mln_init                      # unique ids, temp dir, cleanup trap
#   mln_node_up 10.210.0.0/24     # node namespace + myelind, waits until ready
#   mln_pod_add web default       # pod namespace via the real CNI plugin; sets MLN_POD_IP[web]
#   mln_pod web ping -c1 ...      # run a command inside a pod (outside the socket-LB cgroup)
#   mln_pod_lb web curl ...       # the same inside this run's socket-LB cgroup
#   mln_myelin observe -o json    # the CLI against this node's agent
#   mln_world_up 10.210.0.0/24    # before mln_node_up: a "world" outside the node (NodePort tests)
#   mln_world curl ...            # run a command in the world
# Everything created is removed on exit, on failure and on Ctrl-C.
#
# myelind runs with `nsenter --net` (not `ip netns exec`, which would give it
# a private mount namespace and so a private bpffs: pins must outlive it).
#
# Socket-level load balancing attaches cgroup programs: never to the
# machine's cgroup root here. Each run makes its own cgroup under the cgroup
# v2 mount (MLN_CGROUP, removed on cleanup) and gives it to every myelind it
# starts (--cgroup-root); only processes started with mln_pod_lb run in it.

MLN_ROOT=${MLN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MLN_BIN=${MLN_BIN:-$MLN_ROOT/build/bin}
declare -A MLN_POD_IP=() MLN_POD_NETNS=() MLN_POD_CID=()
MLN_PODS=()
MLN_PIDS=()
MLN_AGENT_PID=""
declare -p MLN_AGENT_ARGS >/dev/null 2>&1 || MLN_AGENT_ARGS=()

# `cmd | mln_has PATTERN`: grep that reads all of its input. `grep -q` stops
# at the first match, and under pipefail the writer's SIGPIPE then reads as
# "no match" (a negative check that passes by accident).
mln_has() { grep "$@" >/dev/null; }

mln_log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
mln_die() { printf '\033[1;31mFAIL:\033[0m %s\n' "$*" >&2; exit 1; }

mln_init() {
  MLN_ID=${MLN_ID:-$$}
  MLN_TMP=$(mktemp -d "/tmp/myelin-$MLN_ID.XXXXXX")
  MLN_NODE="mln-node-$MLN_ID"
  MLN_SOCK="$MLN_TMP/myelin.sock"
  MLN_STATE="$MLN_TMP/state"
  MLN_BPFFS="/sys/fs/bpf/myelin/$MLN_ID"
  MLN_AGENT_LOG="$MLN_TMP/myelind.log"
  MLN_CNI_CONF="$MLN_TMP/cni.conf"
  MLN_CGROUP="$(mln_cgroup2_mount)/mln-$MLN_ID"
  mkdir -p "$MLN_CGROUP" || mln_die "cannot create the socket-LB test cgroup $MLN_CGROUP"
  printf '{"cniVersion":"1.1.0","name":"myelin","type":"myelin-cni","socket":"%s"}\n' "$MLN_SOCK" >"$MLN_CNI_CONF"
  trap mln_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  mln_watchdog
  for b in myelind myelin-cni myelin; do
    [ -x "$MLN_BIN/$b" ] || mln_die "$MLN_BIN/$b is missing: build first (scripts/build.sh)"
  done
}

# With MLN_DEADLINE=N (ctest sets it below each test's TIMEOUT), the run is
# sent TERM after N seconds, so its cleanup runs: ctest's own timeout kills
# with SIGKILL, which would leave namespaces and pins behind. The watchdog
# holds none of the test's output, so a killed run never keeps ctest waiting.
mln_watchdog() {
  MLN_WATCHDOG_PID=""
  [ "${MLN_DEADLINE:-0}" -gt 0 ] 2>/dev/null || return 0
  local main=$$
  ( trap 'kill "$s" 2>/dev/null; exit 0' TERM
    sleep "$MLN_DEADLINE" & s=$!
    wait "$s" && kill -TERM "$main" ) </dev/null >/dev/null 2>&1 &
  MLN_WATCHDOG_PID=$!
}

# The cgroup v2 mount (/sys/fs/cgroup/unified on a hybrid layout).
mln_cgroup2_mount() {
  local m
  # mountinfo: "ID PARENT DEV ROOT MOUNT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER"
  m=$(awk '$4 == "/" { for (i = 7; i < NF; i++) if ($i == "-" && $(i + 1) == "cgroup2") { print $5; exit } }' /proc/self/mountinfo)
  [ -n "$m" ] || mln_die "no cgroup v2 hierarchy mounted: socket LB tests need one"
  echo "$m"
}

# Runs a command in the node namespace (network only).
mln_node() { nsenter --net="/var/run/netns/$MLN_NODE" -- "$@"; }

# Sets MLN_CG_ARGS to what keeps $1/myelind's socket LB on this run's cgroup:
# --cgroup-root, for a release that has socket LB (an older one attaches no
# cgroup program and would refuse the flag). Every script that starts a
# myelind of its own passes "${MLN_CG_ARGS[@]}".
mln_agent_cgroup_args() {
  local help
  # Not `myelind --help | grep -q`: under pipefail grep's early exit (SIGPIPE
  # to myelind) would read as "no such flag" and leave the machine's root.
  help=$("${1:-$MLN_BIN}/myelind" --help 2>&1) || true
  MLN_CG_ARGS=()
  if [[ $help == *--cgroup-root* ]]; then MLN_CG_ARGS=(--cgroup-root "$MLN_CGROUP"); fi
}

# The agent attached its socket LB to this run's cgroup, or to none: anything
# else (the machine's root) stops the run at once (cleanup stops the agent,
# and its links go with it).
mln_check_cgroup() {
  local where
  where=$(grep -o 'socket-lb: attached [^/]* to .*' "$MLN_AGENT_LOG" | tail -n 1 | sed 's/.* to //') || true
  [ -z "$where" ] || [ "$where" = "$MLN_CGROUP" ] ||
    mln_die "myelind attached its socket LB to $where, not this run's cgroup $MLN_CGROUP"
}

mln_agent_start() {
  mln_agent_cgroup_args "$MLN_BIN"
  nsenter --net="/var/run/netns/$MLN_NODE" -- "$MLN_BIN/myelind" \
    --node-name "${MLN_NODE_NAME:-demo-node}" --pod-cidr "$MLN_CIDR" \
    --api-socket "$MLN_SOCK" --bpffs-root "$MLN_BPFFS" --state-dir "$MLN_STATE" "${MLN_CG_ARGS[@]}" \
    "${MLN_AGENT_ARGS[@]}" >>"$MLN_AGENT_LOG" 2>&1 &
  MLN_AGENT_PID=$!
  MLN_PIDS+=("$MLN_AGENT_PID")
  mln_wait_ready
  mln_check_cgroup
}

# Waits (bounded) until the agent answers `status` as ready.
mln_wait_ready() {
  local i
  for i in $(seq 1 300); do
    if "$MLN_BIN/myelin" --socket "$MLN_SOCK" status -o json 2>/dev/null | jq -e '.ready == true' >/dev/null 2>&1; then
      return 0
    fi
    if [ -n "$MLN_AGENT_PID" ] && ! kill -0 "$MLN_AGENT_PID" 2>/dev/null; then
      cat "$MLN_AGENT_LOG" >&2
      mln_die "myelind exited during start-up"
    fi
    sleep 0.1
  done
  cat "$MLN_AGENT_LOG" >&2
  mln_die "myelind not ready after 30s"
}

mln_agent_kill() {  # $1 = signal (default TERM)
  [ -n "$MLN_AGENT_PID" ] || return 0
  kill "-${1:-TERM}" "$MLN_AGENT_PID" 2>/dev/null || true
  wait "$MLN_AGENT_PID" 2>/dev/null || true
  MLN_AGENT_PID=""
}

mln_node_up() {  # $1 = pod CIDR
  MLN_CIDR=$1
  [ -e "/var/run/netns/$MLN_NODE" ] || ip netns add "$MLN_NODE"  # mln_world_up may have made it
  mln_node ip link set lo up
  mln_agent_start
}

# The world outside the node: a namespace joined to the node by a veth pair
# (mln-wan on the node, eth0 in the world) that is the node's default route,
# so the agent detects mln-wan as its device (--devices' default). The world
# routes the pod CIDR to the node, as the network in front of a node would.
# Call before mln_node_up (the agent detects its devices at start); removed
# on cleanup with the other namespaces of this run.
#   MLN_WORLD_IP      the world's address (a client outside the cluster)
#   MLN_NODE_IP       the node's address on mln-wan (NodePorts are served there)
mln_world_up() {  # $1 = the pod CIDR mln_node_up will be given
  MLN_WORLD="mln-$MLN_ID-world"
  MLN_WORLD_IP=203.0.113.1 MLN_NODE_IP=203.0.113.2
  [ -e "/var/run/netns/$MLN_NODE" ] || ip netns add "$MLN_NODE"
  ip netns add "$MLN_WORLD"
  ip link add mln-wan netns "$MLN_NODE" type veth peer name eth0 netns "$MLN_WORLD"
  mln_node ip link set lo up
  mln_node ip addr add "$MLN_NODE_IP/24" dev mln-wan
  mln_node ip link set mln-wan up
  mln_node ip route add default via "$MLN_WORLD_IP" dev mln-wan
  mln_node sysctl -qw net.ipv4.ip_forward=1
  mln_world ip link set lo up
  mln_world ip addr add "$MLN_WORLD_IP/24" dev eth0
  mln_world ip link set eth0 up
  mln_world ip route add "$1" via "$MLN_NODE_IP" dev eth0
}

mln_world() { nsenter --net="/var/run/netns/$MLN_WORLD" -- "$@"; }

mln_cni() {  # $1 = command, $2 = container id, $3 = netns path, rest: env
  local cmd=$1 cid=$2 netns=$3; shift 3
  mln_node env CNI_COMMAND="$cmd" CNI_CONTAINERID="$cid" CNI_NETNS="$netns" CNI_IFNAME=eth0 \
    CNI_PATH="$MLN_BIN" "$@" "$MLN_BIN/myelin-cni" <"$MLN_CNI_CONF"
}

mln_pod_add() {  # $1 = pod key (unique here), $2 = namespace (default "default"), $3 = pod name (default: the key), $4 = container id (the sandbox's)
  local pod=$1 ns=${2:-default} k8sname=${3:-$1} netns="mln-$MLN_ID-$1" cid result
  cid=${4:-"cid-$MLN_ID-$pod"}
  ip netns add "$netns"
  ip netns exec "$netns" ip link set lo up
  MLN_PODS+=("$pod")
  MLN_POD_NETNS[$pod]=$netns
  MLN_POD_CID[$pod]=$cid
  result=$(mln_cni ADD "$cid" "/var/run/netns/$netns" CNI_ARGS="K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$k8sname") ||
    mln_die "CNI ADD for $ns/$pod failed: $result"
  MLN_POD_IP[$pod]=$(jq -r '.ips[0].address' <<<"$result" | cut -d/ -f1)
}

mln_pod() { local pod=$1; shift; ip netns exec "${MLN_POD_NETNS[$pod]}" "$@"; }

# Starts a command inside a pod in the background; it is ended on cleanup.
mln_pod_bg() { local pod=$1; shift; ip netns exec "${MLN_POD_NETNS[$pod]}" "$@" & MLN_PIDS+=("$!"); MLN_LAST_PID=$!; }

# Runs a command inside a pod and inside this run's socket-LB cgroup: its
# connect()/sendmsg() to a Service are translated at the socket (mln_pod's
# are not: the per-packet path serves them).
mln_pod_lb() {
  local pod=$1; shift
  MLN_LB_CG="$MLN_CGROUP" MLN_LB_NS="${MLN_POD_NETNS[$pod]}" \
    bash -c 'echo $$ >"$MLN_LB_CG/cgroup.procs" && exec ip netns exec "$MLN_LB_NS" "$@"' mln_pod_lb "$@"
}
mln_pod_lb_bg() { mln_pod_lb "$@" & MLN_PIDS+=("$!"); MLN_LAST_PID=$!; }

# Waits (bounded) until something listens on $2 ($3 = tcp|udp) inside pod $1.
mln_wait_listen() {
  local pod=$1 port=$2 proto=${3:-tcp} flag=-ltn i
  [ "$proto" = udp ] && flag=-lun
  for i in $(seq 1 100); do
    mln_pod "$pod" ss -H "$flag" "sport = :$port" 2>/dev/null | grep -q . && return 0
    sleep 0.05
  done
  mln_die "nothing listens on $proto/$port in pod $pod"
}

# Polls a command until it succeeds (bounded): mln_retry 50 0.1 cmd args...
mln_retry() {
  local n=$1 delay=$2 i; shift 2
  for i in $(seq 1 "$n"); do "$@" && return 0; sleep "$delay"; done
  return 1
}

mln_myelin() { "$MLN_BIN/myelin" --socket "$MLN_SOCK" "$@"; }

# Registers a command for mln_cleanup to run first (in order), e.g.
# mln_at_exit mln_agent_kill; mln_at_exit 'rm -rf "$W"'. Registered this way,
# not in a trap of its own, so the run's exit status is kept.
MLN_AT_EXIT=()
mln_at_exit() { MLN_AT_EXIT+=("$1"); }

# The test's manifests directory as $M (the agent's --manifests), and the
# agent killed on exit: the opening of every test that starts one on manifests.
mln_manifests_init() {
  M="$MLN_TMP/manifests"
  mkdir -p "$M"
  mln_at_exit mln_agent_kill
}
# Fails at once, saying so, when a helper binary of $MLN_BIN is not built.
mln_need_bins() {
  local b
  for b in "$@"; do
    [ -x "$MLN_BIN/$b" ] || mln_die "$MLN_BIN/$b is missing: build first (scripts/build.sh)"
  done
}

mln_cleanup() {
  local rc=$? pod pid cmd
  trap - EXIT INT TERM
  set +e  # clean up everything even when a step fails; the status is rc
  [ -n "${MLN_WATCHDOG_PID:-}" ] && kill "$MLN_WATCHDOG_PID" 2>/dev/null
  [ "$rc" -eq 143 ] && [ "${MLN_DEADLINE:-0}" -gt 0 ] 2>/dev/null &&
    echo "FAIL: stopped at its deadline of ${MLN_DEADLINE}s (MLN_DEADLINE); cleaning up" >&2
  for cmd in "${MLN_AT_EXIT[@]}"; do eval "$cmd"; done
  for pod in "${MLN_PODS[@]}"; do
    if [ -n "$MLN_AGENT_PID" ]; then
      mln_cni DEL "${MLN_POD_CID[$pod]}" "/var/run/netns/${MLN_POD_NETNS[$pod]}" >/dev/null 2>&1 || true
    fi
    ip netns del "${MLN_POD_NETNS[$pod]}" 2>/dev/null || true
  done
  for pid in "${MLN_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${MLN_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Every namespace this run made carries its id, also ones made in subshells.
  if [ -n "${MLN_ID:-}" ]; then
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^mln-(node-)?$MLN_ID(-|$)"); do
      ip netns del "$ns" 2>/dev/null || true
    done
  fi
  # The socket-LB cgroup: only this run's mln_pod_lb commands joined it.
  if [ -n "${MLN_CGROUP:-}" ] && [ -d "$MLN_CGROUP" ]; then
    for pid in $(cat "$MLN_CGROUP/cgroup.procs" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 50); do rmdir "$MLN_CGROUP" 2>/dev/null && break; sleep 0.1; done
  fi
  [ -n "${MLN_BPFFS:-}" ] && rm -rf "$MLN_BPFFS" 2>/dev/null || true
  rmdir /sys/fs/bpf/myelin 2>/dev/null || true
  if [ "$rc" -ne 0 ] && [ -f "${MLN_AGENT_LOG:-/nonexistent}" ]; then
    echo "---- myelind log (last 40 lines) ----" >&2
    tail -n 40 "$MLN_AGENT_LOG" >&2
  fi
  [ -n "${MLN_TMP:-}" ] && rm -rf "$MLN_TMP"
  exit "$rc"
}
