#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a command (a test) under the sanitizer build's options: every ASan,
# LSan and UBSan report of every process it starts (agent, CLI, CNI plugin,
# test binaries) goes to a file in a fresh directory, and any report fails
# the run, printed in full. The first report ends its process (halt_on_error,
# -fno-sanitize-recover): a test cannot pass over one. Leaks are checked at
# every clean exit, the agent's included (SIGTERM); a SIGKILLed agent is not.
#   tests/sanitize/run.sh bash tests/integration/restart_test.sh
set -uo pipefail
reports=$(mktemp -d /tmp/myelin-sanitize.XXXXXX)
sym=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
export ASAN_SYMBOLIZER_PATH=$sym
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$reports/asan:strict_init_order=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
export LSAN_OPTIONS="suppressions=$(cd "$(dirname "$0")" && pwd)/lsan.supp:print_suppressions=0"
"$@"
rc=$?
if compgen -G "$reports/*" >/dev/null; then
  for f in "$reports"/*; do
    echo "---- sanitizer report $(basename "$f") ----"
    cat "$f"
  done
  echo "FAIL: the sanitizers reported errors (above)"
  [ "$rc" -eq 0 ] && rc=1
fi
rm -rf "$reports"
exit "$rc"
