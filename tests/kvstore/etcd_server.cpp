// SPDX-License-Identifier: Apache-2.0
#include "etcd_server.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace myelin::testing {

namespace {

std::string temp_dir(const char* what) {
  std::string tmpl = std::string("/tmp/mln-etcd-") + what + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) return {};
  return tmpl;
}

int run(const std::string& cmd, std::string* out) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  std::string text;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) text.append(buf.data(), n);
  int st = pclose(p);
  if (out) *out = text;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

bool enter_private_netns(std::string* why) {
  if (unshare(CLONE_NEWNET) != 0) {
    *why = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) + " (needs root)";
    return false;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *why = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  if (!ok) *why = std::string("lo up: ") + std::strerror(errno);
  close(fd);
  return ok;
}

EtcdTls make_tls(const std::vector<std::string>& server_ips) {
  EtcdTls t{temp_dir("tls")};
  if (t.dir.empty()) return t;
  std::string san = "subjectAltName=";
  for (size_t i = 0; i < server_ips.size(); ++i) san += (i ? ",IP:" : "IP:") + server_ips[i];
  const std::string d = t.dir;
  const std::string script =
      "set -e; cd " + d +
      "; openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mln-test-ca -keyout ca-key.pem -out ca.pem"
      "; openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mln-other-ca -keyout other-ca-key.pem -out other-ca.pem"
      "; openssl req -newkey rsa:2048 -nodes -subj /CN=etcd -keyout server-key.pem -out server.csr"
      "; printf '" + san + "\\nextendedKeyUsage=serverAuth,clientAuth\\n' > server.ext"
      "; openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext -out server.pem"
      "; openssl req -newkey rsa:2048 -nodes -subj /CN=myelin -keyout client-key.pem -out client.csr"
      "; printf 'extendedKeyUsage=clientAuth\\n' > client.ext"
      "; openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile client.ext -out client.pem";
  std::string out;
  if (run("bash -c \"" + script + "\"", &out) != 0) {
    std::fprintf(stderr, "make_tls: %s\n", out.c_str());
    std::filesystem::remove_all(t.dir);
    t.dir.clear();
  }
  return t;
}

EtcdServer::EtcdServer(Options o) : o_(std::move(o)) {
  dir_ = temp_dir(o_.name.c_str());
  log_ = dir_ + "/etcd.log";
}

EtcdServer::~EtcdServer() {
  kill9();
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

std::string EtcdServer::url() const {
  return std::string(o_.tls ? "https://" : "http://") + o_.ip + ":" + std::to_string(o_.client_port);
}

bool EtcdServer::start(bool wait, std::chrono::seconds timeout) {
  if (pid_ > 0 || dir_.empty()) return pid_ > 0;
  const std::string scheme = o_.tls ? "https://" : "http://";
  const std::string peer = "http://" + o_.ip + ":" + std::to_string(o_.peer_port);
  std::vector<std::string> args = {"/usr/bin/etcd",
                                   "--name=" + o_.name,
                                   "--data-dir=" + dir_ + "/data",
                                   "--listen-client-urls=" + url(),
                                   "--advertise-client-urls=" + url(),
                                   "--listen-peer-urls=" + peer,
                                   "--initial-advertise-peer-urls=" + peer,
                                   "--initial-cluster=" + (o_.initial_cluster.empty() ? o_.name + "=" + peer : o_.initial_cluster),
                                   "--initial-cluster-state=new",
                                   "--initial-cluster-token=mln-etcd-test",
                                   "--logger=zap",
                                   "--log-outputs=stderr"};
  if (o_.tls) {
    args.push_back("--cert-file=" + o_.tls->dir + "/server.pem");
    args.push_back("--key-file=" + o_.tls->dir + "/server-key.pem");
    args.push_back("--trusted-ca-file=" + o_.tls->ca());
    args.push_back("--client-cert-auth=true");
  }
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test leaves no etcd behind
    int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  return !wait || wait_healthy(timeout);
}

bool EtcdServer::wait_healthy(std::chrono::seconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (etcdctl("endpoint health --command-timeout=2s") == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

void EtcdServer::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void EtcdServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int EtcdServer::etcdctl(const std::string& args, std::string* out) const {
  std::string cmd = "ETCDCTL_API=3 /usr/bin/etcdctl --endpoints=" + url();
  if (o_.tls)
    cmd += " --cacert=" + o_.tls->ca() + " --cert=" + o_.tls->client_cert() + " --key=" + o_.tls->client_key();
  return run(cmd + " " + args, out);
}

std::string EtcdServer::log_tail() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 3000 ? s.substr(s.size() - 3000) : s;
}

}  // namespace myelin::testing
