#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Upgrade and downgrade between real releases. The previous release (the
# commit before pinned maps had layout versions: conntrack entries of layout
# 1) is built from git, once, and cached; this build has conntrack layout 2.
#   1. The old agent runs pods under a NetworkPolicy (server: ingress only
#      from client) with a long TCP stream and a continuous ping, client to
#      server. Denied (intruder) and allowed (client) probes, before.
#   2. Upgrade: the old agent is stopped, this one started: it migrates the
#      conntrack map and swaps every pod's programs. No ping is lost, the
#      stream's bytes never stop and it ends without error, the stream's and
#      the ping's conntrack entries are the same entries (created_ns) in the
#      new layout, and policy still holds (denied and allowed probes again).
#   3. Downgrade to the old release: refused (libbpf will not reuse a map of
#      another size), no pin touched, traffic flowing.
#   4. A pin of a layout newer than this build (what a downgrade from a
#      future release looks like to this one): refused with a message that
#      names the map, both layouts and what to do; no pin touched.
#   5. This build again: adopts everything, nothing migrated.
# MLN_UPGRADE_FROM picks another previous release (a commit);
# MLN_UPGRADE_CACHE where its build is kept.
source "$(dirname "$0")/common.sh"
command -v bpftool >/dev/null || { echo "FAIL: bpftool missing"; exit 1; }
command -v iperf3 >/dev/null || { echo "FAIL: iperf3 missing"; exit 1; }

FROM=${MLN_UPGRADE_FROM:-21a1c43702e629cd718ec6cac129d4d3c4e7b386}
NEW_BIN=$MLN_BIN
CACHE=${MLN_UPGRADE_CACHE:-$(cd "$NEW_BIN/.." && pwd)/upgrade-releases}
OLD=$CACHE/$FROM

# ---- The previous release, built from git once (a few minutes the first time) ----
git -C "$MLN_ROOT" rev-parse --git-dir >/dev/null 2>&1 ||
  { echo "SKIP: $MLN_ROOT is not a git checkout: the previous release is built from its history"; exit 0; }
git -C "$MLN_ROOT" cat-file -e "$FROM^{commit}" 2>/dev/null ||
  { echo "SKIP: commit $FROM (the previous release) is not in this clone's history (a shallow clone? git fetch --unshallow)"; exit 0; }
build_old() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9  # one build at a time; a second run waits and reuses it
  if [ ! -x "$OLD/build/bin/myelind" ] || [ ! -x "$OLD/build/bin/myelin-cni" ] || [ ! -x "$OLD/build/bin/myelin" ]; then
    mln_log "building the previous release ${FROM:0:12} into $OLD (once; later runs reuse it)"
    rm -rf "$OLD.tmp" && mkdir -p "$OLD.tmp/src"
    git -C "$MLN_ROOT" archive --format=tar "$FROM" | tar -x -C "$OLD.tmp/src"
    local launcher=()
    command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    if ! { CCACHE_BASEDIR="$OLD.tmp/src" CCACHE_NOHASHDIR=1 cmake -S "$OLD.tmp/src" -B "$OLD.tmp/src/build" \
             -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" &&
           CCACHE_BASEDIR="$OLD.tmp/src" CCACHE_NOHASHDIR=1 cmake --build "$OLD.tmp/src/build" -j "$(nproc)" \
             --target myelind myelin-cni myelin; } >"$CACHE/build-${FROM:0:12}.log" 2>&1; then
      tail -n 30 "$CACHE/build-${FROM:0:12}.log" >&2
      echo "FAIL: the previous release ${FROM:0:12} did not build (log: $CACHE/build-${FROM:0:12}.log)"
      exit 1
    fi
    rm -rf "$OLD" && mv "$OLD.tmp/src" "$OLD" && rm -rf "$OLD.tmp"
  fi
  flock -u 9
}
build_old
OLD_BIN=$OLD/build/bin
# The binaries read their own location only through MLN_BIN (cluster.sh).
use() { MLN_BIN=$1; }

