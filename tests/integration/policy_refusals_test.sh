#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A refused policy is never invisible. Manifest files and API objects (the
# stand-in API server) that do not decode -- a bad TracingPolicy, a bad
# NetworkPolicy, a YAML syntax error (kind unknown: in both lists), a
# multi-document file with one bad document, a TracingPolicy this kernel
# cannot load, and bad edits of good files (whose last good version stays
# in force, listed beside the error) -- each appear in their list command
# (-o json with source, line, field and reason as fields; the table), in
# `status` and in myelin_policy_refused (promtool-clean). A TracingPolicy's
# message and tags reach its events (CLI and events log) as Tetragon's do.
# Fixing or deleting the files and objects makes every error go away.
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/lib_standin.sh"

mln_init
M="$MLN_TMP/manifests"
W="/tmp/myelin-refusals-$MLN_ID"  # what the good TracingPolicy watches
mkdir -p "$M" "$W"
echo secret >"$W/file"
mln_at_exit mln_agent_kill
mln_at_exit 'rm -rf "$W"'

# ---- the stand-in API server, in the node's namespace (as kube_source_test)
K="$MLN_TMP/k8s"
mkdir -p "$K"
echo '{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}]}' >"$K/objects.json"
MLN_CIDR=10.233.0.0/24
ip netns add "$MLN_NODE"
mln_node ip link set lo up
mln_standin_start "$K/objects.json" --bookmark-interval 0.5
ctl() { mln_standin_ctl "$@"; }

# ---- manifests (the line numbers below are the ones the checks expect)
cat >"$M/bad-tracing.yaml" <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: bad-tracing
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    selectors:
    - matchArgs:
      - index: 6
        operator: Suffix
        values: ["/x"]
YAML
cat >"$M/bad-network.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: bad-np
  namespace: shop
spec:
  podSelector: {}
  ingress:
  - frm: []
YAML
printf 'apiVersion: v1\nkind: NetworkPolicy\nmetadata: {name: broken\nspec: {}\n' >"$M/syntax.yaml"
multi_bad() {
  cat <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: multi-good, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: multi-bad, namespace: shop}
spec:
  endpointSelector: {}
  ingres: []
YAML
}
multi_bad >"$M/multi.yaml"
cat >"$M/kprobe.yaml" <<'YAML'
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: needs-fentry}
spec:
  kprobes:
  - call: security_file_open
    syscall: false
YAML
good_np() {
  cat <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: good-np, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: []
YAML
}
good_np >"$M/good-np.yaml"
good_tp() {
  cat <<YAML
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: watch-$MLN_ID
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    message: 'cat read "a secret"'
    tags: ["observability.filesystem", "test-$MLN_ID"]
    args:
    - index: 6
      type: string
    selectors:
    - matchArgs:
      - index: 6
        operator: Prefix
        values: ["$W/"]
      matchBinaries:
      - operator: In
        values: ["/usr/bin/cat"]
YAML
}
good_tp >"$M/good-tracing.yaml"

MLN_AGENT_ARGS=(--manifests "$M" --kubeconfig "$K/kubeconfig" --metrics-addr 127.0.0.1:9967 --events-log "$MLN_TMP/events.log")
mln_agent_start

# API objects: a NetworkPolicy and a TracingPolicy the agent refuses.
ctl apply '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"api-bad-np","namespace":"shop"},"spec":{"podSelector":{},"ingress":[{"frm":[]}]}}'
ctl apply '{"apiVersion":"cilium.io/v1alpha1","kind":"TracingPolicy","metadata":{"name":"api-bad-tp"},"spec":{"tracepoints":[{"subsystem":"syscalls","event":"sys_enter_openat","selectors":[{"matchCapabilityChanges":[]}]}]}}'

