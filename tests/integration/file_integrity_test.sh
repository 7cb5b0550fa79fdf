#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shipped file-integrity policy (deploy/policies/file-integrity.yaml),
# pointed at this test's own directory instead of /etc/: a write-open, an
# unlink, a rename and a chmod there are reported with the process that did
# them; a write through an fd opened by a relative path is reported with the
# absolute path the kernel resolved; a read-only open there and any write
# elsewhere are not.
source "$(dirname "$0")/common.sh"

mln_init
MANIFESTS="$MLN_TMP/manifests"
W="/tmp/myelin-fim-$MLN_ID"
mkdir -p "$MANIFESTS" "$W"
mln_at_exit 'rm -rf "$W"'
sed -e "s|\"/etc/\"|\"$W/\"|g" -e "s|\"/usr/bin/\"|\"$W/bin/\"|g" -e "s|name: file-integrity|name: fim-$MLN_ID|" \
  "$(dirname "$0")/../../deploy/policies/file-integrity.yaml" >"$MANIFESTS/fim.yaml"
MLN_AGENT_ARGS=(--manifests "$MANIFESTS" --metrics-addr "")
mln_node_up 10.233.0.0/24
enabled() { mln_myelin tracingpolicy list -o json | jq -e ".policies[] | select(.name == \"fim-$MLN_ID\" and .state == \"enabled\" and .hooks == 7)" >/dev/null; }
mln_retry 50 0.1 enabled && t_ok "the shipped policy loads (7 tracepoints)" || t_bad "enabled" "$(mln_myelin tracingpolicy list)"

echo data >"$W/config"             # openat O_WRONLY|O_CREAT|O_TRUNC
cat "$W/config" >/dev/null          # read-only: not reported
echo other >"$MLN_TMP/elsewhere"    # outside the prefix: not reported
chmod 600 "$W/config"               # fchmodat
mv "$W/config" "$W/config.old"      # renameat2
rm "$W/config.old"                  # unlinkat
(cd "$W" && exec 7>rel.log && printf 'fourteen bytes' >&7)  # relative open (not matched), write(7) resolved to $W/rel.log

ev() { mln_myelin events -o json --type process_tracepoint --policy "fim-$MLN_ID"; }
seen() { ev | jq -e -s "map(select($1)) | length > 0" >/dev/null 2>&1; }
check() { mln_retry 50 0.1 seen "$2" && t_ok "$1" || t_bad "$1" "$(ev | tail -3)"; }
check "write-open reported, with the shell that did it" ".process_tracepoint.event == \"sys_enter_openat\" and .process_tracepoint.args[0].string_arg == \"$W/config\" and (.process_tracepoint.process.binary | endswith(\"bash\"))"
check "chmod reported with the mode" ".process_tracepoint.event == \"sys_enter_fchmodat\" and .process_tracepoint.args[1].size_arg == \"384\""
check "rename reported with both names" ".process_tracepoint.event == \"sys_enter_renameat2\" and .process_tracepoint.args[1].string_arg == \"$W/config.old\" and (.process_tracepoint.process.binary | endswith(\"/mv\"))"
check "unlink reported" ".process_tracepoint.event == \"sys_enter_unlinkat\" and .process_tracepoint.args[0].string_arg == \"$W/config.old\""
check "a write is reported with the path resolved from its fd, even opened by a relative path" ".process_tracepoint.event == \"sys_enter_write\" and .process_tracepoint.args[0].file_arg.path == \"$W/rel.log\" and .process_tracepoint.args[1].size_arg == \"14\""
n=$(ev | jq -s 'map(select(.process_tracepoint.event == "sys_enter_openat")) | length')
[ "$n" = 1 ] && t_ok "the read-only open and the write elsewhere were filtered out in the kernel" || t_bad "filtering" "$n openat events"
n=$(ev | jq -s "map(select(.process_tracepoint.event == \"sys_enter_write\" and (.process_tracepoint.args[0].file_arg.path | startswith(\"$W/\") | not))) | length")
[ "$n" = 0 ] && t_ok "no write outside the prefix was reported" || t_bad "write filtering" "$n writes elsewhere"

t_summary
