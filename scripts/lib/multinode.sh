# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# A multi-node cluster made of network namespaces, for the issue-12 end-to-end
# tests, the demo and the benchmarks. Source it after cluster.sh (it reuses
# mln_init's temp dir, ids, cgroup, watchdog and cleanup), then:
#   mn_init                          # mln_init + the underlay: a bridge in its own namespace, a "world" on it
#   mn_etcd_up                       # etcd in its own namespace on the underlay, bound only to that address
#   mn_node_add n1 [myelind args]    # node namespace on the underlay + its own myelind, waits until ready
#   mn_pod_add n1 web default [name] # pod on node n1 through the real CNI plugin; sets MLN_POD_IP[web]
#   mln_pod web ping -c1 ...         # (cluster.sh) run a command inside a pod: pod keys are cluster-wide
#   mn_myelin n1 node list -o json   # the CLI against node n1's agent
#   mn_node n1 ip route              # a command in node n1's namespace
#   mn_world nc -l 80                # a command in the world (on the underlay, knows no pod routes)
#   mn_agent_kill n1 KILL; mn_agent_start n1   # kill -9 and restart one agent (same flags, state, pins)
#   mn_node_del n1                   # a node removed: agent stopped, its pods and namespace gone
#   mn_etcd_stop; mn_etcd_start      # the store down and back (same data dir)
#   mn_etcdctl get --prefix myelin/  # etcdctl against this run's etcd
# Everything created is removed on exit, on failure and on Ctrl-C (cluster.sh's
# trap; mn_cleanup is registered with mln_at_exit and runs first).
#
# Background commands: `mn_node n1 cmd &` puts a subshell in $!; for a
# process to kill by PID later, use `mn_bg NETNS cmd` (sets MLN_LAST_PID).
#
# Layout (every name carries the run id MLN_ID, so parallel runs never meet):
#   mln-$ID-ul         the underlay: bridge br0, one veth port per node/etcd/world
#   mln-$ID-world      10.99.0.1   the nodes' default gateway: "outside the cluster"
#   mln-$ID-etcd       10.99.0.2   etcd, client URL http://10.99.0.2:2379
#   mln-$ID-n-<node>   10.99.0.(10+i) on ul0 (its underlay device and default route)
#   mln-$ID-p-<pod>    a pod's namespace, made by myelin-cni on its node
# Pod CIDRs (static IPAM): node i gets 10.244.i.0/24 (MN_IPAM=cluster-pool: the
# nodes claim /24s of 10.244.0.0/16 in etcd instead).
#
# Settings (environment, read at mn_node_add):
#   MN_MODE        tunnel (default) | native        --routing-mode
#   MN_STORE       etcd (default) | none | kube      where the cluster state lives
#   MN_IPAM        static (default) | cluster-pool | kubernetes
#   MN_LEASE_TTL   --kvstore-lease-ttl (default 5: node removal tests wait for it)
#   MN_AGENT_ARGS  array: extra flags given to every node's myelind
#   MN_KUBECONFIG  MN_STORE=kube: the kubeconfig every agent gets (see mn_standin_up)
#
# myelind runs with `nsenter --net` (not `ip netns exec`: that would give it a
# private mount namespace and so a private bpffs). Each agent has its own API
# socket, bpffs root, state dir, log and cgroup (a child of the run's cgroup).

MN_UL_PREFIX=10.99.0
MN_WORLD_IP=$MN_UL_PREFIX.1
MN_ETCD_IP=$MN_UL_PREFIX.2
MN_STANDIN_IP=$MN_UL_PREFIX.3
MN_ETCD_URL="http://$MN_ETCD_IP:2379"
MN_POD_POOL=10.244.0.0/16
MN_NODES=()           # in the order they were added (removed ones stay out)
MN_NODE_COUNT=0       # nodes ever added: the next node's index
declare -A MN_NODE_NS=() MN_NODE_IP=() MN_NODE_CIDR=() MN_NODE_IDX=() MN_SOCK=() MN_LOG=() MN_PID=() MN_NODE_ARGS=()
declare -A MN_POD_NODE=()
declare -p MN_AGENT_ARGS >/dev/null 2>&1 || MN_AGENT_ARGS=()
MN_ETCD_PID=""

