#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed inputs of every fuzz target into tests/fuzz/corpus/<target>/seed-*,
taken from the tests' own files: YAML raw strings of the unit tests, heredocs
of the integration tests and the demo, deploy/, tests/kube/testdata, the CNI
test's invocations, and the API requests the CLI and the CNI plugin send
(text protos encoded with protoc). Run it again when those change; the
minimised finds of fuzzing (files not named seed-*) stay as they are.
    tests/fuzz/make_seeds.py"""
import glob
import hashlib
import json
import os
import re
import struct
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def yaml_blocks(path):
    """YAML documents written in a test file: C++ raw strings and shell heredocs."""
    text = read(path)
    if path.endswith(".cpp"):
        blocks = re.findall(r'R"\((.*?)\)"', text, re.S)
    elif path.endswith(".sh"):
        blocks = [m[1] for m in re.findall(r"<<-?'?(\w+)'?\n(.*?)\n\1\n", text, re.S)]
        blocks += re.findall(r"'(apiVersion:[^']*)'", text)  # apply '...' in the policy matrix
    else:
        blocks = [text]
    return [b for b in blocks if "kind:" in b or '"kind"' in b]


seeds = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, {})["seed-" + hashlib.sha1(data).hexdigest()[:12]] = data


# The policy matrix's namespaces and pods (tests/integration/policy_matrix_test.sh), in front of a policy.
WORLD = "".join("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {ns: %s}\n---\n" % (n, n) for n in "xyz")
WORLD += "".join("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {pod: %s}\nspec:\n  containers:\n"
                 "  - name: srv\n    ports:\n    - {name: serve-80-tcp, containerPort: 80}\n"
                 "    - {name: serve-80-udp, containerPort: 80, protocol: UDP}\n---\n" % (p, n, p) for n in "xy" for p in "ab")

# Policy and TracingPolicy YAML, by the kinds a block names.
sources = (glob.glob("tests/unit/*/*.cpp", root_dir=ROOT) + glob.glob("tests/integration/*.sh", root_dir=ROOT) +
           glob.glob("tests/vm/*.sh", root_dir=ROOT) + glob.glob("tests/bench/*.sh", root_dir=ROOT) +
           ["scripts/demo.sh"] + glob.glob("deploy/*/*.yaml", root_dir=ROOT))
for path in sorted(sources):
    for block in yaml_blocks(path):
        if "TracingPolicy" in block:
            add("tracing_policy_yaml", block)
        if re.search(r"kind: *(NetworkPolicy|CiliumNetworkPolicy|CiliumClusterwideNetworkPolicy|Namespace|Pod)\b", block):
            add("policy_yaml", block)
            if "kind: Pod" not in block:  # with pods to compile it for, as the policy matrix has them
                add("policy_yaml", WORLD + block)

# Kubernetes JSON: the stand-in's objects as list bodies, watch streams and HTTP responses.
objects = []
for path in sorted(glob.glob("tests/kube/testdata/*.json", root_dir=ROOT)):
    obj = json.loads(read(path))
    add("policy_yaml", json.dumps(obj, indent=2))
    objects += obj.get("items", [obj])
for obj in objects:
    obj = dict(obj)
    obj.setdefault("metadata", {})["managedFields"] = None  # big and beside the point
    del obj["metadata"]["managedFields"]
    kind = obj.get("kind", "Pod")
    add("kube_json", json.dumps({"kind": kind + "List", "apiVersion": obj.get("apiVersion", "v1"),
                                 "metadata": {"resourceVersion": "12", "continue": ""}, "items": [obj]}))
    events = [{"type": "ADDED", "object": obj}, {"type": "MODIFIED", "object": obj}, {"type": "DELETED", "object": obj},
              {"type": "BOOKMARK", "object": {"kind": kind, "metadata": {"resourceVersion": "20"}}}]
    stream = "".join(json.dumps(e) + "\n" for e in events)
    add("kube_json", stream)
    chunked = "".join("%x\r\n%s\r\n" % (len(line.encode()), line) for line in stream.splitlines(keepends=True)) + "0\r\n\r\n"
    add("kube_http", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
    body = json.dumps({"kind": kind + "List", "metadata": {"resourceVersion": "12"}, "items": [obj]})
    add("kube_http", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body.encode()), body))
gone = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                    "message": "too old resource version: 5 (20)", "reason": "Expired", "code": 410}}
add("kube_json", json.dumps(gone) + "\n")
add("kube_http", "HTTP/1.1 410 Gone\r\nContent-Length: 2\r\n\r\n{}")
add("kube_http", "HTTP/1.1 200 OK\r\n\r\n" + json.dumps(gone) + "\n")
try:  # TracingPolicies as the API server serves them (JSON), where PyYAML is at hand
    import yaml
    for tp in sorted(seeds["tracing_policy_yaml"].values())[:6]:
        try:
            docs = [d for d in yaml.safe_load_all(tp.decode()) if isinstance(d, dict) and d.get("kind") == "TracingPolicy"]
        except yaml.YAMLError:
            continue
        if docs:
            add("kube_json", json.dumps({"type": "ADDED", "object": docs[0]}) + "\n")
except ImportError:
    pass

# CNI invocations as the CNI test makes them: environment lines, an empty line, the configuration.
conf = {"cniVersion": "1.1.0", "name": "myelin", "type": "myelin-cni", "socket": "/var/run/myelin/myelin.sock"}
plugin = json.loads(read("deploy/cni/10-myelin.conflist"))
deployed = dict(plugin["plugins"][0], cniVersion=plugin["cniVersion"], name=plugin["name"])
prev = {"cniVersion": "1.1.0", "interfaces": [{"name": "lxc0123456789a", "mac": "02:00:00:00:00:01"},
                                              {"name": "eth0", "mac": "02:00:00:00:00:02", "sandbox": "/var/run/netns/p"}],
        "ips": [{"address": "10.213.0.5/32", "gateway": "169.254.1.1", "interface": 1}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "169.254.1.1"}], "dns": {}}
base = {"CNI_CONTAINERID": "c1", "CNI_NETNS": "/var/run/netns/p", "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin"}
cases = [
    ("ADD", {"CNI_ARGS": "K8S_POD_NAMESPACE=web;K8S_POD_NAME=front;IgnoreUnknown=1"}, conf),
    ("ADD", {}, dict(deployed)),
    ("ADD", {}, dict(conf, cniVersion="0.4.0")),
    ("CHECK", {}, dict(conf, prevResult=prev)),
    ("DEL", {"CNI_NETNS": ""}, conf),
    ("STATUS", {}, conf),
    ("GC", {}, dict(conf, **{"cni.dev/valid-attachments": [{"containerID": "keep", "ifname": "eth0"}]})),
    ("VERSION", {}, None),
    ("ADD", {"CNI_ARGS": "garbage"}, conf),
    ("ADD", {}, dict(conf, mtu=20)),
]
for cmd, extra, c in cases:
    env = dict(base, CNI_COMMAND=cmd, **extra)
    add("cni", "".join("%s=%s\n" % kv for kv in env.items()) + "\n" + (json.dumps(c) if c is not None else ""))
add("cni", "CNI_COMMAND=ADD\nCNI_CONTAINERID=b1\nCNI_IFNAME=eth0\nCNI_NETNS=/x\n\n{\"cniVersion\":\"1.1.0\", \"name\": ")

# Hubble FlowFilters in JSON: every field the filter compiler knows, as myelind's flags take them.
for f in [{"protocol": ["udp"]}, {"source_ip": ["10.244.1.0/24"], "destination_port": ["8080"]},
          {"source_pod": ["shop/frontend"], "destination_pod": ["data/"]},
          {"source_label": ["k8s:app=frontend,tier"], "destination_label": ["reserved:world"]},
          {"verdict": ["DROPPED"], "drop_reason_desc": ["POLICY_DENIED"], "event_type": [{"type": 1}]},
          {"tcp_flags": [{"SYN": True}], "reply": [False], "traffic_direction": ["EGRESS"]},
          {"source_identity": [60123], "destination_identity": [1, 2], "node_name": ["node-*"], "ip_version": ["IPv4"]},
          {"uuid": ["3e9e4b5a-61b3-4e61-9a3c-0d1f0d6b2a10"], "destination_ip": ["192.168.3.9"], "source_port": ["53"]}]:
    add("flow_filter", json.dumps(f))

# API requests, framed as the CLI and the CNI plugin send them.
requests = [
    "status {}", "ipam_allocate { owner: \"c1/eth0\" }", "ipam_release { owner: \"c1/eth0\" }",
    "endpoint_add { endpoint { container_id: \"c1\" ifname: \"eth0\" netns: \"/var/run/netns/p\" ip: \"10.213.0.5\" pod_name: \"front\" } }",
    "endpoint_get { container_id: \"c1\" ifname: \"eth0\" }", "endpoint_list {}", "policy_list { name: \"deny-all\" }",
    "policy_trace { from: \"web/front\" to: \"db\" protocol: \"tcp\" port: 5432 }",
    "observe { number: 5 first: true whitelist { source_ip: \"10.244.1.0/24\" destination_port: \"8080\" } }",
    "observe { all: true follow: true blacklist { verdict: DROPPED } since { seconds: 1700000003 } until { seconds: 1700000008 } }",
    "events { last: 3 types: \"process_exec\" pod: \"shop/front\" binary: \"curl\" policy: \"connect\" }",
    "gc { valid { container_id: \"keep\" ifname: \"eth0\" } }", "identity_list {}", "tracing_policy_list {}",
]
for text in requests:
    body = subprocess.run(["protoc", "-I" + os.path.join(ROOT, "api"), "--encode=myelin.api.Request", "myelin.proto"],
                          input=text.encode(), capture_output=True, check=True).stdout
    add("api_request", struct.pack(">I", len(body)) + body)

for target, files in sorted(seeds.items()):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for old in glob.glob(os.path.join(d, "seed-*")):
        os.remove(old)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print("%-20s %3d seeds, %6d bytes" % (target, len(files), sum(len(v) for v in files.values())))
