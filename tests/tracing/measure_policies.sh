#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Measures which TracingPolicy files of a directory myelind loads unchanged
# (e.g. a checkout of Tetragon's examples/, flattened). Each file is loaded
# alone, in turn, into one agent (measure_loop.sh), and this prints per file
# "loaded" or the refusal as `myelin tracingpolicy list -o json` shows it,
# then "N of M load". Files without a TracingPolicy document are skipped.
#
#   tests/tracing/measure_policies.sh DIR [--vm] [--enforce] [--out FILE]
#
# Host (default): the agent runs in its own network namespace and pin root,
# as the integration tests run it (scripts/lib/cluster.sh). A policy whose
# selectors Sigkill, Signal, Override or NotifyEnforcer is not loaded on the
# host unless --enforce is given: it would act on every process of a shared
# machine for as long as it is loaded.
# --vm: the same inside Debian's 6.1 kernel under qemu (tests/vm/run-in-vm.sh),
# where fentry, fexit, fmod_ret and BPF-LSM exist; enforcing policies load there.
# Needs root, built binaries (scripts/build.sh myelind myelin myelin-cni), jq.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DIR="" VM=0 ENFORCE=0 OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --vm) VM=1; shift ;;
    --enforce) ENFORCE=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '3,19p' "$0"; exit 0 ;;
    -*) echo "measure_policies: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) DIR=$1; shift ;;
  esac
done
[ -n "$DIR" ] && [ -d "$DIR" ] || { echo "measure_policies: give a directory of policy files (see --help)" >&2; exit 2; }
DIR=$(cd "$DIR" && pwd)
BIN=${MLN_BIN:-$root/build/bin}
JQ_BIN=$(command -v jq) || { echo "measure_policies: jq is missing" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "measure_policies: needs root (BPF, namespaces)" >&2; exit 2; }

emit() {  # the loop's output: aligned, and kept in --out
  local tmp; tmp=$(mktemp)
  cat >"$tmp"
  { echo "# measure_policies.sh $DIR ($WHERE, $(date -u +%FT%TZ), $(git -C "$root" rev-parse --short HEAD 2>/dev/null))"
    grep -v '^TOTAL' "$tmp" | sort | awk -F'\t' '{ printf "%-72s %-8s %s\n", $1, $2, $3 }'
    grep '^TOTAL' "$tmp" | cut -f2
  } | if [ -n "$OUT" ]; then tee "$OUT"; else cat; fi
  rm -f "$tmp"
}

if [ $VM = 0 ]; then
  WHERE="host: $(uname -r)"
  # shellcheck source=../../scripts/lib/cluster.sh
  source "$root/scripts/lib/cluster.sh"
  MLN_BIN=$BIN
  mln_init
  MANIFESTS="$MLN_TMP/manifests"
  mkdir -p "$MANIFESTS"
  mln_at_exit mln_agent_kill
  MLN_AGENT_ARGS=(--manifests "$MANIFESTS" --metrics-addr "")
  mln_node_up 10.233.0.0/24
  MYELIN="$BIN/myelin --socket $MLN_SOCK" JQ=$JQ_BIN \
    sh "$here/measure_loop.sh" "$DIR" "$MANIFESTS" "$([ $ENFORCE = 1 ] && echo 0 || echo 1)" | emit
  exit 0
fi

# --vm: the policies, the CLI, the agent and jq go into the guest's /work.
files=(--file "$BIN/myelind:/work/myelind" --file "$BIN/myelin:/work/myelin" --file "$JQ_BIN:/work/jq"
       --file "$here/measure_loop.sh:/work/measure_loop.sh" --file "$root/tests/vm/agent.sh:/work/agent.sh")
for f in "$DIR"/*.yaml "$DIR"/*.yml; do
  [ -e "$f" ] && files+=(--file "$f:/work/policies/$(basename "$f")")
done
console=$(mktemp)
rc=0
"$root/tests/vm/run-in-vm.sh" --timeout "${MEASURE_VM_TIMEOUT:-2400}" "${files[@]}" -- "$here/measure_vm.sh" >"$console" 2>&1 || rc=$?
WHERE="VM: $(grep -ao 'MYELIN_VM_KERNEL [^ ]*' "$console" | head -n 1 | cut -d' ' -f2)"
# The loop's lines are tab-separated; the guest console's are not.
tr -d '\r' <"$console" | grep -aP '^[^\t ]+\t(loaded|refused|skipped|timeout)\t|^TOTAL\t' | emit
if ! grep -aq '^TOTAL' "$console"; then
  echo "measure_policies: the VM run did not finish (exit $rc); its console:" >&2
  tail -n 60 "$console" >&2
  rm -f "$console"
  exit 1
fi
rm -f "$console"