mn_ns_ul() { nsenter --net="/var/run/netns/mln-$MLN_ID-ul" -- "$@"; }
mn_node() { local n=$1; shift; nsenter --net="/var/run/netns/${MN_NODE_NS[$n]:?unknown node $n}" -- "$@"; }
mn_world() { nsenter --net="/var/run/netns/mln-$MLN_ID-world" -- "$@"; }
mn_etcd_ns() { nsenter --net="/var/run/netns/mln-$MLN_ID-etcd" -- "$@"; }
mn_myelin() { local n=$1; shift; "$MLN_BIN/myelin" --socket "${MN_SOCK[$n]:?unknown node $n}" "$@"; }
# mn_bg NETNS-PATH-OR-NODE cmd...: in the background, ended on cleanup; $MLN_LAST_PID is the command itself.
mn_bg() {
  local where=$1 ns; shift
  if [ -n "${MN_NODE_NS[$where]:-}" ]; then ns=/var/run/netns/${MN_NODE_NS[$where]}; else ns=$where; fi
  nsenter --net="$ns" -- "$@" &
  MLN_LAST_PID=$!
  MLN_PIDS+=("$MLN_LAST_PID")
}
mn_etcdctl() { mn_etcd_ns env ETCDCTL_API=3 etcdctl --endpoints "$MN_ETCD_URL" --command-timeout=3s "$@"; }

mn_init() {
  mln_init
  MLN_AGENT_LOG=/nonexistent   # cluster.sh's single-agent log: mn_cleanup prints every node's instead
  mn_underlay_up
}

# The underlay and the world, in a run mln_init started (the demo calls it
# after its single node is up).
mn_underlay_up() {
  mln_at_exit mn_cleanup
  ip netns add "mln-$MLN_ID-ul"
  mn_ns_ul ip link set lo up
  mn_ns_ul ip link add br0 type bridge
  mn_ns_ul ip link set br0 up
  # The world: the nodes' default gateway, with no route to any pod CIDR.
  mn_attach "mln-$MLN_ID-world" vw "$MN_WORLD_IP"
}

# mn_attach NETNS PORT-NAME ADDRESS: a veth from the underlay bridge (PORT-NAME
# on the bridge side) into NETNS as ul0, with ADDRESS/24, lo up. Created from
# inside the underlay namespace: nothing ever touches the root namespace.
mn_attach() {
  local ns=$1 port=$2 addr=$3
  [ -e "/var/run/netns/$ns" ] || ip netns add "$ns"
  mn_ns_ul ip link add "$port" type veth peer name ul0 netns "$ns"
  mn_ns_ul ip link set "$port" master br0 up
  nsenter --net="/var/run/netns/$ns" -- sh -c "ip link set lo up && ip addr add $addr/24 dev ul0 && ip link set ul0 up"
}

# ---- etcd ----------------------------------------------------------------

mn_etcd_up() {
  [ -e "/var/run/netns/mln-$MLN_ID-etcd" ] || mn_attach "mln-$MLN_ID-etcd" ve "$MN_ETCD_IP"
  command -v etcd >/dev/null || mln_die "etcd is not installed (apt-get install etcd-server etcd-client)"
  mn_etcd_start
}

mn_etcd_start() {
  [ -z "$MN_ETCD_PID" ] || return 0
  mkdir -p "$MLN_TMP/etcd"
  # Client and peer URLs on the underlay address only (not 0.0.0.0, not lo).
  nsenter --net="/var/run/netns/mln-$MLN_ID-etcd" -- etcd --name "mln-$MLN_ID" --data-dir "$MLN_TMP/etcd/data" \
    --listen-client-urls "$MN_ETCD_URL" --advertise-client-urls "$MN_ETCD_URL" \
    --listen-peer-urls "http://$MN_ETCD_IP:2380" --initial-advertise-peer-urls "http://$MN_ETCD_IP:2380" \
    --initial-cluster "mln-$MLN_ID=http://$MN_ETCD_IP:2380" --initial-cluster-token "mln-$MLN_ID" \
    --logger zap --log-outputs stderr --log-level warn >>"$MLN_TMP/etcd/etcd.log" 2>&1 &
  MN_ETCD_PID=$!
  MLN_PIDS+=("$MN_ETCD_PID")
  _mn_etcd_healthy() { mn_etcdctl endpoint health >/dev/null 2>&1; }
  mln_retry 150 0.1 _mn_etcd_healthy || { cat "$MLN_TMP/etcd/etcd.log" >&2; mln_die "etcd did not become healthy within 15s"; }
}

