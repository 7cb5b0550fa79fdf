#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# TracingPolicy scoping and process selectors on this host's kernel, all
# evaluated in the kernel:
# - TracingPolicyNamespaced + podSelector: only the selected pods' opens are
#   reported; a pod added later with the label is covered once it exists;
# - matchNamespaces (Net NotIn host_ns): pods yes, the host no;
# - matchPIDs with followForks: a descendant of the listed process is killed,
#   anyone else is not; isNamespacePID: pid 2 of a new pid namespace;
# - matchCapabilities: only a process without CAP_SYS_ADMIN;
# - matchBinaries NotPrefix: a copy of cat outside /usr/ is killed opening a
#   file, /usr/bin/cat is not;
# - char_buf: a write's bytes, as many as its count argument says;
# - uprobes: the stand-in libcudart's cudaMalloc above a size (Post), and
#   cuLaunchKernel with Sigkill, which kills the workload.
# Enforcement is scoped to this test's own processes and files.
source "$(dirname "$0")/common.sh"

mln_init
MANIFESTS="$MLN_TMP/manifests"
D="/tmp/myelin-sel-$MLN_ID"
GPU="$(cd "$MLN_BIN/.." && pwd)/gpu-standin"
[ -x "$GPU/gpu_app" ] || mln_die "$GPU/gpu_app is missing: build first"
mkdir -p "$MANIFESTS" "$D"
for f in scoped ns pid nspid cap bin; do echo "$f" >"$D/$f"; done
mkdir -p "$D/notusr" && cp /usr/bin/cat "$D/notusr/cat"
# The agent goes first: its policies would kill the rm.
mln_at_exit mln_agent_kill
mln_at_exit 'rm -rf "$D"'

