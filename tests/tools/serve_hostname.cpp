// SPDX-License-Identifier: Apache-2.0
// serve_hostname NAME PORT...: the upstream Kubernetes e2e "serve-hostname"
// backend, for the Services tests. On each PORT it answers over TCP and UDP
// with one line naming the pod, the port that was reached and the client as
// seen by the server:
//   NAME port=PORT client=ADDR:PORT
// so a test tells which backend answered (load balancing, affinity), which
// targetPort a Service port went to (multiport, named ports) and whether the
// client's address was kept (source IP, hairpin). TCP: the line on accept,
// then the same line again for every line the client sends, until it closes
// (a long-lived connection a test can keep talking on). UDP: the line for
// every datagram, from one socket per port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string answer(const std::string& name, uint16_t port, const sockaddr_in& peer) {
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
  return name + " port=" + std::to_string(port) + " client=" + ip + ":" + std::to_string(ntohs(peer.sin_port)) + "\n";
}

int bound(int type, uint16_t port) {
  int fd = socket(AF_INET, type, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return close(fd), -1;
  if (type == SOCK_STREAM && listen(fd, 256) != 0) return close(fd), -1;
  return fd;
}

// One TCP connection: the line at once, then once per line received.
void serve_tcp(int fd, std::string line) {
  bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  char buf[512];
  while (ok) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n && ok; ++i)
      if (buf[i] == '\n') ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  }
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return std::fprintf(stderr, "usage: serve_hostname NAME PORT...\n"), 2;
  std::string name = argv[1];
  struct Listener { int fd; int type; uint16_t port; };
  std::vector<Listener> ls;
  std::vector<pollfd> pfds;
  for (int i = 2; i < argc; ++i) {
    auto port = static_cast<uint16_t>(std::atoi(argv[i]));
    for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
      int fd = bound(type, port);
      if (fd < 0) return std::perror(("bind " + std::to_string(port)).c_str()), 1;
      ls.push_back({fd, type, port});
      pfds.push_back({fd, POLLIN, 0});
    }
  }
  char buf[2048];
  for (;;) {
    if (poll(pfds.data(), pfds.size(), -1) < 0) continue;
    for (size_t i = 0; i < pfds.size(); ++i) {
      if (!(pfds[i].revents & POLLIN)) continue;
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      if (ls[i].type == SOCK_STREAM) {
        int c = accept(ls[i].fd, reinterpret_cast<sockaddr*>(&peer), &len);
        if (c >= 0) std::thread(serve_tcp, c, answer(name, ls[i].port, peer)).detach();
      } else if (recvfrom(ls[i].fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&peer), &len) >= 0) {
        std::string line = answer(name, ls[i].port, peer);
        (void)sendto(ls[i].fd, line.data(), line.size(), 0, reinterpret_cast<sockaddr*>(&peer), len);
      }
    }
  }
}
