#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Services at scale: TCP connect+request+close latency (tcp_crr, one
# connection at a time: each pays the first packet's Service translation)
# through a ClusterIP of N Services x B backends, beside the same to a pod IP,
# for Myelin and for kube-proxy's three modes, each in namespaces of its own:
#   floor     client -> node (plain routing, no rules) -> server: the physical floor
#   iptables  the same node namespace with kube-proxy's iptables rules
#             (tests/bench/kube_proxy_rules.py iptables, loaded by iptables-restore)
#   nft       ... with kube-proxy's nftables rules (nft -f; a verdict map)
#   ipvs      ... with kube-proxy's IPVS virtual servers (ipvsadm-restore),
#             when this kernel has IPVS (n/a otherwise)
#   myelin    a Myelin node (scripts/lib/cluster.sh): a client pod and B
#             server pods; Services written into its pinned LB maps
# The measured Service is the last one written (last in KUBE-SERVICES: the
# linear walk's worst case). Also: the time to add one Service at the largest
# scale (iptables-restore --noflush of kube-proxy's minimized restore, one nft
# transaction, Myelin's map writes) and the LB maps' memlock per Service.
# Rounds alternate modes, so machine noise hits all alike; medians printed,
# with ratios against the baselines of the same run. Never asserts on time.
#   tests/bench/service_bench.sh [SCALES] [ROUNDS] [SECONDS]   (as root)
#   default: "1 1000 10000" 3 2; BENCH_MODES="floor iptables nft ipvs myelin"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib/cluster.sh"
[ "$(id -u)" -eq 0 ] || { echo "service_bench: run as root" >&2; exit 1; }
SCALES=$(tr ' ' '\n' <<<"${1:-1 1000 10000}" | sort -n | xargs)  # ascending: Myelin's maps grow in place
ROUNDS=${2:-3}
SECS=${3:-2}
B=${BENCH_BACKENDS:-10}
MODES=${BENCH_MODES:-"floor iptables nft ipvs myelin"}
GEN="$here/kube_proxy_rules.py"
CRR="$MLN_BIN/tcp_crr"
[ -x "$CRR" ] || { echo "service_bench: $CRR missing (cmake --build build --target tcp_crr)" >&2; exit 1; }
for t in python3 iptables-restore nft bpftool jq; do
  command -v "$t" >/dev/null || { echo "service_bench: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done
has_mode() { [[ " $MODES " == *" $1 "* ]]; }

mln_init
W="$MLN_TMP/bench"; mkdir -p "$W"
PORT=8080 VPORT=80
CLI_IP=10.217.0.2 MEASURED_BASE=10.218.255.0
declare -A NA=()          # mode -> why it is not measured
declare -A LAT=()         # "mode scale kind" -> list of "p50 p99" samples (kind: vip | pod)
declare -A ADD=()         # mode -> "wall cpu" seconds to add one Service
declare -A LOAD=()        # "mode scale" -> seconds to load all rules
declare -A MEM=()         # scale -> bytes of LB maps (memlock) after

# Namespaces of a kube-proxy-style node: cli -- node (router, rules) -- srv.
ns_of() { echo "mln-$MLN_ID-$1-$2"; }
in_ns() { local ns=$1; shift; nsenter --net="/var/run/netns/$ns" -- "$@"; }
topo_up() {  # mode
  local m=$1 c n s j
  c=$(ns_of "$m" cli) n=$(ns_of "$m" node) s=$(ns_of "$m" srv)
  for ns in "$c" "$n" "$s"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  ip -n "$c" link add eth0 type veth peer name c0 netns "$n"
  ip -n "$s" link add eth0 type veth peer name s0 netns "$n"
  ip -n "$c" addr add "$CLI_IP/24" dev eth0
  ip -n "$n" addr add 10.217.0.1/24 dev c0
  ip -n "$n" addr add 10.217.1.1/24 dev s0
  ip -n "$s" addr add 10.217.1.2/24 dev eth0
  ip -n "$c" link set eth0 up; ip -n "$s" link set eth0 up
  ip -n "$n" link set c0 up; ip -n "$n" link set s0 up
  ip -n "$c" route add default via 10.217.0.1
  ip -n "$s" route add default via 10.217.1.1
  # Every pod address of the generator (10.216.0.0/13) lives behind srv;
  # only the measured Service's backends answer.
  ip -n "$n" route add 10.216.0.0/13 via 10.217.1.2
  for j in $(seq 1 "$B"); do ip -n "$s" addr add "$(be_ip "$j")/32" dev lo; done
  in_ns "$n" sysctl -qw net.ipv4.ip_forward=1
  tune_client "$c"
  # ip netns exec execs timeout, which passes our TERM on to the server.
  ip netns exec "$s" timeout 7200 "$CRR" server "$PORT" & MLN_PIDS+=("$!")
}
be_ip() { python3 -c "import ipaddress,sys; print(ipaddress.ip_address('$MEASURED_BASE') + $1)"; }
tune_client() {  # the client opens tens of thousands of connections a second
  in_ns "$1" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
  in_ns "$1" sysctl -qw net.ipv4.tcp_tw_reuse=1
}
wait_listen_ns() {  # ns port
  for _ in $(seq 1 100); do in_ns "$1" ss -H -ltn "sport = :$2" | grep -q . && return 0; sleep 0.05; done
  mln_die "service_bench: nothing listens on $2 in $1"
}
# timed NS|- CMD... -> "wall cpu" seconds of CMD (user+sys), run in namespace NS
timed() {
  # Wall time from EPOCHREALTIME (microseconds; time's %e has 10 ms steps), CPU from time(1).
  local ns=$1 pre=() t0 t1; shift
  [ "$ns" = - ] || pre=(nsenter --net="/var/run/netns/$ns" --)
  t0=$EPOCHREALTIME
  if ! /usr/bin/time -o "$W/time" -f '%U %S' "${pre[@]}" "$@" >/dev/null 2>"$W/timed.err"; then
    echo "service_bench: $* failed: $(tail -n 3 "$W/timed.err")" >&2
    return 1
  fi
  t1=$EPOCHREALTIME
  awk -v w="$(echo "$t1 - $t0" | bc -l)" '{printf "%.3f %.2f\n", w, $1 + $2}' "$W/time"
}
crr() {  # ns ip port -> "p50 p99" or "" (failed; the reason on stderr)
  local out
  if out=$(in_ns "$1" "$CRR" client "$2" "$3" "$SECS" 2>"$W/crr.err"); then
    awk '{print $2, $3}' <<<"$out"
  else
    echo "$1 -> $2:$3: $(tail -n 1 "$W/crr.err")" | tee "$W/why" >&2
    echo ""
  fi
}

# --- the Myelin node --------------------------------------------------------
# Two ways to give it the Services (BENCH_MYELIN_DRIVER):
#   agent  Service + EndpointSlice YAML in its --manifests directory: the
#          user's path (translation, LB writer); load and add times run from
#          the file written to the frontend's slot 0 in myelin_lb_svc
#   maps   the same entries written straight into the pinned LB maps
#          (bpftool batch): the datapath alone, when the agent has no writer
#   auto   agent when myelind has the LB writer (--lb-algorithm), else maps
LB_PINS="" MY_DRIVER=${BENCH_MYELIN_DRIVER:-auto} MANI="" MY_NOTE=""
myelin_up() {
  if [ "$MY_DRIVER" = auto ]; then
    MY_DRIVER=maps
    local help; help=$("$MLN_BIN/myelind" --help 2>&1 || true)  # not piped to grep -q: pipefail and SIGPIPE
    [[ $help == *--lb-algorithm* ]] && MY_DRIVER=agent
  fi
  if [ "$MY_DRIVER" = agent ]; then
    MANI="$W/manifests"; mkdir -p "$MANI"
    printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: bench, labels: {kubernetes.io/metadata.name: bench}}\n' >"$MANI/ns.yaml"
    MLN_AGENT_ARGS+=(--manifests "$MANI")
  fi
  MLN_NODE_NAME=bench-node
  export MLN_NODE_NAME
  mln_node_up 10.217.64.0/24
  mln_pod_add client
  tune_client "${MLN_POD_NETNS[client]}"
  local j
  for j in $(seq 1 "$B"); do
    mln_pod_add "be$j"
    mln_pod_bg "be$j" timeout 7200 "$CRR" server "$PORT"
  done
  for j in $(seq 1 "$B"); do mln_wait_listen "be$j" "$PORT"; done
  LB_PINS=$MLN_BPFFS
  [ -e "$LB_PINS/myelin_lb_svc" ] || NA[myelin]="the agent pinned no myelin_lb_svc in $MLN_BPFFS"
}
myelin_backends() { local j; for j in $(seq 1 "$B"); do printf '%s,' "${MLN_POD_IP[be$j]}"; done; }
lb_memlock() {  # sum of memlock of the LB maps whose size follows their entries (BPF_F_NO_PREALLOC)
  local p sum=0 m
  for p in "$LB_PINS"/myelin_lb_svc "$LB_PINS"/myelin_lb_be "$LB_PINS"/myelin_lb_revnat; do
    m=$(bpftool -j map show pinned "$p" 2>/dev/null | jq -r '.bytes_memlock // 0') || m=0
    sum=$((sum + m))
  done
  echo "$sum"
}
lb_fixed() {  # the LB maps allocated in full at creation (LRU, array, hash of maps), bytes
  local p sum=0 m
  for p in "$LB_PINS"/myelin_lb_aff "$LB_PINS"/myelin_lb_sknat "$LB_PINS"/myelin_lb_cfg "$LB_PINS"/myelin_lb_maglev; do
    m=$(bpftool -j map show pinned "$p" 2>/dev/null | jq -r '.bytes_memlock // 0') || m=0
    sum=$((sum + m))
  done
  echo "$sum"
}
# Waits (bounded: BENCH_MYELIN_WAIT seconds, default 300) until Service index
# $1 has its slot 0 with $B backends; prints the wall seconds since $2 (an EPOCHREALTIME).
wait_frontend() {
  local key t0=$2 v end=$((SECONDS + ${BENCH_MYELIN_WAIT:-300}))
  key=$("$GEN" myelin-key "$1")
  while [ "$SECONDS" -lt "$end" ]; do
    # shellcheck disable=SC2086  # the key is one hex byte a word
    if v=$(bpftool -j map lookup pinned "$LB_PINS/myelin_lb_svc" key hex $key 2>/dev/null) &&
      [[ "$(jq -r '.formatted.value.count // "no BTF"' <<<"$v")" =~ ^($B|no BTF)$ ]]; then
      echo "$EPOCHREALTIME - $t0" | bc -l | xargs printf '%.3f\n'
      return 0
    fi
    sleep 0.01
  done
  echo "service_bench: the agent did not install Service $1 in ${BENCH_MYELIN_WAIT:-300} s" >&2
  return 1
}
myelin_load() {  # scale
  # Scales grow: Service i and backend id i*B+j+1 are overwritten in place, never left stale.
  local n=$1 t t0
  if [ "$MY_DRIVER" = agent ]; then
    # Files of 1,000 Services each (one file of 10,000 passes --manifest-max-size's 16 MiB),
    # written in the order the agent then reads; each replaced in one rename.
    local c
    for c in $(seq 0 $(( (n - 1) / 1000 ))); do
      "$GEN" manifests "$n" --backends "$B" --measured-ips "$(myelin_backends)" --range "$((c * 1000)):$((c * 1000 + 1000))" >"$W/services-$c.yaml"
    done
    t0=$EPOCHREALTIME
    for c in $(seq 0 $(( (n - 1) / 1000 ))); do mv "$W/services-$c.yaml" "$MANI/services-$c.yaml"; done
    if ! t=$(wait_frontend $((n - 1)) "$t0"); then
      # An agent with the writer but without the Services model wired in:
      # measure the datapath with the maps written directly, and say so.
      MY_NOTE="the agent did not install Services from its manifests within ${BENCH_MYELIN_WAIT:-300} s: written into the maps instead"
      echo "service_bench: $MY_NOTE" >&2
      rm -f "$MANI"/services-*.yaml
      MY_DRIVER=maps
      myelin_load "$n"
      return 0
    fi
  else
    "$GEN" myelin "$n" --backends "$B" --pin-dir "$LB_PINS" --measured-ips "$(myelin_backends)" >"$W/myelin.batch"
    t=$(timed - bpftool batch file "$W/myelin.batch")
  fi
  LOAD["myelin $n"]=${t%% *}
  MEM[$n]=$(lb_memlock)
}
myelin_add() {  # scale: sets ADD[myelin]
  local n=$1 t0
  if [ "$MY_DRIVER" = agent ]; then
    "$GEN" manifests "$n" --add --backends "$B" --measured-ips "$(myelin_backends)" >"$W/added.tmp"
    t0=$EPOCHREALTIME
    mv "$W/added.tmp" "$MANI/added.yaml"
    ADD[myelin]="$(wait_frontend "$n" "$t0" || echo fail) -"
  else
    "$GEN" myelin "$n" --add --backends "$B" --pin-dir "$LB_PINS" --measured-ips "$(myelin_backends)" >"$W/add"
    ADD[myelin]=$(timed - bpftool batch file "$W/add")
  fi
}