use "$OLD_BIN"
mln_init
MANIFESTS="$MLN_TMP/manifests"
mkdir -p "$MANIFESTS"
{
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: up\n---\n'
  for p in client server intruder; do
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: up\n  labels: {app: %s}\n---\n' "$p" "$p"
  done
} >"$MANIFESTS/00-cluster.yaml"
cat >"$MANIFESTS/10-server.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-from-client, namespace: up}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
EOF
MLN_NODE_NAME=upgrade-node
MLN_AGENT_ARGS=(--manifests "$MANIFESTS" --metrics-addr "")
mln_node_up 10.233.0.0/24
for p in client server intruder; do mln_pod_add "$p" up "$p"; done
C=${MLN_POD_IP[client]} S=${MLN_POD_IP[server]}

ep_id() { mln_myelin endpoint list -o json | jq -r ".endpoints[] | select(.pod_name==\"$1\") | .id"; }
enforced() { mln_myelin endpoint get "$(ep_id server)" -o json | jq -e '.policy.ingress_enforced' >/dev/null; }
mln_retry 100 0.1 enforced || mln_die "the policy never took effect on server (old release)"

# policy_holds WHEN: the intruder's ping is dropped, a new ping from client is not.
policy_holds() {
  if mln_pod intruder ping -c 2 -i 0.2 -W 1 "$S" >/dev/null 2>&1; then t_bad "$1: intruder -> server denied" "its ping got through"
  else t_ok "$1: intruder -> server denied"; fi
  if mln_pod client ping -c 2 -i 0.2 -W 2 "$S" >/dev/null 2>&1; then t_ok "$1: a new connection client -> server allowed (positive control)"
  else t_bad "$1: a new connection client -> server allowed (positive control)" "its ping got no reply"; fi
}
policy_holds "old release"

# ---- Long traffic, client -> server: a TCP stream (rate-limited: the machine has two cores) and a ping every 20 ms ----
PINGS=4500
mln_pod_bg server iperf3 -s -1 -p 5201 >"$MLN_TMP/iperf-server.out" 2>&1
mln_wait_listen server 5201 tcp
mln_pod_bg client iperf3 -c "$S" -p 5201 -t 100 -i 1 -b 50M -J --logfile "$MLN_TMP/iperf.json"
IPERF_PID=$MLN_LAST_PID
mln_pod_bg client ping -i 0.02 -c "$PINGS" -W 2 "$S" >"$MLN_TMP/ping.out"
PING_PID=$MLN_LAST_PID
replies() { grep -c "icmp_seq=" "$MLN_TMP/ping.out" || true; }
mln_retry 200 0.05 sh -c "[ \$(grep -c icmp_seq= '$MLN_TMP/ping.out') -ge 20 ]" || mln_die "ping never got going"
# keeps_flowing WHAT: at least 20 more ping replies arrive (bounded wait).
keeps_flowing() {
  local from
  from=$(replies)
  if mln_retry 200 0.05 sh -c "[ \$(grep -c icmp_seq= '$MLN_TMP/ping.out') -ge $((from + 20)) ]"; then t_ok "ping replies keep coming $1"
  else t_bad "ping replies keep coming $1" "$(replies) replies, $from before"; fi
}

