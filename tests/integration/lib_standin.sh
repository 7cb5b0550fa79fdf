# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The Kubernetes API server stand-in (tests/kube/apiserver_standin.py) for
# end-to-end tests, in the node's network namespace (which must exist):
#   mln_standin_start OBJECTS.json [stand-in flags...]   # TLS + token; writes $MLN_K8S/kubeconfig
#   mln_standin_ctl apply '{...json...}'                  # apply, delete, compact, drop, release
# Sets MLN_K8S (its directory: ca.crt, kubeconfig, standin.log), MLN_K8S_PORT, MLN_K8S_TOKEN.

MLN_STANDIN_PY="$(cd "$(dirname "${BASH_SOURCE[0]}")/../kube" && pwd)/apiserver_standin.py"

# For a test whose agent starts on the stand-in before the node's network
# (mln_node_up) exists: the node's namespace with lo up, and the stand-in in
# it serving OBJECTS.json ("": an empty List).
mln_standin_node() {
  local objects=$1; shift
  if [ -z "$objects" ]; then
    mkdir -p "$MLN_TMP/k8s"
    objects="$MLN_TMP/k8s/objects.json"
    echo '{"apiVersion":"v1","kind":"List","items":[]}' >"$objects"
  fi
  ip netns add "$MLN_NODE"
  mln_node ip link set lo up
  mln_standin_start "$objects" "$@"
}

mln_standin_start() {
  local objects=$1; shift
  MLN_K8S="$MLN_TMP/k8s"
  mkdir -p "$MLN_K8S"
  local k=$MLN_K8S
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=test-ca \
    -keyout "$k/ca.key" -out "$k/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=kube-apiserver \
    -keyout "$k/server.key" -out "$k/server.csr" 2>/dev/null
  echo "subjectAltName=IP:127.0.0.1" >"$k/san.ext"
  openssl x509 -req -in "$k/server.csr" -CA "$k/ca.crt" -CAkey "$k/ca.key" -CAcreateserial -days 2 \
    -extfile "$k/san.ext" -out "$k/server.crt" 2>/dev/null
  MLN_K8S_TOKEN="token-$MLN_ID-$RANDOM"
  nsenter --net="/var/run/netns/$MLN_NODE" -- python3 "$MLN_STANDIN_PY" --cert "$k/server.crt" --key "$k/server.key" \
    --token "$MLN_K8S_TOKEN" --objects "$objects" "$@" >"$k/port" 2>"$k/standin.log" &
  MLN_PIDS+=("$!")
  _standin_has_port() { [ -s "$MLN_K8S/port" ]; }
  mln_retry 100 0.1 _standin_has_port || mln_die "the stand-in API server did not start: $(cat "$k/standin.log")"
  MLN_K8S_PORT=$(head -1 "$k/port")
  cat >"$k/kubeconfig" <<KC
apiVersion: v1
kind: Config
current-context: standin
clusters:
- name: standin
  cluster: {server: "https://127.0.0.1:$MLN_K8S_PORT", certificate-authority: ca.crt}
contexts:
- name: standin
  context: {cluster: standin, user: myelin}
users:
- name: myelin
  user: {token: "$MLN_K8S_TOKEN"}
KC
}

# A stand-in control: apply/delete take an object's JSON; compact, drop (?hold=1), release none.
mln_standin_ctl() {
  mln_node curl -sf --max-time 5 --cacert "$MLN_K8S/ca.crt" -H "Authorization: Bearer $MLN_K8S_TOKEN" -X POST \
    --data-binary "${2:-{\}}" "https://127.0.0.1:$MLN_K8S_PORT/_standin/$1" >/dev/null || mln_die "stand-in control $1 failed"
}