# --- kube-proxy modes ---------------------------------------------------------
ipvs_probe() {  # the node namespace of mode ipvs can hold virtual servers
  in_ns "$(ns_of ipvs node)" ipvsadm -Ln >/dev/null 2>&1
}
load_rules() {  # mode scale: sets LOAD["mode scale"] (wall seconds)
  local m=$1 n=$2 node t; node=$(ns_of "$m" node)
  "$GEN" "$m" "$n" --backends "$B" --measured-base "$MEASURED_BASE" >"$W/rules"
  case $m in
    iptables) t=$(timed "$node" iptables-restore "$W/rules") ;;
    nft)
      in_ns "$node" nft delete table ip kube-proxy 2>/dev/null || true
      t=$(timed "$node" nft -f "$W/rules") ;;
    ipvs)
      in_ns "$node" ipvsadm -C
      in_ns "$node" ip link del kube-ipvs0 2>/dev/null || true
      in_ns "$node" ip link add kube-ipvs0 type dummy
      "$GEN" clusterips "$n" | sed 's|.*|address add &/32 dev kube-ipvs0|' >"$W/addrs"
      in_ns "$node" ip -batch "$W/addrs"
      t=$(timed "$node" bash -c 'exec ipvsadm-restore <"$0"' "$W/rules") ;;
  esac
  LOAD["$m $n"]=${t%% *}
}
add_one() {  # mode scale: sets ADD[mode] to "wall cpu" of adding Service index SCALE
  local m=$1 n=$2 node; node=$(ns_of "$m" node)
  "$GEN" "$m" "$n" --backends "$B" --add >"$W/add"
  case $m in
    iptables) ADD[$m]=$(timed "$node" iptables-restore --noflush "$W/add") ;;
    nft) ADD[$m]=$(timed "$node" nft -f "$W/add") ;;
    ipvs)
      in_ns "$node" ip addr add "$("$GEN" clusterips "$n" --add | tail -n 1)/32" dev kube-ipvs0
      ADD[$m]=$(timed "$node" bash -c 'exec ipvsadm-restore <"$0"' "$W/add") ;;
  esac
}

