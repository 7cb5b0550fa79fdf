// SPDX-License-Identifier: Apache-2.0
// StandinApiServer: runs tests/kube/apiserver_standin.py with a fresh CA and
// server certificate (made with the openssl CLI) and a random token, and
// writes a kubeconfig for it. Controls (apply, delete, compact, drop) go
// over the same HTTPS API with the token.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "myelin/kube/config.hpp"
#include "myelin/kube/http.hpp"

namespace myelin::test {

class StandinApiServer {
 public:
  struct Options {
    std::vector<std::string> objects;  // files or directories of object JSON
    std::vector<std::string> missing;  // kinds served as 404
    double bookmark_interval = 0.2;
  };

  explicit StandinApiServer(Options o) {
    char tmpl[] = "/tmp/myelin-standin-XXXXXX";
    dir_ = mkdtemp(tmpl);
    make_certs(dir_, "ca");
    token_ = "t0k3n-" + std::to_string(getpid());
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    std::vector<std::string> args{"python3", MYELIN_STANDIN, "--cert", dir_ + "/server.crt", "--key", dir_ + "/server.key",
                                  "--token", token_, "--bookmark-interval", std::to_string(o.bookmark_interval)};
    for (const auto& f : o.objects) args.insert(args.end(), {"--objects", f});
    for (const auto& m : o.missing) args.insert(args.end(), {"--missing", m});
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // a test that crashes leaves no server behind
      dup2(out[1], 1);
      close(out[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("python3", argv.data());
      _exit(127);
    }
    close(out[1]);
    // The first line is the port, printed once the socket listens.
    FILE* f = fdopen(out[0], "r");
    if (fscanf(f, "%d", &port_) != 1) throw std::runtime_error("the stand-in API server did not start");
    fclose(f);
    write_kubeconfig(kubeconfig(), "ca", token_);
  }
  ~StandinApiServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  std::string kubeconfig() const { return dir_ + "/kubeconfig"; }
  const std::string& dir() const { return dir_; }
  const std::string& token() const { return token_; }
  int port() const { return port_; }

  // Another CA (one that did not sign the server's certificate).
  std::string kubeconfig_with_other_ca() {
    make_ca(dir_, "other");
    write_kubeconfig(dir_ + "/kubeconfig-other-ca", "other", token_);
    return dir_ + "/kubeconfig-other-ca";
  }
  std::string kubeconfig_with_token(const std::string& token) {
    write_kubeconfig(dir_ + "/kubeconfig-token", "ca", token);
    return dir_ + "/kubeconfig-token";
  }

  nlohmann::json control(const std::string& what, const nlohmann::json& body = nlohmann::json::object(), const std::string& method = "POST") {
    auto cfg = kube::load_kubeconfig(kubeconfig());
    auto s = kube::HttpStream::open(cfg->server, cfg->tls, "/_standin/" + what, {{"Authorization", "Bearer " + token_}},
                                    std::chrono::seconds(10), method, method == "GET" ? "" : body.dump());
    if (!s) throw std::runtime_error("stand-in control " + what + ": " + s.error().message);
    auto text = (*s)->read_all(1 << 20, std::chrono::seconds(10));
    if (!text) throw std::runtime_error("stand-in control " + what + ": " + text.error().message);
    return nlohmann::json::parse(*text);
  }
  nlohmann::json stats() { return control("stats", {}, "GET"); }

 private:
  static void run(const std::string& cmd) {
    if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
  static void make_ca(const std::string& dir, const std::string& name) {
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=" + name +
        "-ca -keyout " + dir + "/" + name + ".key -out " + dir + "/" + name + ".crt");
  }
  static void make_certs(const std::string& dir, const std::string& ca) {
    make_ca(dir, ca);
    std::ofstream(dir + "/san.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=kube-apiserver -keyout " + dir +
        "/server.key -out " + dir + "/server.csr");
    run("openssl x509 -req -in " + dir + "/server.csr -CA " + dir + "/" + ca + ".crt -CAkey " + dir + "/" + ca +
        ".key -CAcreateserial -days 2 -extfile " + dir + "/san.ext -out " + dir + "/server.crt");
  }
  void write_kubeconfig(const std::string& path, const std::string& ca, const std::string& token) const {
    std::ofstream(path) << "apiVersion: v1\nkind: Config\ncurrent-context: standin\n"
                        << "clusters:\n- name: standin\n  cluster:\n    server: https://127.0.0.1:" << port_
                        << "\n    certificate-authority: " << ca << ".crt\n"
                        << "contexts:\n- name: standin\n  context: {cluster: standin, user: myelin}\n"
                        << "users:\n- name: myelin\n  user:\n    token: " << token << "\n";
  }

  std::string dir_, token_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace myelin::test
