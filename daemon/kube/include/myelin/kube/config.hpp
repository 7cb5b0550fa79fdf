// SPDX-License-Identifier: Apache-2.0
// Where the API server is and how to prove who we are: from a kubeconfig
// file (its current context), or in-cluster from the service account that
// Kubernetes mounts into the DaemonSet's pods.
#pragma once

#include <string>

#include "myelin/kube/http.hpp"
#include "myelin/result.hpp"

namespace myelin::kube {

struct ClusterConfig {
  ServerEndpoint server;
  TlsConfig tls;
  std::string token;       // bearer token, or
  std::string token_file;  // read again for every request: projected tokens rotate
  std::string origin;      // "kubeconfig FILE (context C)" or "in-cluster", for messages

  // The Authorization header value, empty when the config has no token.
  Result<std::string> bearer() const;
};

Result<ClusterConfig> load_kubeconfig(const std::string& path, const std::string& context = "");
// KUBERNETES_SERVICE_HOST/PORT and /var/run/secrets/kubernetes.io/serviceaccount
// (the directory can be overridden for tests).
Result<ClusterConfig> load_in_cluster(const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

}  // namespace myelin::kube