# --- set up ---------------------------------------------------------------------
for m in floor iptables nft ipvs; do has_mode "$m" && topo_up "$m"; done
if has_mode ipvs && ! ipvs_probe; then
  why=$(in_ns "$(ns_of ipvs node)" ipvsadm -Ln 2>&1 || true)
  NA[ipvs]="this kernel has no IPVS (ipvsadm: ${why##*$'\n'})"
fi
has_mode myelin && myelin_up
for m in floor iptables nft ipvs; do has_mode "$m" && wait_listen_ns "$(ns_of "$m" srv)" "$PORT"; done
MEM_EMPTY=""
[ -z "${NA[myelin]:-}" ] && has_mode myelin && MEM_EMPTY=$(lb_memlock)

declare -A WHY=()  # "mode scale kind" -> why a sample failed
note_fail() { [ -n "$2" ] || WHY[$1]=$(cat "$W/why"); }
measure() {  # mode scale
  local m=$1 n=$2 vip r
  vip=$("$GEN" vip "$n")
  if [ "$m" = myelin ]; then
    r=$(crr "${MLN_POD_NETNS[client]}" "${MLN_POD_IP[be1]}" "$PORT"); LAT["$m $n pod"]+="$r;"; note_fail "$m $n pod" "$r"
    echo "  $m $n pod: ${r:-fail}" >&2
    r=$(crr "${MLN_POD_NETNS[client]}" "$vip" "$VPORT"); LAT["$m $n vip"]+="$r;"; note_fail "$m $n vip" "$r"
    echo "  $m $n svc: ${r:-fail}" >&2
    return 0
  fi
  r=$(crr "$(ns_of "$m" cli)" "$(be_ip 1)" "$PORT"); LAT["$m $n pod"]+="$r;"; note_fail "$m $n pod" "$r"
  echo "  $m $n pod: ${r:-fail}" >&2
  [ "$m" = floor ] && return 0
  r=$(crr "$(ns_of "$m" cli)" "$vip" "$VPORT"); LAT["$m $n vip"]+="$r;"; note_fail "$m $n vip" "$r"
  echo "  $m $n svc: ${r:-fail}" >&2
}

