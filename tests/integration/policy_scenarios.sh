# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The policy reachability scenarios shared by the single-node matrix
# (policy_matrix_test.sh) and the three-node one (multinode_policy_test.sh):
# each applies a policy and compares the probed x/y/z x a/b/c matrix with its
# expectation function, so both tests hold the same expectations. The caller
# defines:
#   apply YAML           writes the scenario's policy, waits until it is in force
#   check NAME FUNCTION  probes the matrix, compares with FUNCTION FROM TO PORT PROTO
#   ns_of / pod_of       "x/a" -> x / a
#   policy_scenario_hook TAG   the caller's own checks after a scenario (world
#                        probes, CLI, flows), or nothing
#   MLN_POD_IP[<ns><pod>] the pods' addresses
#   SCEN_POD_SUPERNET    a CIDR holding every pod address and more (a /16)
#   SCEN_POD_ALL         a CIDR holding every pod address

policy_scenarios() {
all_allowed() { echo 1; }
check "no policy: everything reachable" all_allowed

apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all-ingress, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]'
deny_x() { [ "$(ns_of "$2")" = x ] && echo 0 || echo 1; }
check "default deny ingress in x" deny_x

apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}'
a_from_b() { if [ "$2" = x/a ]; then [ "$1" = x/b ] && echo 1 || echo 0; else echo 1; fi; }
check "podSelector: only x/b reaches x/a" a_from_b

apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-ns-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}'
a_from_y() { if [ "$2" = x/a ]; then [ "$(ns_of "$1")" = y ] && echo 1 || echo 0; else echo 1; fi; }
check "namespaceSelector: only namespace y reaches x/a" a_from_y

apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-y-c, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
      podSelector: {matchLabels: {pod: c}}'
a_from_yc() { if [ "$2" = x/a ]; then [ "$1" = y/c ] && echo 1 || echo 0; else echo 1; fi; }
check "namespaceSelector AND podSelector in one peer: only y/c" a_from_yc

apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-y-or-c, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
    - podSelector: {matchLabels: {pod: c}}'
a_from_y_or_c() { if [ "$2" = x/a ]; then { [ "$(ns_of "$1")" = y ] || [ "$1" = x/c ]; } && echo 1 || echo 0; else echo 1; fi; }
check "separate peers OR: namespace y or x/c" a_from_y_or_c

apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-port-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - ports:
    - port: serve-80-tcp'
a_port80() { if [ "$2" = x/a ]; then [ "$3" = 80 ] && [ "$4" = tcp ] && echo 1 || echo 0; else echo 1; fi; }
check "named port: only 80/TCP on x/a, from anyone" a_port80

apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: y-no-egress, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Egress]'
y_no_egress() { [ "$(ns_of "$1")" = y ] && echo 0 || echo 1; }
check "default deny egress in y (replies to y still flow)" y_no_egress

apply 'apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: b-deny-z, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: b}}
  ingress:
  - fromEndpoints: [{}]
  - fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": z}}]
  ingressDeny:
  - fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": z, pod: a}}]'
b_deny_za() {
  if [ "$2" != x/b ]; then echo 1
  elif [ "$1" = z/a ]; then echo 0
  elif [ "$(ns_of "$1")" = x ] || [ "$(ns_of "$1")" = z ]; then echo 1
  else echo 0; fi
}
check "CiliumNetworkPolicy: deny from z/a wins over the allow of z" b_deny_za

policy_scenario_hook cli


apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: z-egress-81-to-b, namespace: z}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {}
      podSelector: {matchLabels: {pod: b}}
    ports:
    - {port: 81, protocol: TCP}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: z-egress-80-to-x, namespace: z}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to:
    - namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: [x]}]}
    ports:
    - {port: 80, endPort: 80}'
z_egress() {
  # z-egress-80-to-x has no policyTypes: Kubernetes then always adds Ingress,
  # so z/a is also isolated for ingress (and allows none).
  if [ "$2" = z/a ]; then echo 0
  elif [ "$(ns_of "$1")" != z ]; then echo 1
  elif [ "$4" = udp ]; then echo 0
  elif [ "$(pod_of "$2")" = b ] && [ "$3" = 81 ]; then echo 1
  elif [ "$1" = z/a ] && [ "$(ns_of "$2")" = x ] && [ "$3" = 80 ]; then echo 1
  else echo 0; fi
}
check "egress rules with ports, matchExpressions and endPort; two policies add up" z_egress

apply 'apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: c-only-from-a}
spec:
  endpointSelector: {matchLabels: {pod: c}}
  ingress:
  - fromEndpoints: [{matchLabels: {pod: a}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]'
ccnp() { if [ "$(pod_of "$2")" = c ]; then [ "$(pod_of "$1")" = a ] && [ "$3" = 80 ] && [ "$4" = tcp ] && echo 1 || echo 0; else echo 1; fi; }
check "CiliumClusterwideNetworkPolicy across namespaces with toPorts" ccnp

apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: audit-deny-y
  namespace: y
  annotations: {myelin.io/audit-mode: "true"}
spec:
  podSelector: {}
  policyTypes: [Ingress]'
check "audit-mode policy: nothing dropped" all_allowed
policy_scenario_hook audit


apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: x-udp-81-only, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports:
    - {port: 81, protocol: UDP}
    - {port: serve-80-udp, protocol: UDP}'
x_udp() { if [ "$(ns_of "$2")" = x ]; then [ "$4" = udp ] && echo 1 || echo 0; else echo 1; fi; }
check "UDP ports by number and by name; TCP into x denied" x_udp

apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: y-range, namespace: y}
spec:
  podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [a]}]}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: ns, operator: Exists}]}
      podSelector: {matchExpressions: [{key: role, operator: DoesNotExist}]}
    ports:
    - {port: 80, endPort: 81, protocol: TCP}'
