#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Process lifecycle end to end: myelind's tp_btf probes see exec and exit of
# processes inside a pod's network namespace and attribute them to the pod;
# a process that ran before the agent is discovered from /proc; arguments,
# exit status, a kill signal, the parent, truncation of long arguments; a
# process in a container's cgroup is attributed to its pod and container by
# the cgroup even outside the pod's network namespace; the `myelin events`
# filters and outputs; metrics.
source "$(dirname "$0")/common.sh"

mln_init
MARK="myelin-rt-$MLN_ID"
MLN_CIDR=10.231.0.0/24
ip netns add "$MLN_NODE"
mln_node ip link set lo up
# Running before the agent starts: must come from /proc.
nsenter --net="/var/run/netns/$MLN_NODE" -- sleep "300.$MLN_ID" &
MLN_PIDS+=("$!")
EARLY=$!
MLN_AGENT_ARGS=(--metrics-addr 127.0.0.1:9965 --events-log "$MLN_TMP/events.log" --events-log-max-size 256K --events-log-max-backups 2)
mln_agent_start
mln_pod_add client web client

events() { mln_myelin events "$@"; }
# has FILTER ARGS...: some event (json) satisfies the jq filter; retried (events arrive asynchronously).
has() {
  local filter=$1; shift
  check() { events -o json "$@" | jq -e -s "map(select($filter)) | length > 0" >/dev/null 2>&1; }
  mln_retry 50 0.1 check "$@"
}

mln_myelin status -o json | jq -e '.runtime_enabled == true' >/dev/null && t_ok "status: runtime events enabled" ||
  t_bad "status runtime" "$(mln_myelin status -o json | jq -c '{runtime_enabled, runtime_error}')"

mln_myelin status | grep -q "Sigkill/Signal on tracepoints, uprobes and kprobes: kill-after" && mln_myelin status | grep -q "Override on syscall kprobes: kill-after here, runs as Sigkill (fmod_ret-syscalls: " &&
  t_ok "status says which actions are preventive here and which are kill-after" || t_bad "status enforcement" "$(mln_myelin status | grep -A4 Enforcement)"

has ".process_exec.process.pid == $EARLY and (.process_exec.process.flags // \"\" | contains(\"procFS\")) and .process_exec.process.arguments == \"300.$MLN_ID\"" --binary sleep &&
  t_ok "a process started before the agent is discovered from /proc (procFS)" || t_bad "procFS discovery"

mln_pod client bash -c 'exit 7' "$MARK-exit" || true
has ".process_exec.process.pod.namespace == \"web\" and .process_exec.process.pod.name == \"client\" and (.process_exec.process.arguments // \"\" | contains(\"$MARK-exit\"))" &&
  t_ok "exec inside the pod: attributed to web/client, with its arguments" || t_bad "exec in pod" "$(events -o json --pod web/client | tail -3)"
EXEC_ID=$(events -o json --pod web/client | jq -r "select(.process_exec.process.arguments // \"\" | contains(\"$MARK-exit\")) | .process_exec.process.exec_id" | head -1)
has ".process_exit.process.exec_id == \"$EXEC_ID\" and .process_exit.status == 7" --type process_exit &&
  t_ok "its exit: same exec_id, status 7" || t_bad "exit status" "$(events -o json --type process_exit --pod web/client | tail -2)"
logged() { cat "$MLN_TMP"/events.log* 2>/dev/null | jq -e -s "map(select(.process_exit.process.exec_id == \"$EXEC_ID\" and .process_exit.status == 7)) | length == 1" >/dev/null 2>&1; }
mln_retry 50 0.1 logged && t_ok "--events-log writes the events as JSON lines" || t_bad "events log" "$(ls -la "$MLN_TMP"/events.log*)"
has ".process_exec.process.exec_id == \"$EXEC_ID\" and (.process_exec.parent.binary // \"\" | length > 0) and .process_exec.process.parent_exec_id == .process_exec.parent.exec_id" &&
  t_ok "the exec names its parent (exec_id and binary)" || t_bad "parent"

mln_pod client bash -c 'kill -9 $$' "$MARK-kill" || true
has ".process_exit.signal == \"SIGKILL\" and (.process_exit.process.arguments // \"\" | contains(\"$MARK-kill\"))" --type process_exit &&
  t_ok "a process killed by SIGKILL: the exit says SIGKILL" || t_bad "signal"

LONG=$(head -c 3000 /dev/zero | tr '\0' x)
mln_pod client /bin/true "$MARK-long" "$LONG"
has "(.process_exec.process.flags // \"\" | contains(\"truncArgs\")) and (.process_exec.process.arguments // \"\" | startswith(\"$MARK-long\"))" --pod client &&
  t_ok "arguments beyond 1 KiB are truncated and flagged (truncArgs)" || t_bad "truncation"

# Filters run in the agent.
pod_of='[.[] | (.process_exec // .process_exit).process.pod.name // "host"]'
n_all_other=$(events -o json | jq -s "$pod_of | map(select(. != \"client\")) | length")
n_client=$(events -o json --pod web/client | jq -s "$pod_of | map(select(. == \"client\")) | length")
n_other=$(events -o json --pod web/client | jq -s "$pod_of | map(select(. != \"client\")) | length")
[ "$n_all_other" -gt 0 ] && [ "$n_client" -gt 0 ] && [ "$n_other" = 0 ] && t_ok "--pod web/client: only that pod's events ($n_client; $n_all_other others unfiltered)" ||
  t_bad "--pod filter" "$n_other others with the filter; unfiltered: $n_all_other others, $n_client of the pod"
