// SPDX-License-Identifier: Apache-2.0
#include "myelin/kube/config.hpp"

#include "myelin/atomic_file.hpp"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>

namespace myelin::kube {
namespace {

// A file the config names must exist: missing is an error here.
Result<std::string> read_file(const std::string& path) {
  auto r = myelin::read_file(path);
  if (!r) return r.error();
  if (!*r) return Error{"read " + path + ": No such file or directory"};
  return **r;
}

Result<std::string> base64(const std::string& in, const std::string& what) {
  std::string clean;
  for (char c : in)
    if (!std::isspace(static_cast<unsigned char>(c))) clean += c;
  if (clean.size() % 4 != 0) return Error{what + ": not valid base64"};
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return Error{what + ": not valid base64"};
  size_t pad = 0;
  for (size_t i = clean.size(); i > 0 && clean[i - 1] == '='; --i) ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

const YAML::Node named(const YAML::Node& list, const std::string& name) {
  if (list && list.IsSequence())
    for (const auto& e : list)
      if (e["name"] && e["name"].as<std::string>() == name) return e;
  return YAML::Node();
}

// "<field>-data" (base64) or "<field>" (a path relative to the kubeconfig).
Result<std::string> data_or_file(const YAML::Node& n, const std::string& field, const std::filesystem::path& dir,
                                 const std::string& where) {
  if (n[field + "-data"]) return base64(n[field + "-data"].as<std::string>(), where + "." + field + "-data");
  if (n[field]) {
    std::filesystem::path p = n[field].as<std::string>();
    if (p.is_relative()) p = dir / p;
    return read_file(p.string());
  }
  return std::string();
}

}  // namespace

Result<std::string> ClusterConfig::bearer() const {
  if (!token_file.empty()) {
    auto t = read_file(token_file);
    if (!t) return Error{"service account token: " + t.error().message};
    std::string s = *t;
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return "Bearer " + s;
  }
  return token.empty() ? std::string() : "Bearer " + token;
}

Result<ClusterConfig> load_kubeconfig(const std::string& path, const std::string& want_context) {
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Error{"kubeconfig " + path + ": " + e.what()};
  }
  const auto dir = std::filesystem::path(path).parent_path();
  try {
    std::string ctx_name = want_context.empty() ? (doc["current-context"] ? doc["current-context"].as<std::string>() : "") : want_context;
    if (ctx_name.empty()) return Error{"kubeconfig " + path + ": no current-context"};
    auto ctx = named(doc["contexts"], ctx_name)["context"];
    if (!ctx) return Error{"kubeconfig " + path + ": context '" + ctx_name + "' is not defined in contexts"};
    const std::string cluster_name = ctx["cluster"] ? ctx["cluster"].as<std::string>() : "";
    const std::string user_name = ctx["user"] ? ctx["user"].as<std::string>() : "";
    auto cluster = named(doc["clusters"], cluster_name)["cluster"];
    if (!cluster) return Error{"kubeconfig " + path + ": cluster '" + cluster_name + "' (of context " + ctx_name + ") is not defined"};
    if (!cluster["server"]) return Error{"kubeconfig " + path + ": clusters[" + cluster_name + "].cluster.server is required"};

    ClusterConfig c;
    c.origin = "kubeconfig " + path + " (context " + ctx_name + ")";
    auto server = parse_server_url(cluster["server"].as<std::string>());
    if (!server) return Error{"kubeconfig " + path + ": " + server.error().message};
    c.server = *server;
    const std::string where = "kubeconfig " + path + ": clusters[" + cluster_name + "].cluster";
    auto ca = data_or_file(cluster, "certificate-authority", dir, where);
    if (!ca) return Error{where + ": " + ca.error().message};
    c.tls.ca_pem = *ca;
    c.tls.insecure_skip_verify = cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();

    if (!user_name.empty()) {
      auto user = named(doc["users"], user_name)["user"];
      if (!user) return Error{"kubeconfig " + path + ": user '" + user_name + "' (of context " + ctx_name + ") is not defined"};
      const std::string uw = "kubeconfig " + path + ": users[" + user_name + "].user";
      for (const char* unsupported : {"exec", "auth-provider", "username"})
        if (user[unsupported])
          return Error{uw + "." + unsupported + ": is not supported by Myelin (use a token, tokenFile or a client certificate)"};
      if (user["token"]) c.token = user["token"].as<std::string>();
      if (user["tokenFile"]) {
        std::filesystem::path p = user["tokenFile"].as<std::string>();
        c.token_file = (p.is_relative() ? dir / p : p).string();
      }
      auto cert = data_or_file(user, "client-certificate", dir, uw);
      if (!cert) return Error{uw + ": " + cert.error().message};
      auto key = data_or_file(user, "client-key", dir, uw);
      if (!key) return Error{uw + ": " + key.error().message};
      c.tls.client_cert_pem = *cert;
      c.tls.client_key_pem = *key;
      if (c.tls.client_cert_pem.empty() != c.tls.client_key_pem.empty())
        return Error{uw + ": client-certificate and client-key go together"};
    }
    return c;
  } catch (const YAML::Exception& e) {
    return Error{"kubeconfig " + path + ": " + e.what()};
  }
}

Result<ClusterConfig> load_in_cluster(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port || !*host || !*port)
    return Error{"not running in a pod (KUBERNETES_SERVICE_HOST/PORT unset): pass --kubeconfig FILE or --manifests DIR"};
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  auto server = parse_server_url("https://" + h + ":" + port);
  if (!server) return server.error();
  ClusterConfig c;
  c.origin = "in-cluster service account";
  c.server = *server;
  auto ca = read_file(sa_dir + "/ca.crt");
  if (!ca) return Error{"in-cluster CA: " + ca.error().message};
  c.tls.ca_pem = *ca;
  c.token_file = sa_dir + "/token";
  if (auto t = c.bearer(); !t) return t.error();
  return c;
}

}  // namespace myelin::kube
