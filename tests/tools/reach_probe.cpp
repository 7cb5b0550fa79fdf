// SPDX-License-Identifier: Apache-2.0
// reach_probe [--timeout-ms N] [--tries N] [--threads N]: the reachability
// matrix's prober. Reads lines "NETNS-PATH ADDRESS PORT tcp|udp [TAG...]"
// from stdin and prints "TAG... 1|0" for each, in input order: 1 when a TCP
// connection opens, or a UDP datagram is answered (udp_echo's "pong"),
// within the timeout, in any of the tries. Each probe runs on a thread that
// entered the pod's network namespace (setns is per thread), so a whole
// matrix costs one process instead of one `ip netns exec` per probe, and
// every probe of a matrix waits at the same time.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Probe {
  std::string netns, addr, tag;
  uint16_t port = 0;
  bool tcp = true;
  int result = 0;
};

int wait_for(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  return poll(&p, 1, timeout_ms) == 1 ? p.revents : 0;
}

bool try_once(const Probe& p, int timeout_ms) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(p.port);
  if (inet_pton(AF_INET, p.addr.c_str(), &a.sin_addr) != 1) return false;
  int fd = socket(AF_INET, (p.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = false;
  if (p.tcp) {
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      ok = true;
    } else if (errno == EINPROGRESS && (wait_for(fd, POLLOUT, timeout_ms) & POLLOUT)) {
      int err = 0;
      socklen_t len = sizeof err;
      ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
  } else if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && send(fd, "ping\n", 5, 0) == 5 &&
             (wait_for(fd, POLLIN, timeout_ms) & POLLIN)) {
    char buf[16] = {};
    ok = recv(fd, buf, sizeof buf - 1, 0) >= 4 && std::strncmp(buf, "pong", 4) == 0;
  }
  close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  int timeout_ms = 1000, tries = 2, threads = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (f == "--timeout-ms") timeout_ms = v;
    else if (f == "--tries") tries = v;
    else if (f == "--threads") threads = v;
    else return std::fprintf(stderr, "usage: reach_probe [--timeout-ms N] [--tries N] [--threads N] < probes\n"), 2;
  }
  std::vector<Probe> probes;
  for (std::string line; std::getline(std::cin, line);) {
    std::istringstream in(line);
    Probe p;
    std::string port, proto;
    if (!(in >> p.netns >> p.addr >> port >> proto)) continue;
    p.port = static_cast<uint16_t>(std::atoi(port.c_str()));
    p.tcp = proto == "tcp";
    std::getline(in >> std::ws, p.tag);
    probes.push_back(std::move(p));
  }
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (size_t i; (i = next++) < probes.size();) {
        Probe& p = probes[i];
        int ns = open(p.netns.c_str(), O_RDONLY | O_CLOEXEC);
        if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
          std::fprintf(stderr, "reach_probe: cannot enter %s: %s\n", p.netns.c_str(), std::strerror(errno));
          if (ns >= 0) close(ns);
          p.result = -1;
          continue;
        }
        close(ns);
        for (int k = 0; k < tries && !p.result; ++k) p.result = try_once(p, timeout_ms) ? 1 : 0;
      }
    });
  for (auto& t : pool) t.join();
  int bad = 0;
  for (const auto& p : probes) {
    if (p.result < 0) ++bad;
    std::printf("%s%s%d\n", p.tag.c_str(), p.tag.empty() ? "" : " ", p.result < 0 ? 0 : p.result);
  }
  return bad ? 1 : 0;
}
