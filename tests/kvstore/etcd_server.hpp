// SPDX-License-Identifier: Apache-2.0
// A real etcd (/usr/bin/etcd) for tests, in a network namespace of the test
// process's own: enter_private_netns() unshares one (with lo up) before any
// thread starts, so etcd listens on 127.0.0.x where nothing else on the
// machine can reach it, and the namespace goes away with the process. Each
// EtcdServer has its data dir under a temp dir of its own, and is killed by
// PID (stop, kill -9, restart on the same data).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace myelin::testing {

// unshare(CLONE_NEWNET) + lo up. false (with why) without privileges.
bool enter_private_netns(std::string* why);

struct EtcdTls {
  std::string dir;  // ca.pem, server.pem, server-key.pem, client.pem, client-key.pem, other-ca.pem
  std::string ca() const { return dir + "/ca.pem"; }
  std::string client_cert() const { return dir + "/client.pem"; }
  std::string client_key() const { return dir + "/client-key.pem"; }
  std::string other_ca() const { return dir + "/other-ca.pem"; }  // a CA that signed nothing here
};
// A CA, a server certificate for the given IPs and a client certificate,
// made with openssl into a new temp dir. Empty dir: it failed.
EtcdTls make_tls(const std::vector<std::string>& server_ips);

class EtcdServer {
 public:
  struct Options {
    std::string name = "m0";
    std::string ip = "127.0.0.1";
    int client_port = 2379, peer_port = 2380;
    std::string initial_cluster;  // empty: a cluster of this member alone
    const EtcdTls* tls = nullptr;  // https with client-certificate auth
  };
  explicit EtcdServer(Options o);
  EtcdServer() : EtcdServer(Options{}) {}
  ~EtcdServer();  // kills etcd, removes its data
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  // Starts etcd (on its existing data, if any); with wait, until it serves
  // requests (etcdctl endpoint health), at most `timeout`.
  bool start(bool wait = true, std::chrono::seconds timeout = std::chrono::seconds(30));
  bool wait_healthy(std::chrono::seconds timeout = std::chrono::seconds(30)) const;
  void kill9();  // SIGKILL + reap
  void stop();   // SIGTERM + reap
  bool running() const { return pid_ > 0; }

  std::string url() const;  // http(s)://ip:client_port
  // Runs etcdctl against this member with its TLS files; its exit status.
  int etcdctl(const std::string& args, std::string* out = nullptr) const;
  const std::string& log_file() const { return log_; }
  std::string log_tail() const;

 private:
  Options o_;
  std::string dir_, log_;
  pid_t pid_ = -1;
};

}  // namespace myelin::testing
