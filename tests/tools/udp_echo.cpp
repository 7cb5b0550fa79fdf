// SPDX-License-Identifier: Apache-2.0
// udp_echo PORT: answers every datagram with "pong" from one socket, so many
// peers can probe it at once (test helper for the policy reachability matrix).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc != 2) return std::fprintf(stderr, "usage: udp_echo PORT\n"), 2;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return std::perror("bind"), 1;
  char buf[2048];
  for (;;) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    if (recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &len) < 0) continue;
    (void)sendto(fd, "pong\n", 5, 0, reinterpret_cast<sockaddr*>(&peer), len);
  }
}