pod() { printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {app: %s}\n---\n' "$@"; }
{
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n---\n'
  pod cart shop cart; pod web shop web; pod cart other cart
} >"$MANIFESTS/00-pods.yaml"

# open_policy NAME KIND FILE SELECTOR-EXTRA [SPEC-EXTRA]: openat of $D/FILE, posted when the selector matches.
open_policy() {
  cat <<YAML
apiVersion: cilium.io/v1alpha1
kind: $2
metadata: {name: $1-$MLN_ID, namespace: shop}
spec:
${5:-}
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args: [{index: 6, type: string}]
    selectors:
    - matchArgs: [{index: 6, operator: Equal, values: ["$D/$3"]}]
$4
YAML
}
open_policy scoped TracingPolicyNamespaced scoped "" "  podSelector: {matchLabels: {app: cart}}" >"$MANIFESTS/scoped.yaml"
open_policy ns TracingPolicy ns "      matchNamespaces: [{namespace: Net, operator: NotIn, values: [host_ns]}]" >"$MANIFESTS/ns.yaml"
open_policy nspid TracingPolicy nspid "      matchPIDs: [{operator: In, isNamespacePID: true, values: [2]}]" >"$MANIFESTS/nspid.yaml"
open_policy cap TracingPolicy cap "      matchCapabilities: [{type: Effective, operator: NotIn, values: [CAP_SYS_ADMIN]}]" >"$MANIFESTS/cap.yaml"
open_policy bin TracingPolicy bin "      matchBinaries: [{operator: NotPrefix, values: [/usr/]}]
      matchActions: [{action: Sigkill}]" >"$MANIFESTS/bin.yaml"
cat >"$MANIFESTS/payload.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: payload-$MLN_ID}
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_write
    args: [{index: 5, type: fd}, {index: 6, type: char_buf, sizeArgIndex: 8}]
    selectors:
    - matchArgs: [{index: 5, operator: Equal, values: ["$D/payload.txt"]}]
YAML
cat >"$MANIFESTS/uprobe.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: big-alloc-$MLN_ID}
spec:
  uprobes:
  - path: $GPU/libcudart.so.12
    symbols: [cudaMalloc]
    args: [{index: 1, type: size_t}]
    selectors:
    - matchArgs: [{index: 1, operator: GT, values: ["524288"]}]
YAML

MLN_AGENT_ARGS=(--manifests "$MANIFESTS" --metrics-addr "" --gpu-libs none)
mln_node_up 10.235.0.0/24
mln_pod_add cart shop cart
mln_pod_add web shop web
mln_pod_add ocart other cart

list() { mln_myelin tracingpolicy list -o json; }
# wait_enabled NAME: the policy NAME-$MLN_ID is enabled (bounded wait).
wait_enabled() {
  on() { list | jq -e ".policies[] | select(.name == \"$1-$MLN_ID\" and .state == \"enabled\")" >/dev/null; }
  mln_retry 50 0.1 on "$1"
}
enabled() { list | jq -e "[.policies[] | select(.state == \"enabled\")] | length == 7" >/dev/null; }
mln_retry 100 0.1 enabled && t_ok "seven policies enabled (namespaced, selectors, char_buf, uprobe)" || t_bad "enabled" "$(list)"
list | jq -e ".policies[] | select(.name == \"scoped-$MLN_ID\" and .kind == \"TracingPolicyNamespaced\" and (.mode | contains(\"scoped to namespace shop\")))" >/dev/null &&
  t_ok "the namespaced policy says what it is scoped to" || t_bad "scoped mode" "$(list)"

ev() { mln_myelin events -o json --policy "$1-$MLN_ID"; }
count() { ev "$1" | jq -s length; }
# settle NAME N: the policy's events are exactly N, waited for (bounded) until
# there are at least N. Each check below ends with an access the policy
# reports, after the ones it must not: the events come from one ring buffer,
# read in order, so once that last one is in, an event of any earlier access
# would be too. What is absent is filtered out, not merely late.
settle() { local want=$2; at_least() { [ "$(count "$1")" -ge "$want" ]; }; mln_retry 100 0.1 at_least "$1" && [ "$(count "$1")" = "$want" ]; }

echo "-- TracingPolicyNamespaced + podSelector"
for p in web ocart; do mln_pod "$p" cat "$D/scoped" >/dev/null; done
cat "$D/scoped" >/dev/null
mln_pod cart cat "$D/scoped" >/dev/null   # last: the reported one
settle scoped 1 && ev scoped | jq -e '.process_tracepoint.process.pod.namespace == "shop" and .process_tracepoint.process.pod.name == "cart"' >/dev/null &&
  t_ok "only shop/cart's open is reported (not shop/web, other/cart or the host)" || t_bad "scoped" "$(ev scoped | jq -c .process_tracepoint.process.pod)"
pod cart2 shop cart >"$MANIFESTS/10-cart2.yaml"
mln_pod_add cart2 shop cart2
again() { mln_pod cart2 cat "$D/scoped" >/dev/null; [ "$(count scoped)" = 2 ]; }
mln_retry 50 0.1 again && ev scoped | jq -e -s '.[1].process_tracepoint.process.pod.name == "cart2"' >/dev/null &&
  t_ok "a pod added later with the label is in scope" || t_bad "new pod" "$(ev scoped | jq -c .process_tracepoint.process.pod)"

echo "-- matchNamespaces"
cat "$D/ns" >/dev/null
mln_pod web cat "$D/ns" >/dev/null   # last: the reported one
settle ns 1 && ev ns | jq -e '.process_tracepoint.process.pod.name == "web"' >/dev/null &&
  t_ok "Net NotIn host_ns: the pod's open is reported, the host's is not" || t_bad "namespaces" "$(ev ns | jq -c .process_tracepoint.process)"

echo "-- matchPIDs"
cat >"$MANIFESTS/pid.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: pid-$MLN_ID}
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args: [{index: 6, type: string}]
    selectors:
    - matchArgs: [{index: 6, operator: Equal, values: ["$D/pid"]}]
      matchPIDs: [{operator: In, followForks: true, values: [PARENT]}]
      matchActions: [{action: Sigkill}]
YAML
# The listed process: a shell that waits, then runs cat (its child).
coproc TREE { exec bash -c 'echo $$; read -r go; cat "$1" >/dev/null; echo "rc=$?"' _ "$D/pid"; }
TREE_PID=$TREE_PID
MLN_PIDS+=("$TREE_PID")
read -r -t 10 parent <&"${TREE[0]}"
sed -i "s/PARENT/$parent/" "$MANIFESTS/pid.yaml"
wait_enabled pid || t_bad "pid policy enabled" "$(list)"
echo go >&"${TREE[1]}"
read -r -t 10 result <&"${TREE[0]}" || true
[ "$result" = "rc=137" ] && t_ok "followForks: cat, a child of the listed shell, is killed (SIGKILL)" || t_bad "followForks kill" "result=$result"
cat "$D/pid" >/dev/null && t_ok "the same open from outside that process tree works" || t_bad "pid scope"
cat "$D/nspid" >/dev/null
unshare --pid --fork sh -c "cat $D/nspid >/dev/null; true"   # last: the reported one
settle nspid 1 && ev nspid | jq -e '.process_tracepoint.process.pid != 2 and (.process_tracepoint.process.binary | endswith("/cat"))' >/dev/null &&
  t_ok "isNamespacePID: cat as pid 2 of a new pid namespace is matched, not host pid 2" || t_bad "namespace pid" "$(ev nspid | jq -c .process_tracepoint.process)"

echo "-- matchCapabilities"
cat "$D/cap" >/dev/null
setpriv --bounding-set -sys_admin cat "$D/cap" >/dev/null
settle cap 1 && ev cap | jq -e '.process_tracepoint.process.binary | endswith("/cat")' >/dev/null &&
  t_ok "Effective NotIn CAP_SYS_ADMIN: only the cat without CAP_SYS_ADMIN is reported" || t_bad "capabilities" "$(ev cap | jq -c .process_tracepoint.process)"

echo "-- matchBinaries Prefix"
rc=0; "$D/notusr/cat" "$D/bin" >/dev/null 2>&1 || rc=$?
[ "$rc" = 137 ] && t_ok "NotPrefix /usr/: a cat copied outside /usr/ is killed opening the file" || t_bad "NotPrefix kill" "rc=$rc"
rc=0; out=$(/usr/bin/cat "$D/bin" 2>&1) || rc=$?
[ "$rc" = 0 ] && [ "$out" = bin ] && t_ok "/usr/bin/cat opening it is not (it reads the file)" || t_bad "prefix match" "rc=$rc out=$out"

echo "-- char_buf"
printf 'order 42: 3 carts' >"$D/payload.txt"
want=$(printf 'order 42: 3 carts' | base64)
bytes() { ev payload | jq -e -s "map(select(.process_tracepoint.args[1].bytes_arg == \"$want\" and .process_tracepoint.args[1].size == 17)) | length == 1" >/dev/null; }
mln_retry 50 0.1 bytes && t_ok "char_buf: the write's 17 bytes (its count) are in the event" || t_bad "char_buf" "$(ev payload | jq -c .process_tracepoint.args)"

echo "-- uprobes"
out=$(mln_pod cart "$GPU/gpu_app" </dev/null)
[ "$out" = done ] || t_bad "workload ran" "$out"
up() { mln_myelin events -o json --type process_uprobe --policy "big-alloc-$MLN_ID"; }
three() { [ "$(up | jq -s length)" = 3 ]; }
mln_retry 50 0.1 three && up | jq -e -s "all(.[]; .process_uprobe.symbol == \"cudaMalloc\" and .process_uprobe.path == \"$GPU/libcudart.so.12\"
    and .process_uprobe.args[0].size_arg == \"1048576\" and .process_uprobe.process.pod.name == \"cart\")" >/dev/null &&
  t_ok "uprobe: the 3 cudaMalloc(1 MiB) calls are process_uprobe events with size, symbol and pod" || t_bad "uprobe events" "$(up | tail -2)"
mln_myelin events --type process_uprobe --policy "big-alloc-$MLN_ID" | grep -q "^🔍 uprobe  shop/cart .*gpu_app $GPU/libcudart.so.12:cudaMalloc 1048576" &&
  t_ok "compact output: one line per uprobe event" || t_bad "compact" "$(mln_myelin events --type process_uprobe | tail -1)"
cat >"$MANIFESTS/kill-launch.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: no-launch-$MLN_ID}
spec:
  uprobes:
  - path: $GPU/libcuda.so.1
    symbols: [cuLaunchKernel]
    selectors:
    - matchBinaries: [{operator: In, values: ["$GPU/gpu_app"]}]
      matchActions: [{action: Sigkill}]
YAML
wait_enabled no-launch || t_bad "uprobe kill policy enabled" "$(list)"
rc=0; out=$(mln_pod cart "$GPU/gpu_app" </dev/null) || rc=$?
[ "$rc" = 137 ] && [ -z "$out" ] && t_ok "uprobe Sigkill: the workload is killed at cuLaunchKernel, before it finishes" || t_bad "uprobe kill" "rc=$rc out=$out"
cat >"$MANIFESTS/bad-uprobe.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: bad-uprobe-$MLN_ID}
spec:
  uprobes:
  - path: $GPU/libcuda.so.1
    symbols: [cuLaunchKernel, noSuchSymbol]
YAML
bad_listed() { list | jq -e ".policies[] | select(.name == \"bad-uprobe-$MLN_ID\" and .state == \"error\" and (.error | contains(\"noSuchSymbol\")) and (.error | contains(\"nothing of the policy was loaded\")))" >/dev/null; }
mln_retry 50 0.1 bad_listed && t_ok "a missing symbol rejects the whole uprobe policy, naming it" || t_bad "bad uprobe" "$(list | jq -c '.policies[] | select(.state == "error")')"

t_summary