LARGEST=${SCALES##* }
for n in $SCALES; do
  for m in iptables nft ipvs myelin; do
    has_mode "$m" && [ -z "${NA[$m]:-}" ] || continue
    echo "loading $n Services x $B backends into $m ..." >&2
    if [ "$m" = myelin ]; then myelin_load "$n"; else load_rules "$m" "$n"; fi
  done
  for r in $(seq 1 "$ROUNDS"); do
    echo "$n Services: round $r/$ROUNDS ..." >&2
    for m in floor iptables nft ipvs myelin; do
      has_mode "$m" && [ -z "${NA[$m]:-}" ] && measure "$m" "$n"
    done
  done
  if [ "$n" = "$LARGEST" ]; then
    for m in iptables nft ipvs myelin; do
      has_mode "$m" && [ -z "${NA[$m]:-}" ] || continue
      echo "adding one Service at $n in $m ..." >&2
      if [ "$m" = myelin ]; then
        myelin_add "$n"
      else
        add_one "$m" "$n"
      fi
    done
  fi
done

# --- report -----------------------------------------------------------------
median() { tr ';' '\n' | awk 'NF' | sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
col() {  # "mode scale kind" field(1=p50,2=p99) -> median or "-" (also "-" if any sample failed)
  local s=${LAT[$1]:-}
  [ -n "$s" ] || { echo -; return; }
  if grep -qE '(^|;);' <<<"$s"; then echo fail; return; fi
  tr ';' '\n' <<<"$s" | awk -v f="$2" 'NF {print $f}' | median
}
ratio() { if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]]; then echo "$1 / $2" | bc -l | xargs printf '%.2f'; else echo -; fi; }

