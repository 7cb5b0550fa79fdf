#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Who may use the agent's API: root and the members of --api-socket-group,
# nobody else. Both layers are tested on their own: the socket file (root
# owner, mode 0660 from the moment it exists, whatever the umask) and the
# agent's SO_PEERCRED check (the file loosened to 0666, an outsider is still
# refused). The CLI and the CNI plugin, run as an unprivileged user with
# setpriv, print the agent's reason and never hang; root and group members
# are the positive controls in every step.
source "$(dirname "$0")/common.sh"

# A gid no group and no user has: membership comes only from setpriv below.
GID=""
for g in $(seq 61000 61999); do
  if ! getent group "$g" >/dev/null && ! getent passwd | awk -F: -v g="$g" '$4 == g {f=1} END {exit !f}'; then GID=$g; break; fi
done
[ -n "$GID" ] || mln_die "no unused gid in 61000-61999"
NOBODY=65534

MLN_NODE_NAME=api-node
MLN_AGENT_ARGS=(--api-socket-group "$GID")
mln_init
chmod 0711 "$MLN_TMP"  # the socket's directory: searchable, so the socket's own mode is what decides
mln_node_up 10.219.0.0/24

# as WHO-SETPRIV-ARGS... -- command: runs with a bound, so a hang fails instead of blocking.
as() {
  local args=()
  while [ "$1" != "--" ]; do args+=("$1"); shift; done
  shift
  timeout 10 setpriv "${args[@]}" "$@"
}
outsider=(--reuid "$NOBODY" --regid "$NOBODY" --clear-groups)
member_supp=(--reuid "$NOBODY" --regid "$NOBODY" --groups "$GID")
member_primary=(--reuid "$NOBODY" --regid "$GID" --clear-groups)
WANT="myelin: permission denied: the agent's API ($MLN_SOCK) accepts root and group $GID; you are uid $NOBODY"
status_ready() { jq -e '.ready == true' >/dev/null 2>&1; }
cni_status() {  # setpriv args...: the plugin's STATUS as a runtime would run it
  timeout 10 setpriv "$@" env -i CNI_COMMAND=STATUS CNI_PATH="$MLN_BIN" "$MLN_BIN/myelin-cni" <"$MLN_CNI_CONF"
}

echo "-- the socket file"
read -r mode owner group type < <(stat -c '%a %u %g %F' "$MLN_SOCK")
[ "$mode $owner $group" = "660 0 $GID" ] && [ "$type" = socket ] &&
  t_ok "socket is root:$GID mode 0660" || t_bad "socket mode/owner" "$mode $owner $group $type"
ls "$MLN_TMP" | grep -q '\.new\.' && t_bad "no temporary socket name left behind" "$(ls "$MLN_TMP")" || t_ok "no temporary socket name left behind"

echo "-- layer 1: the file mode (0660, group $GID)"
mln_myelin status -o json | status_ready && t_ok "root: status answers (positive control)" || t_bad "root status"
rc=0; out=$(as "${outsider[@]}" -- "$MLN_BIN/myelin" --socket "$MLN_SOCK" status 2>&1) || rc=$?
[ "$rc" = 1 ] && [ "$out" = "$WANT" ] && t_ok "uid $NOBODY, no groups: refused with the reason (exit 1, no hang)" ||
  t_bad "outsider refused by the file mode" "rc=$rc out=$out"
as "${member_supp[@]}" -- "$MLN_BIN/myelin" --socket "$MLN_SOCK" status -o json | status_ready &&
  t_ok "uid $NOBODY with supplementary group $GID: allowed" || t_bad "supplementary member allowed"
as "${member_primary[@]}" -- "$MLN_BIN/myelin" --socket "$MLN_SOCK" status -o json | status_ready &&
  t_ok "uid $NOBODY with primary group $GID: allowed" || t_bad "primary member allowed"
rc=0; out=$(cni_status "${outsider[@]}") || rc=$?
[ "$rc" = 1 ] && jq -e --arg w "${WANT#myelin: }" '.msg | contains($w)' <<<"$out" >/dev/null &&
  t_ok "CNI plugin as uid $NOBODY: error result with the reason ($(jq -r .code <<<"$out"))" || t_bad "CNI outsider" "rc=$rc out=$out"
cni_status "${member_supp[@]}" >/dev/null && t_ok "CNI plugin as a member: STATUS passes" || t_bad "CNI member STATUS"