mn_etcd_stop() {  # $1 = signal (default TERM)
  [ -n "$MN_ETCD_PID" ] || return 0
  kill "-${1:-TERM}" "$MN_ETCD_PID" 2>/dev/null || true
  wait "$MN_ETCD_PID" 2>/dev/null || true
  MN_ETCD_PID=""
}

# ---- the Kubernetes API (the stand-in) --------------------------------------

# mn_standin_up OBJECTS.json [stand-in flags]: tests/kube/apiserver_standin.py
# in its own namespace on the underlay (10.99.0.3:6443; the stand-in listens
# on its namespace's 127.0.0.1, a socat there forwards the underlay port to
# it), TLS with a CA of this run, a token; sets MN_KUBECONFIG (for
# MN_STORE=kube), MN_K8S (its directory), MN_K8S_TOKEN.
mn_standin_up() {
  local objects=$1 k ns="mln-$MLN_ID-k8s" port; shift
  MN_K8S="$MLN_TMP/k8s"
  k=$MN_K8S
  mkdir -p "$k"
  [ -e "/var/run/netns/$ns" ] || mn_attach "$ns" vk "$MN_STANDIN_IP"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=test-ca \
    -keyout "$k/ca.key" -out "$k/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=kube-apiserver \
    -keyout "$k/server.key" -out "$k/server.csr" 2>/dev/null
  echo "subjectAltName=IP:$MN_STANDIN_IP,IP:127.0.0.1" >"$k/san.ext"
  openssl x509 -req -in "$k/server.csr" -CA "$k/ca.crt" -CAkey "$k/ca.key" -CAcreateserial -days 2 \
    -extfile "$k/san.ext" -out "$k/server.crt" 2>/dev/null
  MN_K8S_TOKEN="token-$MLN_ID-$RANDOM"
  mn_bg "/var/run/netns/$ns" python3 "$MLN_ROOT/tests/kube/apiserver_standin.py" --cert "$k/server.crt" --key "$k/server.key" \
    --token "$MN_K8S_TOKEN" --objects "$objects" "$@" >"$k/port" 2>"$k/standin.log"
  _mn_standin_port() { [ -s "$MN_K8S/port" ]; }
  mln_retry 100 0.1 _mn_standin_port || mln_die "the stand-in API server did not start: $(cat "$k/standin.log")"
  MN_K8S_LOCAL_PORT=$(head -1 "$k/port")
  mn_bg "/var/run/netns/$ns" socat "TCP-LISTEN:6443,bind=$MN_STANDIN_IP,fork,reuseaddr" "TCP:127.0.0.1:$MN_K8S_LOCAL_PORT"
  _mn_standin_fwd() { nsenter --net="/var/run/netns/mln-$MLN_ID-k8s" -- ss -Hltn "sport = :6443" | mln_has .; }
  mln_retry 100 0.05 _mn_standin_fwd || mln_die "the stand-in's underlay port did not open"
  MN_KUBECONFIG="$k/kubeconfig"
  cat >"$MN_KUBECONFIG" <<KC
apiVersion: v1
kind: Config
current-context: standin
clusters:
- name: standin
  cluster: {server: "https://$MN_STANDIN_IP:6443", certificate-authority: ca.crt}
contexts:
- name: standin
  context: {cluster: standin, user: myelin}
users:
- name: myelin
  user: {token: "$MN_K8S_TOKEN"}
KC
}