echo
echo "Services, $B backends each: TCP connect+request+close (tcp_crr), $ROUNDS alternating rounds of ${SECS}s, medians"
echo "($(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); iptables: $(iptables --version | awk '{print $2, $3}');"
echo " Myelin's Services written by: ${MY_DRIVER}${MY_NOTE:+ ($MY_NOTE)})"
printf '%-9s %-9s %11s %11s %11s %11s %9s %9s %s\n' Services mode "svc p50 us" "svc p99 us" "pod p50 us" "pod p99 us" svc/floor svc/pod "load s"
for n in $SCALES; do
  fl=$(col "floor $n pod" 1)
  for m in floor iptables nft ipvs myelin; do
    has_mode "$m" || continue
    if [ -n "${NA[$m]:-}" ]; then printf '%-9s %-9s n/a: %s\n' "$n" "$m" "${NA[$m]}"; continue; fi
    v50=$(col "$m $n vip" 1) v99=$(col "$m $n vip" 2) p50=$(col "$m $n pod" 1) p99=$(col "$m $n pod" 2)
    printf '%-9s %-9s %11s %11s %11s %11s %9s %9s %s\n' "$n" "$m" "$v50" "$v99" "$p50" "$p99" \
      "$(ratio "$v50" "$fl")" "$(ratio "$v50" "$p50")" "${LOAD[$m $n]:--}"
  done