y_range() { if [ "$(ns_of "$2")" = y ] && [ "$(pod_of "$2")" != a ]; then [ "$4" = tcp ] && echo 1 || echo 0; else echo 1; fi; }
check "matchExpressions NotIn/Exists/DoesNotExist and an endPort range 80-81" y_range

apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress-x, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {ns: z}}
    ports:
    - {port: 81, protocol: UDP}'
x_egress_udp_z() { if [ "$(ns_of "$1")" = x ]; then [ "$(ns_of "$2")" = z ] && [ "$3" = 81 ] && [ "$4" = udp ] && echo 1 || echo 0; else echo 1; fi; }
check "egress of x limited to UDP 81 in z (replies ride on conntrack)" x_egress_udp_z

apply 'apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: y-egress-deny, namespace: y}
spec:
  endpointSelector: {}
  egress:
  - toEntities: [all]
  egressDeny:
  - toEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": x}}]
    toPorts:
    - ports: [{port: "80", protocol: ANY}]'
y_egress_deny() { if [ "$(ns_of "$1")" = y ] && [ "$(ns_of "$2")" = x ] && [ "$3" = 80 ]; then echo 0; else echo 1; fi; }
check "CNP egressDeny on port 80, any protocol, over toEntities all" y_egress_deny

apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: z-from-all-namespaces, namespace: z}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {}
    ports:
    - port: 80
      protocol: TCP
    - port: 81
      protocol: UDP'
z_all_ns() { if [ "$(ns_of "$2")" = z ]; then { [ "$3$4" = 80tcp ] || [ "$3$4" = 81udp ]; } && echo 1 || echo 0; else echo 1; fi; }
check "namespaceSelector {} (every namespace) with a list of ports" z_all_ns

apply 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-egress-world-only, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 192.168.77.0/24, except: [192.168.77.20/32]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-from-outside-only, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - ipBlock: {cidr: 192.168.0.0/16, except: [192.168.77.16/28]}'
ipblocks() { if [ "$1" = x/a ] || [ "$2" = x/b ]; then echo 0; else echo 1; fi; }
check "ipBlock with except, egress and ingress: pods are not in the blocks" ipblocks
policy_scenario_hook ipblock-world

echo "-- NetworkPolicy ipBlock covering pod addresses (upstream e2e: egress access to server in CIDR block, except clause)"
YB=${MLN_POD_IP[yb]} XB=${MLN_POD_IP[xb]} ZC=${MLN_POD_IP[zc]} YA=${MLN_POD_IP[ya]}
apply "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-egress-cidr, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: $YB/32}"
egress_cidr() { if [ "$1" = x/a ]; then [ "$2" = y/b ] && echo 1 || echo 0; else echo 1; fi; }
check "ipBlock egress, no except: x/a reaches only y/b, by its address" egress_cidr
policy_scenario_hook cidr-trace

apply "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-egress-cidr-except, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: $SCEN_POD_SUPERNET, except: [$XB/32]}"
egress_except() { if [ "$1" = x/a ]; then [ "$2" = x/b ] && echo 0 || echo 1; else echo 1; fi; }
check "ipBlock egress with except: x/a reaches every pod but x/b" egress_except
policy_scenario_hook egress-except-world

apply "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-egress-cidr-except, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: $SCEN_POD_SUPERNET, except: [$XB/32]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-egress-xb, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: $XB/32}"
check "an address in one policy's except and another's cidr is allowed (upstream overlapping case)" all_allowed

apply "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-ingress-cidr, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - ipBlock: {cidr: $ZC/32}"
ingress_cidr() { if [ "$2" = x/b ]; then [ "$1" = z/c ] && echo 1 || echo 0; else echo 1; fi; }
check "ipBlock ingress, no except: only z/c reaches x/b, by its address" ingress_cidr

apply "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-ingress-cidr-except, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - ipBlock: {cidr: $SCEN_POD_ALL, except: [$YA/32]}
    ports:
    - {port: 80, protocol: TCP}"
ingress_except() { if [ "$2" = x/b ]; then [ "$1" != y/a ] && [ "$3$4" = 80tcp ] && echo 1 || echo 0; else echo 1; fi; }
check "ipBlock ingress with except and a port: every pod but y/a reaches x/b on 80/TCP" ingress_except
policy_scenario_hook ingress-except-world

apply "apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: a-to-cidr, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  egress:
  - toCIDR: [$SCEN_POD_SUPERNET, 192.168.77.0/24]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: b-from-cidr, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: b}}
  ingress:
  - fromCIDRSet: [{cidr: $SCEN_POD_SUPERNET}]"
cnp_cidr() { if [ "$1" = x/a ] || [ "$2" = x/b ]; then echo 0; else echo 1; fi; }
check "CNP toCIDR/fromCIDRSet covering pods do not select them (Cilium's semantics)" cnp_cidr
policy_scenario_hook cnp-cidr-world

apply 'apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: z-entities, namespace: z}
spec:
  endpointSelector: {}
  ingress:
  - fromEntities: [cluster]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
  - fromEntities: [world]
    toPorts: [{ports: [{port: "81", protocol: TCP}]}]
  egress:
  - toEntities: [world]'
entities() { if [ "$(ns_of "$1")" = z ]; then echo 0; elif [ "$(ns_of "$2")" = z ]; then [ "$3$4" = 80tcp ] && echo 1 || echo 0; else echo 1; fi; }
check "CNP entities: cluster in on 80, world in on 81, egress to world only" entities
policy_scenario_hook entities-world
}