# mn_standin_ctl apply|delete|compact|drop JSON: the stand-in's test controls.
mn_standin_ctl() {
  nsenter --net="/var/run/netns/mln-$MLN_ID-k8s" -- curl -sf --max-time 5 --cacert "$MN_K8S/ca.crt" \
    -H "Authorization: Bearer $MN_K8S_TOKEN" -X POST --data-binary "${2:-{\}}" \
    "https://127.0.0.1:$MN_K8S_LOCAL_PORT/_standin/$1" >/dev/null || mln_die "stand-in control $1 failed"
}
# mn_kubectl_get PATH: a GET on the stand-in (e.g. /api/v1/nodes), JSON on stdout.
mn_kubectl_get() {
  nsenter --net="/var/run/netns/mln-$MLN_ID-k8s" -- curl -sf --max-time 5 --cacert "$MN_K8S/ca.crt" \
    -H "Authorization: Bearer $MN_K8S_TOKEN" "https://127.0.0.1:$MN_K8S_LOCAL_PORT$1"
}

# ---- nodes ---------------------------------------------------------------

# mn_node_add NAME [extra myelind flags...]: the node's namespace on the
# underlay (ul0 = 10.99.0.(10+i), default route via the world), forwarding on,
# and its agent started with the cluster flags of MN_MODE/MN_STORE/MN_IPAM.
mn_node_add() {
  local n=$1; shift
  [ -z "${MN_NODE_NS[$n]:-}" ] || mln_die "node $n exists"
  MN_NODE_COUNT=$((MN_NODE_COUNT + 1))
  local i=$MN_NODE_COUNT
  MN_NODE_IDX[$n]=$i
  MN_NODE_NS[$n]="mln-$MLN_ID-n-$n"
  MN_NODE_IP[$n]="$MN_UL_PREFIX.$((10 + i))"
  MN_NODE_CIDR[$n]="10.244.$i.0/24"
  MN_SOCK[$n]="$MLN_TMP/$n/myelin.sock"
  MN_LOG[$n]="$MLN_TMP/$n/myelind.log"
  mkdir -p "$MLN_TMP/$n" "$MLN_CGROUP/$n"
  printf '{"cniVersion":"1.1.0","name":"myelin","type":"myelin-cni","socket":"%s"}\n' "${MN_SOCK[$n]}" >"$MLN_TMP/$n/cni.conf"
  mn_attach "${MN_NODE_NS[$n]}" "vn$i" "${MN_NODE_IP[$n]}"
  mn_node "$n" ip route add default via "$MN_WORLD_IP" dev ul0
  mn_node "$n" sysctl -qw net.ipv4.ip_forward=1
  MN_NODES+=("$n")
  local args=(--node-name "$n" --node-ip "${MN_NODE_IP[$n]}" --routing-mode "${MN_MODE:-tunnel}")
  [ "${MN_MODE:-tunnel}" = native ] && args+=(--native-routing-cidr "$MN_POD_POOL")
  case "${MN_IPAM:-static}" in
    static) args+=(--pod-cidr "${MN_NODE_CIDR[$n]}") ;;
    cluster-pool) args+=(--ipam cluster-pool --cluster-pool-cidr "$MN_POD_POOL" --cluster-pool-mask-size 24); MN_NODE_CIDR[$n]="" ;;
    kubernetes) args+=(--ipam kubernetes) ;;  # the Node object's spec.podCIDR: the test made it 10.244.i.0/24
    *) mln_die "MN_IPAM must be static, cluster-pool or kubernetes" ;;
  esac
  case "${MN_STORE:-etcd}" in
    etcd) args+=(--kvstore etcd --kvstore-endpoints "$MN_ETCD_URL" --kvstore-lease-ttl "${MN_LEASE_TTL:-5}") ;;
    kube) args+=(--kubeconfig "${MN_KUBECONFIG:?mn_standin_up first}") ;;
    none) ;;
    *) mln_die "MN_STORE must be etcd, kube or none" ;;
  esac
  args+=("${MN_AGENT_ARGS[@]}" "$@")
  MN_NODE_ARGS[$n]=$(printf '%q ' "${args[@]}")
  mn_agent_start "$n"
}