echo "-- layer 2: SO_PEERCRED (the file loosened to 0666)"
chmod 0666 "$MLN_SOCK"
refusals_before=$(grep -c 'refused a client' "$MLN_AGENT_LOG" || true)
rc=0; out=$(as "${outsider[@]}" -- "$MLN_BIN/myelin" --socket "$MLN_SOCK" status 2>&1) || rc=$?
[ "$rc" = 1 ] && [ "$out" = "$WANT" ] && t_ok "uid $NOBODY, no groups, socket 0666: the agent refuses with the reason" ||
  t_bad "outsider refused by the agent" "rc=$rc out=$out"
rc=0; out=$(as "${outsider[@]}" -- "$MLN_BIN/myelin" --socket "$MLN_SOCK" observe --last 1 2>&1) || rc=$?
[ "$rc" = 1 ] && [ "$out" = "$WANT" ] && t_ok "same for a streaming command (observe)" || t_bad "observe refused" "rc=$rc out=$out"
logged() { [ "$(grep -c 'refused a client' "$MLN_AGENT_LOG" || true)" -gt "$refusals_before" ]; }
mln_retry 50 0.1 logged && grep 'refused a client' "$MLN_AGENT_LOG" | tail -1 | grep -q "you are uid $NOBODY (pid " &&
  t_ok "the agent logs the refusal with the peer's uid and pid" || t_bad "refusal logged" "$(tail -5 "$MLN_AGENT_LOG")"
rc=0; out=$(cni_status "${outsider[@]}") || rc=$?
[ "$rc" = 1 ] && jq -e --arg w "${WANT#myelin: }" '.msg | contains($w)' <<<"$out" >/dev/null &&
  t_ok "CNI plugin as uid $NOBODY, socket 0666: the agent's reason in the error result" || t_bad "CNI refused by agent" "rc=$rc out=$out"
as "${member_supp[@]}" -- "$MLN_BIN/myelin" --socket "$MLN_SOCK" status -o json | status_ready &&
  t_ok "a member is still allowed (positive control)" || t_bad "member allowed, socket 0666"
mln_myelin status -o json | status_ready && t_ok "root is still allowed (positive control)" || t_bad "root allowed, socket 0666"
# A burst of refused peers holds no client slot: root is answered right after.
for _ in $(seq 1 30); do as "${outsider[@]}" -- "$MLN_BIN/myelin" --socket "$MLN_SOCK" status >/dev/null 2>&1 || true; done
mln_myelin status -o json | status_ready && t_ok "after 30 refused peers the agent answers root at once" || t_bad "answers after refusals"

echo "-- root only, started under umask 000 and 077"
for um in 000 077; do
  mln_agent_kill TERM
  MLN_AGENT_ARGS=()
  saved=$(umask)
  umask "$um"  # inherited by the agent mln_agent_start starts
  mln_agent_start
  umask "$saved"
  read -r mode owner group < <(stat -c '%a %u %g' "$MLN_SOCK")
  [ "$mode $owner $group" = "660 0 0" ] && t_ok "umask $um: socket is root:root 0660" || t_bad "umask $um: socket mode" "$mode $owner $group"
done
mln_myelin status -o json | status_ready && t_ok "root: status answers (positive control)" || t_bad "root status, root-only agent"
WANT_ROOT="myelin: permission denied: the agent's API ($MLN_SOCK) accepts root only; you are uid $NOBODY"
rc=0; out=$(as "${member_supp[@]}" -- "$MLN_BIN/myelin" --socket "$MLN_SOCK" status 2>&1) || rc=$?
[ "$rc" = 1 ] && [ "$out" = "$WANT_ROOT" ] && t_ok "root only: a member of $GID is refused by the file mode" || t_bad "root only, file" "rc=$rc out=$out"
chmod 0666 "$MLN_SOCK"
rc=0; out=$(as "${member_supp[@]}" -- "$MLN_BIN/myelin" --socket "$MLN_SOCK" status 2>&1) || rc=$?
[ "$rc" = 1 ] && [ "$out" = "$WANT_ROOT" ] && t_ok "root only, socket 0666: refused by the agent" || t_bad "root only, agent" "rc=$rc out=$out"

echo "-- a bad group"
rc=0; out=$("$MLN_BIN/myelind" --pod-cidr 10.219.9.0/24 --api-socket-group "mln-no-such-group-$MLN_ID" --socket-lb false 2>&1) || rc=$?
[ "$rc" = 2 ] && grep -q "no group named 'mln-no-such-group-$MLN_ID'" <<<"$out" &&
  t_ok "--api-socket-group of an unknown name: exit 2 with the reason" || t_bad "unknown group" "rc=$rc out=$out"

t_summary