# ---- Conntrack, read with bpftool from the pin (either layout: BTF names the fields) ----
le32() { local a b c d; IFS=. read -r a b c d <<<"$1"; echo $((a | b << 8 | c << 16 | d << 24)); }
be16() { echo $((($1 >> 8) | (($1 & 255) << 8))); }
CL=$(le32 "$C") SL=$(le32 "$S") IPERF_PORT=$(be16 5201)
# "proto sport created_ns packets_fwd" of the client -> server entries: the stream's (TCP to 5201) and the ping's.
ct_entries() {
  bpftool -j map dump pinned "$MLN_BPFFS/myelin_ct" | jq -r --argjson c "$CL" --argjson s "$SL" --argjson p "$IPERF_PORT" '
    .[] | .formatted | select(.key.saddr.w[0] == $c and .key.daddr.w[0] == $s and
                              ((.key.proto == 6 and .key.dport == $p) or .key.proto == 1)) |
    "\(.key.proto) \(.key.sport) \(.value.created_ns) \(.value.packets_fwd)"' | sort
}
ct_value_size() { bpftool -j map show pinned "$MLN_BPFFS/myelin_ct" | jq -r '.bytes_value'; }
pin_ids() { for f in "$MLN_BPFFS"/*; do printf '%s=%s ' "$(basename "$f")" "$(bpftool -j map show pinned "$f" | jq -r .id)"; done; }
mln_retry 100 0.1 sh -c "[ \$(bpftool -j map dump pinned '$MLN_BPFFS/myelin_ct' | jq '[.[] | .formatted | select(.key.proto == 6)] | length') -ge 2 ]" ||
  mln_die "the TCP stream has no conntrack entries"
# The stream's entries (TCP to 5201: iperf3's control and data connections)
# and the continuous ping's (the ICMP entry with the most packets: the
# control probes' pings have their own, of two packets).
ct_before=$(ct_entries | awk '$1 == 6 { print; next } $4 > max { max = $4; ping = $0 } END { if (ping != "") print ping }' | sort)
n_tcp=$(awk '$1 == 6' <<<"$ct_before" | wc -l) n_icmp=$(awk '$1 == 1' <<<"$ct_before" | wc -l)
[ "$(ct_value_size)" = 64 ] && [ "$n_tcp" -ge 1 ] && [ "$n_icmp" = 1 ] &&
  t_ok "old release: conntrack layout 1 (64-byte entries) holds the stream ($n_tcp TCP entries) and the ping" ||
  t_bad "old release conntrack" "value size $(ct_value_size), entries: $ct_before"

# The program id on a pod's host veth ($1 pod, $2 ingress|egress).
prog_on() {
  local ifc
  ifc=$(mln_myelin endpoint get "$(ep_id "$1")" -o json | jq -r '.host_ifname')
  mln_node tc filter show dev "$ifc" "$2" | grep -oE ' id [0-9]+' | awk '{print $2}' | head -n 1
}
declare -A PROG_BEFORE=()
for p in client server intruder; do for side in ingress egress; do PROG_BEFORE[$p-$side]=$(prog_on "$p" "$side"); done; done

# ---- 2. Upgrade ----
mln_agent_kill TERM
use "$NEW_BIN"
mln_agent_start
grep -q "upgrade: migrated myelin_ct: layout 1 -> 2" "$MLN_AGENT_LOG" &&
  t_ok "the new agent migrated conntrack: $(grep -o 'migrated myelin_ct: layout 1 -> 2, [0-9]* entries' "$MLN_AGENT_LOG")" ||
  t_bad "the new agent migrated conntrack" "$(grep -i 'upgrade\|migrat' "$MLN_AGENT_LOG")"
mln_myelin status -o json >"$MLN_TMP/status.json"
t_jq "the new agent adopted the pinned datapath" '.adopted == true' "$MLN_TMP/status.json"
t_jq "the new agent restored the three endpoints" '(.endpoints // 0) == 3' "$MLN_TMP/status.json"
[ "$(ct_value_size)" = 72 ] && t_ok "the conntrack pin is the layout 2 map (72-byte entries)" || t_bad "conntrack pin layout 2" "value size $(ct_value_size)"
ct_id=$(bpftool -j map show pinned "$MLN_BPFFS/myelin_ct" | jq -r .id)
for p in client server intruder; do
  for side in ingress egress; do
    id=$(prog_on "$p" "$side")
    if [ -n "$id" ] && [ "$id" != "${PROG_BEFORE[$p-$side]}" ] && bpftool -j prog show id "$id" | jq -e --argjson m "$ct_id" '.map_ids | index($m)' >/dev/null; then
      t_ok "$p's veth ($side) runs a new program, on the new conntrack map"
    else
      t_bad "$p's veth ($side) runs a new program, on the new conntrack map" "program $id (before: ${PROG_BEFORE[$p-$side]}), conntrack map $ct_id"
    fi
  done
done
keeps_flowing "after the upgrade"
ct_after=$(ct_entries)
same=0
while read -r proto sport created _; do
  grep -q "^$proto $sport $created " <<<"$ct_after" && same=$((same + 1))
done <<<"$ct_before"
[ "$same" = "$(grep -c . <<<"$ct_before")" ] &&
  t_ok "the stream's and the ping's conntrack entries survived: $same of $same, same created_ns" ||
  t_bad "conntrack entries survived" "before: $ct_before | after: $ct_after"
grown=$(join <(awk '{print $1"-"$2, $4}' <<<"$ct_before" | sort) <(awk '{print $1"-"$2, $4}' <<<"$ct_after" | sort) | awk '$3 > $2' | wc -l)
[ "$grown" -ge 2 ] && t_ok "the new programs count on the migrated entries ($grown grew)" || t_bad "the migrated entries are used" "before: $ct_before | after: $ct_after"
policy_holds "after the upgrade"

# ---- 3. Downgrade to the previous release: refused, nothing touched ----
ids_before=$(pin_ids)
mln_agent_kill TERM
start_refused() {  # $1 = bin dir; the agent must exit non-zero; its output is in $MLN_TMP/refused.log
  mln_agent_cgroup_args "$1"  # socket LB on this run's cgroup, never the machine's root
  timeout 120 nsenter --net="/var/run/netns/$MLN_NODE" -- "$1/myelind" --node-name "$MLN_NODE_NAME" --pod-cidr "$MLN_CIDR" \
    --api-socket "$MLN_SOCK" --bpffs-root "$MLN_BPFFS" --state-dir "$MLN_STATE" "${MLN_CG_ARGS[@]}" "${MLN_AGENT_ARGS[@]}" >"$MLN_TMP/refused.log" 2>&1
}
if start_refused "$OLD_BIN"; then t_bad "the previous release refuses the newer pins" "it started: $(tail -n 5 "$MLN_TMP/refused.log")"
else t_ok "the previous release refuses the newer pins and exits"; fi
grep -q "couldn't reuse pinned map at '$MLN_BPFFS/myelin_ct': parameter mismatch" "$MLN_TMP/refused.log" &&
  t_ok "... saying which map: $(grep -o "couldn't reuse pinned map at '[^']*': parameter mismatch" "$MLN_TMP/refused.log")" ||
  t_bad "the refusal names the map" "$(tail -n 5 "$MLN_TMP/refused.log")"
cp "$MLN_TMP/refused.log" "$MLN_TMP/downgrade-old.log"
[ "$(pin_ids)" = "$ids_before" ] && t_ok "no pin made, moved or replaced by the refused downgrade" || t_bad "pins untouched" "before: $ids_before | after: $(pin_ids)"
keeps_flowing "while the previous release refuses"

# ---- 4. A layout newer than this build (a future release's pins): refused by name and versions ----
ct_id=$(bpftool -j map show pinned "$MLN_BPFFS/myelin_ct" | jq -r .id)
le_bytes() { printf '0x%02x 0x%02x 0x%02x 0x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
layout_value() { echo "$(le_bytes "$1") $(printf '0x%02x ' $(printf 'myelin_ct' | od -An -tu1)) $(printf '0x00 %.0s' $(seq 1 19))"; }
bpftool map update pinned "$MLN_BPFFS/myelin_layout" key $(le_bytes "$ct_id") value $(layout_value 3) exist
ids_before=$(pin_ids)
if start_refused "$NEW_BIN"; then t_bad "this release refuses a newer layout" "it started"
else t_ok "this release refuses a newer layout and exits"; fi
msg=$(grep -o "pinned map myelin_ct in [^ ]* has layout 3, newer than this myelind's layout 2.*" "$MLN_TMP/refused.log" | head -n 1)
[ -n "$msg" ] && grep -q "nothing was changed" <<<"$msg" && grep -q "Run the newer myelind again" <<<"$msg" &&
  t_ok "... naming the map, both layouts and what to do" || t_bad "the downgrade message" "$(tail -n 3 "$MLN_TMP/refused.log")"
echo "       downgrade message: $msg"
[ "$(pin_ids)" = "$ids_before" ] && t_ok "no pin made, moved or replaced by the refused start" || t_bad "pins untouched" "before: $ids_before | after: $(pin_ids)"
keeps_flowing "while this release refuses a newer layout"
bpftool map update pinned "$MLN_BPFFS/myelin_layout" key $(le_bytes "$ct_id") value $(layout_value 2) exist

# ---- 5. This release again: adopts, migrates nothing ----
: >"$MLN_AGENT_LOG"
mln_agent_start
grep -q "upgrade: migrated" "$MLN_AGENT_LOG" && t_bad "a second start migrates nothing" "$(grep migrated "$MLN_AGENT_LOG")" ||
  t_ok "a second start of this release adopts every map, migrates nothing"
policy_holds "after the refused downgrades"

ct_end=$(ct_entries)
tcp_end=0
while read -r proto sport created _; do
  [ "$proto" = 6 ] && grep -q "^6 $sport $created " <<<"$ct_end" && tcp_end=$((tcp_end + 1))
done <<<"$ct_before"
[ "$tcp_end" = "$n_tcp" ] && t_ok "the stream's conntrack entries are still the first ones ($tcp_end), after all of it" ||
  t_bad "the stream's entries at the end" "before: $ct_before | end: $ct_end"

# ---- The traffic, end to end ----
wait "$PING_PID" || true
wait "$IPERF_PID" && t_ok "the TCP stream completed across the upgrade and both refusals" || t_bad "the TCP stream completed" "$(jq -r '.error // empty' "$MLN_TMP/iperf.json")"
sent=$(grep -oE '^[0-9]+ packets transmitted' "$MLN_TMP/ping.out" | cut -d' ' -f1)
received=$(grep -oE '[0-9]+ received' "$MLN_TMP/ping.out" | cut -d' ' -f1)
[ "$sent" = "$PINGS" ] && [ "$received" = "$PINGS" ] && t_ok "no ping lost: $received of $sent" || t_bad "no ping lost" "$(tail -n 2 "$MLN_TMP/ping.out")"
bytes=$(jq '.end.sum_sent.bytes // 0' "$MLN_TMP/iperf.json")
err=$(jq -r '.error // ""' "$MLN_TMP/iperf.json")
stalls=$(jq '[.intervals[] | select(.sum.bytes == 0)] | length' "$MLN_TMP/iperf.json")
nint=$(jq '.intervals | length' "$MLN_TMP/iperf.json")
[ "$bytes" -gt 0 ] && [ -z "$err" ] && [ "$stalls" = 0 ] &&
  t_ok "the stream sent $bytes bytes in $nint one-second intervals, none empty, no error" ||
  t_bad "the stream never stopped" "bytes=$bytes error=$err empty intervals=$stalls of $nint"
echo "       ping: $sent sent, $received received; TCP: $bytes bytes; conntrack (client -> server): $(grep -c . <<<"$ct_before") before, $same the same after"
echo "       conntrack before (proto sport created_ns packets_fwd): $(tr '\n' ';' <<<"$ct_before")"
echo "       conntrack after the upgrade:                        $(grep -F -f <(awk '{print $1" "$2" "$3" "}' <<<"$ct_before") <<<"$ct_after" | tr '\n' ';')"
t_summary