n_exec_all=$(events -o json --namespace web | jq -s 'map(select(.process_exec)) | length')
n_exec=$(events -o json --type process_exit --namespace web | jq -s 'map(select(.process_exec)) | length')
[ "$n_exec_all" -gt 0 ] && [ "$n_exec" = 0 ] && t_ok "--type process_exit --namespace web: no exec events ($n_exec_all without --type)" || t_bad "--type filter" "$n_exec with, $n_exec_all without"
events --pod web/client --last 50 | grep -q "^🚀 process web/client /usr/bin/bash -c exit 7 $MARK-exit\|^🚀 process web/client /bin/bash -c exit 7 $MARK-exit" &&
  t_ok "compact output, as tetra getevents -o compact" || t_bad "compact" "$(events --pod web/client --last 5)"
events --type process_fork >/dev/null 2>&1 && t_bad "a bad --type is refused" || t_ok "a bad --type is refused"

# --follow sees new events as they happen.
events --follow --pod web/client -o json >"$MLN_TMP/follow.json" 2>&1 &
FOLLOW=$!
MLN_PIDS+=("$FOLLOW")
following() { grep -q "$MARK-follow" "$MLN_TMP/follow.json"; }
sleep_until_started() { [ -s "$MLN_TMP/follow.json" ]; }
mln_retry 50 0.1 sleep_until_started || true  # the snapshot arrives first
mln_pod client /bin/true "$MARK-follow"
mln_retry 50 0.1 following && t_ok "--follow streams a new exec" || t_bad "--follow"
kill "$FOLLOW" 2>/dev/null || true

# Enough events for more rotations than backups kept: 800 execs of ~1 KiB of
# arguments (~2 MiB logged with their exits, against 768 KiB kept). The log
# holds every process of the machine: kept this large, the checks' own events
# are not rotated out by a busy machine before they are looked at.
for i in $(seq 1 800); do /bin/true "$MARK-fill" "$LONG"; done
/bin/true "$MARK-fill-last"
filled() { grep -q -- "$MARK-fill-last" "$MLN_TMP"/events.log* 2>/dev/null; }  # not cat | grep -q: under pipefail, SIGPIPE
mln_retry 100 0.1 filled && t_ok "the 800 execs were logged" || t_bad "the 800 execs were logged"
# Other processes on the machine keep the log rotating: a look can land
# between rotate()'s two renames (.1 -> .2, then the log -> .1), so look again.
rotated() { [ -f "$MLN_TMP/events.log.1" ] && [ -f "$MLN_TMP/events.log.2" ] && [ ! -e "$MLN_TMP/events.log.3" ] && [ "$(stat -c %s "$MLN_TMP/events.log" 2>/dev/null || echo 0)" -le 262144 ] && [ -f "$MLN_TMP/events.log" ]; }
mln_retry 20 0.05 rotated &&
  t_ok "the events log rotates at its size and keeps 2 backups (of more rotations)" || t_bad "rotation" "$(ls -la "$MLN_TMP"/events.log*)"

# Container attribution by cgroup, as a container runtime lays cgroups out:
# the pod's cgroup holds the sandbox's (named after the id CNI got) and each
# container's. A process in the container's cgroup, in the host's network
# namespace, still belongs to that pod and container.
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
if [ -n "$CG2" ]; then
  SANDBOX=$(printf '%056x%08x' 0 "$MLN_ID")
  CTR=$(printf 'c%055x%08x' 0 "$MLN_ID")
  POD_CG="$CG2/myelin-test-$MLN_ID/kubepods-pod$MLN_ID.slice"
  mkdir -p "$POD_CG/cri-containerd-$SANDBOX.scope" "$POD_CG/cri-containerd-$CTR.scope"
  mln_at_exit 'rmdir "$POD_CG"/*.scope "$POD_CG" "$CG2/myelin-test-$MLN_ID" 2>/dev/null'
  mln_pod_add boxed shop cart "$SANDBOX"
  bash -c 'echo $BASHPID >"$1/cgroup.procs" && exec /bin/true "$2"' _ "$POD_CG/cri-containerd-$CTR.scope" "$MARK-cgroup"
  has ".process_exec.process.arguments == \"$MARK-cgroup\" and .process_exec.process.pod.namespace == \"shop\" and .process_exec.process.pod.name == \"cart\"
       and .process_exec.process.pod.container.id == \"$CTR\"" --binary true &&
    t_ok "a process in a container's cgroup (host netns) is attributed to its pod and container by cgroup" ||
    t_bad "cgroup attribution" "$(events -o json --binary true | grep -- "$MARK-cgroup" | jq -c .process_exec.process)"
else
  echo "  skip cgroup attribution: no cgroup v2 mounted here (not counted as passed)"
fi

scrape=$(mln_node curl -sf --max-time 5 http://127.0.0.1:9965/metrics)
grep -qE '^myelin_runtime_events_total\{policy="",type="process_exec"\} [1-9]' <<<"$scrape" &&
  grep -qE '^myelin_runtime_lost_events_total\{source="ring_buffer"\} 0' <<<"$scrape" &&
  t_ok "metrics: runtime events counted, none lost" || t_bad "runtime metrics" "$(grep runtime <<<"$scrape")"
promtool check metrics <<<"$scrape" >/dev/null 2>&1 && t_ok "promtool check metrics passes" || t_bad "promtool" "$(promtool check metrics <<<"$scrape" 2>&1 | head -5)"

t_summary