# Starts (or restarts) node N's agent with the flags it was added with.
mn_agent_start() {
  local n=$1 args
  eval "args=(${MN_NODE_ARGS[$n]})"
  mln_agent_cgroup_args "$MLN_BIN"
  [ ${#MLN_CG_ARGS[@]} -eq 0 ] || MLN_CG_ARGS=(--cgroup-root "$MLN_CGROUP/$n")
  echo "---- start $(date +%T.%N) ----" >>"${MN_LOG[$n]}"
  # nsenter itself in the background (not a shell function: $! would be a
  # subshell, and killing it would leave myelind running).
  nsenter --net="/var/run/netns/${MN_NODE_NS[$n]}" -- "$MLN_BIN/myelind" "${args[@]}" \
    --api-socket "${MN_SOCK[$n]}" --bpffs-root "$MLN_BPFFS/$n" --state-dir "$MLN_TMP/$n/state" "${MLN_CG_ARGS[@]}" \
    >>"${MN_LOG[$n]}" 2>&1 &
  MN_PID[$n]=$!
  MLN_PIDS+=("${MN_PID[$n]}")
  mn_wait_ready "$n"
  local where
  where=$(grep -o 'socket-lb: attached [^/]* to .*' "${MN_LOG[$n]}" | tail -n 1 | sed 's/.* to //') || true
  [ -z "$where" ] || [ "$where" = "$MLN_CGROUP/$n" ] ||
    mln_die "node $n's myelind attached its socket LB to $where, not its cgroup $MLN_CGROUP/$n"
  if [ -z "${MN_NODE_CIDR[$n]}" ]; then  # cluster-pool: the CIDR the agent claimed
    MN_NODE_CIDR[$n]=$(mn_myelin "$n" status -o json | jq -r '.pod_cidr // .ipam.pod_cidr // empty' 2>/dev/null) || true
  fi
}

mn_wait_ready() {
  local n=$1 i
  for i in $(seq 1 300); do
    if mn_myelin "$n" status -o json 2>/dev/null | jq -e '.ready == true' >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "${MN_PID[$n]}" 2>/dev/null; then
      tail -n 40 "${MN_LOG[$n]}" >&2
      mln_die "node $n's myelind exited during start-up"
    fi
    sleep 0.1
  done
  tail -n 40 "${MN_LOG[$n]}" >&2
  mln_die "node $n's myelind not ready after 30s"
}

mn_agent_kill() {  # $1 = node, $2 = signal (default TERM)
  local n=$1 pid=${MN_PID[$1]:-}
  [ -n "$pid" ] || return 0
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  MN_PID[$n]=""
}

# A node removed from the cluster: its agent stopped (TERM), its pods and its
# namespace (and so its underlay port) gone. Its records in the store expire
# with its lease.
mn_node_del() {
  local n=$1 pod keep=()
  mn_agent_kill "$n" "${2:-TERM}"
  for pod in "${!MN_POD_NODE[@]}"; do
    [ "${MN_POD_NODE[$pod]}" = "$n" ] || continue
    ip netns del "${MLN_POD_NETNS[$pod]}" 2>/dev/null || true
    unset "MN_POD_NODE[$pod]" "MLN_POD_IP[$pod]"
  done
  ip netns del "${MN_NODE_NS[$n]}" 2>/dev/null || true
  rm -rf "${MLN_BPFFS:?}/$n"
  rmdir "$MLN_CGROUP/$n" 2>/dev/null || true
  local m; for m in "${MN_NODES[@]}"; do [ "$m" = "$n" ] || keep+=("$m"); done
  MN_NODES=("${keep[@]}")
  unset "MN_NODE_NS[$n]"
}

# mn_node_readdress NODE ADDRESS: the node comes back with another underlay
# address (same name, pod CIDR and pods): its agent stopped (kill -9: its old
# records stay in the store until it writes new ones), ul0 renumbered, the
# default route put back, and the agent started with --node-ip ADDRESS.
mn_node_readdress() {
  local n=$1 addr=$2 old=${MN_NODE_IP[$1]}
  mn_agent_kill "$n" KILL
  # The old one first: deleting a primary address also deletes its secondaries.
  mn_node "$n" ip addr del "$old/24" dev ul0
  mn_node "$n" ip addr add "$addr/24" dev ul0
  mn_node "$n" ip route replace default via "$MN_WORLD_IP" dev ul0
  MN_NODE_IP[$n]=$addr
  MN_NODE_ARGS[$n]=${MN_NODE_ARGS[$n]//"--node-ip $old "/"--node-ip $addr "}
  [[ ${MN_NODE_ARGS[$n]} == *"--node-ip $addr "* ]] || mln_die "mn_node_readdress: no --node-ip in node $n's flags"
  mn_agent_start "$n"
}

# ---- pods ----------------------------------------------------------------

mn_cni() {  # $1 = node, $2 = command, $3 = container id, $4 = netns path, rest: env
  local n=$1 cmd=$2 cid=$3 netns=$4; shift 4
  mn_node "$n" env CNI_COMMAND="$cmd" CNI_CONTAINERID="$cid" CNI_NETNS="$netns" CNI_IFNAME=eth0 \
    CNI_PATH="$MLN_BIN" "$@" "$MLN_BIN/myelin-cni" <"$MLN_TMP/$n/cni.conf"
}

# mn_pod_add NODE POD-KEY [NAMESPACE] [POD-NAME]: the key is unique in the run
# (cluster-wide); NAMESPACE/POD-NAME are what the agent is told (CNI_ARGS).
mn_pod_add() {
  local n=$1 pod=$2 ns=${3:-default} k8sname=${4:-$2} netns="mln-$MLN_ID-p-$2" cid result
  [ -n "${MN_NODE_NS[$n]:-}" ] || mln_die "mn_pod_add: no node $n"
  cid="cid-$MLN_ID-$pod"
  ip netns add "$netns"
  ip netns exec "$netns" ip link set lo up
  MLN_PODS+=("$pod")
  MLN_POD_NETNS[$pod]=$netns
  MLN_POD_CID[$pod]=$cid
  MN_POD_NODE[$pod]=$n
  result=$(mn_cni "$n" ADD "$cid" "/var/run/netns/$netns" CNI_ARGS="K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$k8sname") ||
    mln_die "CNI ADD for $ns/$k8sname on $n failed: $result"
  MLN_POD_IP[$pod]=$(jq -r '.ips[0].address' <<<"$result" | cut -d/ -f1)
}

mn_pod_del() {  # $1 = pod key: CNI DEL on its node, then its namespace
  local pod=$1 n=${MN_POD_NODE[$1]}
  mn_cni "$n" DEL "${MLN_POD_CID[$pod]}" "/var/run/netns/${MLN_POD_NETNS[$pod]}" >/dev/null || true
  ip netns del "${MLN_POD_NETNS[$pod]}" 2>/dev/null || true
  unset "MN_POD_NODE[$pod]" "MLN_POD_IP[$pod]"
}

# Runs a command in a pod inside its node's socket-LB cgroup (cf. mln_pod_lb).
mn_pod_lb() {
  local pod=$1; shift
  MLN_LB_CG="$MLN_CGROUP/${MN_POD_NODE[$pod]}" MLN_LB_NS="${MLN_POD_NETNS[$pod]}" \
    bash -c 'echo $$ >"$MLN_LB_CG/cgroup.procs" && exec ip netns exec "$MLN_LB_NS" "$@"' mn_pod_lb "$@"
}

# ---- waiting on the cluster ----------------------------------------------

# The opening of the three-node tests: etcd, nodes n1..n3 whose agents read
# the manifests directory $M (namespace ns-x in it; MN_AGENT_ARGS), and a pod
# on each, a on n1, b on n2, c on n3, with their addresses in A, B and C.
mn_three_pods_up() {
  mn_init
  mn_etcd_up
  M="$MLN_TMP/manifests"
  mkdir -p "$M"
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: ns-x}\n' >"$M/00-ns.yaml"
  MN_AGENT_ARGS=(--manifests "$M")
  local n
  for n in n1 n2 n3; do mn_node_add "$n"; done
  mn_pod_add n1 a ns-x
  mn_pod_add n2 b ns-x
  mn_pod_add n3 c ns-x
  A=${MLN_POD_IP[a]} B=${MLN_POD_IP[b]} C=${MLN_POD_IP[c]}
}

# mn_wait_cluster [TIMEOUT-S]: every node's agent lists every node of the
# cluster (`myelin node list -o json`), bounded.
mn_wait_cluster() {
  local t=${1:-30} want=${#MN_NODES[@]}
  _mn_all_see_all() {
    local n got
    for n in "${MN_NODES[@]}"; do
      got=$(mn_myelin "$n" node list -o json 2>/dev/null | jq '[.nodes[]?] | length' 2>/dev/null) || return 1
      [ "${got:-0}" -eq "$want" ] || return 1
    done
  }
  mln_retry $((t * 10)) 0.1 _mn_all_see_all
}

# mn_ipcache NODE: node N's pinned ipcache (IPv4), one entry a line:
# "PREFIX/LEN identity=N ipblock=N tunnel=A.B.C.D flags=N", read from the map
# itself (bpftool), so a test sees what the datapath sees.
mn_ipcache() {
  bpftool -j map dump pinned "$MLN_BPFFS/$1/myelin_ipcache" 2>/dev/null | jq -r '
    def b(i): .[i] | ltrimstr("0x") | explode | map(if . >= 97 then . - 87 else . - 48 end) | .[0] * 16 + .[1];
    def ip(o): [b(o), b(o + 1), b(o + 2), b(o + 3)] | map(tostring) | join(".");
    def u32(o): b(o) + 256 * b(o + 1) + 65536 * b(o + 2) + 16777216 * b(o + 3);
    .[] | select(.key | b(4) == 4) |
    "\(.key | ip(8))/\((.key | u32(0)) - 32) identity=\(.value | u32(0)) ipblock=\(.value | u32(4)) tunnel=\(.value | ip(8)) flags=\(.value | u32(12))"'
}

# mn_wait_ipcache NODE PREFIX/LEN [TIMEOUT-S]: node N's ipcache holds PREFIX/LEN.
mn_wait_ipcache() {
  local n=$1 p=$2 t=${3:-30}
  # Arguments, not $n: mln_retry has a local n of its own.
  _mn_has_prefix() { mn_ipcache "$1" | mln_has "^$2 "; }
  mln_retry $((t * 10)) 0.1 _mn_has_prefix "$n" "$p"
}

# ---- cleanup -------------------------------------------------------------

# Run first by mln_cleanup (mln_at_exit): agents and etcd stopped by PID, the
# nodes' cgroups emptied and removed (the run's cgroup can go only then), and
# on failure every node's last log lines. cluster.sh then removes the
# namespaces of this run, the pins under $MLN_BPFFS and the temp dir.
mn_cleanup() {
  local n pid
  for n in "${!MN_PID[@]}"; do mn_agent_kill "$n"; done
  mn_etcd_stop
  for n in "${!MN_NODE_IDX[@]}"; do
    [ -d "$MLN_CGROUP/$n" ] || continue
    for pid in $(cat "$MLN_CGROUP/$n/cgroup.procs" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 50); do rmdir "$MLN_CGROUP/$n" 2>/dev/null && break; sleep 0.1; done
  done
  if [ "${rc:-0}" -ne 0 ]; then
    for n in "${!MN_NODE_IDX[@]}"; do
      [ -f "$MLN_TMP/$n/myelind.log" ] || continue
      echo "---- node $n: myelind log (last 30 lines) ----" >&2
      tail -n 30 "$MLN_TMP/$n/myelind.log" >&2
    done
    [ -f "$MLN_TMP/etcd/etcd.log" ] && { echo "---- etcd log (last 10 lines) ----" >&2; tail -n 10 "$MLN_TMP/etcd/etcd.log" >&2; }
  fi
  return 0
}
