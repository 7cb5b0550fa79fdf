// SPDX-License-Identifier: Apache-2.0
// A real etcd (/usr/bin/etcd) for the cluster sync tests, on 127.0.0.1 of
// a network namespace this process creates and enters (setns on the
// calling thread, before any client thread: threads created after it
// inherit it), its data under a temp dir; killed by PID, namespace and dir
// removed at the end. stop() and start() again on the same data dir stand
// for an etcd restart.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace myelin::testing {

class SyncEtcd {
 public:
  // Empty when it could run; otherwise why not (the test skips, saying so).
  std::string setup() {
    if (::geteuid() != 0) return "needs root (a network namespace of its own)";
    if (::access("/usr/bin/etcd", X_OK) != 0) return "needs /usr/bin/etcd (etcd-server)";
    netns_ = "mln-kvsync-" + std::to_string(::getpid());
    if (std::system(("ip netns add " + netns_).c_str()) != 0) return "ip netns add " + netns_ + " failed";
    made_netns_ = true;
    int fd = ::open(("/var/run/netns/" + netns_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) return "cannot enter " + netns_;
    ::close(fd);
    if (std::system("ip link set lo up") != 0) return "lo up failed";
    char tmpl[] = "/tmp/mln-kvsync-etcd-XXXXXX";
    if (!::mkdtemp(tmpl)) return "mkdtemp failed";
    dir_ = tmpl;
    return {};
  }

  void start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string log = dir_ + "/etcd.log";
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      const std::string client = "http://127.0.0.1:" + std::to_string(port);
      const std::string peer = "http://127.0.0.1:" + std::to_string(port + 1);
      ::execl("/usr/bin/etcd", "etcd", "--name", "kvsync", "--data-dir", (dir_ + "/data").c_str(), "--listen-client-urls", client.c_str(),
              "--advertise-client-urls", client.c_str(), "--listen-peer-urls", peer.c_str(), "--initial-advertise-peer-urls",
              peer.c_str(), "--initial-cluster", ("kvsync=" + peer).c_str(), "--log-level", "warn", nullptr);
      ::_exit(127);
    }
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  void teardown() {
    stop();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    if (made_netns_) (void)std::system(("ip netns del " + netns_).c_str());
  }

  bool running() const { return pid_ > 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  std::string log() const { return dir_ + "/etcd.log"; }
  const int port = 23790;

 private:
  std::string netns_, dir_;
  bool made_netns_ = false;
  pid_t pid_ = -1;
};

// Polls `f` every 20 ms until it holds or `limit` passed.
template <typename F>
bool eventually(F f, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (f()) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace myelin::testing