done
for k in "${!WHY[@]}"; do echo "fail: $k: ${WHY[$k]}"; done | sort
echo "(svc: through the ClusterIP; pod: to a backend's pod IP through the same node; svc/floor: p50 against the"
echo " floor's pod p50 (routed namespaces, no rules); svc/pod: p50 against the same mode's own pod path;"
echo " load s: wall seconds to write all N Services (iptables-restore, nft -f, ipvsadm-restore, bpftool batch).)"
echo
echo "Service p50 ratios against kube-proxy at each scale (< 1: Myelin faster)"
printf '%-9s %14s %14s %14s\n' Services myelin/iptables myelin/nft myelin/ipvs
for n in $SCALES; do
  my=$(col "myelin $n vip" 1)
  printf '%-9s %14s %14s %14s\n' "$n" "$(ratio "$my" "$(col "iptables $n vip" 1)")" \
    "$(ratio "$my" "$(col "nft $n vip" 1)")" "$(ratio "$my" "$(col "ipvs $n vip" 1)")"
done
echo
echo "Adding one Service ($B backends) at $LARGEST Services"
printf '%-9s %10s %12s %s\n' mode "wall s" "cpu s" how
for m in iptables nft ipvs myelin; do
  has_mode "$m" || continue
  [ -n "${NA[$m]:-}" ] && { printf '%-9s n/a: %s\n' "$m" "${NA[$m]}"; continue; }
  read -r w c <<<"${ADD[$m]:-- -}"
  case $m in
    iptables) how="iptables-restore --noflush: KUBE-SERVICES in full + the new chains (kube-proxy's minimized restore)" ;;
    nft) how="nft -f: one transaction, the new chains + one service-ips element" ;;
    ipvs) how="ipvsadm-restore: one virtual server + its real servers" ;;
    myelin)
      how="bpftool batch: the map writes of one frontend (slots, backends, rev-NAT)"
      [ "$MY_DRIVER" = agent ] && how="a Service + EndpointSlice file written -> its slot 0 in myelin_lb_svc (polled every 10 ms)" ;;
  esac
  printf '%-9s %10s %12s %s\n' "$m" "$w" "$c" "$how"
done
if has_mode myelin && [ -z "${NA[myelin]:-}" ]; then
  echo
  echo "BPF memory of the LB maps that grow with their entries (bpftool memlock of myelin_lb_svc, _be, _revnat;"
  echo " Services written by: $MY_DRIVER${MY_NOTE:+ ($MY_NOTE)}); allocated in full at start: $(( $(lb_fixed) / 1024 )) KiB (affinity, socket rev-NAT, config, Maglev)"
  printf '%-9s %14s %18s\n' Services "memlock KiB" "bytes per Service"
  printf '%-9s %14s %18s\n' 0 "$((MEM_EMPTY / 1024))" -
  for n in $SCALES; do
    printf '%-9s %14s %18s\n' "$n" "$((${MEM[$n]} / 1024))" "$(( (${MEM[$n]} - MEM_EMPTY) / n ))"
  done
fi
