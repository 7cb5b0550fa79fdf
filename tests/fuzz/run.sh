#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs one fuzz target for a bounded time from its corpus:
#   tests/fuzz/run.sh build-fuzz/bin/fuzz_policy_yaml tests/fuzz/corpus/policy_yaml build/fuzz-artifacts/policy_yaml
# MYELIN_FUZZ_SECONDS (default 20) bounds the run. A crash, a leak, a slow
# input (10 s), an out-of-memory input (2 GiB) or a sanitizer report fails
# it; the input that caused it is kept in the artifacts directory and named,
# with the command that replays it. Inputs found new in this run go to a
# temporary directory, never into the corpus in the repository. To fold them
# in, minimised: fuzz_<target> -merge=1 tests/fuzz/corpus/<target> <dir>.
set -uo pipefail
fuzzer=$1 corpus=$2 artifacts=$3
seconds=${MYELIN_FUZZ_SECONDS:-20}
[ -x "$fuzzer" ] || { echo "FAIL: $fuzzer is missing (scripts/build-sanitized.sh fuzz)"; exit 1; }
work=$(mktemp -d /tmp/myelin-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/new" "$work/artifacts"
export TMPDIR=$work  # what a target makes for itself goes with the run
sym=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
export ASAN_SYMBOLIZER_PATH=$sym
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# Inputs up to 64 KiB: large enough for a policy file, small enough to mutate fast.
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/new" "$corpus" >"$work/log" 2>&1
rc=$?
# The summary: the run's executions, speed and coverage.
grep -E "^#[0-9]+.*(INITED|DONE)|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb" "$work/log"
if [ "$rc" -ne 0 ] || compgen -G "$work/artifacts/*" >/dev/null; then
  tail -n 80 "$work/log"
  mkdir -p "$artifacts"
  for f in "$work/artifacts"/*; do
    [ -e "$f" ] || continue
    cp "$f" "$artifacts/"
    echo "FAIL: reproducer $artifacts/$(basename "$f")"
    echo "      replay: $fuzzer $artifacts/$(basename "$f")"
  done
  [ "$rc" -eq 0 ] && rc=1
  exit "$rc"
fi
echo "ok: $(basename "$fuzzer") ran ${seconds}s without a finding"
