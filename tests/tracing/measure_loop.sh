#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The inner loop of measure_policies.sh, run where the agent runs (this host,
# or the VM's busybox): each policy file in turn is moved into the agent's
# manifests directory, its state read back from `myelin tracingpolicy list
# -o json` once the agent has decided (bounded wait), then removed again
# before the next one, so each answer belongs to one file and no two
# policies of the same name meet.
#   measure_loop.sh POLICY_DIR MANIFESTS_DIR SKIP_ENFORCING(0|1)
# Needs in the environment: MYELIN (the CLI with its --socket), JQ.
# Prints one line per file: "FILE<TAB>RESULT<TAB>DETAIL", then
# "TOTAL<TAB>N of M load"; RESULT is loaded, refused, skipped or timeout.
set -u
POLICIES=$1 MANIFESTS=$2 SKIP_ENFORCING=${3:-0}
: "${MYELIN:?}" "${JQ:?}"
tab=$(printf '\t')
list() { $MYELIN tracingpolicy list -o json 2>/dev/null; }

# The entries of one source (the file's path, maybe with :line).
entries() {  # $1 = path in the manifests dir
  list | $JQ -c --arg f "$1" '[.policies[]? | select(.source == $f or (.source | startswith($f + ":")))]'
}

loaded=0 total=0
for f in "$POLICIES"/*.yaml "$POLICIES"/*.yml; do
  [ -e "$f" ] || continue
  name=$(basename "$f")
  docs=$(grep -c '^kind: *"\{0,1\}TracingPolicy\(Namespaced\)\{0,1\}"\{0,1\} *$' "$f")
  if [ "$docs" -eq 0 ]; then
    echo "$name${tab}skipped${tab}not a TracingPolicy (no kind: TracingPolicy document)"
    continue
  fi
  total=$((total + 1))
  if [ "$SKIP_ENFORCING" = 1 ] && grep -Eq 'action: *"?(Sigkill|Signal|Override|NotifyEnforcer)"?' "$f"; then
    echo "$name${tab}skipped${tab}enforcing policy (Sigkill/Signal/Override/NotifyEnforcer) not loaded on a shared host (--enforce to load it)"
    continue
  fi
  dst="$MANIFESTS/$name"
  cp "$f" "$MANIFESTS/.$name.tmp" && mv "$MANIFESTS/.$name.tmp" "$dst"
  # Decided: a refusal of the file (cause decode covers all of it), or one
  # state per TracingPolicy document, none of them still without a state.
  i=0 e='[]'
  while :; do
    e=$(entries "$dst")
    n=$(echo "$e" | $JQ 'length')
    decode=$(echo "$e" | $JQ '[.[] | select(.refusal.cause == "decode")] | length')
    [ "$decode" -gt 0 ] && break
    [ "$n" -ge "$docs" ] && break
    i=$((i + 1))
    [ $i -gt "${MEASURE_WAIT_STEPS:-600}" ] && break
    sleep 0.2
  done
  if [ "$n" -eq 0 ] && [ "$decode" -eq 0 ]; then
    echo "$name${tab}timeout${tab}no state in tracingpolicy list after $((i / 5)) s (the agent log may say why)"
  elif echo "$e" | $JQ -e --argjson d "$docs" 'length >= $d and all(.[]; .state == "enabled")' >/dev/null; then
    loaded=$((loaded + 1))
    echo "$name${tab}loaded${tab}$(echo "$e" | $JQ -r '[.[] | "\(.name): \(.hooks) hooks" + (if (.mode // "") != "" then ", \(.mode)" else "" end) + (if ((.warnings // []) | length) > 0 then "; warnings: " + (.warnings | join("; ")) else "" end)] | join(" | ")')"
  else
    # The refusal as the CLI shows it: file:line: field: reason (cause).
    echo "$name${tab}refused${tab}$(echo "$e" | $JQ -r '[.[] | select(.state != "enabled") | (if .refusal.message then "\(.refusal.message) (cause \(.refusal.cause // "?"))" elif (.error // "") != "" then .error else "state \(.state), no reason shown" end)] | join(" | ") | gsub("[\t\n]"; " ")')"
  fi
  rm -f "$dst"
  i=0
  while [ "$(entries "$dst" | $JQ 'length')" != 0 ]; do
    i=$((i + 1))
    [ $i -gt 300 ] && { echo "# $name: still listed 60 s after its file was removed" >&2; break; }
    sleep 0.2
  done
done
echo "TOTAL${tab}$loaded of $total load"