tpl() { mln_myelin tracingpolicy list -o json; }
npl() { mln_myelin policy list -o json; }
st() { mln_myelin status -o json; }
# tp_has / np_has FILTER: some policy of the list matches the jq filter.
tp_has() { tpl | jq -e "[.policies[] | select($1)] | length > 0" >/dev/null; }
np_has() { npl | jq -e "[.policies[] | select($1)] | length > 0" >/dev/null; }
# Whole scrapes, then grep: under pipefail, `curl | grep -q` fails whenever grep
# exits before curl has written the rest (EPIPE), a quarter of the time here.
scrape() { mln_node curl -sf --max-time 5 http://127.0.0.1:9967/metrics; }
refused_metric() {  # kind cause value
  local m
  m=$(scrape) && grep -qE "^myelin_policy_refused\{cause=\"$2\",kind=\"$1\"\} $3\$" <<<"$m"
}
FENTRY=$(st | jq -r '[.features[] | select(.name == "fentry")][0].available // false')

echo "-- refused files and API objects appear in their lists, with source, line, field and reason"
tp_bad="(.state == \"error\" and .name == \"bad-tracing\" and .kind == \"TracingPolicy\" and .source == \"$M/bad-tracing.yaml:15\"
  and .refusal.source == \"$M/bad-tracing.yaml\" and .refusal.line == 15
  and .refusal.field == \"spec.tracepoints[0].selectors[0].matchArgs[0].operator\"
  and (.refusal.reason | startswith(\"'Suffix' is not supported by Myelin yet\")) and .refusal.cause == \"decode\"
  and (.refusal.last_good_in_force // false) == false)"
mln_retry 100 0.1 tp_has "$tp_bad" && t_ok "tracingpolicy list: a bad TracingPolicy file in state error, with file, line, field, reason (cause decode)" ||
  t_bad "bad TracingPolicy listed" "$(tpl)"
np_bad="(.state == \"error\" and .kind == \"NetworkPolicy\" and .namespace == \"shop\" and .name == \"bad-np\"
  and .refusal.source == \"$M/bad-network.yaml\" and .refusal.line == 9 and .refusal.field == \"spec.ingress[0].frm\"
  and (.refusal.reason | startswith(\"is not supported by Myelin\")) and .refusal.cause == \"decode\")"
mln_retry 100 0.1 np_has "$np_bad" && t_ok "policy list: a bad NetworkPolicy file in state error, with file, line, field, reason" ||
  t_bad "bad NetworkPolicy listed" "$(npl)"
syntax="(.state == \"error\" and (.kind // \"\") == \"\" and .refusal.source == \"$M/syntax.yaml\" and .refusal.line > 0
  and (.refusal.reason | startswith(\"invalid YAML: \")))"
tp_has "$syntax" && np_has "$syntax" && t_ok "a YAML syntax error (kind unknown) is listed by both list commands" ||
  t_bad "syntax error in both lists" "$(npl; tpl)"
np_has "(.state == \"error\" and .kind == \"CiliumNetworkPolicy\" and .name == \"multi-bad\" and .refusal.source == \"$M/multi.yaml\"
  and .refusal.line == 11 and .refusal.field == \"spec.ingres\")" &&
  t_ok "a multi-document file: the bad document is named (kind, name, its line)" || t_bad "multi-document refusal" "$(npl)"
np_has '(.name == "multi-good")' && t_bad "the good document of a refused file is not in force" "$(npl)" ||
  t_ok "the good document of a refused file is not in force"
mln_retry 100 0.1 np_has '(.name == "good-np" and .state == "enabled")' && t_ok "positive control: a good NetworkPolicy file is enabled" ||
  t_bad "good NetworkPolicy enabled" "$(npl)"
mln_retry 100 0.1 tp_has "(.name == \"watch-$MLN_ID\" and .state == \"enabled\" and .hooks == 1)" &&
  t_ok "positive control: the good TracingPolicy is enabled" || t_bad "good TracingPolicy enabled" "$(tpl)"
if [ "$FENTRY" = true ]; then
  tp_has '(.name == "needs-fentry" and .state == "enabled")' && t_ok "fentry runs here: the kprobes policy is enabled" || t_bad "kprobes enabled" "$(tpl)"
  KERNEL=0
else
  tp_has "(.name == \"needs-fentry\" and .state == \"error\" and .refusal.cause == \"kernel\" and .refusal.source == \"$M/kprobe.yaml\"
    and .refusal.line == 6 and .refusal.field == \"spec.kprobes\" and (.refusal.reason | test(\"fentry unavailable\")))" &&
    t_ok "a TracingPolicy this kernel cannot load: state error, cause kernel (not decode), with line and field" || t_bad "kernel rejection" "$(tpl)"
  KERNEL=1
fi
api_np="(.state == \"error\" and .name == \"api-bad-np\" and .refusal.source == \"k8s:networkpolicies/shop/api-bad-np\"
  and .refusal.line > 0 and .refusal.field == \"spec.ingress[0].frm\")"
mln_retry 100 0.1 np_has "$api_np" && t_ok "policy list: a refused API object, named k8s:networkpolicies/shop/api-bad-np" || t_bad "API NetworkPolicy refused" "$(npl)"
api_tp="(.state == \"error\" and .name == \"api-bad-tp\" and .refusal.source == \"k8s:tracingpolicies/api-bad-tp\"
  and .refusal.line > 0 and .refusal.field == \"spec.tracepoints[0].selectors[0].matchCapabilityChanges\")"
mln_retry 100 0.1 tp_has "$api_tp" && t_ok "tracingpolicy list: a refused API object, named k8s:tracingpolicies/api-bad-tp" || t_bad "API TracingPolicy refused" "$(tpl)"

echo "-- the tables"
table=$(mln_myelin tracingpolicy list)
grep -qE "^bad-tracing +error +- +- +- +$M/bad-tracing.yaml:15\$" <<<"$table" &&
  grep -qF "    error: spec.tracepoints[0].selectors[0].matchArgs[0].operator: 'Suffix' is not supported by Myelin yet" <<<"$table" &&
  grep -qF "; nothing of $M/bad-tracing.yaml is in force" <<<"$table" &&
  grep -qF "    error: kind unknown: invalid YAML: " <<<"$table" &&
  t_ok "tracingpolicy list (table): the error row and its reason, and the syntax error with kind unknown" || t_bad "tracing table" "$table"
table=$(mln_myelin policy list)
grep -qE "^NetworkPolicy +shop +bad-np +error +- +- +- +$M/bad-network.yaml:9\$" <<<"$table" &&
  grep -qF "    error: spec.ingress[0].frm: is not supported by Myelin" <<<"$table" &&
  grep -qE "^NetworkPolicy +shop +good-np +enabled " <<<"$table" &&
  t_ok "policy list (table): the error row with its reason beside the enabled policies" || t_bad "policy table" "$table"
mln_myelin policy get bad-np --namespace shop | grep -qF "spec.ingress[0].frm: is not supported" &&
  t_ok "policy get of a refused policy shows its error" || t_bad "policy get error" "$(mln_myelin policy get bad-np --namespace shop 2>&1)"

echo "-- status and the metric"
N=$((6 + KERNEL))  # bad-tracing, bad-network, syntax (listed once), multi, api-bad-np, api-bad-tp, and kprobe where fentry is missing
counted() { st | jq -e ".policies_refused == $1 and (.refused | length) == $1" >/dev/null; }
mln_retry 100 0.1 counted "$N" && t_ok "status counts $N refused policies (a syntax error listed once)" || t_bad "status count" "$(st | jq -c '{policies_refused, refused}')"
st | jq -e ".refused[] | select(.source == \"$M/bad-network.yaml\" and .line == 9 and .field == \"spec.ingress[0].frm\" and .kind == \"NetworkPolicy\" and .cause == \"decode\")" >/dev/null &&
  st | jq -e ".refused[] | select(.source == \"$M/bad-tracing.yaml\" and .kind == \"TracingPolicy\")" >/dev/null &&
  st | jq -e ".policy_errors | any(startswith(\"$M/bad-network.yaml:9: spec.ingress[0].frm: is not supported\"))" >/dev/null &&
  t_ok "status -o json lists each refused source by parts (network and tracing)" || t_bad "status refused" "$(st | jq -c .refused)"
table=$(mln_myelin status)
grep -qE "^Refused policies: +$N " <<<"$table" &&
  grep -qF "  $M/bad-network.yaml:9 (NetworkPolicy shop/bad-np): spec.ingress[0].frm: is not supported" <<<"$table" &&
  grep -qF "  k8s:tracingpolicies/api-bad-tp" <<<"$table" &&
  t_ok "status (table): the count and each refused source" || t_bad "status table" "$table"
metric_ok() {
  refused_metric NetworkPolicy decode 2 && refused_metric CiliumNetworkPolicy decode 1 && refused_metric unknown decode 1 &&
    refused_metric TracingPolicy decode 2 && refused_metric TracingPolicy kernel "$KERNEL" && refused_metric TracingPolicyNamespaced decode 0
}
mln_retry 50 0.1 metric_ok && t_ok "myelin_policy_refused counts by kind and cause" || t_bad "refused metric" "$(scrape | grep policy_refused)"
scrape >"$MLN_TMP/metrics.txt"
promtool check metrics <"$MLN_TMP/metrics.txt" >"$MLN_TMP/promtool.out" 2>&1 && t_ok "promtool check metrics passes" || t_bad "promtool" "$(cat "$MLN_TMP/promtool.out")"

echo "-- a TracingPolicy's message and tags in its events"
ev() { mln_myelin events -o json --type process_tracepoint --policy "watch-$MLN_ID"; }
want_msg='cat read \"a secret\"'  # escaped as Tetragon escapes it (Go's %q without the quotes)
tagged() {  # n: at least n events with the message and tags
  ev | jq -e -s --arg m "$want_msg" --arg t "test-$MLN_ID" --argjson n "$1" \
    "map(select(.process_tracepoint.message == \$m and .process_tracepoint.tags == [\"observability.filesystem\", \$t]
       and .process_tracepoint.args[0].string_arg == \"$W/file\")) | length >= \$n" >/dev/null
}
cat "$W/file" >/dev/null
mln_retry 50 0.1 tagged 1 && t_ok "events -o json carry the policy's message and tags (Tetragon's field names and escaping)" || t_bad "message and tags" "$(ev)"
logged() { grep -F "\"tags\":[\"observability.filesystem\",\"test-$MLN_ID\"]" "$MLN_TMP/events.log" | grep -qF '"message":"cat read \\\"a secret\\\""'; }
mln_retry 50 0.1 logged && t_ok "the events log carries them too" || t_bad "events log" "$(grep -c watch "$MLN_TMP/events.log" 2>&1)"
# head's open must be filtered out: cat's next open, after it, is the marker that it would have arrived by then.
head -c 3 "$W/file" >/dev/null
cat "$W/file" >/dev/null
mln_retry 50 0.1 tagged 2 || t_bad "second cat event" "$(ev)"
n=$(ev | jq -s 'length')
[ "$n" = 2 ] && t_ok "head's open is filtered out (matchBinaries): exactly the 2 events of cat" || t_bad "filtered" "$n events"

echo "-- bad edits: the last good version stays in force, listed beside the error"
sed -i 's/operator: Prefix/operator: Suffix/' "$M/good-tracing.yaml"
{ good_np | sed 's/- from: \[\]/- fromm: []/'; } >"$M/good-np.yaml"
edit_tp="(.state == \"error\" and .name == \"watch-$MLN_ID\" and .refusal.line == 17 and .refusal.last_good_in_force == true)"
mln_retry 100 0.1 tp_has "$edit_tp" && tp_has "(.name == \"watch-$MLN_ID\" and .state == \"enabled\")" &&
  t_ok "tracingpolicy list: the refused edit (line 17, last good in force) and the good version, enabled" || t_bad "tracing edit" "$(tpl)"
edit_np='(.state == "error" and .name == "good-np" and .refusal.line == 7 and .refusal.field == "spec.ingress[0].fromm" and .refusal.last_good_in_force == true)'
mln_retry 100 0.1 np_has "$edit_np" && np_has '(.name == "good-np" and .state == "enabled")' &&
  t_ok "policy list: the refused edit and the good version, enabled" || t_bad "network edit" "$(npl)"
mln_myelin tracingpolicy list | grep -qF "; the last good version of $M/good-tracing.yaml stays in force" &&
  t_ok "the table says the last good version stays in force" || t_bad "table in force" "$(mln_myelin tracingpolicy list)"
cat "$W/file" >/dev/null
mln_retry 50 0.1 tagged 3 && t_ok "the last good TracingPolicy still posts (a third event)" || t_bad "last good posts" "$(ev)"
mln_retry 100 0.1 counted "$((N + 2))" && t_ok "status counts the two refused edits" || t_bad "status after edits" "$(st | jq -c .policies_refused)"
mln_retry 50 0.1 refused_metric NetworkPolicy decode 3 && refused_metric TracingPolicy decode 3 &&
  t_ok "and the metric" || t_bad "metric after edits" "$(scrape | grep policy_refused)"

echo "-- fixed or deleted: every error goes away"
rm -f "$M/bad-tracing.yaml" "$M/syntax.yaml" "$M/kprobe.yaml"
{ multi_bad | sed 's/ingres: \[\]/ingress: []/'; } >"$M/multi.yaml"
sed -i 's/  - frm: \[\]/  - from: []/' "$M/bad-network.yaml"
good_np >"$M/good-np.yaml"
good_tp >"$M/good-tracing.yaml"
ctl delete '{"kind":"NetworkPolicy","namespace":"shop","name":"api-bad-np"}'
ctl delete '{"kind":"TracingPolicy","name":"api-bad-tp"}'
none() { st | jq -e '.policies_refused // 0 | . == 0' >/dev/null && ! tp_has '(.state == "error")' && ! np_has '(.state == "error")'; }
mln_retry 100 0.1 none && t_ok "no policy is refused any more: status, tracingpolicy list and policy list" || t_bad "errors vanish" "$(st | jq -c .refused; npl; tpl)"
np_has '(.name == "multi-good" and .state == "enabled")' && np_has '(.name == "multi-bad" and .state == "enabled")' &&
  np_has '(.name == "bad-np" and .state == "enabled")' && tp_has "(.name == \"watch-$MLN_ID\" and .state == \"enabled\")" &&
  t_ok "positive control: the fixed files are enabled (both documents of the multi-document file)" || t_bad "fixed enabled" "$(npl; tpl)"
zero() {
  local m
  m=$(scrape) && [ -z "$(grep -E '^myelin_policy_refused\{' <<<"$m" | grep -vE ' 0$')" ] && grep -qE '^myelin_policy_refused\{cause="decode",kind="NetworkPolicy"\} 0$' <<<"$m"
}
mln_retry 50 0.1 zero && t_ok "myelin_policy_refused is 0 for every kind" || t_bad "metric back to 0" "$(scrape | grep policy_refused)"
! mln_myelin status | grep -qE "^Refused policies: +[1-9]" && t_ok "status (table) shows none refused" || t_bad "status table after fix" "$(mln_myelin status | grep -A3 Refused)"

t_summary
