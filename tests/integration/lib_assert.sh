# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Assertions for the shell integration tests: each failure names what was
# expected and what was seen; the summary line is "N passed, N failed".
T_PASS=0
T_FAIL=0
t_ok() { T_PASS=$((T_PASS + 1)); printf '  ok   %s\n' "$1"; }
t_bad() { T_FAIL=$((T_FAIL + 1)); printf '  FAIL %s\n' "$1" >&2; [ -n "${2:-}" ] && printf '       %s\n' "$2" >&2; return 0; }
t_check() {  # t_check "description" cmd args...
  local what=$1; shift
  if "$@"; then t_ok "$what"; else t_bad "$what" "command failed: $*"; fi
}
# t_jq "description" 'jq filter that must be true for at least one line' file
t_jq() {
  local what=$1 filter=$2 file=$3
  if jq -e -s "map(select($filter)) | length > 0" "$file" >/dev/null 2>&1; then
    t_ok "$what"
  else
    t_bad "$what" "no line of $(basename "$file") matches: $filter"
    head -c 3000 "$file" >&2
  fi
}
t_summary() {
  echo "$T_PASS passed, $T_FAIL failed"
  [ "$T_FAIL" -eq 0 ]
}
